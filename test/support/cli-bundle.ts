import { mkdir, rm } from 'node:fs/promises';
import { PROJECT_DIR } from './fixture-cache.js';

/**
 * The Lifeboat CLI as files a rescue guest can run with its own node: the compiled CLI and its
 * dependencies bundled by esbuild into ES module chunks, so that what a command does not load
 * (SQLite's native module, esbuild itself) is never imported. Start it as `node DIR/lifeboat.mjs`.
 */
export async function bundleCli(outDir: string): Promise<string> {
  await rm(outDir, { recursive: true, force: true });
  await mkdir(outDir, { recursive: true });
  const esbuild = await import('esbuild');
  await esbuild.build({
    stdin: {
      contents: "process.env.LIFEBOAT_LOG_LEVEL ??= 'warn';\nconst { main } = await import('./dist/cli/main.js');\nprocess.exitCode = await main(process.argv.slice(2));\n",
      resolveDir: PROJECT_DIR,
      loader: 'js',
    },
    bundle: true,
    splitting: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outdir: outDir,
    entryNames: 'lifeboat',
    outExtension: { '.js': '.mjs' },
    // Dependencies written as CommonJS call require, which an ES module does not have.
    banner: { js: "import { createRequire as lbCreateRequire } from 'node:module'; const require = lbCreateRequire(import.meta.url);" },
    external: ['better-sqlite3', 'esbuild', 'playwright-core'],
    logLevel: 'silent',
  });
  return `${outDir}/lifeboat.mjs`;
}
