import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkManifest } from '../../images/store/manifest.js';
import type { RestorePlan } from '../../images/restore/plan.js';
import { mdArrayBytes, mdMemberBytes, mdOverheadBytes } from '../../images/restore/md-geometry.js';
import { GiB, MiB, archive, dataArray, debianVm, disk, mbrRaidServer, raidLvmFixture, stripedVolumes } from '../support/restore-layouts.js';
import { plan, refuses } from '../support/unit-kit.js';

const part = (p: RestorePlan, device: string) => p.disks.flatMap((d) => d.table?.partitions ?? []).find((x) => x.device === device)!;
const lv = (p: RestorePlan, name: string) => p.lvm.lvs.find((l) => l.name === name)!;
const fsAt = (p: RestorePlan, mountpoint: string) => p.filesystems.find((f) => f.mountpoint === mountpoint)!;

test('the stack test images are valid lifeboat-image/1 manifests', () => {
  for (const m of [raidLvmFixture(), mbrRaidServer(), dataArray('raid5', 3), stripedVolumes()]) assert.doesNotThrow(() => checkManifest(structuredClone(m), m.image));
});

test('md data offset and array sizes follow mdadm: 5 MiB for a 6 GiB 1.2 member, 128 MiB at most, smallest member counts', () => {
  assert.equal(mdOverheadBytes('1.2', 6 * GiB, 0), 5 * MiB);
  assert.equal(mdOverheadBytes('1.2', 2 * 1024 * GiB, 0), 129 * MiB);
  assert.equal(mdOverheadBytes('1.0', 6 * GiB, 0), MiB);
  const raid1 = { level: 'raid1', metadata: '1.2', chunkBytes: 0 };
  assert.equal(mdArrayBytes(raid1, [6 * GiB, 6 * GiB]), 6139 * MiB, 'what mdadm makes of the fixture');
  assert.equal(mdArrayBytes(raid1, [6 * GiB, 8 * GiB]), 6139 * MiB);
  const raid5 = { level: 'raid5', metadata: '1.2', chunkBytes: 512 * 1024 };
  // 10 GiB members: 8 MiB headroom (not below two chunks) and the superblock, rounded up to 9 MiB.
  assert.equal(mdArrayBytes(raid5, [10 * GiB, 10 * GiB, 10 * GiB]), 2 * (10 * 1024 - 9) * MiB);
  const raid10 = { level: 'raid10', metadata: '1.2', chunkBytes: 512 * 1024, layout: 'near=2' };
  assert.equal(mdArrayBytes(raid10, [10 * GiB, 10 * GiB, 10 * GiB, 10 * GiB]), 2 * (10 * 1024 - 9) * MiB);
  // The member size asked for an array always gives at least that array.
  for (const shape of [raid1, raid5, raid10]) {
    for (const want of [300 * MiB, 5 * GiB, 700 * GiB]) {
      const member = mdMemberBytes(shape, 4, want);
      assert.ok(mdArrayBytes(shape, [member, member, member, member]) >= want, `${shape.level} ${want}`);
      assert.ok(mdArrayBytes(shape, [member - 8 * MiB, member - 8 * MiB, member - 8 * MiB, member - 8 * MiB]) < want || shape.level === 'raid1', `${shape.level} ${want} not much bigger than needed`);
    }
  }
});

test('RAID1 + LVM fixture onto two larger disks: same array UUID and name, equal members, the VG and both LVs grown in proportion', () => {
  const p = plan({ manifest: raidLvmFixture(), targetDisks: [disk('/dev/vda', 20 * GiB), disk('/dev/vdb', 20 * GiB)] });
  assert.equal(p.md.length, 1);
  const md = p.md[0]!;
  assert.deepEqual(
    { device: md.device, level: md.level, uuid: md.uuid, metadata: md.metadata, name: md.name, homehost: md.homehost, members: md.members, raidDevices: md.raidDevices, force: md.force, sync: md.sync },
    { device: '/dev/md0', level: 'raid1', uuid: '5f1c0a3e:7b2d4c6e:8a9b0c1d:2e3f4a5b', metadata: '1.2', name: '0', homehost: 'fixture', members: ['/dev/vda2', '/dev/vdb1'], raidDevices: 2, force: false, sync: 'resync' },
  );
  // The mirror's members are the same size although one disk also holds /srv, /data and swap.
  assert.equal(part(p, '/dev/vda2').bytes, part(p, '/dev/vdb1').bytes);
  assert.equal(part(p, '/dev/vdb1').sizing, 'proportional');
  assert.equal(part(p, '/dev/vda2').sizing, 'matched');
  assert.equal(part(p, '/dev/vda2').role, 'raid');
  assert.match(part(p, '/dev/vda2').holds, /^RAID1 member of \/dev\/md0 → LVM fxvg: ext4 \/, xfs \/home$/);
  assert.ok(part(p, '/dev/vda2').bytes > 11 * GiB);
  assert.equal(md.bytes, mdArrayBytes({ level: 'raid1', metadata: '1.2', chunkBytes: 0 }, [part(p, '/dev/vda2').bytes]));

  const vg = p.lvm.vgs[0]!;
  assert.deepEqual([vg.name, vg.uuid, vg.extentSize], ['fxvg', 'vgFx01-AAAA-BBBB-CCCC-DDDD-EEEE-FFFF02', 4 * MiB]);
  assert.deepEqual(p.lvm.pvs.map((x) => [x.device, x.uuid, x.extents]), [['/dev/md0', 'pvFx01-AAAA-BBBB-CCCC-DDDD-EEEE-FFFF01', Math.floor((md.bytes - MiB) / (4 * MiB))]]);
  assert.equal(vg.extents * vg.extentSize, vg.bytes);
  // Proportional in the VG: 3 GiB and 2 GiB of 6136 MiB become the same shares of the new room.
  const root = lv(p, 'root');
  const home = lv(p, 'home');
  assert.equal(root.extents, Math.floor((768 * vg.extents) / 1534));
  assert.equal(home.extents, Math.floor((512 * vg.extents) / 1534));
  assert.deepEqual([root.uuid, root.device, root.sizing, home.uuid, home.device], ['lvRoot-AAAA-BBBB-CCCC-DDDD-EEEE-FFFF03', '/dev/mapper/fxvg-root', 'proportional', 'lvHome-AAAA-BBBB-CCCC-DDDD-EEEE-FFFF04', '/dev/mapper/fxvg-home']);
  assert.deepEqual(root.segments, [{ startExtent: 0, extents: root.extents, stripes: [{ pv: '/dev/md0', startExtent: 0 }] }]);
  assert.deepEqual(home.segments, [{ startExtent: 0, extents: home.extents, stripes: [{ pv: '/dev/md0', startExtent: root.extents }] }]);

  assert.deepEqual(p.filesystems.map((f) => [f.mountpoint, f.type, f.on, f.device, f.bytes === (f.on === 'lv' ? lv(p, f.device.endsWith('root') ? 'root' : 'home').bytes : f.bytes)]), [
    ['/home', 'xfs', 'lv', '/dev/mapper/fxvg-home', true],
    ['/', 'ext4', 'lv', '/dev/mapper/fxvg-root', true],
    ['/boot/efi', 'vfat', 'partition', '/dev/vda1', true],
    ['/srv', 'btrfs', 'partition', '/dev/vda3', true],
    ['/data', 'jfs', 'partition', '/dev/vda4', true],
  ]);
  assert.deepEqual(p.swaps.map((s) => [s.device, s.uuid, s.label]), [['/dev/vda5', '0a0a0a0a-1111-4222-8333-444444444405', 'swap']]);
  assert.equal(p.bootloader.kind, 'grub-efi');
  assert.equal(p.bootloader.kind === 'grub-efi' && p.bootloader.espDevice, '/dev/vda1');
});

test('btrfs subvolumes: the mounted one extracted where it is mounted, the one mounted nowhere through the top mounted aside', () => {
  const p = plan({ manifest: raidLvmFixture(), targetDisks: [disk('/dev/vda', 20 * GiB), disk('/dev/vdb', 20 * GiB)], targetRoot: '/t' });
  const srv = fsAt(p, '/srv');
  assert.deepEqual(srv.subvolumes, [{ path: '@srv', isDefault: true }, { path: '@logs' }]);
  assert.deepEqual(srv.archives, ['srv', 'srv@logs']);
  assert.deepEqual(p.mounts.filter((m) => m.device === '/dev/vda3'), [
    { device: '/dev/vda3', fstype: 'btrfs', mountpoint: '/srv', directory: '/t/srv', options: ['subvol=@srv'], subvolume: '@srv' },
    { device: '/dev/vda3', fstype: 'btrfs', mountpoint: '', directory: '/t.work/btrfs/vda3', options: ['subvolid=5'], subvolume: '', aside: true },
  ]);
  assert.equal(p.mounts.at(-1)!.aside, true, 'mounts aside come after the restored system');
  assert.deepEqual(p.restores.filter((r) => r.device === '/dev/vda3').map((r) => [r.archiveId, r.directory, r.mount, r.subvolume]), [
    ['srv', '/t/srv', '/t/srv', '@srv'],
    ['srv@logs', '/t.work/btrfs/vda3/@logs', '/t.work/btrfs/vda3', '@logs'],
  ]);
  assert.equal(p.workDir, '/t.work');
});

test('btrfs subvolume mounted inside another mount of the same volume (/srv and /srv/logs): both mounted, parent first, nothing aside', () => {
  const m = raidLvmFixture();
  const srv = m.layout.filesystems.find((f) => f.type === 'btrfs')!;
  srv.mounts = [{ mountpoint: '/srv', options: 'defaults,noatime' }, { mountpoint: '/srv/logs', options: 'subvol=@logs,noatime', subvolume: '@logs' }];
  const logs = m.archives.find((a) => a.id === 'srv@logs')!;
  Object.assign(logs, { id: 'srv-logs', mountpoint: '/srv/logs' });
  const p = plan({ manifest: m, targetDisks: [disk('/dev/vda', 20 * GiB), disk('/dev/vdb', 20 * GiB)] });
  assert.deepEqual(p.mounts.filter((x) => x.device === '/dev/vda3').map((x) => [x.mountpoint, x.options, x.aside ?? false]), [['/srv', ['subvol=@srv'], false], ['/srv/logs', ['subvol=@logs'], false]]);
  assert.deepEqual(p.restores.filter((r) => r.device === '/dev/vda3').map((r) => [r.archiveId, r.directory]), [['srv', '/mnt/lifeboat/srv'], ['srv-logs', '/mnt/lifeboat/srv/logs']]);
});

test('btrfs root with a subvolume nested in it, and the top holding files: extracted under / and through the top', () => {
  const m = debianVm();
  const root = m.layout.filesystems[1]!;
  Object.assign(root, {
    type: 'btrfs', features: undefined,
    subvolumes: [{ id: 256, path: '@', isDefault: true }, { id: 257, path: '@/var/lib/machines' }],
    mounts: [{ mountpoint: '/', options: 'rw,subvol=/@', subvolume: '@' }],
  });
  m.archives[0] = { ...m.archives[0]!, fstype: 'btrfs', subvolume: '@' };
  m.archives.push(archive('root@var-lib-machines', '', '/dev/sda3', 'btrfs', 4 * GiB, { subvolume: '@/var/lib/machines' }), archive('root@top', '', '/dev/sda3', 'btrfs', 4 * GiB, { subvolume: '' }));
  const p = plan({ manifest: m, targetDisks: [disk('/dev/vda', 40 * GiB)] });
  assert.deepEqual(p.restores.map((r) => [r.archiveId, r.directory, r.mount]), [
    ['root', '/mnt/lifeboat', '/mnt/lifeboat'],
    ['root@var-lib-machines', '/mnt/lifeboat/var/lib/machines', '/mnt/lifeboat'],
    ['boot-efi', '/mnt/lifeboat/boot/efi', '/mnt/lifeboat/boot/efi'],
    ['root@top', '/mnt/lifeboat.work/btrfs/vda3', '/mnt/lifeboat.work/btrfs/vda3'],
  ]);
  assert.deepEqual(fsAt(p, '/').subvolumes, [{ path: '@', isDefault: true }, { path: '@/var/lib/machines' }]);
});

test('two smaller disks that still fit: the LVs shrink, none below what its filesystem needs', () => {
  const p = plan({ manifest: raidLvmFixture(), targetDisks: [disk('/dev/vda', 6 * GiB), disk('/dev/vdb', 6 * GiB)] });
  const root = lv(p, 'root');
  const home = lv(p, 'home');
  assert.ok(root.bytes < 3 * GiB && home.bytes < 2 * GiB, `${root.bytes} ${home.bytes}`);
  for (const f of p.filesystems) assert.ok(f.bytes >= f.need.bytes, `${f.mountpoint} ${f.bytes} >= ${f.need.bytes}`);
  assert.ok(root.bytes + home.bytes <= p.lvm.vgs[0]!.bytes);
  assert.ok(p.lvm.vgs[0]!.bytes + MiB <= p.md[0]!.bytes);
  // Even 3 GiB disks hold it: root is raised to its need and home gives way.
  const tight = plan({ manifest: raidLvmFixture(), targetDisks: [disk('/dev/vda', 3 * GiB), disk('/dev/vdb', 3 * GiB)] });
  assert.equal(lv(tight, 'root').sizing, 'minimum');
  assert.ok(lv(tight, 'root').bytes >= fsAt(tight, '/').need.bytes);
});

test('grow-last in a VG: the last LV takes what the VG gained, the others keep their size', () => {
  const p = plan({ manifest: raidLvmFixture(), targetDisks: [disk('/dev/vda', 20 * GiB), disk('/dev/vdb', 20 * GiB)], policy: 'grow-last' });
  const vg = p.lvm.vgs[0]!;
  assert.equal(lv(p, 'root').bytes, 3 * GiB);
  assert.equal(lv(p, 'home').bytes, vg.bytes - 3 * GiB);
  assert.equal(lv(p, 'home').sizing, 'grow-last');
});

test('disks too small for the LVs: refused before anything is written, naming the filesystems on the array', () => {
  refuses(
    () => plan({ manifest: raidLvmFixture({ rootUsed: 2800 * MiB }), targetDisks: [disk('/dev/vda', 3 * GiB), disk('/dev/vdb', 3 * GiB)] }),
    'LB_DOES_NOT_FIT',
    /RAID1 member \/dev\/sda2 of \/dev\/md0 \(LVM PV of fxvg\), holding filesystem \/ \(ext4 on \/dev\/mapper\/fxvg-root\), filesystem \/home \(xfs on \/dev\/mapper\/fxvg-home\), needs 3\.\d+ GiB/,
    /its partition \/dev\/vda2 on \/dev\/vda \(3\.00 GiB\) can have at most/,
  );
});

test('restore onto one disk: the mirror on the dropped disk makes a clean one-device RAID1 with the same UUID', () => {
  refuses(() => plan({ manifest: raidLvmFixture(), targetDisks: [disk('/dev/vda', 12 * GiB)] }), 'LB_DOES_NOT_FIT', /nothing is left for \/dev\/sdb; add a disk, or drop it from the plan \(edits\.dropDisks\)/);
  const p = plan({ manifest: raidLvmFixture(), targetDisks: [disk('/dev/vda', 12 * GiB)], edits: { dropDisks: ['/dev/sdb'] } });
  const md = p.md[0]!;
  assert.deepEqual([md.members, md.raidDevices, md.sourceRaidDevices, md.force, md.sync, md.uuid], [['/dev/vda2'], 1, 2, true, 'none', '5f1c0a3e:7b2d4c6e:8a9b0c1d:2e3f4a5b']);
  assert.ok(p.notes.some((n) => /\/dev\/md0 \(raid1, 2 members on the source\) is made as a one-device RAID1 \(clean, not degraded; mdadm --grow --raid-devices=2 --add makes it a mirror again\): \/dev\/sdb1 is on a dropped disk; its UUID 5f1c0a3e:7b2d4c6e:8a9b0c1d:2e3f4a5b is kept/.test(n)), p.notes.join('\n'));
  assert.deepEqual(p.droppedDisks, [{ path: '/dev/sdb', why: 'dropped by the operator' }]);
  assert.deepEqual(p.lvm.lvs.map((l) => l.name), ['root', 'home']);
  // Dropping the disk that holds /srv instead would lose its archives: refused.
  refuses(() => plan({ manifest: raidLvmFixture(), targetDisks: [disk('/dev/vdb', 12 * GiB)], edits: { dropDisks: ['/dev/sda'] } }), 'LB_INVALID', /dropping \/dev\/sda leaves archive "boot-efi" \(\/boot\/efi on \/dev\/sda1\) with nowhere to go/);
});

test('RAID0, RAID5, RAID6 and RAID10 arrays keep level, chunk, layout and member order; only redundant ones resync', () => {
  const cases: Array<[Parameters<typeof dataArray>, string | undefined, number, 'resync' | 'none']> = [
    [['raid0', 2], undefined, 2, 'none'],
    [['raid5', 3, 'left-symmetric'], 'left-symmetric', 2, 'resync'],
    [['raid6', 4, 'left-symmetric'], 'left-symmetric', 2, 'resync'],
    [['raid10', 4, 'near=2'], 'n2', 2, 'resync'],
  ];
  for (const [args, layout, dataDisks, sync] of cases) {
    const n = args[1];
    const targets = [disk('/dev/vda', 40 * GiB), ...Array.from({ length: n }, (_, i) => disk(`/dev/vd${'bcdefg'[i]}`, 20 * GiB))];
    const p = plan({ manifest: dataArray(...args), targetDisks: targets });
    const md = p.md[0]!;
    assert.deepEqual([md.level, md.chunkSize, md.layout, md.members, md.sync], [args[0], 512 * 1024, layout, targets.slice(1).map((t) => `${t.path}1`), sync], args[0]);
    const member = part(p, '/dev/vdb1').bytes;
    assert.equal(md.bytes, dataDisks * (member - mdOverheadBytes('1.2', member, 512 * 1024)), args[0]);
    assert.equal(fsAt(p, '/srv').on, 'md');
    assert.equal(fsAt(p, '/srv').device, '/dev/md0');
  }
});

test('a RAID5 restored on fewer disks is made with fewer members; below its minimum it is refused', () => {
  const targets = [disk('/dev/vda', 40 * GiB), disk('/dev/vdb', 20 * GiB), disk('/dev/vdc', 20 * GiB)];
  const p = plan({ manifest: dataArray('raid5', 3), targetDisks: targets, edits: { dropDisks: ['/dev/sdd'] } });
  assert.deepEqual([p.md[0]!.raidDevices, p.md[0]!.members], [2, ['/dev/vdb1', '/dev/vdc1']]);
  assert.ok(p.notes.some((n) => /is made as a raid5 of 2 members: \/dev\/sdd1 is on a dropped disk/.test(n)));
  refuses(
    () => plan({ manifest: dataArray('raid5', 3), targetDisks: targets.slice(0, 2), edits: { dropDisks: ['/dev/sdc', '/dev/sdd'] } }),
    'LB_INVALID',
    /md array \/dev\/md0 \(raid5\) keeps 1 of its 3 members on the restored disks, and raid5 needs at least 2: map \/dev\/sdc, \/dev\/sdd to target disks/,
  );
});

test('a striped LV keeps its stripes, each on its own PV; a linear LV stays on the PV it was on', () => {
  const p = plan({ manifest: stripedVolumes(), targetDisks: [disk('/dev/vda', 40 * GiB), disk('/dev/vdb', 20 * GiB), disk('/dev/vdc', 20 * GiB)] });
  const db = lv(p, 'db');
  assert.deepEqual([db.stripes, db.stripeSize, db.extents % 2], [2, 64 * 1024, 0]);
  assert.deepEqual(db.segments, [{ startExtent: 0, extents: db.extents, stripes: [{ pv: '/dev/vdb1', startExtent: 0 }, { pv: '/dev/vdc1', startExtent: 0 }] }]);
  const logs = lv(p, 'logs');
  assert.deepEqual(logs.segments, [{ startExtent: 0, extents: logs.extents, stripes: [{ pv: '/dev/vdc1', startExtent: db.extents / 2 }] }]);
  assert.deepEqual(p.lvm.pvs.map((x) => [x.device, x.uuid]), [['/dev/vdb1', 'pvDat1-AAAA-BBBB-CCCC-DDDD-EEEE-FFFF01'], ['/dev/vdc1', 'pvDat2-AAAA-BBBB-CCCC-DDDD-EEEE-FFFF02']]);
  assert.equal(part(p, '/dev/vdb1').role, 'lvm');
  // A striped LV cannot lose one of its PVs.
  refuses(
    () => plan({ manifest: stripedVolumes(), targetDisks: [disk('/dev/vda', 40 * GiB), disk('/dev/vdb', 20 * GiB)], edits: { dropDisks: ['/dev/sdc'] } }),
    'LB_INVALID',
    /LV data\/db is striped over 2 PVs and only 1 of volume group data's PVs are restored \(\/dev\/sdc1 is on dropped disks\)/,
  );
});

test('an edited LV size is used as given; one too small for its filesystem, or naming no LV, is refused', () => {
  const targets = [disk('/dev/vda', 20 * GiB), disk('/dev/vdb', 20 * GiB)];
  const p = plan({ manifest: raidLvmFixture(), targetDisks: targets, edits: { lvSizes: { 'fxvg/home': 1 * GiB } } });
  assert.deepEqual([lv(p, 'home').bytes, lv(p, 'home').sizing], [GiB, 'edited']);
  assert.ok(lv(p, 'root').bytes > 6 * GiB, 'root gets the room home left');
  refuses(() => plan({ manifest: raidLvmFixture(), targetDisks: targets, edits: { lvSizes: { 'fxvg/home': 200 * MiB } } }), 'LB_DOES_NOT_FIT', /the edited size of LV fxvg\/home, 200\.0 MiB, is too small: filesystem \/home \(xfs on \/dev\/mapper\/fxvg-home\) needs 364\.0 MiB/);
  refuses(() => plan({ manifest: raidLvmFixture(), targetDisks: targets, edits: { lvSizes: { 'fxvg/var': GiB } } }), 'LB_INVALID', /name fxvg\/var, which is not a logical volume of the image \(its LVs: fxvg\/root, fxvg\/home\)/);
});

test('BIOS with /boot on a RAID1 of logical MBR partitions: GRUB into both disks, swap on an LV, members matched', () => {
  const p = plan({ manifest: mbrRaidServer(), targetDisks: [disk('/dev/vda', 30 * GiB), disk('/dev/vdb', 30 * GiB)], firmware: 'bios' });
  assert.deepEqual(p.bootloader, {
    kind: 'grub-pc', firmware: 'bios', disks: ['/dev/vda', '/dev/vdb'], sourceDisks: ['/dev/sda', '/dev/sdb'],
    why: '/boot is on /dev/md0, built on /dev/sda and /dev/sdb: each disk gets GRUB, so either boots',
  });
  assert.deepEqual(p.md.map((m) => [m.device, m.metadata, m.name, m.members]), [['/dev/md0', '1.0', 'boot', ['/dev/vda1', '/dev/vdb1']], ['/dev/md1', '1.2', '1', ['/dev/vda5', '/dev/vdb5']]]);
  assert.deepEqual(p.disks[0]!.table!.partitions.map((x) => [x.number, x.kind, x.role]), [[1, 'primary', 'raid'], [2, 'extended', 'extended'], [5, 'logical', 'raid'], [6, 'logical', 'filesystem']]);
  assert.equal(part(p, '/dev/vda5').bytes, part(p, '/dev/vdb5').bytes);
  assert.deepEqual(p.swaps.map((s) => [s.device, s.bytes === lv(p, 'swap').bytes]), [['/dev/mapper/vg0-swap', true]]);
  assert.deepEqual([fsAt(p, '/boot').on, fsAt(p, '/boot').device, fsAt(p, '/').on], ['md', '/dev/md0', 'lv']);
  // The second disk's unused logical partition keeps its size and is left empty.
  assert.deepEqual([part(p, '/dev/vdb6').role, part(p, '/dev/vdb6').bytes], ['empty', GiB]);
});

test('what Lifeboat cannot build is refused before anything is written, naming it and the way out', () => {
  const targets = [disk('/dev/vda', 20 * GiB), disk('/dev/vdb', 20 * GiB)];
  const thin = raidLvmFixture();
  thin.layout.lvm.lvs.push({ name: 'pool', vg: 'fxvg', uuid: 'lvPool-AAAA', size: GiB, path: '', segtype: 'thin-pool' });
  refuses(() => plan({ manifest: thin, targetDisks: targets }), 'LB_INVALID', /volume group fxvg holds fxvg\/pool \(thin-pool\): Lifeboat recreates linear and striped LVs only/, /or drop the disks that carry fxvg/);

  const imsm = raidLvmFixture();
  imsm.layout.md[0]!.metadata = 'imsm';
  refuses(() => plan({ manifest: imsm, targetDisks: targets }), 'LB_INVALID', /md array \/dev\/md0 is raid1 with imsm metadata: .*firmware RAID \(imsm, ddf\) and containers are not restored/);

  const reiser = debianVm();
  reiser.archives[0]!.fstype = 'reiserfs';
  reiser.layout.filesystems[1]!.type = 'reiserfs';
  refuses(() => plan({ manifest: reiser, targetDisks: [disk('/dev/vda', 40 * GiB)] }), 'LB_INVALID', /archive "root" \(\/\) holds a ReiserFS filesystem: ReiserFS is gone from current Linux kernels \(removed in 6\.13\)/, /restore its files by hand onto another filesystem/);

  const snap = raidLvmFixture();
  snap.layout.lvm.lvs.push({ name: 'rootsnap', vg: 'fxvg', uuid: 'lvSnap-AAAA', size: GiB, path: '/dev/fxvg/rootsnap', segtype: 'snapshot' });
  const p = plan({ manifest: snap, targetDisks: targets });
  assert.deepEqual(p.lvm.lvs.map((l) => l.name), ['root', 'home']);
  assert.ok(p.notes.some((n) => /LV fxvg\/rootsnap is a snapshot: .* not recreated/.test(n)));
});

test('planning a stacked image reads its input and never changes it', () => {
  const m = raidLvmFixture();
  const before = structuredClone(m);
  plan({ manifest: m, targetDisks: [disk('/dev/vda', 20 * GiB), disk('/dev/vdb', 20 * GiB)] });
  plan({ manifest: m, targetDisks: [disk('/dev/vda', 12 * GiB)], edits: { dropDisks: ['/dev/sdb'] } });
  assert.deepEqual(m, before);
});
