import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chooseKernel } from '../../netboot/build/kernel-modules.js';
import { isLifeboatError } from '../../core/errors.js';

// The kernels installed here (scripts/setup.sh installs both): the default is the full one, whose
// modules include the drivers of real PCs; `cloud` is asked for by name.

test('netboot build\'s kernel: full (linux-image-amd64) by default, cloud when asked, an unknown kind is a version', async () => {
  const byDefault = await chooseKernel(undefined);
  assert.match(byDefault.version, /-amd64$/);
  assert.doesNotMatch(byDefault.version, /cloud/, 'the default kernel boots real hardware');
  assert.deepEqual(await chooseKernel('full'), byDefault);
  const cloud = await chooseKernel('cloud');
  assert.match(cloud.version, /-cloud-amd64$/);
  assert.equal(cloud.vmlinuz, `/boot/vmlinuz-${cloud.version}`);
  await assert.rejects(chooseKernel('full', '/nonexistent'), (e) => isLifeboatError(e) && /no full kernel in \/nonexistent: install the Debian package linux-image-amd64/.test(e.message));
  await assert.rejects(chooseKernel('9.9.9-nope'), (e) => isLifeboatError(e) && /kernel \/boot\/vmlinuz-9.9.9-nope does not exist/.test(e.message));
});
