import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fixtureDiskSpec } from '../support/fixture-disk.js';
import { partitionNumber, renderFstab, rootMountpoints, sfdiskScript } from '../support/guest-image/layout.js';
import { mkfsCommands } from '../support/guest-image/mkfs.js';
import { multiDiskSpec, type MultiDiskVariant } from '../support/guest-image/multi-disk-specs.js';
import { buildOnHost } from '../support/guest-image/on-host.js';
import type { GuestImageSpec } from '../support/guest-image/spec.js';

// The fixtures are data (test/support/guest-image/spec.ts): these check that every spec the test
// kit makes is whole (each tree lands on a filesystem, each filesystem on a device the layout
// makes, each promised hash on mounted filesystems) and that the host builder refuses, before
// touching anything, what only a guest can make.

const specs: GuestImageSpec[] = [
  fixtureDiskSpec({ name: 'u-bios-gpt', firmware: 'bios', table: 'gpt', sizeBytes: 1024 << 20 }),
  fixtureDiskSpec({ name: 'u-bios-dos', firmware: 'bios', table: 'dos', sizeBytes: 1024 << 20 }),
  fixtureDiskSpec({ name: 'u-uefi-gpt', firmware: 'uefi', table: 'gpt', sizeBytes: 1024 << 20 }),
  ...(['raid-lvm', 'mbr-logical', 'raid5-stripe'] as MultiDiskVariant[]).map((v) => multiDiskSpec(v, `u-${v}`)),
];

for (const spec of specs) {
  test(`${spec.name}: trees, filesystems, devices and hashes of the spec fit together`, () => {
    const mountpoints = spec.filesystems.map((f) => f.mountpoint);
    for (const t of spec.trees) assert.ok(mountpoints.includes(t.mountpoint), `tree ${t.mountpoint} is a filesystem's mountpoint`);
    for (const group of spec.hashes) for (const mp of group) assert.ok(mountpoints.includes(mp) && mp !== 'none', `hash over ${mp}`);
    assert.equal(spec.filesystems.filter((f) => f.mountpoint === '/').length, 1, 'one root filesystem');
    const partitions = spec.disks.flatMap((d) => d.parts.map((p, i) => ({ device: `/dev/${d.device}${partitionNumber(d, i)}`, kind: p.kind })).filter((p) => p.kind !== 'extended').map((p) => p.device));
    const stacked = [...spec.raid.map((md) => md.device), ...(spec.lvm?.lvs.map((lv) => `/dev/${spec.lvm!.vg}/${lv.name}`) ?? [])];
    for (const f of spec.filesystems) assert.ok([...partitions, ...stacked].includes(f.device), `${f.mountpoint} on ${f.device}, which the layout makes`);
    for (const md of spec.raid) for (const m of md.members) assert.ok(partitions.includes(m), `${md.device} member ${m} is a partition`);
    for (const d of spec.disks) assert.equal(sfdiskScript(spec.name, d).split('\n').filter((l) => l.startsWith('start=')).length, d.parts.length);
    const fstab = renderFstab(spec).split('\n').filter((l) => l && !l.startsWith('#'));
    assert.deepEqual(fstab.map((l) => l.split(/\s+/)[1]), mountpoints, 'fstab in the spec\'s order');
  });
}

test('the MBR layout numbers logical partitions from 5 and the root needs no directory for a filesystem nested in another', () => {
  const mbr = multiDiskSpec('mbr-logical', 'u-mbr').disks[0]!;
  assert.deepEqual(mbr.parts.map((_, i) => partitionNumber(mbr, i)), [1, 2, 5, 6, 7]);
  assert.deepEqual(rootMountpoints(multiDiskSpec('raid-lvm', 'u-rl')), ['/boot/efi', '/home', '/srv', '/data']);
});

test('mkfs commands set the spec\'s UUID and label for every filesystem type (JFS through jfs_tune)', () => {
  for (const spec of specs) {
    for (const f of spec.filesystems) {
      const line = mkfsCommands(f, f.device).map((c) => c.argv.join(' ')).join(' ; ');
      assert.ok(line.includes(f.label), `${f.type}: label in '${line}'`);
      assert.ok(line.includes(f.type === 'vfat' ? f.uuid.replace('-', '') : f.uuid), `${f.type}: UUID in '${line}'`);
    }
  }
});

test('the host builder refuses, naming why, a spec only a guest can make, before it writes anything', async () => {
  const refuse = (spec: GuestImageSpec, why: RegExp) => assert.rejects(buildOnHost(spec, '/nonexistent/work', '/nonexistent/entry', async () => undefined), why);
  await refuse(multiDiskSpec('raid-lvm', 'u-rl'), /this one has 2 disks: use build 'guest'/);
  await refuse(multiDiskSpec('mbr-logical', 'u-mbr'), /this one has ext3: use build 'guest'/);
  const single = fixtureDiskSpec({ name: 'u-uefi', firmware: 'uefi', table: 'gpt', sizeBytes: 1024 << 20 });
  await refuse({ ...single, trees: [...single.trees, { mountpoint: '/boot/efi', files: [{ path: 'x', text: 'x' }] }] }, /does not fill vfat \(\/boot\/efi\) beyond GRUB/);
});
