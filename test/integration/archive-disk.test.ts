import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { mkdir, writeFile, readFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { makeWorld, sh } from '../support/world.js';
import { execa } from 'execa';
import { attachLoop, sparseFile, makeFilesystem, refreshPartitions } from '../support/loop-devices.js';
import { lifeboat, jsonLines } from '../support/cli.js';
import type { Manifest } from '../../images/store/manifest.js';
import { rederiveStored } from '../support/rederive.js';

async function sha256(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(path)) h.update(c as Buffer);
  return h.digest('hex');
}

const ROOT_UUID = '3b6f0c52-8a47-4c55-9d1e-2f6a4d1c9e01';
const DATA_UUID = '7e2d5a10-1c3b-4f6e-8a9d-0b1c2d3e4f50';

test('--disk archives a partitioned raw image read-only and records the layout sfdisk and blkid see', async (t) => {
  const world = await makeWorld(t, 'lb-disk');
  const image = await sparseFile(join(world.dir, 'golden.img'), 1200 << 20);
  await sh('sfdisk', ['--quiet', image], {
    input: 'label: gpt\nunit: sectors\n\nstart=2048, size=614400, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name="root"\nsize=819200, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name="data"\n',
  });
  // Populate it through a writable attachment, gone again before the archive runs.
  const dev0 = (await sh('losetup', ['--find', '--show', '--partscan', image])).trim();
  try {
    await refreshPartitions(dev0);
    await makeFilesystem(`${dev0}p1`, 'ext4', 'ROOT', ROOT_UUID);
    await makeFilesystem(`${dev0}p2`, 'xfs', 'DATA', DATA_UUID);
    const root = join(world.dir, 'setup-root');
    const data = join(world.dir, 'setup-data');
    await mkdir(root);
    await mkdir(data);
    await sh('mount', [`${dev0}p1`, root]);
    try {
      await sh('mount', [`${dev0}p2`, data]);
      try {
        await mkdir(join(root, 'etc'));
        await writeFile(join(root, 'etc', 'fstab'), `# static file system information\nUUID=${ROOT_UUID} / ext4 errors=remount-ro 0 1\nLABEL=DATA /data xfs defaults 0 2\n`);
        await writeFile(join(root, 'etc', 'hostname'), 'golden\n');
        await writeFile(join(root, 'etc', 'os-release'), 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n');
        await writeFile(join(data, 'payload.txt'), 'data partition\n');
      } finally {
        await sh('umount', [data]);
      }
    } finally {
      await sh('umount', [root]);
    }
  } finally {
    await execa('partx', ['-d', dev0], { reject: false });
    await execa('losetup', ['-d', dev0], { reject: false });
  }
  const before = await sha256(image);
  const sfdisk = JSON.parse(await sh('sfdisk', ['--json', image])).partitiontable as {
    label: string; id: string; sectorsize: number; partitions: Array<{ start: number; size: number; type: string; uuid: string; name: string }>;
  };

  const store = join(world.dir, 'store');
  const r = await lifeboat(['archive', '--store', store, '--image', 'golden', '--disk', image, '--json']);
  assert.equal(r.exitCode, 0, r.stderr);
  const dir = String(jsonLines(r.stdout).find((e) => e.type === 'published')!.dir);
  assert.equal(await sha256(image), before, 'the disk image was not written');

  const m = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as Manifest;
  assert.equal(m.source.mode, 'disk');
  assert.deepEqual(await rederiveStored(dir), m.layout, 'the layout is derived again from layout/ alone');
  assert.equal(m.layout.disks.length, 1);
  const table = m.layout.disks[0]!.table!;
  assert.equal(table.type, sfdisk.label);
  assert.equal(table.id.toUpperCase(), sfdisk.id.toUpperCase());
  assert.equal(table.sectorSize, sfdisk.sectorsize);
  assert.deepEqual(
    table.partitions.map((p) => [p.start, p.size, p.type.toUpperCase(), p.uuid?.toUpperCase(), p.name]),
    sfdisk.partitions.map((p) => [p.start, p.size, p.type.toUpperCase(), p.uuid.toUpperCase(), p.name]),
  );
  assert.equal(m.layout.disks[0]!.size, 1200 << 20);

  // blkid's view of the same partitions, through a read-only attachment of our own.
  const dev = await attachLoop(world, image, { partitions: true, readOnly: true });
  for (const [n, fsType] of [[1, 'ext4'], [2, 'xfs']] as const) {
    const blkid = Object.fromEntries((await sh('blkid', ['-p', '-o', 'export', `${dev}p${n}`])).trim().split('\n').map((l) => l.split('=') as [string, string]));
    const fs = m.layout.filesystems.find((f) => f.uuid === blkid.UUID);
    assert.ok(fs, `filesystem ${blkid.UUID} is in the layout`);
    assert.equal(fs.type, fsType);
    assert.equal(fs.type, blkid.TYPE);
    assert.equal(fs.label, blkid.LABEL);
  }
  assert.deepEqual(m.archives.map((a) => [a.id, a.mountpoint, a.fstype, a.uuid, a.label]), [
    ['root', '/', 'ext4', ROOT_UUID, 'ROOT'],
    ['data', '/data', 'xfs', DATA_UUID, 'DATA'],
  ]);
  assert.equal(m.layout.host.hostname, 'golden');
  assert.equal(m.layout.fstab.length, 2);
  assert.ok(m.archives.every((a) => a.usedBytes > 0));
  const listing = await sh('bash', ['-o', 'pipefail', '-c', `zstd -dc ${dir}/data/data.tar.zst | tar -t`]);
  assert.match(listing, /^\.\/payload\.txt$/m);
  const verify = await lifeboat(['images', 'verify', 'golden', '--store', store]);
  assert.equal(verify.exitCode, 0, verify.stdout);
  assert.match((await lifeboat(['images', 'show', 'golden', '--store', store])).stdout, /\/data\s+xfs/);
});
