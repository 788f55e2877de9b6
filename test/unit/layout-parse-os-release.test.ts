import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseOsRelease } from '../../images/layout/parse-os-release.js';
import { assertFields, layoutFixture } from '../support/unit-kit.js';

test('Debian 12 os-release', () => {
  const r = parseOsRelease(layoutFixture('os-release-debian12'));
  assertFields(r, { ID: 'debian', VERSION_ID: '12', VERSION_CODENAME: 'bookworm', PRETTY_NAME: 'Debian GNU/Linux 12 (bookworm)' }, 'os-release');
  assert.equal(Object.keys(r).length, 9);
});

test('os-release quoting: double with escapes, single, backslash, empty; junk lines ignored', () => {
  const r = parseOsRelease(layoutFixture('os-release-quoting'));
  assertFields(r, {
    NAME: 'Fedora Linux', VERSION: '39 (Server Edition)', PRETTY_NAME: 'Fedora Linux 39 (Server Edition) "quoted" $HOME',
    VARIANT: 'Server Edition', EMPTY: '', SUPPORT_END: '2024-11-12',
  }, 'os-release');
  assert.equal(Object.keys(r).includes('this'), false);
  assert.deepEqual(parseOsRelease(''), {});
});
