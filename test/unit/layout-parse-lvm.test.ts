import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseLvmFullreport } from '../../images/layout/parse-lvm.js';
import { layoutFixture, refuses } from '../support/unit-kit.js';

test('lvm fullreport captured here: a VG on two PVs, a striped LV and an LV grown onto the second PV', () => {
  const lvm = parseLvmFullreport(layoutFixture('lvm-fullreport.json'));
  assert.deepEqual(lvm.vgs, [{ name: 'vgcapture', uuid: 'rjBnUc-44CS-xgzU-LjbS-CoKL-PZqn-C4Q5yv', extentSize: 4194304, size: 620756992, free: 373293056 }]);
  assert.deepEqual(lvm.pvs, [
    { device: '/dev/loop3', vg: 'vgcapture', uuid: 'Y2LgAi-2eFe-Mdy3-hyjr-Nbdw-co0h-NwOLdY', size: 310378496 },
    { device: '/dev/loop4', vg: 'vgcapture', uuid: 'EFczth-u130-ndoo-Wygv-9HAt-Y3cJ-qGs2gt', size: 310378496 },
  ]);
  assert.deepEqual(lvm.lvs.map((l) => [l.name, l.size, l.segtype, l.stripes, l.stripeSize]), [
    ['fast', 100663296, 'striped', 2, 65536],
    ['root', 125829120, 'linear', 1, undefined],
    ['swap', 20971520, 'linear', 1, undefined],
  ]);
  const root = lvm.lvs.find((l) => l.name === 'root')!;
  assert.equal(root.path, '/dev/vgcapture/root');
  assert.equal(root.vg, 'vgcapture');
  assert.deepEqual(root.segments, [
    { start: 0, size: 104857600, segtype: 'linear', stripes: 1, devices: ['/dev/loop3(0)'] },
    { start: 104857600, size: 20971520, segtype: 'linear', stripes: 1, devices: ['/dev/loop4(12)'] },
  ]);
  assert.deepEqual(lvm.lvs.find((l) => l.name === 'fast')!.segments![0]!.devices, ['/dev/loop3(25)', '/dev/loop4(0)']);
});

test('a raid1 LV: hidden sub-LVs left out, the WARNING before the JSON skipped', () => {
  const lvm = parseLvmFullreport(layoutFixture('lvm-fullreport-raid1-handwritten.json'));
  assert.deepEqual(lvm.lvs.map((l) => [l.name, l.segtype, l.stripes]), [['srv', 'linear', 1], ['mirror', 'raid1', 2]]);
  assert.deepEqual(lvm.pvs, [{ device: '/dev/md1', vg: 'vgdata', uuid: 'Aa1bB2-cC3d-D4eE-5fF6-gG7h-H8iI-9jJ0kK', size: 42907926528 }]);
  assert.equal(lvm.lvs[1]!.size, 1073741824);
});

test('lvm: an empty report, an lvs-style report, human units refused, non-JSON refused', () => {
  assert.deepEqual(parseLvmFullreport('  {\n      "report": [\n      ]\n  }\n'), { pvs: [], vgs: [], lvs: [] });
  const lvs = parseLvmFullreport('{"report":[{"lv":[{"lv_name":"x","vg_name":"v","lv_size":"8388608","lv_path":"/dev/v/x","segtype":"linear","stripes":"1"}]}]}');
  assert.deepEqual(lvs.lvs, [{ name: 'x', vg: 'v', uuid: '', size: 8388608, path: '/dev/v/x', segtype: 'linear', stripes: 1 }]);
  refuses(() => parseLvmFullreport('{"report":[{"vg":[{"vg_name":"rhel","vg_size":"<9.00g"}]}]}'), 'LB_INVALID', /--units b --nosuffix/);
  refuses(() => parseLvmFullreport('  WARNING: locking_type(0) is deprecated\n'), 'LB_INVALID', /not JSON/);
  refuses(() => parseLvmFullreport('{"vgs": []}'), 'LB_INVALID', /"report"/);
});
