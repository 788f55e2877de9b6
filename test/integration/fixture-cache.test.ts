import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { makeWorld } from '../support/world.js';
import { buildOnce } from '../support/fixture-cache.js';

// Test files run in parallel and share fixtures: three processes asking for the same entry at
// once build it once, and a lock left by a builder that died is taken over, not waited on forever.

const cacheModule = new URL('../support/fixture-cache.js', import.meta.url).href;

function builder(entry: string, log: string): string {
  return `
import { buildOnce } from ${JSON.stringify(cacheModule)};
import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
await buildOnce(${JSON.stringify(join(entry, 'done'))}, async () => {
  await appendFile(${JSON.stringify(log)}, 'built by ' + process.pid + '\\n');
  await sleep(1000);
  await mkdir(${JSON.stringify(entry)}, { recursive: true });
  await writeFile(${JSON.stringify(join(entry, 'done'))}, 'ok');
});
console.log('ready');
`;
}

test('three processes wanting the same fixture at once: one builds it, all three get it', async (t) => {
  const world = await makeWorld(t, 'lb-fxcache');
  const entry = join(world.dir, 'cache', 'thing-0123');
  const log = join(world.dir, 'builds.log');
  const runs = await Promise.all([1, 2, 3].map(() => execa(process.execPath, ['--input-type=module', '-e', builder(entry, log)], { reject: false })));
  for (const r of runs) assert.equal(r.stdout.trim(), 'ready', r.stderr);
  assert.equal((await readFile(log, 'utf8')).trim().split('\n').length, 1, 'built exactly once');
  assert.deepEqual(await readdir(join(world.dir, 'cache')), ['thing-0123'], 'no lock left behind');
});

test('a lock whose builder is gone is taken over', async (t) => {
  const world = await makeWorld(t, 'lb-fxcache');
  const entry = join(world.dir, 'thing-4567');
  const gone = execa(process.execPath, ['-e', '0']);
  const pid = gone.pid!;
  await gone;
  await writeFile(`${entry}.lock`, String(pid));
  let built = false;
  await buildOnce(join(entry, 'done'), async () => {
    built = true;
  });
  assert.ok(built);
});
