import { constants } from 'node:fs';
import { open, readlink, realpath, stat, type FileHandle } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { hasErrno } from '../../core/errors.js';
import { TFTP_ERROR } from './request-packet.js';

/**
 * Which file a TFTP name means, decided in two steps:
 *
 * 1. `resolveTftpPath` — pure, on the name alone. A leading "/" (PXE ROMs often send
 *    "/undionly.kpxe") is taken as relative to the root, as tftp-hpa does with -s, so
 *    "/etc/passwd" means `<root>/etc/passwd` and can never name the host's file. Refused: an empty
 *    name, NUL bytes, backslashes (DOS-style paths: we do not guess what they mean), control
 *    characters, and any ".." segment, even one that would stay inside the root, because the names
 *    a netboot client needs never contain one. No URL decoding is done: "%2e%2e" is a literal name.
 * 2. `openInsideRoot` — on the disk: follows symlinks and refuses the file if where it really lives
 *    is outside the root, so a symlink inside the root that points inside stays usable. The check
 *    is made on the opened descriptor (/proc/self/fd), so a symlink swapped in between cannot win.
 */

/** `level` says how loud the refusal is logged when it is not a policy warning. */
export type ResolvedTftpPath = { ok: true; path: string; relative: string } | { ok: false; reason: string; level?: 'info' };

/** Longer than any boot file name, and than a name the file system takes (255 bytes a segment). */
export const MAX_TFTP_NAME = 255;

export function resolveTftpPath(root: string, requested: string): ResolvedTftpPath {
  if (requested.length === 0) return { ok: false, reason: 'the file name is empty' };
  // Not an attack on the root, just nothing to look up: said at info, not as a warning.
  if (requested.length > MAX_TFTP_NAME) return { ok: false, reason: `the file name is ${requested.length} characters long; at most ${MAX_TFTP_NAME} are accepted`, level: 'info' };
  if (requested.includes('\0')) return { ok: false, reason: 'the file name contains a NUL byte' };
  if (requested.includes('\\')) {
    return { ok: false, reason: 'the file name contains a backslash; only "/" separates directories here' };
  }
  if (/[\x00-\x1f\x7f]/.test(requested)) return { ok: false, reason: 'the file name contains a control character' };
  const segments = requested.split('/').filter((s) => s !== '' && s !== '.');
  if (segments.includes('..')) return { ok: false, reason: 'the file name contains a ".." segment, which could leave the netboot root' };
  if (segments.length === 0) return { ok: false, reason: 'the file name names the root directory, not a file' };
  const relative = segments.join('/');
  return { ok: true, path: join(root, relative), relative };
}

export type OpenedFile =
  | { ok: true; handle: FileHandle; size: number; realPath: string }
  | { ok: false; code: number; reason: string };

function isInside(rootReal: string, candidate: string): boolean {
  return candidate === rootReal || candidate.startsWith(rootReal.endsWith(sep) ? rootReal : rootReal + sep);
}

/**
 * Opens `path` (already through `resolveTftpPath`) for reading if it is a regular file whose real
 * location is inside `root`. The answer carries the TFTP error code to send when it is refused.
 */
export async function openInsideRoot(root: string, path: string): Promise<OpenedFile> {
  const rootReal = await realpath(root);
  let real: string;
  try {
    real = await realpath(path);
  } catch (e) {
    if (hasErrno(e, 'ENOENT') || hasErrno(e, 'ENOTDIR')) return { ok: false, code: TFTP_ERROR.FILE_NOT_FOUND, reason: 'File not found' };
    if (hasErrno(e, 'ELOOP')) return { ok: false, code: TFTP_ERROR.ACCESS_VIOLATION, reason: 'symlink loop' };
    if (hasErrno(e, 'EACCES')) return { ok: false, code: TFTP_ERROR.ACCESS_VIOLATION, reason: 'permission denied' };
    if (hasErrno(e, 'ENAMETOOLONG') || hasErrno(e, 'EINVAL')) return { ok: false, code: TFTP_ERROR.FILE_NOT_FOUND, reason: 'File not found' };
    throw e;
  }
  if (!isInside(rootReal, real)) {
    return { ok: false, code: TFTP_ERROR.ACCESS_VIOLATION, reason: 'a symlink leads outside the netboot root' };
  }
  // stat before open: opening a FIFO or a device can block or have side effects.
  const before = await stat(real);
  if (before.isDirectory()) return { ok: false, code: TFTP_ERROR.ACCESS_VIOLATION, reason: 'is a directory, not a file' };
  if (!before.isFile()) return { ok: false, code: TFTP_ERROR.ACCESS_VIOLATION, reason: 'is not a regular file' };
  let handle: FileHandle;
  try {
    handle = await open(real, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (e) {
    if (hasErrno(e, 'ENOENT')) return { ok: false, code: TFTP_ERROR.FILE_NOT_FOUND, reason: 'File not found' };
    if (hasErrno(e, 'ELOOP')) return { ok: false, code: TFTP_ERROR.ACCESS_VIOLATION, reason: 'the file was replaced by a symlink while being opened' };
    if (hasErrno(e, 'EACCES')) return { ok: false, code: TFTP_ERROR.ACCESS_VIOLATION, reason: 'permission denied' };
    throw e;
  }
  try {
    const opened = await readlink(`/proc/self/fd/${handle.fd}`).catch(() => real);
    const after = await handle.stat();
    if (!isInside(rootReal, opened) || !after.isFile() || after.ino !== before.ino || after.dev !== before.dev) {
      await handle.close();
      return { ok: false, code: TFTP_ERROR.ACCESS_VIOLATION, reason: 'the file changed while being opened' };
    }
    return { ok: true, handle, size: after.size, realPath: opened };
  } catch (e) {
    await handle.close();
    throw e;
  }
}
