import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lvmDeviceFilter } from '../../images/layout/probe.js';

test('the LVM device filter accepts exactly the given paths, regex characters escaped, and rejects the rest', () => {
  const filter = lvmDeviceFilter(['/dev/loop3p1', '/dev/mapper/vg.x-lv+1']);
  assert.equal(filter, String.raw`[ "a|^/dev/loop3p1$|", "a|^/dev/mapper/vg\.x-lv\+1$|", "r|.*|" ]`);
  const patterns = [...filter.matchAll(/"a\|(.*?)\|"/g)].map((m) => new RegExp(m[1]!));
  assert.ok(patterns[1]!.test('/dev/mapper/vg.x-lv+1'));
  assert.ok(!patterns[1]!.test('/dev/mapper/vgXx-lv+1'));
  assert.ok(!patterns[0]!.test('/dev/loop3p10'));
});
