import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { LifeboatError } from '../../../core/errors.js';
import { lastLines, runTool } from '../../../core/run-tool.js';

/** The machine's facts a hook reads, as LIFEBOAT_* variables (LIFEBOAT_HOSTNAME, LIFEBOAT_MAC, …). */
export type HookFacts = Record<string, string | undefined>;

export interface HookRun {
  exitCode: number;
  output: string;
}

/** Long enough for a package reconfiguration; a hook that hangs must not hold the machine forever. */
const HOOK_TIMEOUT_MS = 10 * 60_000;

/**
 * Runs the site's hook inside the restored system (chroot into root, its own /bin/sh), after the
 * identity is applied and before the bootloader. The restored system's tools are what it gets, so
 * a hook written for that distribution runs as it would there. A failing hook fails the restore:
 * a clone that missed its site-specific step should not boot as if it had not.
 */
export async function runIdentityHook(root: string, script: string, facts: HookFacts): Promise<HookRun> {
  try {
    await access(join(root, 'bin/sh'));
  } catch {
    throw new LifeboatError('LB_INVALID', 'the identity hook needs /bin/sh in the restored system, and it has none');
  }
  const env: Record<string, string> = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/root', LANG: 'C.UTF-8' };
  for (const [key, value] of Object.entries(facts)) if (value !== undefined) env[`LIFEBOAT_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`] = value;
  const r = await runTool('chroot', [root, '/bin/sh', '-c', script], {
    env,
    // Its own exit status is reported here, in its words: the script's text is not worth quoting back.
    okExitCodes: Array.from({ length: 256 }, (_, i) => i),
    timeoutMs: HOOK_TIMEOUT_MS,
    purpose: 'run the identity hook in the restored system',
  });
  if (r.exitCode !== 0) throw new LifeboatError('LB_TOOL_FAILED', `the identity hook exited ${r.exitCode}: ${lastLines(r.stderr || r.stdout, 6) || '(no output)'}`);
  return { exitCode: r.exitCode, output: `${r.stdout}${r.stderr ? `${r.stdout && !r.stdout.endsWith('\n') ? '\n' : ''}${r.stderr}` : ''}` };
}
