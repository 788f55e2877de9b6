import { isLifeboatError, LifeboatError } from '../core/errors.js';

/**
 * Any failure as the one line a user sees and the exit status it maps to. A LifeboatError already
 * says what to do; the system errors a user can cause (a port in use, a directory they may not
 * write, a full disk) are worded here once, so no command prints a stack trace for them.
 */
export interface Failure {
  line: string;
  exitCode: number;
}

interface SystemError extends Error {
  code?: string;
  syscall?: string;
  path?: string;
  address?: string;
  port?: number;
}

function systemFailure(e: SystemError): LifeboatError | null {
  const where = e.path ?? (e.address !== undefined ? `${e.address}${e.port !== undefined ? `:${e.port}` : ''}` : undefined);
  const what = where ? `${e.syscall ? `${e.syscall} ` : ''}${where}` : (e.syscall ?? 'an operation');
  switch (e.code) {
    case 'EACCES':
    case 'EPERM':
      return e.syscall === 'listen' || e.syscall === 'bind'
        ? new LifeboatError('LB_FORBIDDEN', `cannot ${what}: permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE): run as root or choose a port above 1023`)
        : new LifeboatError('LB_PERMISSION', `cannot ${what}: permission denied for this user: run as a user who may (e.g. root), or choose a directory this user owns`);
    case 'EROFS':
      return new LifeboatError('LB_PERMISSION', `cannot ${what}: the filesystem is read-only: choose a directory on a writable filesystem`);
    case 'EADDRINUSE':
      return new LifeboatError('LB_CONFLICT', `cannot listen on ${where ?? 'the address'}: another process already uses it (ss -ltnup shows which): stop it or choose another port`);
    case 'EADDRNOTAVAIL':
      return new LifeboatError('LB_USAGE', `cannot listen on ${where ?? 'the address'}: no interface here has that address: choose one of this machine's addresses`);
    case 'ENOSPC':
      return new LifeboatError('LB_STORE_FULL', `cannot ${what}: no space left on the device: free space or choose another directory`);
    case 'ENOENT':
      return new LifeboatError('LB_NOT_FOUND', `cannot ${what}: no such file or directory: check the path`);
    case 'ENOTDIR':
      return new LifeboatError('LB_USAGE', `cannot ${what}: a part of the path is a file, not a directory: check the path`);
    default:
      return null;
  }
}

export function describeFailure(e: unknown): Failure {
  const known = isLifeboatError(e) ? e : e instanceof Error && typeof (e as SystemError).code === 'string' ? systemFailure(e as SystemError) : null;
  // A LifeboatError's message is already worded for the user (a tool's failure keeps its stderr tail).
  if (known) return { line: known.message, exitCode: known.exitCode };
  const message = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  return { line: `unexpected error (${oneLine(message)}): this is a bug; LIFEBOAT_DEBUG=1 prints its stack trace for a report`, exitCode: new LifeboatError('LB_INTERNAL', '').exitCode };
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}
