import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseOsRelease } from '../../images/layout/parse-os-release.js';
import { layoutFixture } from '../support/unit-kit.js';

test('Debian 12 os-release', () => {
  const r = parseOsRelease(layoutFixture('os-release-debian12'));
  assert.equal(r.ID, 'debian');
  assert.equal(r.VERSION_ID, '12');
  assert.equal(r.VERSION_CODENAME, 'bookworm');
  assert.equal(r.PRETTY_NAME, 'Debian GNU/Linux 12 (bookworm)');
  assert.equal(Object.keys(r).length, 9);
});

test('os-release quoting: double with escapes, single, backslash, empty; junk lines ignored', () => {
  const r = parseOsRelease(layoutFixture('os-release-quoting'));
  assert.equal(r.NAME, 'Fedora Linux');
  assert.equal(r.VERSION, '39 (Server Edition)');
  assert.equal(r.PRETTY_NAME, 'Fedora Linux 39 (Server Edition) "quoted" $HOME');
  assert.equal(r.VARIANT, 'Server Edition');
  assert.equal(r.EMPTY, '');
  assert.equal(r.SUPPORT_END, '2024-11-12');
  assert.equal(Object.keys(r).includes('this'), false);
  assert.deepEqual(parseOsRelease(''), {});
});
