import assert from 'node:assert/strict';
import { readMarkers, type FixtureDisk, type FixtureIdentity, type FixtureMarkers } from './fixture-disk.js';
import type { QemuMachine } from './qemu.js';

/**
 * After a nuke: boots the machine's own disk (no task, so DHCP gives it no boot file) and checks
 * that it is the fixture's system again — no error marker, the fixture's name, its files hashing to
 * the source's hash, every fstab filesystem mounted by its original UUID, the same swap, and the
 * source's identity — or, with `identity` null, a clone's, which the caller checks against its task.
 */
export async function bootsRestoredFixture(machine: QemuMachine, fixture: FixtureDisk, identity: FixtureIdentity | null = fixture.expected.identity): Promise<FixtureMarkers & { serial: string }> {
  const run = await machine.boot();
  await run.waitForSerial(/FIXTURE-HASH|FIXTURE-ERROR/, 600_000, { failOn: ['LIFEBOAT-RESCUE-UP', 'Kernel panic'] });
  await run.waitForExit(120_000).catch(() => run.stop());
  const markers = readMarkers(run.serial());
  assert.deepEqual(markers.errors, []);
  assert.equal(markers.booted, fixture.name);
  assert.equal(markers.hash, fixture.expected.hash, 'the restored system hashes its files to the source\'s hash');
  assert.deepEqual(markers.mounts, fixture.expected.mounts, 'every fstab filesystem mounted, by its original UUID');
  assert.equal(markers.swap, fixture.expected.swap);
  if (identity) assert.deepEqual(markers.identity, identity, 'the machine\'s hostname, machine-id and SSH host key');
  return { ...markers, serial: run.serial() };
}
