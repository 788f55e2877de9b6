import { readFileSync } from 'node:fs';

/** The package version, read once from package.json so the CLI, the manifest and the API agree. */
export const LIFEBOAT_VERSION: string = (() => {
  for (const rel of ['../package.json', '../../package.json']) {
    try {
      return (JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { version: string }).version;
    } catch {
      /* try the next layout: source tree or dist/ */
    }
  }
  return '0.0.0';
})();
