import type { OptionSpec } from './args.js';

/** Options several commands declare, worded once so their --help says the same thing. */
export const storeOpt: OptionSpec = { type: 'string', value: 'DIR', description: 'image store directory (or $LIFEBOAT_STORE)' };
export const jsonOpt: OptionSpec = { type: 'boolean', description: 'machine-readable JSON on stdout' };

/** Retention rules (images prune, schedule install/run); `scope` ends the --keep line. */
export function keepOptions(scope = ''): Record<string, OptionSpec> {
  return {
    keep: { type: 'string', value: 'N', description: `keep the newest N versions${scope}` },
    'keep-daily': { type: 'string', value: 'N', description: 'keep the newest version of each of the last N days' },
    'keep-weekly': { type: 'string', value: 'N', description: 'keep the newest version of each of the last N ISO weeks' },
    'keep-monthly': { type: 'string', value: 'N', description: 'keep the newest version of each of the last N months' },
  };
}
