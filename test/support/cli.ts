import { execa, type ResultPromise } from 'execa';
import { fileURLToPath } from 'node:url';

/** The `lifeboat` command exactly as a user runs it: a separate process, its exit code and output. */
export const LIFEBOAT_BIN = fileURLToPath(new URL('../../../bin/lifeboat.js', import.meta.url));

export interface CliResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export async function lifeboat(args: string[], options: { env?: Record<string, string>; input?: string } = {}): Promise<CliResult> {
  const r = await execa(process.execPath, [LIFEBOAT_BIN, ...args], { reject: false, env: options.env ?? {}, ...(options.input !== undefined ? { input: options.input } : {}) });
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}

/** Starts lifeboat in the background (for kill -9 tests and servers); the caller ends it by PID. */
export function startLifeboat(args: string[], options: { env?: Record<string, string> } = {}): ResultPromise {
  return execa(process.execPath, [LIFEBOAT_BIN, ...args], { reject: false, env: options.env ?? {}, buffer: true, stdout: 'pipe', stderr: 'pipe' });
}

/** JSON lines printed by a --json command. */
export function jsonLines(stdout: string): Array<Record<string, unknown>> {
  return stdout.split('\n').filter((l) => l.trim().startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
}
