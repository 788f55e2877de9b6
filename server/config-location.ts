import { existsSync } from 'node:fs';

/**
 * Where the configuration file is, kept apart from its reader (config-file.ts, which loads the
 * schema library): every API command of the CLI asks this, and most machines have no file.
 */
export const DEFAULT_CONFIG_FILE = '/etc/lifeboat/config.json';

/**
 * Which file to read: `--config`, else $LIFEBOAT_CONFIG, else /etc/lifeboat/config.json when it
 * exists. A file named by flag or environment must exist; the default one may not.
 */
export function configFilePath(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): { path: string; required: boolean } | null {
  if (flag) return { path: flag, required: true };
  if (env.LIFEBOAT_CONFIG) return { path: env.LIFEBOAT_CONFIG, required: true };
  return existsSync(DEFAULT_CONFIG_FILE) ? { path: DEFAULT_CONFIG_FILE, required: false } : null;
}
