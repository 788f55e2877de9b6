import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { renderVgMetadata } from '../../images/restore/lvm-volumes.js';
import type { Manifest } from '../../images/store/manifest.js';
import { jsonLines, lifeboat } from '../support/cli.js';
import { rederiveStored } from '../support/rederive.js';
import { attachLoop, sparseFile } from '../support/loop-devices.js';
import { makeWorld, sh } from '../support/world.js';

// archive --disk of a disk holding an LVM volume group. This host has no device-mapper, so the VG
// cannot be activated here (the QEMU capture test archives the filesystems on its LVs): the archive
// must say so as a warning and still publish what it can read, with the VG in the layout and its
// metadata saved by vgcfgbackup in layout/.

const MiB = 1024 * 1024;

test('a disk with an LVM volume group: recorded with its vgcfgbackup; LVs that cannot be activated are a warning, not a failure', async (t) => {
  const world = await makeWorld(t, 'lb-arcstack');
  const system = join(world.dir, 'lvm');
  await mkdir(system);
  // LVM of this test's own: loop devices only, backups in the test's directory.
  await writeFile(join(system, 'lvm.conf'), 'devices {\n filter = [ "a|^/dev/loop|", "r|.*|" ]\n use_devicesfile = 0\n hints = "none"\n obtain_device_list_from_udev = 0\n}\n');
  const env = { LVM_SYSTEM_DIR: system, LVM_SUPPRESS_FD_WARNINGS: '1' };

  const image = await sparseFile(join(world.dir, 'disk.img'), 512 * MiB);
  await sh('sfdisk', ['-q', image], { input: 'label: gpt\nstart=2048, size=409600, type=linux, name=root\nstart=411648, size=409600, type=lvm, name=pv\n' });
  const dev = await attachLoop(world, image, { partitions: true });
  await sh('mkfs.ext4', ['-q', '-F', '-L', 'root', `${dev}p1`]);
  const root = join(world.dir, 'root');
  await mkdir(root);
  await sh('mount', [`${dev}p1`, root]);
  await mkdir(join(root, 'etc'));
  await writeFile(join(root, 'etc/fstab'), `LABEL=root / ext4 defaults 0 1\n/dev/mapper/arcvg-data /data xfs defaults 0 2\n`);
  await sh('umount', [root]);
  const metadata = renderVgMetadata({
    name: 'arcvg', uuid: 'ArcVG0-AAAA-BBBB-CCCC-DDDD-EEEE-FFFF01', extentSize: 4 * MiB, description: 'test volume group',
    pvs: [{ device: `${dev}p2`, uuid: 'ArcPV0-AAAA-BBBB-CCCC-DDDD-EEEE-FFFF02', bytes: 200 * MiB, extents: 49 }],
    lvs: [{ name: 'data', uuid: 'ArcLV0-AAAA-BBBB-CCCC-DDDD-EEEE-FFFF03', segments: [{ startExtent: 0, extents: 40, stripes: [{ pv: `${dev}p2`, startExtent: 0 }] }] }],
  });
  const file = join(world.dir, 'arcvg.vg');
  await writeFile(file, metadata);
  await execa('pvcreate', ['-ff', '-y', '--uuid', 'ArcPV0-AAAA-BBBB-CCCC-DDDD-EEEE-FFFF02', '--restorefile', file, `${dev}p2`], { env });
  await execa('vgcfgrestore', ['-f', file, 'arcvg'], { env });
  await execa('partx', ['-d', dev], { reject: false });
  await execa('losetup', ['-d', dev], { reject: false });

  const lvmFiles = async () => (await sh('find', [system, '-type', 'f', '-printf', '%P %s %T@\n'])).split('\n').sort();
  const before = await lvmFiles();
  const store = join(world.dir, 'store');
  const r = await lifeboat(['archive', '--store', store, '--image', 'withvg', '--disk', image, '--json'], { env });
  assert.equal(r.exitCode, 0, r.stderr);
  const events = jsonLines(r.stdout);
  assert.ok(events.some((e) => e.type === 'warning' && /volume group arcvg could not be activated read-only .*: the filesystems on its LVs are not archived/.test(String(e.message))), r.stdout);
  const version = String(events.find((e) => e.type === 'published')!.version);
  const dir = join(store, 'withvg', version);
  const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as Manifest;
  assert.deepEqual(manifest.archives.map((a) => a.id), ['root']);
  assert.deepEqual(await rederiveStored(dir), manifest.layout, 'the layout is derived again from layout/ alone');
  assert.deepEqual(manifest.layout.lvm.vgs.map((v) => [v.name, v.uuid]), [['arcvg', 'ArcVG0-AAAA-BBBB-CCCC-DDDD-EEEE-FFFF01']]);
  assert.deepEqual(manifest.layout.lvm.lvs.map((l) => [l.name, l.uuid, l.size]), [['data', 'ArcLV0-AAAA-BBBB-CCCC-DDDD-EEEE-FFFF03', 160 * MiB]]);
  assert.ok((await readdir(join(dir, 'layout'))).includes('vgcfgbackup-arcvg.cfg'));
  assert.match(await readFile(join(dir, 'layout', 'vgcfgbackup-arcvg.cfg'), 'utf8'), /id = "ArcLV0-AAAA-BBBB-CCCC-DDDD-EEEE-FFFF03"/);
  // Nothing written to LVM's backup and archive directories by the archive.
  assert.deepEqual(await lvmFiles(), before);
});
