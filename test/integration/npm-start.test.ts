import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, readdir, readFile, realpath, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { makeWorld } from '../support/world.js';
import { freePort } from '../support/local-server.js';
import { PROJECT_DIR } from '../support/fixture-cache.js';

// `npm start` in a copy of this checkout, as a user runs it: set-up compiles, builds the rescue
// system (the full kernel) and the server prints its banner; a second start compiles nothing and
// keeps the rescue system; a changed source is compiled again. The copy shares node_modules by a
// link, which set-up must leave alone.

async function mtimes(dir: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (e.isFile()) {
      const p = join(e.parentPath ?? e.path, e.name);
      out.set(p, (await stat(p)).mtimeMs);
    }
  }
  return out;
}

/** Runs `npm start` until the banner's last line, then stops it (its own process group, by PID). */
async function npmStart(repo: string, env: Record<string, string>): Promise<{ seconds: number; stderr: string; banner: string }> {
  const started = performance.now();
  const child = execa('npm', ['start', '--silent'], { cwd: repo, env, detached: true, reject: false, stdout: 'pipe', stderr: 'pipe', buffer: false });
  let stdout = '';
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (c: Buffer) => {
        stdout += c.toString();
        if (/^ {2}config /m.test(stdout)) resolve();
      });
      void child.then((r) => reject(new Error(`npm start exited ${r.exitCode}:\n${stderr}\n${stdout}`)));
    });
  } finally {
    process.kill(-child.pid!, 'SIGTERM');
    await child;
  }
  return { seconds: (performance.now() - started) / 1000, stderr, banner: stdout.slice(stdout.indexOf('Lifeboat ')) };
}

test('npm start: the first start compiles and builds the rescue system, the second skips both; a changed source compiles again', { timeout: 1_200_000 }, async (t) => {
  const world = await makeWorld(t, 'lb-start');
  const repo = join(world.dir, 'repo');
  // The checkout's files with their times (as a clone has them), without dist/ or node_modules.
  const files = (await execa('git', ['ls-files', '-z'], { cwd: PROJECT_DIR })).stdout.split('\0').filter(Boolean);
  await execa('sh', ['-c', `mkdir -p '${repo}' && tar --null -T - -cf - | tar -xpf - -C '${repo}'`], { cwd: PROJECT_DIR, input: files.join('\0') });
  await symlink(await realpath(join(PROJECT_DIR, 'node_modules')), join(repo, 'node_modules'));
  const port = await freePort();
  const data = join(world.dir, 'data');
  const config = join(world.dir, 'config.json');
  await writeFile(config, JSON.stringify({ data, http: `127.0.0.1:${port}`, tftp: 'off' }));
  const env = { LIFEBOAT_CONFIG: config, LIFEBOAT_LOG_LEVEL: 'warn' };

  const first = await npmStart(repo, env);
  t.diagnostic(`first npm start (compile, rescue build, serve): ${first.seconds.toFixed(1)} s`);
  assert.match(first.stderr, /setup: compiling TypeScript/);
  assert.match(first.stderr, /not reinstalled here/, 'the linked node_modules is left alone');
  assert.match(first.banner, new RegExp(`API, boot files\\s+http://127.0.0.1:${port}`));
  assert.match(first.banner, /rescue system\s+built, kernel \S+-amd64 /);
  assert.doesNotMatch(first.banner, /cloud-amd64/, 'the default rescue kernel is the full one');
  const rescue = JSON.parse(await readFile(join(data, 'netboot', 'rescue', 'build.json'), 'utf8')) as { kernel: { package: string | null } };
  assert.match(rescue.kernel.package ?? '', /^linux-image-\d.*-amd64$/);
  const compiled = await mtimes(join(repo, 'dist'));
  const rescueFiles = await mtimes(join(data, 'netboot', 'rescue'));
  assert.ok(compiled.has(join(repo, 'dist', 'cli', 'main.js')));

  const second = await npmStart(repo, env);
  t.diagnostic(`second npm start (nothing to do, serve): ${second.seconds.toFixed(1)} s`);
  assert.match(second.stderr, /setup: compiled output is up to date/);
  assert.doesNotMatch(second.stderr, /compiling TypeScript/);
  assert.match(second.banner, /rescue system\s+built/);
  assert.deepEqual(await mtimes(join(repo, 'dist')), compiled, 'nothing in dist/ was written again');
  assert.deepEqual(await mtimes(join(data, 'netboot', 'rescue')), rescueFiles, 'the rescue system was not rebuilt');

  // A source saved after the last compile: set-up compiles again.
  // (a change of content: tsc's incremental build re-emits only files whose text changed)
  const source = join(repo, 'cli', 'main.ts');
  await appendFile(source, '// changed after the last compile\n');
  const later = new Date(Date.now() + 2000);
  await utimes(source, later, later);
  const third = await execa('bash', ['scripts/setup.sh', 'test'], { cwd: repo, env, reject: false });
  assert.equal(third.exitCode, 0, third.stderr);
  assert.match(third.stderr, /setup: compiling TypeScript/);
  assert.ok((await stat(join(repo, 'dist', 'cli', 'main.js'))).mtimeMs > compiled.get(join(repo, 'dist', 'cli', 'main.js'))!, 'main.js compiled again');
});
