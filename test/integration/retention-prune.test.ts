import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { appendFile, cp, readFile, writeFile } from 'node:fs/promises';
import { makeWorld } from '../support/world.js';
import { scratchFilesystem } from '../support/loop-devices.js';
import { lifeboat, jsonLines } from '../support/cli.js';

// Retention on a real store: 60 nightly versions before today (copies of one real version under
// older names), then today's incremental chain. `images prune` keeps exactly what the rules and
// the chain need; a damaged newest version never costs the newest one that verifies.

const versionName = (d: Date) => d.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z');

test('prune --keep-daily/weekly/monthly on 60 days of versions keeps the rules\' picks and the chain they need', async (t) => {
  const world = await makeWorld(t, 'lb-ret');
  const src = await scratchFilesystem(world, 'ret-src', 'ext4', 64 << 20);
  await writeFile(join(src.mountpoint, 'f'), 'one\n');
  const store = join(world.dir, 'store');
  const archive = async (...extra: string[]) => {
    const r = await lifeboat(['archive', '--store', store, '--image', 'ret', '--root', src.mountpoint, '--json', ...extra]);
    assert.equal(r.exitCode, 0, r.stderr);
    await appendFile(join(src.mountpoint, 'f'), 'more\n');
    await new Promise((r) => setTimeout(r, 1100));
    return String(jsonLines(r.stdout).find((e) => e.type === 'published')!.version);
  };
  const template = await archive();
  const today = new Date();
  const history: string[] = [];
  for (let day = 60; day >= 1; day--) {
    const d = new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate() - day, 2, 0, 0));
    history.push(versionName(d));
    await cp(join(store, 'ret', template), join(store, 'ret', versionName(d)), { recursive: true });
  }
  const chain = [await archive('--incremental'), await archive('--incremental'), await archive('--incremental')];

  const expected = (() => {
    // The rules over the synthetic days, worked out by hand: today is daily 1, weekly 1, monthly 1;
    // then the 6 days before today; the newest of each of the 3 weeks before this one; the newest of
    // each of the 2 months before this one.
    const all = [...history, template, ...chain].sort();
    const day = (v: string) => v.slice(0, 8);
    const dates = [...new Set(all.map(day))].sort().reverse();
    const newestOf = (pred: (v: string) => boolean) => all.filter(pred).sort().at(-1);
    const keep = new Set<string>();
    for (const d of dates.slice(0, 7)) keep.add(newestOf((v) => day(v) === d)!);
    const week = (v: string) => {
      const d = new Date(Date.UTC(+v.slice(0, 4), +v.slice(4, 6) - 1, +v.slice(6, 8)));
      const monday = new Date(d.getTime() - ((d.getUTCDay() + 6) % 7) * 86_400_000);
      return monday.toISOString().slice(0, 10);
    };
    const weeks = [...new Set(all.map(week))].sort().reverse().slice(0, 4);
    for (const w of weeks) keep.add(newestOf((v) => week(v) === w)!);
    const months = [...new Set(all.map((v) => v.slice(0, 6)))].sort().reverse().slice(0, 3);
    for (const m of months) keep.add(newestOf((v) => v.startsWith(m))!);
    for (const c of chain) keep.add(c); // the newest is kept by the rules; the other two are its chain
    return [...keep].sort();
  })();

  const dry = await lifeboat(['images', 'prune', 'ret', '--store', store, '--keep-daily', '7', '--keep-weekly', '4', '--keep-monthly', '3', '--dry-run']);
  assert.equal(dry.exitCode, 0, dry.stderr);
  assert.match(dry.stdout, new RegExp(`keep ret@${chain[0]}: base of ${chain[2]}`));
  assert.match(dry.stdout, new RegExp(`keep ret@${chain[2]}: daily 1/7 \\(\\d{4}-\\d\\d-\\d\\d\\), weekly 1/4 \\(\\d{4}-W\\d\\d\\), monthly 1/3`));
  assert.match(dry.stdout, /would remove .*: not kept by --keep-daily 7 --keep-weekly 4 --keep-monthly 3/);
  const listed = async () => (JSON.parse((await lifeboat(['images', 'list', 'ret', '--store', store, '--json'])).stdout) as Array<{ versions: Array<{ version: string }> }>)[0]!.versions.map((v) => v.version);
  assert.equal((await listed()).length, 64, 'a dry run removes nothing');

  const r = await lifeboat(['images', 'prune', 'ret', '--store', store, '--keep-daily', '7', '--keep-weekly', '4', '--keep-monthly', '3', '--json']);
  assert.equal(r.exitCode, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { removed: Array<{ path: string }>; kept: Array<{ version: string }> };
  assert.deepEqual(await listed(), expected);
  assert.equal(out.removed.length, 64 - expected.length);
  assert.deepEqual(out.kept.map((k) => k.version).sort(), expected);
  // The newest versions go first, so an interrupted prune never leaves an increment without its base.
  const removedNames = out.removed.map((a) => a.path.split('/').pop()!);
  assert.deepEqual(removedNames, [...removedNames].sort().reverse());
  const verify = await lifeboat(['images', 'verify', `ret@${chain[2]}`, '--store', store]);
  assert.equal(verify.exitCode, 0, verify.stdout);

  // A damaged newest version: --keep 1 keeps it by the rule, and the newest version that verifies
  // (the chain's last, with its chain) because it verifies.
  const newest = await archive();
  const manifest = JSON.parse(await readFile(join(store, 'ret', newest, 'manifest.json'), 'utf8')) as { archives: Array<{ volumes: Array<{ path: string }> }> };
  const volume = join(store, 'ret', newest, manifest.archives[0]!.volumes[0]!.path);
  const bytes = await readFile(volume);
  bytes[bytes.length >> 1] = bytes[bytes.length >> 1]! ^ 0xff;
  await writeFile(volume, bytes);
  const p1 = await lifeboat(['images', 'prune', 'ret', '--store', store, '--keep', '1']);
  assert.equal(p1.exitCode, 0, p1.stderr);
  assert.match(p1.stdout, new RegExp(`keep ret@${chain[2]}: newest version that verifies`));
  assert.deepEqual(await listed(), [...chain, newest]);

  // When nothing verifies (the chain's full is damaged too), nothing is removed and the operator is told.
  const first = JSON.parse(await readFile(join(store, 'ret', chain[0]!, 'manifest.json'), 'utf8')) as typeof manifest;
  const baseVolume = join(store, 'ret', chain[0]!, first.archives[0]!.volumes[0]!.path);
  const baseBytes = await readFile(baseVolume);
  baseBytes[baseBytes.length >> 1] = baseBytes[baseBytes.length >> 1]! ^ 0xff;
  await writeFile(baseVolume, baseBytes);
  const p2 = await lifeboat(['images', 'prune', 'ret', '--store', store, '--keep', '1']);
  assert.equal(p2.exitCode, 5, p2.stdout);
  assert.match(p2.stderr, /no version of ret verifies, so prune removed nothing/);
  assert.deepEqual(await listed(), [...chain, newest]);
});
