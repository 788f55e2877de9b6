import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { makeWorld, type World } from '../support/world.js';
import { buildFixtureDisk, readMarkers, type FixtureDisk, type Firmware, type TableType } from '../support/fixture-disk.js';

// Each fixture variant boots in QEMU from its own disk (BIOS through SeaBIOS, UEFI through OVMF)
// and must print what the builder promised: its name, its mounts with their UUIDs, its swap and the
// hash of its files. TCG only: this machine's KVM cannot run firmware (see notes/virtual-testbed.md).

const BOOT_LIMIT_MS = 240_000; // a shared 2-core machine; a boot takes 15-20 s when idle

/** A deliberately small private QEMU runner: one raw disk on virtio-blk, serial to a file, no network. */
async function bootDisk(world: World, disk: FixtureDisk): Promise<{ serial: string; exitCode: number | undefined; seconds: number }> {
  const serialLog = join(world.dir, `${disk.name}-serial.log`);
  const args = [
    '-machine', 'q35', '-accel', 'tcg', '-m', '1024', '-smp', '1',
    '-nographic', '-monitor', 'none', '-serial', `file:${serialLog}`, '-no-reboot', '-nic', 'none',
    '-drive', `file=${disk.path},format=raw,if=none,id=d0`, '-device', 'virtio-blk-pci,drive=d0,bootindex=1',
  ];
  if (disk.firmware === 'uefi') {
    const vars = join(world.dir, `${disk.name}-OVMF_VARS_4M.fd`);
    await copyFile('/usr/share/OVMF/OVMF_VARS_4M.fd', vars);
    args.push('-drive', 'if=pflash,format=raw,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd', '-drive', `if=pflash,format=raw,file=${vars}`);
  }
  const started = Date.now();
  const qemu = execa('qemu-system-x86_64', args, { reject: false, stdin: 'ignore' });
  const pid = qemu.pid;
  world.defer(() => {
    if (pid !== undefined && qemu.exitCode === undefined) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    return qemu.catch(() => undefined);
  });
  const limit = new AbortController();
  const outcome = await Promise.race([
    qemu.then((r) => r),
    sleep(BOOT_LIMIT_MS, undefined, { signal: limit.signal }).then(() => 'timeout' as const, () => 'timeout' as const),
  ]);
  limit.abort(); // else the pending timer keeps the test process alive for the whole limit
  const serial = await readFile(serialLog, 'utf8').catch(() => '');
  if (outcome === 'timeout') {
    if (pid !== undefined) process.kill(pid, 'SIGKILL');
    assert.fail(`${disk.name} did not power off within ${BOOT_LIMIT_MS / 1000} s; serial console ended with:\n${serial.slice(-2000)}`);
  }
  if (outcome.exitCode !== 0) assert.fail(`qemu for ${disk.name} exited ${outcome.exitCode}: ${outcome.stderr}\nserial:\n${serial.slice(-2000)}`);
  return { serial, exitCode: outcome.exitCode, seconds: (Date.now() - started) / 1000 };
}

const variants: Array<{ firmware: Firmware; table: TableType }> = [
  { firmware: 'bios', table: 'gpt' },
  { firmware: 'bios', table: 'dos' },
  { firmware: 'uefi', table: 'gpt' },
];

for (const v of variants) {
  test(`fixture ${v.firmware}/${v.table} boots and prints its name, mounts, swap and the hash the builder computed`, { timeout: BOOT_LIMIT_MS + 120_000 }, async (t) => {
    const world = await makeWorld(t, 'fixture-boot');
    const disk = await buildFixtureDisk({ dir: world.dir, firmware: v.firmware, table: v.table, name: `fixture-${v.firmware}-${v.table}` });
    const { serial, seconds } = await bootDisk(world, disk);
    t.diagnostic(`${disk.name}: QEMU start to power-off in ${seconds.toFixed(1)} s (TCG)`);
    const markers = readMarkers(serial);
    assert.deepEqual(markers.errors, [], `the fixture reported errors; serial:\n${serial.slice(-2000)}`);
    assert.equal(markers.booted, disk.name, `no ${disk.expected.marker} on the console:\n${serial.slice(-2000)}`);
    assert.deepEqual(markers.mounts, disk.expected.mounts);
    assert.equal(markers.swap, disk.expected.swap);
    assert.equal(markers.hash, disk.expected.hash, 'the guest hashes its files as the builder did');
  });
}
