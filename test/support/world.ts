import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { TestContext } from 'node:test';
import { execa } from 'execa';

/**
 * A test's own world: a run id for names that cannot clash with another run, a scratch directory,
 * and cleanups registered before the thing they undo is created, run last-in first-out even when
 * the test fails.
 */
export interface World {
  id: string;
  dir: string;
  /** Registers an undo step; steps run in reverse order after the test. */
  defer(step: () => unknown | Promise<unknown>): void;
}

export function runId(): string {
  return randomBytes(3).toString('hex');
}

export async function makeWorld(t: TestContext | { after: (fn: () => unknown) => void }, prefix = 'lb'): Promise<World> {
  const id = runId();
  const dir = await mkdtemp(join(tmpdir(), `${prefix}-${id}-`));
  const steps: Array<() => unknown | Promise<unknown>> = [];
  t.after(async () => {
    for (const step of steps.reverse()) {
      try {
        await step();
      } catch (e) {
        process.stderr.write(`cleanup step failed: ${(e as Error).message}\n`);
      }
    }
    await rm(dir, { recursive: true, force: true });
  });
  return { id, dir, defer: (step) => void steps.push(step) };
}

/** Runs a command for a test and fails loudly with its stderr. */
export async function sh(file: string, args: string[], options: { input?: string; cwd?: string } = {}): Promise<string> {
  const r = await execa(file, args, { reject: false, ...(options.input !== undefined ? { input: options.input } : {}), ...(options.cwd ? { cwd: options.cwd } : {}) });
  if (r.exitCode !== 0) throw new Error(`${file} ${args.join(' ')} exited ${r.exitCode}: ${r.stderr}`);
  return r.stdout;
}
