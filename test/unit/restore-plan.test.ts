import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkManifest, type Manifest } from '../../images/store/manifest.js';
import { partitionDevice, compareDevicePaths, type RestorePlan } from '../../images/restore/plan.js';
import { GiB, MiB, GPT, archive, debianVm, debianVmWithData, disk, mbrServer } from '../support/restore-layouts.js';
import { plan, refuses } from '../support/unit-kit.js';

/** [number, start, size] in target sectors, in number order. */
const geometry = (p: RestorePlan, i = 0) => p.disks[i]!.table!.partitions.map((x) => [x.number, x.start, x.size]);

test('the test images are valid lifeboat-image/1 manifests', () => {
  for (const m of [debianVm(), mbrServer(), debianVmWithData()]) assert.doesNotThrow(() => checkManifest(structuredClone(m), m.image));
});

// Debian VM (20 GiB): p1 BIOS boot 1 MiB, p2 ESP 512 MiB, p3 root 18 GiB, p4 swap 1533 MiB.
// On a 40 GiB disk the resizable partitions share 40445 MiB: the usable end is 40 GiB less the
// 33-sector backup GPT, minus 514 MiB for the first MiB and p1 + p2, rounded down to a MiB.
// On the source they had 19966 MiB less those 33 sectors. 18432 × 40445 / 19965.98 = 37337.6 and
// 1533 × 40445 / 19965.98 = 3105.4, rounded down.
test('proportional on a disk twice as big: root and swap scale, BIOS boot and ESP keep their size', () => {
  const p = plan({ manifest: debianVm(), targetDisks: [disk('/dev/vda', 40 * GiB)] });
  assert.deepEqual(geometry(p), [
    [1, 2048, 2048],
    [2, 4096, 1048576],
    [3, 1052672, 37337 * 2048],
    [4, 1052672 + 37337 * 2048, 3105 * 2048],
  ]);
  assert.deepEqual(p.disks[0]!.table!.partitions.map((x) => x.sizing), ['fixed', 'fixed', 'proportional', 'proportional']);
  assert.equal(p.disks[0]!.table!.firstLba, 34);
  assert.equal(p.disks[0]!.table!.lastLba, 40 * GiB / 512 - 34);
});

test('grow-last on a disk twice as big: root takes the rest, the swap after it keeps its size', () => {
  const p = plan({ manifest: debianVm(), targetDisks: [disk('/dev/vda', 40 * GiB)], policy: 'grow-last' });
  // 40445 − 1533 = 38912 MiB for root; swap moves to just after it.
  assert.deepEqual(geometry(p), [
    [1, 2048, 2048],
    [2, 4096, 1048576],
    [3, 1052672, 38912 * 2048],
    [4, 1052672 + 38912 * 2048, 3139584],
  ]);
});

// MBR server (50 GiB): p1 /boot 512 MiB, p2 / 15 GiB, p3 extended, p5 /home 30 GiB, p6 swap 4 GiB.
// Fixed cost of the layout: the first MiB and one MiB in front of each logical partition (its EBR).
// Expected geometry as [number, start, size] in MiB (2048 target sectors).
const mbrTwiceAsBig = [
  {
    policy: 'proportional',
    title: 'proportional on an MBR disk twice as big: logical partitions keep 1 MiB for their EBR, the extended spans them',
    // Room 102397 MiB against 51197 on the source: each size × (2 + 3/51197), rounded down.
    mib: [[1, 1, 1024], [2, 1025, 30720], [3, 31745, 101380 - 31745], [5, 31746, 61441], [6, 93188, 8192]],
  },
  {
    policy: 'grow-last',
    title: 'grow-last on an MBR disk twice as big: /home (the last filesystem) grows, /boot, / and swap keep their size',
    // 102397 − 512 − 15360 − 4096 = 82429 MiB for /home; the swap ends exactly at the end of the disk.
    mib: [[1, 1, 512], [2, 513, 15360], [3, 15873, 102400 - 15873], [5, 15874, 82429], [6, 98304, 4096]],
  },
] as const;

for (const c of mbrTwiceAsBig) {
  test(c.title, () => {
    const p = plan({ manifest: mbrServer(), targetDisks: [disk('/dev/vda', 100 * GiB)], firmware: 'bios', policy: c.policy });
    assert.deepEqual(geometry(p), c.mib.map(([n, start, size]) => [n, start * 2048, size * 2048]));
    assert.equal(p.disks[0]!.table!.partitions.find((x) => x.number === 3)!.sizing, 'container');
    assert.equal(p.disks[0]!.table!.firstLba, undefined, 'an MBR table has no usable-LBA header');
  });
}

test('a smaller disk that fits: proportional scales everything down, grow-last shrinks root only', () => {
  const prop = plan({ manifest: debianVm(), targetDisks: [disk('/dev/vda', 10 * GiB)] });
  // Room 9725 MiB: 18432 × 9725 / 19965.98 = 8977.8, 1533 × 9725 / 19965.98 = 746.7.
  assert.deepEqual(geometry(prop).slice(2), [[3, 1052672, 8977 * 2048], [4, 1052672 + 8977 * 2048, 746 * 2048]]);
  const last = plan({ manifest: debianVm(), targetDisks: [disk('/dev/vda', 10 * GiB)], policy: 'grow-last' });
  assert.deepEqual(geometry(last).slice(2), [[3, 1052672, 8192 * 2048], [4, 1052672 + 8192 * 2048, 3139584]]);
  for (const p of [prop, last]) {
    const root = p.filesystems.find((f) => f.mountpoint === '/')!;
    assert.ok(root.bytes >= root.need.bytes, 'root keeps its used bytes plus headroom');
  }
});

test('a smaller disk that does not fit: refused before anything is written, naming the filesystem, its use, its need and what is available', () => {
  // Root holds 4 GiB: it needs 4 GiB + 409.6 MiB; a 4 GiB disk leaves 3581 MiB for root and swap.
  const e = refuses(
    () => plan({ manifest: debianVm(), targetDisks: [disk('/dev/vda', 4 * GiB)] }),
    'LB_DOES_NOT_FIT',
    /filesystem \/ \(ext4 on \/dev\/sda3\)/,
    /needs 4\.40 GiB \(4\.00 GiB used \+ 409\.6 MiB headroom\)/,
    /\/dev\/vda3 on \/dev\/vda \(4\.00 GiB\) can have at most 3\.50 GiB/,
    /use a bigger disk/,
  );
  assert.deepEqual(e.details, { source: '/dev/sda', target: '/dev/vda' });
  // grow-last refuses the same disk the same way: the policy does not change what data needs.
  refuses(() => plan({ manifest: debianVm(), targetDisks: [disk('/dev/vda', 4 * GiB)], policy: 'grow-last' }), 'LB_DOES_NOT_FIT', /filesystem \/ \(ext4/);
});

test('several filesystems that do not fit together are all named with the total', () => {
  // 18 GiB: /boot, / and /home need 214 + 6759 + 13517 MiB, and 1 MiB for swap, against 18429 MiB.
  const e = refuses(
    () => plan({ manifest: mbrServer(), targetDisks: [disk('/dev/vda', 18 * GiB)], firmware: 'bios' }),
    'LB_DOES_NOT_FIT',
    /the filesystems of \/dev\/sda do not fit on \/dev\/vda \(18\.0 GiB\)/,
    /filesystem \/boot \(ext4 on \/dev\/sda1\) needs 214\.0 MiB \(150\.0 MiB used \+ 64\.0 MiB headroom\)/,
    /filesystem \/ \(xfs on \/dev\/sda2\) needs 6\.60 GiB \(6\.00 GiB used \+ 614\.4 MiB headroom\)/,
    /filesystem \/home \(ext4 on \/dev\/sda5\) needs 13\.2 GiB \(12\.0 GiB used \+ 1\.20 GiB headroom\)/,
    /together 20\.0 GiB, and 18\.0 GiB is available for them/,
  );
  assert.doesNotMatch(e.message, /swap/, 'swap fits in what is left: it is not the problem');
});

test('proportional leaves no filesystem below its need: those are raised and the others give way', () => {
  // 21 GiB: scaled, / would get 6450 MiB and /home 12901, below their 6759 and 13517.
  const p = plan({ manifest: mbrServer(), targetDisks: [disk('/dev/vda', 21 * GiB)], firmware: 'bios' });
  const parts = p.disks[0]!.table!.partitions;
  const mib = (n: number) => parts.find((x) => x.number === n)!.bytes / MiB;
  assert.deepEqual([mib(1), mib(2), mib(5), mib(6)], [214, 6759, 13517, 1010]);
  assert.deepEqual(parts.map((x) => x.sizing), ['proportional', 'minimum', 'container', 'minimum', 'proportional']);
  const end = Math.max(...parts.map((x) => x.start + x.size));
  assert.ok(end <= 21 * GiB / 512);
});

test('grow-last on a smaller disk: the last filesystem shrinks to its need first, then the others give way in proportion', () => {
  const p = plan({ manifest: mbrServer(), targetDisks: [disk('/dev/vda', 21 * GiB)], firmware: 'bios', policy: 'grow-last' });
  const parts = p.disks[0]!.table!.partitions;
  const home = parts.find((x) => x.number === 5)!;
  assert.equal(home.bytes, 13517 * MiB);
  assert.equal(home.sizing, 'minimum');
  for (const fs of p.filesystems) assert.ok(fs.bytes >= fs.need.bytes, `${fs.mountpoint} keeps its need`);
  assert.ok(parts.find((x) => x.number === 2)!.bytes < 15 * GiB, '/ gave way');
  assert.ok(parts.find((x) => x.number === 6)!.bytes < 4 * GiB, 'swap gave way');
});

test('a nearly full filesystem restored on the same disk is not refused: it needs no more than it had', () => {
  const full = debianVm({ rootUsed: 17.8 * GiB });
  const p = plan({ manifest: full, targetDisks: [disk('/dev/vda', 20 * GiB)], policy: 'grow-last' });
  const root = p.filesystems.find((f) => f.mountpoint === '/')!;
  assert.equal(root.need.reason, 'source-size');
  assert.equal(root.bytes, 18 * GiB);
});

test('ESP and BIOS boot partition never change size, whatever the disk and policy', () => {
  const cases: Array<[number, 'proportional' | 'grow-last', number]> = [[40 * GiB, 'proportional', 512], [40 * GiB, 'grow-last', 512], [10 * GiB, 'proportional', 512], [6 * GiB, 'grow-last', 512], [40 * GiB, 'proportional', 4096]];
  for (const [size, policy, sector] of cases) {
    const p = plan({ manifest: debianVm(), targetDisks: [disk('/dev/vda', size, { logicalSectorSize: sector, physicalSectorSize: sector })], policy });
    const parts = p.disks[0]!.table!.partitions;
    assert.equal(parts[0]!.role, 'bios-boot');
    assert.equal(parts[0]!.bytes, MiB, `BIOS boot on ${size} ${policy} ${sector}`);
    assert.equal(parts[1]!.role, 'esp');
    assert.equal(parts[1]!.bytes, 512 * MiB, `ESP on ${size} ${policy} ${sector}`);
  }
});

test('a 4096-byte-sector target: starts and sizes in its sectors, GPT usable LBAs for 4 KiB entries', () => {
  const p = plan({ manifest: debianVm(), targetDisks: [disk('/dev/vda', 40 * GiB, { logicalSectorSize: 4096, physicalSectorSize: 4096 })] });
  const table = p.disks[0]!.table!;
  assert.equal(table.sectorSize, 4096);
  assert.equal(table.firstLba, 6);
  assert.equal(table.lastLba, 40 * GiB / 4096 - 6);
  // The same MiB as on the 512-byte disk: the backup GPT takes 20 KiB instead of 16.5, both under a MiB.
  assert.deepEqual(geometry(p), [
    [1, 256, 256],
    [2, 512, 131072],
    [3, 131584, 37337 * 256],
    [4, 131584 + 37337 * 256, 3105 * 256],
  ]);
});

test('identity is kept: disk GUID, PARTUUIDs, types, names, attributes; filesystem and swap UUIDs and labels', () => {
  const source = debianVm();
  const p = plan({ manifest: source, targetDisks: [disk('/dev/vda', 40 * GiB)] });
  const table = p.disks[0]!.table!;
  const was = source.layout.disks[0]!.table!;
  assert.equal(table.id, was.id);
  assert.deepEqual(
    table.partitions.map((x) => [x.number, x.type, x.uuid, x.name, x.attrs]),
    was.partitions.map((x) => [x.number, x.type, x.uuid, x.name, x.attrs]),
  );
  assert.deepEqual(
    p.filesystems.map((f) => [f.device, f.type, f.uuid, f.label, f.mountpoint, f.archives]),
    [['/dev/vda2', 'vfat', '1A2B-3C4D', 'ESP', '/boot/efi', ['boot-efi']], ['/dev/vda3', 'ext4', '3f1e8a52-1c6d-4b8e-9a71-2d5c0e4b7a13', 'rootfs', '/', ['root']]],
  );
  assert.deepEqual(p.filesystems[1]!.features, source.layout.filesystems[1]!.features);
  assert.deepEqual(p.swaps, [{ source: '/dev/sda4', device: '/dev/vda4', uuid: '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d', bytes: 3105 * MiB }]);

  const mbr = plan({ manifest: mbrServer(), targetDisks: [disk('/dev/sdc', 60 * GiB)], firmware: 'bios' });
  assert.equal(mbr.disks[0]!.table!.id, '0x5eed1234', 'MBR PARTUUIDs are the disk id plus the number');
  assert.deepEqual(mbr.disks[0]!.table!.partitions.map((x) => [x.number, x.kind, x.type, x.bootable]), [
    [1, 'primary', '83', true], [2, 'primary', '83', false], [3, 'extended', '5', false], [5, 'logical', '83', false], [6, 'logical', '82', false],
  ]);
});

test('mounts in depth order under /mnt/lifeboat, each archive extracted into its own filesystem', () => {
  const p = plan({ manifest: mbrServer(), targetDisks: [disk('/dev/vda', 60 * GiB)], firmware: 'bios' });
  assert.deepEqual(p.mounts.map((m) => [m.mountpoint, m.directory, m.device, m.fstype]), [
    ['/', '/mnt/lifeboat', '/dev/vda2', 'xfs'],
    ['/boot', '/mnt/lifeboat/boot', '/dev/vda1', 'ext4'],
    ['/home', '/mnt/lifeboat/home', '/dev/vda5', 'ext4'],
  ]);
  assert.deepEqual(p.restores.map((r) => [r.archiveId, r.directory, r.device]), [
    ['root', '/mnt/lifeboat', '/dev/vda2'], ['boot', '/mnt/lifeboat/boot', '/dev/vda1'], ['home', '/mnt/lifeboat/home', '/dev/vda5'],
  ]);
});

test('more target disks than source disks: the first in order is used, the others are listed as untouched', () => {
  const p = plan({ manifest: debianVm(), targetDisks: [disk('/dev/vdb', 50 * GiB), disk('/dev/vda', 40 * GiB), disk('/dev/vdc', 8 * GiB)] });
  assert.deepEqual(p.disks.map((d) => [d.source, d.target]), [['/dev/sda', '/dev/vda']]);
  assert.deepEqual(p.untouchedDisks.map((d) => d.path), ['/dev/vdb', '/dev/vdc']);
  assert.match(p.untouchedDisks[0]!.why, /not read or written/);
});

test('two source disks onto two target disks in path order', () => {
  const p = plan({ manifest: debianVmWithData(), targetDisks: [disk('/dev/vdb', 20 * GiB), disk('/dev/vda', 40 * GiB)] });
  assert.deepEqual(p.disks.map((d) => [d.source, d.target]), [['/dev/sda', '/dev/vda'], ['/dev/sdb', '/dev/vdb']]);
  assert.deepEqual(p.mounts.map((m) => [m.mountpoint, m.device]), [['/', '/dev/vda3'], ['/srv', '/dev/vdb1'], ['/boot/efi', '/dev/vda2']]);
});

test('fewer target disks: refused, listing both sides and the way out', () => {
  refuses(
    () => plan({ manifest: debianVmWithData(), targetDisks: [disk('/dev/vda', 40 * GiB)] }),
    'LB_DOES_NOT_FIT',
    /the image has 2 disks to restore \(\/dev\/sda 20\.0 GiB, \/dev\/sdb 10\.0 GiB\) but this machine has 1 \(\/dev\/vda 40\.0 GiB\)/,
    /nothing is left for \/dev\/sdb/,
    /edits\.dropDisks/,
  );
});

test('fewer target disks: a dropped disk whose filesystems are not archived is left out, and the plan says what that breaks', () => {
  const m = debianVmWithData();
  m.archives = m.archives.filter((a) => a.id !== 'srv');
  const p = plan({ manifest: m, targetDisks: [disk('/dev/vda', 40 * GiB)], edits: { dropDisks: ['/dev/sdb'] } });
  assert.deepEqual(p.disks.map((d) => d.source), ['/dev/sda']);
  assert.deepEqual(p.droppedDisks, [{ path: '/dev/sdb', why: 'dropped by the operator' }]);
  assert.ok(p.notes.some((n) => /xfs \/srv on \/dev\/sdb1 is on a dropped disk/.test(n)), p.notes.join('\n'));
  assert.ok(p.notes.some((n) => /\/etc\/fstab mounts UUID=77aa88bb-99cc-4ddd-8eee-ff0011223344 on \/srv, which this plan does not create/.test(n)), p.notes.join('\n'));
});

test('dropping a disk that holds an archive is refused: its files would have nowhere to go', () => {
  refuses(
    () => plan({ manifest: debianVmWithData(), targetDisks: [disk('/dev/vda', 40 * GiB)], edits: { dropDisks: ['/dev/sdb'] } }),
    'LB_INVALID',
    /dropping \/dev\/sdb leaves archive "srv" \(\/srv on \/dev\/sdb1\) with nowhere to go/,
  );
});

test('the default mapping does not skip a disk that is too small: it refuses and lists the disks; a disk map fixes it', () => {
  const targets = [disk('/dev/vda', 4 * GiB), disk('/dev/vdb', 40 * GiB)];
  refuses(
    () => plan({ manifest: debianVmWithData(), targetDisks: targets }),
    'LB_DOES_NOT_FIT',
    /filesystem \/ \(ext4 on \/dev\/sda3\)/,
    /Disks of this machine: \/dev\/vda 4\.00 GiB, \/dev\/vdb 40\.0 GiB; map \/dev\/sda to a bigger one \(edits\.diskMap\)/,
  );
  const swapped = plan({ manifest: debianVmWithData(), targetDisks: targets, edits: { diskMap: { '/dev/sda': '/dev/vdb' } } });
  assert.deepEqual(swapped.disks.map((d) => [d.source, d.target]), [['/dev/sda', '/dev/vdb'], ['/dev/sdb', '/dev/vda']], 'the unmapped disk takes the one left');
  assert.equal(swapped.filesystems.find((f) => f.mountpoint === '/srv')!.device, '/dev/vda1');
});

test('nonsensical disk edits are refused with LB_INVALID, naming what is wrong', () => {
  const m = debianVmWithData();
  const targets = [disk('/dev/vda', 40 * GiB), disk('/dev/vdb', 40 * GiB)];
  refuses(() => plan({ manifest: m, targetDisks: targets, edits: { diskMap: { '/dev/sdz': '/dev/vda' } } }), 'LB_INVALID', /\/dev\/sdz, which is not a disk of the image \(its disks: \/dev\/sda, \/dev\/sdb\)/);
  refuses(() => plan({ manifest: m, targetDisks: targets, edits: { diskMap: { '/dev/sda': '/dev/vdq' } } }), 'LB_INVALID', /\/dev\/vdq, which is not a disk of this machine \(its disks: \/dev\/vda, \/dev\/vdb\)/);
  refuses(() => plan({ manifest: m, targetDisks: targets, edits: { diskMap: { '/dev/sda': '/dev/vda', '/dev/sdb': '/dev/vda' } } }), 'LB_INVALID', /both \/dev\/sda and \/dev\/sdb to \/dev\/vda/);
  refuses(() => plan({ manifest: m, targetDisks: targets, edits: { diskMap: { '/dev/sdb': '/dev/vdb' }, dropDisks: ['/dev/sdb'] } }), 'LB_INVALID', /both mapped to \/dev\/vdb and dropped/);
  refuses(() => plan({ manifest: m, targetDisks: targets, edits: { dropDisks: ['/dev/sdq'] } }), 'LB_INVALID', /cannot drop \/dev\/sdq/);
});

test('an edited partition size is used as given; the policy sizes the rest around it', () => {
  const p = plan({ manifest: debianVm(), targetDisks: [disk('/dev/vda', 40 * GiB)], policy: 'grow-last', edits: { partitionSizes: { '/dev/sda4': 8 * GiB } } });
  const parts = p.disks[0]!.table!.partitions;
  assert.deepEqual(parts.map((x) => [x.number, x.bytes / MiB, x.sizing]), [[1, 1, 'fixed'], [2, 512, 'fixed'], [3, 40445 - 8192, 'grow-last'], [4, 8192, 'edited']]);
  assert.equal(p.swaps[0]!.bytes, 8 * GiB);
});

test('an edited size too small for the data is refused with the numbers; nonsensical sizes with LB_INVALID', () => {
  refuses(
    () => plan({ manifest: debianVm(), targetDisks: [disk('/dev/vda', 40 * GiB)], edits: { partitionSizes: { '/dev/sda3': 3 * GiB } } }),
    'LB_DOES_NOT_FIT',
    /the edited size of \/dev\/sda3, 3\.00 GiB, is too small: filesystem \/ \(ext4 on \/dev\/sda3\) needs 4\.40 GiB \(4\.00 GiB used/,
  );
  const t = [disk('/dev/vda', 40 * GiB)];
  refuses(() => plan({ manifest: debianVm(), targetDisks: t, edits: { partitionSizes: { '/dev/sda9': GiB } } }), 'LB_INVALID', /\/dev\/sda9, which is not a partition of the image/);
  refuses(() => plan({ manifest: debianVm(), targetDisks: t, edits: { partitionSizes: { '/dev/sda3': -5 } } }), 'LB_INVALID', /positive whole number of bytes/);
  refuses(() => plan({ manifest: debianVm(), targetDisks: t, edits: { partitionSizes: { '/dev/sda3': 1.5 } } }), 'LB_INVALID', /positive whole number/);
  refuses(() => plan({ manifest: mbrServer(), targetDisks: t, firmware: 'bios', edits: { partitionSizes: { '/dev/sda3': 40 * GiB } } }), 'LB_INVALID', /\/dev\/sda3 is an extended partition/);
  refuses(
    () => plan({ manifest: debianVm(), targetDisks: t, edits: { partitionSizes: { '/dev/sda3': 39 * GiB, '/dev/sda4': 2 * GiB } } }),
    'LB_DOES_NOT_FIT',
    /keep their size .* need 41\.5 GiB, more than \/dev\/vda \(40\.0 GiB\) offers/,
  );
});

test('an archive of a device the layout does not know is refused: the restore would not know what to make', () => {
  const onLv = debianVm();
  onLv.archives.push(archive('srv', '/srv', '/dev/mapper/vg0-srv', 'xfs', GiB));
  refuses(() => plan({ manifest: onLv, targetDisks: [disk('/dev/vda', 40 * GiB)] }), 'LB_INVALID', /archive "srv" \(\/srv on \/dev\/mapper\/vg0-srv\) is on a device that is not a partition, disk, md array or LVM volume of the image's layout/);
});

test('UEFI target: the ESP mapped, the loader and label from the image, the removable fallback path', () => {
  const p = plan({ manifest: debianVm(), targetDisks: [disk('/dev/nvme0n1', 40 * GiB)] });
  assert.deepEqual(p.bootloader, {
    kind: 'grub-efi', firmware: 'uefi', espDevice: '/dev/nvme0n1p2', espDisk: '/dev/nvme0n1', espPartition: 2, efiDirectory: '/boot/efi',
    grubTarget: 'x86_64-efi', bootloaderId: 'debian', label: 'debian', loader: 'EFI/debian/shimx64.efi', removablePath: 'EFI/BOOT/BOOTX64.EFI',
  });
  assert.deepEqual(p.disks[0]!.table!.partitions.map((x) => x.device), ['/dev/nvme0n1p1', '/dev/nvme0n1p2', '/dev/nvme0n1p3', '/dev/nvme0n1p4']);
});

test('BIOS target: GRUB goes to the mapped disk that held it; a GPT disk needs its BIOS boot partition', () => {
  const p = plan({ manifest: mbrServer(), targetDisks: [disk('/dev/sdb', 60 * GiB), disk('/dev/sda', 60 * GiB)], firmware: 'bios', edits: { diskMap: { '/dev/sda': '/dev/sdb' } } });
  assert.deepEqual(p.bootloader, { kind: 'grub-pc', firmware: 'bios', disks: ['/dev/sdb'], sourceDisks: ['/dev/sda'], why: 'GRUB was in the boot sector of /dev/sda on the source' });

  // The UEFI Debian VM has a BIOS boot partition: it can be restored on a BIOS machine, with a note.
  const hybrid = plan({ manifest: debianVm(), targetDisks: [disk('/dev/vda', 40 * GiB)], firmware: 'bios' });
  assert.equal(hybrid.bootloader.kind, 'grub-pc');
  assert.ok(hybrid.notes.some((n) => /grub-pc-bin/.test(n)));

  const noBiosBoot = debianVm();
  noBiosBoot.layout.disks[0]!.table!.partitions.shift();
  refuses(() => plan({ manifest: noBiosBoot, targetDisks: [disk('/dev/vda', 40 * GiB)], firmware: 'bios' }), 'LB_INVALID', /GPT table without a BIOS boot partition: GRUB cannot be installed there/);
});

test('UEFI target for an image without an ESP is refused: it would not boot', () => {
  refuses(() => plan({ manifest: mbrServer(), targetDisks: [disk('/dev/vda', 60 * GiB)], firmware: 'uefi' }), 'LB_INVALID', /boots UEFI but the image has no EFI system partition/);
});

test('btrfs: one mkfs, the subvolumes created (not snapper snapshots), each archive mounted on its subvolume', () => {
  const m = debianVm();
  const root = m.layout.filesystems[1]!;
  Object.assign(root, {
    type: 'btrfs', features: undefined, mountOptions: 'rw,noatime,compress=zstd:3,subvol=/@',
    subvolumes: [{ id: 256, path: '@', isDefault: true }, { id: 257, path: '@home' }, { id: 258, path: '@/.snapshots' }, { id: 259, path: '@/.snapshots/1/snapshot' }],
    mounts: [{ mountpoint: '/', options: 'rw,noatime,compress=zstd:3,subvol=/@', subvolume: '@' }, { mountpoint: '/home', options: 'rw,noatime,compress=zstd:3,subvol=/@home', subvolume: '@home' }],
  });
  m.archives[0]!.fstype = 'btrfs';
  m.archives.push(archive('home', '/home', '/dev/sda3', 'btrfs', 4 * GiB));
  const p = plan({ manifest: m, targetDisks: [disk('/dev/vda', 40 * GiB)] });
  const fs = p.filesystems.find((f) => f.type === 'btrfs')!;
  assert.deepEqual(fs.archives, ['root', 'home']);
  assert.deepEqual(fs.subvolumes, [{ path: '@', isDefault: true }, { path: '@home' }, { path: '@/.snapshots' }]);
  assert.deepEqual(p.mounts.map((x) => [x.mountpoint, x.options]), [['/', ['subvol=@', 'compress=zstd:3']], ['/home', ['subvol=@home', 'compress=zstd:3']], ['/boot/efi', []]]);
  assert.ok(p.notes.some((n) => /1 snapper snapshot subvolumes are not recreated/.test(n)));

  // An archive of the volume's top, while @ is the default, mounts the top explicitly.
  m.archives.push(archive('pool', '/pool', '/dev/sda3', 'btrfs', 4 * GiB));
  root.mounts!.push({ mountpoint: '/pool', options: 'rw,noatime' });
  const top = plan({ manifest: m, targetDisks: [disk('/dev/vda', 40 * GiB)] });
  assert.deepEqual(top.mounts.find((x) => x.mountpoint === '/pool')!.options, ['subvolid=5']);
});

test('a filesystem on a whole disk (no partition table) becomes the whole target disk', () => {
  const m = debianVm();
  m.layout.disks.push({ name: 'sdb', path: '/dev/sdb', size: 8 * GiB, logicalSectorSize: 512, physicalSectorSize: 512, table: null });
  m.layout.filesystems.push({ device: '/dev/sdb', type: 'ext4', uuid: '0d15c0de-0000-4000-8000-000000000001', label: 'scratch', mountpoint: '/scratch', features: ['has_journal', 'extent'] });
  m.archives.push(archive('scratch', '/scratch', '/dev/sdb', 'ext4', 2 * GiB));
  const p = plan({ manifest: m, targetDisks: [disk('/dev/vda', 40 * GiB), disk('/dev/vdb', 16 * GiB)] });
  assert.equal(p.disks[1]!.table, null);
  const fs = p.filesystems.find((f) => f.mountpoint === '/scratch')!;
  assert.deepEqual([fs.device, fs.on, fs.bytes], ['/dev/vdb', 'disk', 16 * GiB]);
  refuses(() => plan({ manifest: m, targetDisks: [disk('/dev/vda', 40 * GiB), disk('/dev/vdb', 2 * GiB)] }), 'LB_DOES_NOT_FIT', /filesystem \/scratch \(ext4 on \/dev\/sdb\) needs 2\.20 GiB/);
});

test('filesystems without an archive are made empty with their UUID; unknown ones left unformatted; both noted', () => {
  const m = debianVmWithData();
  m.archives = m.archives.filter((a) => a.id !== 'srv');
  m.layout.disks[1]!.table!.partitions[0]!.size = 20963328;
  m.layout.disks[1]!.table!.partitions.push({ number: 2, path: '/dev/sdb2', start: 20965376, size: 4096, type: GPT.linux });
  m.layout.filesystems.push({ device: '/dev/sdb2', type: 'ntfs', uuid: '01D9ABCDEF012345' });
  const p = plan({ manifest: m, targetDisks: [disk('/dev/vda', 40 * GiB), disk('/dev/vdb', 20 * GiB)] });
  const srv = p.filesystems.find((f) => f.mountpoint === '/srv')!;
  assert.deepEqual([srv.uuid, srv.archives], ['77aa88bb-99cc-4ddd-8eee-ff0011223344', []]);
  assert.ok(p.notes.some((n) => /xfs on \/dev\/vdb1 \(\/srv\) is created empty/.test(n)), p.notes.join('\n'));
  assert.ok(p.notes.some((n) => /\/dev\/sdb2 held ntfs, which the restore cannot create: \/dev\/vdb2 is left unformatted/.test(n)), p.notes.join('\n'));
  assert.equal(p.disks[1]!.table!.partitions[1]!.sizing, 'fixed', 'a partition whose content is not recreated keeps its size');
  assert.equal(p.mounts.some((x) => x.mountpoint === '/srv'), false, 'nothing to extract: not mounted');
});

test('an archive of a filesystem the restore cannot make is refused', () => {
  const m = debianVm();
  m.archives.push(archive('win', '/win', '/dev/sda4', 'ntfs', GiB));
  refuses(() => plan({ manifest: m, targetDisks: [disk('/dev/vda', 40 * GiB)] }), 'LB_INVALID', /archive "win" \(\/win\) holds a ntfs filesystem, which the restore cannot create/);
});

test('fstab naming a kernel device that is renamed on this machine is pointed out', () => {
  const p = plan({ manifest: mbrServer(), targetDisks: [disk('/dev/vda', 60 * GiB)], firmware: 'bios' });
  assert.deepEqual(p.notes, ['/etc/fstab names /dev/sda6 (swap), which is /dev/vda6 on this machine: change that line to UUID= before rebooting']);
  const same = plan({ manifest: mbrServer(), targetDisks: [disk('/dev/sda', 60 * GiB)], firmware: 'bios' });
  assert.deepEqual(same.notes, []);
});

test('bad input is refused: no disks, odd sector sizes, unknown policy or firmware', () => {
  refuses(() => plan({ manifest: debianVm(), targetDisks: [] }), 'LB_DOES_NOT_FIT', /reports no disks/);
  refuses(() => plan({ manifest: debianVm(), targetDisks: [disk('/dev/vda', 40 * GiB, { logicalSectorSize: 520 })] }), 'LB_INVALID', /logical sector size 520/);
  refuses(() => plan({ manifest: debianVm(), targetDisks: [disk('/dev/vda', 0)] }), 'LB_INVALID', /has size 0/);
  refuses(() => plan({ manifest: debianVm(), targetDisks: [disk('/dev/vda', GiB), disk('/dev/vda', GiB)] }), 'LB_INVALID', /listed twice/);
  refuses(() => plan({ manifest: debianVm(), targetDisks: [disk('/dev/vda', 40 * GiB)], policy: 'biggest' as never }), 'LB_INVALID', /policy "biggest" is unknown/);
  refuses(() => plan({ manifest: debianVm(), targetDisks: [disk('/dev/vda', 40 * GiB)], firmware: 'coreboot' as never }), 'LB_INVALID', /firmware "coreboot" is unknown/);
});

test('planning reads its input and never changes it', () => {
  const m: Manifest = mbrServer();
  const before = structuredClone(m);
  plan({ manifest: m, targetDisks: [disk('/dev/vda', 21 * GiB)], firmware: 'bios', policy: 'grow-last' });
  assert.deepEqual(m, before);
});

test('partition device names follow the kernel: sda1, nvme0n1p1, loop3p1, mmcblk0p1, by-id …-part1', () => {
  assert.equal(partitionDevice('/dev/vda', 1), '/dev/vda1');
  assert.equal(partitionDevice('/dev/sdb', 12), '/dev/sdb12');
  assert.equal(partitionDevice('/dev/nvme0n1', 1), '/dev/nvme0n1p1');
  assert.equal(partitionDevice('/dev/loop3', 1), '/dev/loop3p1');
  assert.equal(partitionDevice('/dev/mmcblk0', 2), '/dev/mmcblk0p2');
  assert.equal(partitionDevice('/dev/disk/by-id/ata-QEMU_HARDDISK_QM00001', 3), '/dev/disk/by-id/ata-QEMU_HARDDISK_QM00001-part3');
});

test('disks are ordered as the kernel names them', () => {
  const paths = ['/dev/sdaa', '/dev/sdb', '/dev/nvme10n1', '/dev/sda', '/dev/nvme2n1', '/dev/sdz'];
  assert.deepEqual([...paths].sort(compareDevicePaths), ['/dev/nvme2n1', '/dev/nvme10n1', '/dev/sda', '/dev/sdb', '/dev/sdz', '/dev/sdaa']);
});

test('an MBR image on a disk past 2 TiB: partitions stay within what MBR can address, and the plan says what is left unused', () => {
  const p = plan({ manifest: mbrServer(), targetDisks: [disk('/dev/sdd', 3 * 1024 * GiB)], firmware: 'bios', policy: 'grow-last' });
  const parts = p.disks[0]!.table!.partitions;
  assert.ok(Math.max(...parts.map((x) => x.start + x.size)) <= 2 ** 32);
  assert.ok(p.notes.some((n) => /\/dev\/sdd: an MBR partition table cannot address the last 1\.00 TiB of the disk/.test(n)), p.notes.join('\n'));
});
