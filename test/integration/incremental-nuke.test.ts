import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { appendFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { execa } from 'execa';
import { makeWorld, sh } from '../support/world.js';
import { attachLoop, sparseFile, mountFs } from '../support/loop-devices.js';
import { lifeboat, jsonLines } from '../support/cli.js';
import { buildFixtureDisk } from '../support/fixture-disk.js';
import { startLocalServer } from '../support/local-server.js';
import { runAgent } from '../support/agent.js';
import { snapshotTree, diffSnapshots } from '../support/tree-snapshot.js';

// The rescue agent restores an incremental version: it reads the chain from the sibling version
// over HTTP (../<version>/ from the version's URL), verifies every volume of it before touching the
// disk, and the restored root holds exactly the source at the time of the increment — including
// the deletions — and compare mode finds nothing different.

test('nuke from an incremental version applies its chain over HTTP, deletions included', async (t) => {
  const world = await makeWorld(t, 'lb-incnuke');
  const fixture = await buildFixtureDisk({ dir: world.dir, firmware: 'bios', table: 'gpt', name: 'fixture-bios-gpt' });
  const server = await startLocalServer(world);
  const archive = async () => {
    const r = await lifeboat(['archive', '--store', server.store, '--image', 'golden', '--disk', fixture.path, '--incremental', '--json']);
    assert.equal(r.exitCode, 0, r.stderr);
    await new Promise((r) => setTimeout(r, 1100));
    return jsonLines(r.stdout).find((e) => e.type === 'published') as { version: string; incremental: { level: number; base: string | null } };
  };
  const full = await archive();
  assert.equal(full.incremental.level, 0);

  // Change the source disk's root filesystem between the two archives.
  const rootPart = fixture.partitions.find((p) => p.role === 'root')!.number;
  {
    const dev = await attachLoop(world, fixture.path, { partitions: true });
    const mnt = join(world.dir, 'edit');
    await mountFs(world, `${dev}p${rootPart}`, mnt);
    await mkdir(join(mnt, 'srv', 'added'), { recursive: true });
    await writeFile(join(mnt, 'srv', 'added', 'new.txt'), 'only in the increment\n');
    await appendFile(join(mnt, 'etc', 'fstab'), '# edited after the full archive\n');
    await rm(join(mnt, 'etc', 'hostname'));
    await sh('umount', [mnt]);
    await execa('partx', ['-d', dev], { reject: false });
    await execa('losetup', ['-d', dev], { reject: false });
  }
  const increment = await archive();
  assert.deepEqual(increment.incremental, { level: 1, base: full.version });
  await server.api('POST', '/api/v1/images/rescan');

  const target = await sparseFile(join(world.dir, 'target.img'), 1536 << 20);
  const dev = await attachLoop(world, target, { partitions: true });
  const { id, token } = await server.taskWithToken('nuke', '52:54:00:ab:00:01', 'golden');
  const agent = await runAgent({ server: server.url, task: id, token, disks: [dev], targetRoot: join(world.dir, 'target-root') });
  assert.equal(agent.exitCode, 0, agent.output);
  const task = (await server.api<{ state: string; error: string | null }>('GET', `/api/v1/tasks/${id}`)).body;
  assert.equal(task.state, 'done', `${task.error}\n${agent.output}`);
  assert.match(agent.output, new RegExp(`golden@${increment.version}`));

  const srcDev = await attachLoop(world, fixture.path, { partitions: true, readOnly: true });
  const a = await mountFs(world, `${srcDev}p${rootPart}`, join(world.dir, 'a'), 'ro,noload');
  const b = await mountFs(world, `${dev}p${rootPart}`, join(world.dir, 'b'), 'ro,noload');
  const before = await snapshotTree(a, { ignore: ['boot/grub'] });
  assert.ok(!before.has('etc/hostname') && before.has('srv/added/new.txt'), 'the source really changed');
  assert.deepEqual(diffSnapshots(before, await snapshotTree(b, { ignore: ['boot/grub'] }), { skipAllocation: true }), []);

  // A damaged volume of the base is found by the agent's verification, before the disk is touched.
  const manifest = JSON.parse(await readFile(join(server.store, 'golden', full.version, 'manifest.json'), 'utf8')) as { archives: Array<{ id: string; volumes: Array<{ path: string }> }> };
  const volume = join(server.store, 'golden', full.version, manifest.archives.find((x) => x.id === 'root')!.volumes[0]!.path);
  await sh('bash', ['-c', `printf '\\xff\\xff\\xff\\xff' | dd of=${volume} bs=1 seek=4096 conv=notrunc status=none`]);
  const other = await sparseFile(join(world.dir, 'other.img'), 1536 << 20);
  const otherDev = await attachLoop(world, other, { partitions: true });
  const bad = await server.taskWithToken('nuke', '52:54:00:ab:00:02', 'golden');
  const r2 = await runAgent({ server: server.url, task: bad.id, token: bad.token, disks: [otherDev], targetRoot: join(world.dir, 'target-root2') });
  assert.equal(r2.exitCode, 0, r2.output);
  const t2 = (await server.api<{ state: string; errorCode: string | null; error: string | null }>('GET', `/api/v1/tasks/${bad.id}`)).body;
  assert.equal(t2.state, 'failed');
  assert.equal(t2.errorCode, 'LB_IMAGE_CORRUPT');
  assert.match(t2.error ?? '', new RegExp(`\\.\\./${full.version}/data/root\\.tar\\.zst fails its checksum`));
  const table = await execa('sfdisk', ['--json', otherDev], { reject: false });
  assert.notEqual(table.exitCode, 0, 'the refused disk got no partition table');
});
