import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { makeWorld, sh } from '../support/world.js';
import { startTestbed } from '../support/testbed.js';
import { waitFor } from '../support/netns.js';
import { cachedRescueSystem, runInGuest } from '../support/guest-run.js';
import { fixtureCacheDir } from '../support/fixture-cache.js';
import { buildFixtureDisk } from '../support/fixture-disk.js';
import { bootsRestoredFixture } from '../support/restored-boot.js';
import { bundleCli } from '../support/cli-bundle.js';
import { sparseFile } from '../support/loop-devices.js';
import { lifeboat } from '../support/cli.js';

/**
 * A machine that is a backup client, end to end, with a real kernel NFS client: a QEMU guest
 * running the rescue kernel with the machine's disk attached runs `lifeboat schedule run --server`
 * twice (a full, then an --incremental after a change), each run mounting its export from the
 * server's nfs-ganesha over NFSv4, archiving the disk into it and unmounting. The server adopts and
 * verifies both; a nuke of the newest onto a blank machine then boots with the change.
 */

interface ImageEntry {
  name: string;
  version: string;
  verification: { state: string } | null;
}

test('a backup client mounts its export, archives itself twice over NFS, the server keeps both, and a nuke of the newest boots', { timeout: 2_400_000 }, async (t) => {
  const world = await makeWorld(t, 'lbbkc');
  const rescueDir = await cachedRescueSystem(fixtureCacheDir());
  const bed = await startTestbed(world, { rescueDir, nfs: 'ganesha' });
  await bed.explainFailure(async () => {
    const fixture = await buildFixtureDisk({ dir: world.dir, firmware: 'bios', table: 'gpt', name: 'fixture-bios-gpt' });
    const disk = join(world.dir, 'web01.img');
    await cp(fixture.path, disk);
    const address = `${bed.prefix}.50`;
    const allow = await bed.lifeboat(['hosts', 'allow-backup', 'web01', '--address', address, '--keep', '5']);
    assert.equal(allow.exitCode, 0, allow.stderr);
    const exported = `${bed.serverAddress}:/backup/web01`;

    const payload = join(world.dir, 'payload');
    await mkdir(payload, { recursive: true });
    await bundleCli(join(payload, 'lifeboat'));
    const rootPart = fixture.partitions.findIndex((p) => p.role === 'root') + 1;
    const runOf = (exp: string) => `node ./lifeboat/lifeboat.mjs schedule run web01 --server ${bed.httpBase} --export ${exp} --image web01 -- --disk /dev/vda --incremental --compress zstd:1`;
    const run = runOf(exported);
    await writeFile(
      join(payload, 'run.sh'),
      [
        'set -e',
        'mkdir -p out /run/lock /mnt/root',
        'export HOME=/root LIFEBOAT_LOG_FORMAT=json',
        "IF=$(ls /sys/class/net | grep -v '^lo$' | head -n 1)",
        'ip link set "$IF" up',
        `ip addr add ${address}/24 dev "$IF"`,
        // A run whose export cannot be mounted fails having written nothing; the next one archives.
        `if ${runOf(`${bed.serverAddress}:/backup/nobody`)} > out/run0.log 2>&1; then echo archived > out/run0.status; else echo failed > out/run0.status; fi`,
        `${run} > out/run1.log 2>&1`,
        // A change between the runs, in what the restored system shows: its host name.
        `mount /dev/vda${rootPart} /mnt/root`,
        'echo web01-second > /mnt/root/etc/hostname',
        'umount /mnt/root',
        `${run} > out/run2.log 2>&1`,
        'grep -c . /proc/mounts > out/mounts-after',
        'grep -q " nfs4 " /proc/mounts && echo still-mounted > out/mounts-after || true',
        'echo done > out/done',
        '',
      ].join('\n'),
    );
    await chmod(join(payload, 'run.sh'), 0o755);
    const tap = `lbk${world.id}`;
    world.defer(() => execa('ip', ['-n', bed.ns, 'link', 'del', tap], { reject: false }));
    await sh('ip', ['-n', bed.ns, 'tuntap', 'add', 'dev', tap, 'mode', 'tap']);
    await sh('ip', ['-n', bed.ns, 'link', 'set', tap, 'master', bed.bridge]);
    await sh('ip', ['-n', bed.ns, 'link', 'set', tap, 'up']);
    const guest = await runInGuest({ rescueDir, payloadDir: payload, workDir: join(world.dir, 'guest'), disks: [disk], timeoutMs: 1_200_000, name: 'web01', net: { ns: bed.ns, tap, mac: `52:54:00:${world.id.slice(0, 2)}:${world.id.slice(2, 4)}:50` } });
    const log = async (f: string) => readFile(join(guest.outDir, f), 'utf8').catch(() => '(none)');
    assert.equal(guest.exitStatus, 0, `run.sh failed:\n--- run1 ---\n${await log('run1.log')}\n--- run2 ---\n${await log('run2.log')}\n${guest.serialTail}`);
    t.diagnostic(`guest: two scheduled runs over NFS in ${guest.seconds.toFixed(0)} s (TCG)`);
    assert.equal((await log('run0.status')).trim(), 'failed', await log('run0.log'));
    assert.match(await log('run0.log'), /cannot mount the backup export .*:\/backup\/nobody .*nothing was archived, and the next run tries again/);
    assert.match(await log('run1.log'), /mounting .*backup\/web01/);
    assert.doesNotMatch(await log('mounts-after'), /still-mounted/, 'each run unmounts the export');

    const versions = await waitFor('the server to adopt and verify both versions', async () => {
      const vs = (await bed.api<ImageEntry[]>('/api/v1/images')).filter((e) => e.name === 'web01');
      return vs.length === 2 && vs.every((v) => v.verification?.state === 'ok') ? vs : undefined;
    }, 120_000);
    const show = await lifeboat(['images', 'show', `web01@${versions[1]!.version}`, '--store', bed.storeDir, '--json']);
    const manifest = JSON.parse(show.stdout) as { source: { mode: string }; incremental?: { level: number; chain: string[] } };
    assert.equal(manifest.source.mode, 'disk');
    assert.deepEqual(manifest.incremental, { level: 1, chain: [versions[0]!.version], fullEvery: 7 }, 'the second run built on the first, read back over NFS');

    const blank = await sparseFile(join(world.dir, 'blank.img'), fixture.sizeBytes);
    const machine = await bed.addMachine({ name: 'restored', firmware: 'bios', disks: [blank] });
    const task = await bed.lifeboat(['task', 'nuke', '--host', machine.mac, '--image', 'web01', '--json']);
    assert.equal(task.exitCode, 0, task.stderr);
    const id = (JSON.parse(task.stdout) as { id: number }).id;
    const pxe = await machine.boot();
    await pxe.waitForSerial('LIFEBOAT-RESCUE-UP', 420_000, { failOn: ['FIXTURE-BOOTED', 'Kernel panic'] });
    await pxe.waitForSerial(/lifeboat-agent: task \d+ (done|failed)|lifeboat-agent: task failed/, 900_000, { failOn: ['Kernel panic', 'agent crashed'] });
    await pxe.waitForExit(180_000);
    const done = await bed.api<{ state: string; error: string | null }>(`/api/v1/tasks/${id}`);
    assert.equal(done.state, 'done', String(done.error));
    await bootsRestoredFixture(machine, fixture, { ...fixture.expected.identity, hostname: 'web01-second' });
  });
});
