import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSfdisk } from '../../images/layout/parse-sfdisk.js';
import { FILESYSTEM_MINIMUM_BYTES, HEADROOM, MiB, headroomBytes, neededBytes, placeSlots, sizeSlots, usableArea, type Slot } from '../../images/restore/sizing.js';
import { layoutFixture } from '../support/unit-kit.js';

const GiB = 1024 * MiB;

test('headroom is 10 % of what is used, never under 64 MiB', () => {
  assert.deepEqual(HEADROOM, { fraction: 0.1, minimumBytes: 64 * MiB });
  assert.equal(headroomBytes(0), 64 * MiB);
  assert.equal(headroomBytes(100 * MiB), 64 * MiB);
  assert.equal(headroomBytes(10 * GiB), GiB);
});

test('a filesystem needs used + headroom, capped at its source size, never below what its mkfs makes', () => {
  assert.deepEqual(neededBytes('ext4', 4 * GiB, 18 * GiB), { bytes: 4 * GiB + 429496730, usedBytes: 4 * GiB, headroomBytes: 429496730, minimumBytes: 2 * MiB, reason: 'used+headroom' });
  // 95 % full: it held that data on the source, so its source size is enough.
  assert.equal(neededBytes('ext4', 9.5 * GiB, 10 * GiB).bytes, 10 * GiB);
  assert.equal(neededBytes('ext4', 9.5 * GiB, 10 * GiB).reason, 'source-size');
  // An almost empty xfs still needs the 300 MiB mkfs.xfs insists on, btrfs its 114,294,784 bytes.
  assert.deepEqual([neededBytes('xfs', MiB, 10 * GiB).bytes, neededBytes('xfs', MiB, 10 * GiB).reason], [300 * MiB, 'mkfs-minimum']);
  assert.equal(neededBytes('btrfs', 0, 10 * GiB).bytes, 114_294_784);
  assert.equal(neededBytes('jfs', 0, 10 * MiB).bytes, 16 * MiB);
  assert.deepEqual(FILESYSTEM_MINIMUM_BYTES, { ext2: 2 * MiB, ext3: 2 * MiB, ext4: 2 * MiB, xfs: 300 * MiB, btrfs: 114_294_784, jfs: 16 * MiB, vfat: MiB, swap: MiB });
  // Swap holds nothing to restore: no headroom.
  assert.deepEqual([neededBytes('swap', 0, 4 * GiB).bytes, neededBytes('swap', 0, 4 * GiB).headroomBytes], [MiB, 0]);
});

test('GPT usable area matches what sfdisk wrote on the fixtures (512- and 4096-byte sectors)', () => {
  const gpt = parseSfdisk(layoutFixture('sfdisk-gpt.json'));
  // The fixture disk is 2457600 sectors; sfdisk put last-lba 33 sectors before the end.
  const a = usableArea('gpt', 2457600 * 512, 512);
  assert.equal(a.lastLba, gpt.lastLba);
  assert.equal(a.firstLba, 34);
  assert.equal(a.startBytes, MiB);
  assert.equal(a.endBytes, (gpt.lastLba! + 1) * 512);
  const k4 = parseSfdisk(layoutFixture('sfdisk-4k.json'));
  const b = usableArea('gpt', 16384 * 4096, 4096);
  assert.equal(b.lastLba, k4.lastLba);
  assert.equal(b.firstLba, 6);
  assert.equal(b.startBytes / 4096, k4.firstLba, '1 MiB is where the first partition may start');
});

test('MBR usable area: the whole disk up to 2^32 sectors, the rest reported as unaddressable', () => {
  assert.deepEqual(usableArea('dos', 40 * GiB, 512), { startBytes: MiB, endBytes: 40 * GiB, unaddressableBytes: 0 });
  const big = usableArea('dos', 3 * 1024 * GiB, 512);
  assert.equal(big.endBytes, 2 ** 32 * 512);
  assert.equal(big.unaddressableBytes, 3 * 1024 * GiB - 2 ** 32 * 512);
  assert.equal(usableArea('dos', 3 * 1024 * GiB, 4096).unaddressableBytes, 0, '4 KiB sectors address 16 TiB');
});

test('placement reproduces sfdisk\'s own layout of the MBR fixture: EBR room before each logical partition', () => {
  const t = parseSfdisk(layoutFixture('sfdisk-dos.json'));
  const slots = t.partitions.map((p) => ({ kind: p.kind!, bytes: p.size * 512 }));
  const placed = placeSlots(slots, MiB, 512);
  // sfdisk made it with the defaults: every start 1 MiB aligned, logical ones 1 MiB into the free space.
  assert.deepEqual(placed.starts.map((s) => s / 512), t.partitions.map((p) => p.start));
  const logicalEnd = (456704 + 122880) * 512;
  assert.equal(placed.sizes[2], logicalEnd - 288768 * 512, 'the extended partition spans its logical ones');
});

test('placement reproduces the GPT fixture, whose partitions sfdisk laid end to end', () => {
  const t = parseSfdisk(layoutFixture('sfdisk-gpt.json'));
  const placed = placeSlots(t.partitions.map((p) => ({ kind: 'gpt' as const, bytes: p.size * 512 })), MiB, 512);
  assert.deepEqual(placed.starts.map((s) => s / 512), t.partitions.map((p) => p.start));
});

test('sizing keeps the sum within the disk and each resizable slot at or above its minimum, for many disk sizes', () => {
  const slots: Slot[] = [
    { kind: 'gpt', mode: 'fixed', sourceBytes: MiB, bytes: MiB, minimumBytes: 0 },
    { kind: 'gpt', mode: 'resizable', sourceBytes: 700 * MiB + 512, bytes: 0, minimumBytes: 214 * MiB, growable: true },
    { kind: 'gpt', mode: 'resizable', sourceBytes: 20 * GiB, bytes: 0, minimumBytes: 7 * GiB, growable: true },
    { kind: 'gpt', mode: 'resizable', sourceBytes: 2 * GiB, bytes: 0, minimumBytes: MiB },
  ];
  const source = { area: usableArea('gpt', 24 * GiB, 512), sectorSize: 512 };
  for (const policy of ['proportional', 'grow-last'] as const) {
    for (let gib = 8; gib <= 64; gib += 3) {
      const area = usableArea('gpt', gib * GiB, 512);
      const r = sizeSlots(slots, policy, { area, sectorSize: 512 }, source);
      assert.ok(r.ok, `${policy} ${gib} GiB should fit`);
      const placed = placeSlots(slots.map((s, i) => ({ kind: s.kind, bytes: r.bytes[i]! })), area.startBytes, 512);
      assert.ok(placed.end <= area.endBytes, `${policy} ${gib} GiB ends inside the disk`);
      slots.forEach((s, i) => {
        if (s.mode !== 'resizable') return;
        assert.ok(r.bytes[i]! >= s.minimumBytes, `${policy} ${gib} GiB slot ${i}`);
        assert.equal(r.bytes[i]! % MiB, 0, 'resizable sizes are whole MiB');
      });
    }
    const tooSmall = sizeSlots(slots, policy, { area: usableArea('gpt', 7 * GiB, 512), sectorSize: 512 }, source);
    assert.equal(tooSmall.ok, false);
    // Scaled down, the 700 MiB slot falls under its 214 MiB too; grow-last takes from the last growable one only.
    if (!tooSmall.ok) assert.deepEqual(tooSmall.short, policy === 'proportional' ? [1, 2] : [2]);
  }
});

test('grow-last gives the rest to the last growable slot, not to a trailing swap', () => {
  const slots: Slot[] = [
    { kind: 'gpt', mode: 'resizable', sourceBytes: 10 * GiB, bytes: 0, minimumBytes: GiB, growable: true },
    { kind: 'gpt', mode: 'resizable', sourceBytes: 2 * GiB, bytes: 0, minimumBytes: MiB, growable: false },
  ];
  const r = sizeSlots(slots, 'grow-last', { area: usableArea('dos', 100 * GiB, 512), sectorSize: 512 }, { area: usableArea('dos', 12 * GiB + MiB, 512), sectorSize: 512 });
  assert.ok(r.ok);
  assert.deepEqual(r.bytes, [100 * GiB - MiB - 2 * GiB, 2 * GiB]);
});
