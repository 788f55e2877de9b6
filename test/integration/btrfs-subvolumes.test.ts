import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { jsonLines, lifeboat } from '../support/cli.js';
import { attachLoop, mountFs, sparseFile } from '../support/loop-devices.js';
import { startLocalServer } from '../support/local-server.js';
import { runAgent } from '../support/agent.js';
import { diffSnapshots, snapshotTree } from '../support/tree-snapshot.js';
import { makeWorld, sh, type World } from '../support/world.js';
import type { Manifest } from '../../images/store/manifest.js';

// A btrfs volume's subvolumes end to end on this machine (its kernel has btrfs): a disk whose
// /etc/fstab mounts the volume at /srv by its default subvolume, with a second subvolume mounted
// nowhere, a subvolume nested in the default one and files at the top. archive --disk makes one
// stream per subvolume; the rescue agent, run here against a loop device, recreates the
// subvolumes and the default and puts every file back where it was.

const ROOT_UUID = '3c0ffee0-0000-4000-8000-0000000000a1';
const SRV_UUID = '3c0ffee0-0000-4000-8000-0000000000a2';

async function unmount(dir: string): Promise<void> {
  const r = await execa('umount', [dir], { reject: false });
  if (r.exitCode !== 0) await execa('umount', ['-l', dir], { reject: false });
}

/** The source disk: p1 ext4 / with an fstab, p2 btrfs for /srv. Returns the image file. */
async function buildSource(world: World): Promise<string> {
  const file = await sparseFile(join(world.dir, 'source.img'), 1024 << 20);
  await sh('sfdisk', ['-q', file], { input: 'label: gpt\nstart=2048, size=614400, type=linux, name=root\nstart=616448, size=1024000, type=linux, name=srv\n' });
  const dev = await attachLoop(world, file, { partitions: true });
  await sh('mkfs.ext4', ['-q', '-F', '-U', ROOT_UUID, '-L', 'root', `${dev}p1`]);
  await sh('mkfs.btrfs', ['-q', '-f', '-U', SRV_UUID, '-L', 'srv', `${dev}p2`]);

  const root = join(world.dir, 'src-root');
  await mkdir(root);
  await sh('mount', [`${dev}p1`, root]);
  await mkdir(join(root, 'etc'));
  await mkdir(join(root, 'srv'));
  await writeFile(join(root, 'etc/fstab'), `UUID=${ROOT_UUID} / ext4 defaults 0 1\nUUID=${SRV_UUID} /srv btrfs defaults 0 0\n`);
  await writeFile(join(root, 'etc/os-release'), 'ID=debian\nVERSION_ID=12\n');
  await unmount(root);

  const top = join(world.dir, 'src-top');
  await mkdir(top);
  await sh('mount', ['-o', 'subvolid=5', `${dev}p2`, top]);
  for (const s of ['@data', '@logs']) await sh('btrfs', ['subvolume', 'create', join(top, s)]);
  await mkdir(join(top, '@data/app/cache'), { recursive: true });
  await sh('btrfs', ['subvolume', 'create', join(top, '@data/app/cache/blobs')]);
  await mkdir(join(top, '@data/app/conf'), { recursive: true });
  await writeFile(join(top, '@data/app/conf/app.ini'), '[app]\nname=demo\n');
  await mkdir(join(top, '@data/app/cache/blobs/ab'), { recursive: true });
  await writeFile(join(top, '@data/app/cache/blobs/ab/cdef'), Buffer.alloc(70_000, 7));
  await mkdir(join(top, '@logs/2024'), { recursive: true });
  await writeFile(join(top, '@logs/2024/app.log'), 'started\nstopped\n');
  await sh('chmod', ['0750', join(top, '@logs/2024')]);
  await writeFile(join(top, 'README'), 'the top of the volume holds this file too\n');
  await sh('btrfs', ['subvolume', 'set-default', join(top, '@data')]);
  await unmount(top);
  // The source is archived from its image file, attached read-only by archive --disk itself.
  await execa('partx', ['-d', dev], { reject: false });
  await execa('losetup', ['-d', dev], { reject: false });
  return file;
}

async function subvolumes(top: string): Promise<string[]> {
  const all = await sh('btrfs', ['subvolume', 'list', top]);
  return all.split('\n').map((l) => /\bpath (.+)$/.exec(l)?.[1]).filter((p): p is string => p !== undefined).sort();
}

test('btrfs subvolumes: one stream each, recorded in the manifest; the nuke recreates them, the default and every file', async (t) => {
  const world = await makeWorld(t, 'lb-btrfs');
  const source = await buildSource(world);
  const server = await startLocalServer(world);

  const r = await lifeboat(['archive', '--store', server.store, '--image', 'subvols', '--disk', source, '--json']);
  assert.equal(r.exitCode, 0, r.stderr);
  const version = String(jsonLines(r.stdout).find((e) => e.type === 'published')!.version);
  const manifest = JSON.parse(await readFile(join(server.store, 'subvols', version, 'manifest.json'), 'utf8')) as Manifest;
  assert.deepEqual(
    manifest.archives.map((a) => [a.id, a.mountpoint, a.fstype, a.subvolume]).sort(),
    [
      ['root', '/', 'ext4', undefined],
      ['srv', '/srv', 'btrfs', '@data'],
      ['srv@data-app-cache-blobs', '', 'btrfs', '@data/app/cache/blobs'],
      ['srv@logs', '', 'btrfs', '@logs'],
      ['srv@top', '', 'btrfs', ''],
    ],
  );
  const srvFs = manifest.layout.filesystems.find((f) => f.type === 'btrfs')!;
  assert.deepEqual(srvFs.subvolumes?.map((s) => [s.path, s.isDefault]), [['@data', true], ['@logs', false], ['@data/app/cache/blobs', false]]);
  assert.match(await sh('ls', [join(server.store, 'subvols', version, 'layout')]), /btrfs-subvolumes-loop\d+p2\.txt/);

  const target = await sparseFile(join(world.dir, 'target.img'), 1536 << 20);
  const dev = await attachLoop(world, target, { partitions: true });
  const { id, token } = await server.taskWithToken('nuke', '52:54:00:aa:0b:01', 'subvols', { policy: 'proportional' });
  const targetRoot = join(world.dir, 'target-root');
  const agent = await runAgent({ server: server.url, task: id, token, disks: [dev], targetRoot });
  assert.equal(agent.exitCode, 0, agent.output);
  const task = (await server.api<{ state: string; error: string | null }>('GET', `/api/v1/tasks/${id}`)).body;
  assert.equal(task.state, 'done', `${task.error}\n${agent.output}`);
  assert.match(agent.output, /Extract archive "srv@logs" \(btrfs subvolume @logs/);
  assert.match(agent.output, /Extract archive "srv@top" \(the top of the btrfs volume/);

  // The restored volume: same UUID, same subvolumes, same default, every file where it was.
  assert.match(await sh('blkid', ['-p', '-o', 'export', `${dev}p2`]), new RegExp(`^UUID=${SRV_UUID}$`, 'm'));
  const top = await mountFs(world, `${dev}p2`, join(world.dir, 'restored-top'), 'subvolid=5');
  assert.deepEqual(await subvolumes(top), ['@data', '@data/app/cache/blobs', '@logs']);
  assert.match(await sh('btrfs', ['subvolume', 'get-default', top]), /path @data$/m);
  const srcDev = await attachLoop(world, source, { partitions: true, readOnly: true });
  const srcTop = await mountFs(world, `${srcDev}p2`, join(world.dir, 'source-top'), 'ro,subvolid=5');
  // The whole volume from its top, every subvolume in it: content, modes, owners, times, xattrs.
  assert.deepEqual(diffSnapshots(await snapshotTree(srcTop), await snapshotTree(top), { skipAllocation: true }), []);
  assert.equal(await readFile(join(top, '@data/app/cache/blobs/ab/cdef'), 'utf8').then((x) => x.length), 70_000);
  assert.equal(await readFile(join(top, 'README'), 'utf8'), 'the top of the volume holds this file too\n');
  // A plain mount shows the default subvolume, as the restored fstab expects.
  await unmount(top);
  const plain = await mountFs(world, `${dev}p2`, join(world.dir, 'restored-plain'));
  assert.equal(await readFile(join(plain, 'app/conf/app.ini'), 'utf8'), '[app]\nname=demo\n');
});
