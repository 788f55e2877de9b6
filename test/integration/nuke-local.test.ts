import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { cp, open, readFile, stat, truncate } from 'node:fs/promises';
import { flipByte } from '../support/damage.js';
import { makeWorld, sh, type World } from '../support/world.js';
import { attachLoop, sparseFile, mountFs } from '../support/loop-devices.js';
import { lifeboat, jsonLines } from '../support/cli.js';
import { buildFixtureDisk, type FixtureDisk } from '../support/fixture-disk.js';
import { startLocalServer, type LocalServer } from '../support/local-server.js';
import { runAgent } from '../support/agent.js';
import { snapshotTree, diffSnapshots } from '../support/tree-snapshot.js';

// The nuke engine end to end on this machine: the fixture disk is archived with --disk, served by
// `lifeboat serve` on loopback, and the rescue agent (run here, told its loop-device disk) verifies,
// plans, partitions, formats, restores and installs GRUB. The QEMU tests prove the same over PXE.

async function sha256(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(path)) h.update(c as Buffer);
  return h.digest('hex');
}

interface Bed {
  world: World;
  fixture: FixtureDisk;
  server: LocalServer;
  version: string;
}

async function bed(t: Parameters<typeof makeWorld>[0]): Promise<Bed> {
  const world = await makeWorld(t, 'lb-nuke');
  const fixture = await buildFixtureDisk({ dir: world.dir, firmware: 'bios', table: 'gpt', name: 'fixture-bios-gpt' });
  const server = await startLocalServer(world);
  const r = await lifeboat(['archive', '--store', server.store, '--image', 'golden', '--disk', fixture.path, '--json']);
  assert.equal(r.exitCode, 0, r.stderr);
  const version = String(jsonLines(r.stdout).find((e) => e.type === 'published')!.version);
  return { world, fixture, server, version };
}

async function taskState(server: LocalServer, id: number) {
  return (await server.api<{ state: string; errorCode: string | null; error: string | null; result: Record<string, unknown> | null; files: string[] }>('GET', `/api/v1/tasks/${id}`)).body;
}

/** A blank disk file attached as a loop device with partitions; `noise` makes its first MiB random. */
async function blankDisk(world: World, name: string, bytes: number, noise = false): Promise<{ file: string; dev: string }> {
  const file = await sparseFile(join(world.dir, name), bytes);
  if (noise) await sh('bash', ['-c', `head -c 1048576 /dev/urandom | dd of=${file} conv=notrunc status=none`]);
  return { file, dev: await attachLoop(world, file, { partitions: true }) };
}

/**
 * A nuke of `image` onto `dev`, run by the agent here: the agent exits 0 whether the nuke is done or
 * failed (the outcome is the task's); returns the task as the server has it afterwards.
 */
async function agentNuke(world: World, server: LocalServer, nuke: { mac: string; image: string; dev: string; options?: Record<string, unknown> }) {
  const { id, token } = await server.taskWithToken('nuke', nuke.mac, nuke.image, nuke.options);
  const agent = await runAgent({ server: server.url, task: id, token, disks: [nuke.dev], targetRoot: join(world.dir, 'target-root') });
  assert.equal(agent.exitCode, 0, agent.output);
  return { id, task: await taskState(server, id), output: agent.output };
}

/** The disk's first sector, where GRUB's BIOS boot code goes. */
async function mbrOf(file: string): Promise<Buffer> {
  const mbr = Buffer.alloc(512);
  const fh = await open(file, 'r');
  await fh.read(mbr, 0, 512, 0);
  await fh.close();
  return mbr;
}

test('nuke onto a larger disk: verified, partitions grown, every file restored with its UUIDs, GRUB installed', async (t) => {
  const { world, fixture, server } = await bed(t);
  const { file: target, dev } = await blankDisk(world, 'target.img', 1536 << 20);
  const { task, output } = await agentNuke(world, server, { mac: '52:54:00:aa:00:01', image: 'golden', dev, options: { policy: 'proportional' } });
  assert.equal(task.state, 'done', `${task.errorCode} ${task.error}\n${output}`);
  assert.ok(task.files.includes('restore-plan.sh'));
  assert.match(output, /image verified/);

  const table = JSON.parse(await sh('sfdisk', ['--json', dev])).partitiontable as { id: string; partitions: Array<{ node: string; start: number; size: number; uuid: string }> };
  assert.equal(table.id.toUpperCase(), fixture.diskId.toUpperCase(), 'the disk GUID is kept');
  const src = fixture.partitions;
  assert.equal(table.partitions.length, src.length);
  for (const [i, p] of table.partitions.entries()) {
    assert.equal(p.uuid.toUpperCase(), src[i]!.partUuid, `partition ${i + 1} keeps its PARTUUID`);
    if (src[i]!.role === 'bios-boot') assert.equal(p.size * 512, src[i]!.sizeBytes, 'the BIOS boot partition is never resized');
    if (src[i]!.role === 'root' || src[i]!.role === 'data') assert.ok(p.size * 512 > src[i]!.sizeBytes, `partition ${i + 1} grew`);
  }
  for (const p of src.filter((x) => x.fs)) {
    const blkid = await sh('blkid', ['-p', '-o', 'export', `${dev}p${p.number}`]);
    assert.match(blkid, new RegExp(`^UUID=${p.fs!.uuid}$`, 'mi'), `${p.role} keeps UUID ${p.fs!.uuid}`);
    if (p.fs!.label) assert.match(blkid, new RegExp(`^LABEL=${p.fs!.label}$`, 'm'));
  }
  // GRUB's boot code went into the new disk's MBR.
  assert.ok((await mbrOf(target)).includes(Buffer.from('GRUB')), 'GRUB boot code in the MBR');

  // Every file of the root filesystem as on the source (the source attached read-only to compare).
  const srcDev = await attachLoop(world, fixture.path, { partitions: true, readOnly: true });
  const rootPart = src.find((p) => p.role === 'root')!.number;
  const a = await mountFs(world, `${srcDev}p${rootPart}`, join(world.dir, 'a'), 'ro,noload');
  const b = await mountFs(world, `${dev}p${rootPart}`, join(world.dir, 'b'), 'ro,noload');
  // GRUB's own files in /boot/grub are rewritten by grub-install; everything else is byte-identical.
  const diffs = diffSnapshots(await snapshotTree(a, { ignore: ['boot/grub'] }), await snapshotTree(b, { ignore: ['boot/grub'] }), { skipAllocation: true });
  assert.deepEqual(diffs, []);
});

test('an image that cannot fit and a damaged volume are refused before the disk is touched; once known, both are refused when a task is created', async (t) => {
  const { world, server, version } = await bed(t);
  const { file: small, dev } = await blankDisk(world, 'small.img', 320 << 20, true);
  const before = await sha256(small);

  const { task: t1 } = await agentNuke(world, server, { mac: '52:54:00:aa:00:02', image: 'golden', dev });
  assert.equal(t1.state, 'failed');
  assert.equal(t1.errorCode, 'LB_DOES_NOT_FIT', t1.error ?? '');
  assert.equal(await sha256(small), before, 'the disk is byte-identical after a refused plan');

  // The agent reported the machine's disk before it planned: the next nuke of that machine is
  // refused when it is created, by the same planner, naming the disk and when it was reported.
  const host = await server.api<{ host: { inventory: { firmware: string; disks: Array<{ path: string; size: number }> } | null } }>('GET', '/api/v1/hosts/52:54:00:aa:00:02');
  assert.deepEqual(host.body.host.inventory?.disks.map((d) => [d.path, d.size]), [[dev, 320 << 20]]);
  const refit = await server.api<{ error: { code: string; message: string } }>('POST', '/api/v1/tasks', { kind: 'nuke', mac: '52:54:00:aa:00:02', image: 'golden' });
  assert.equal(refit.status, 422, JSON.stringify(refit.body));
  assert.equal(refit.body.error.code, 'LB_DOES_NOT_FIT');
  assert.match(refit.body.error.message, new RegExp(`^the nuke cannot run on 52:54:00:aa:00:02, whose disks its agent reported on \\d{4}-[^ ]+ \\(${dev} 320\\.0 MiB\\): .*needs .*; or edit the plan \\(--map`));
  const cli = await lifeboat(['task', 'nuke', '--host', '52:54:00:aa:00:02', '--image', 'golden', '--server', server.url, '--data', server.dataDir]);
  assert.equal(cli.exitCode, 8, cli.stderr);
  assert.equal(cli.stderr.trim().split('\n').length, 1, cli.stderr);
  // A machine no agent has run on is not judged: its task is created (and cancelled here).
  const unknown = await server.api<{ id: number }>('POST', '/api/v1/tasks', { kind: 'nuke', mac: '52:54:00:aa:00:09', image: 'golden' });
  assert.equal(unknown.status, 201);
  await server.api('POST', `/api/v1/tasks/${unknown.body.id}/cancel`);

  // A copy of the image with one flipped byte in a volume, as another image.
  const broken = join(server.store, 'broken', version);
  await cp(join(server.store, 'golden', version), broken, { recursive: true });
  await flipByte(join(broken, 'data', 'root.tar.zst'), 1000, 0x01);
  const { file: big, dev: bigDev } = await blankDisk(world, 'big.img', 1536 << 20);
  const bigBefore = await sha256(big);
  const { task: t2 } = await agentNuke(world, server, { mac: '52:54:00:aa:00:03', image: 'broken', dev: bigDev });
  assert.equal(t2.state, 'failed');
  assert.equal(t2.errorCode, 'LB_IMAGE_CORRUPT');
  assert.match(t2.error ?? '', /data\/root\.tar\.zst fails its checksum/);
  assert.equal(await sha256(big), bigBefore, 'the disk is byte-identical after a refused image');

  // The server's own verification finds the same flipped byte; until a later one passes, tasks of
  // that version are refused when created. The intact image verifies and stays usable.
  const verified = async (image: string) => {
    const started = await server.api<{ verification: { state: string } }>('POST', `/api/v1/images/${image}/${version}/verify`);
    assert.equal(started.status, 202, JSON.stringify(started.body));
    for (;;) {
      const v = await server.api<{ verification: { state: string; problems: Array<{ path: string; problem: string }> } | null }>('GET', `/api/v1/images/${image}/${version}/verification`);
      if (v.body.verification && v.body.verification.state !== 'running') return v.body.verification;
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  const bad = await verified('broken');
  assert.equal(bad.state, 'failed');
  assert.match(bad.problems[0]!.path, /data\/root\.tar\.zst/);
  assert.equal((await verified('golden')).state, 'ok');
  const listed = await server.api<Array<{ name: string; verification: { state: string } | null }>>('GET', '/api/v1/images');
  assert.deepEqual(listed.body.map((e) => [e.name, e.verification?.state]).sort(), [['broken', 'failed'], ['golden', 'ok']]);
  const refused = await server.api<{ error: { code: string; message: string } }>('POST', '/api/v1/tasks', { kind: 'nuke', mac: '52:54:00:aa:00:0a', image: 'broken' });
  assert.equal(refused.status, 422);
  assert.equal(refused.body.error.code, 'LB_IMAGE_CORRUPT');
  assert.match(refused.body.error.message, new RegExp(`^image broken@${version} failed its verification on \\d{4}-.*: data/root\\.tar\\.zst fails its checksum`));

  // A volume cut short is refused at once, without any verification: its size is not the manifest's.
  const short = join(server.store, 'short', version);
  await cp(join(server.store, 'golden', version), short, { recursive: true });
  await truncate(join(short, 'data', 'root.tar.zst'), 4096);
  const cut = await server.api<{ error: { code: string; message: string } }>('POST', '/api/v1/tasks', { kind: 'compare', mac: '52:54:00:aa:00:0b', image: 'short' });
  assert.equal(cut.status, 422, JSON.stringify(cut.body));
  assert.match(cut.body.error.message, new RegExp(`^image short@${version} cannot be used: data/root\\.tar\\.zst is 4096 bytes, not the \\d+ its manifest recorded`));
});

test('a clone nuke: the restored system gets its own hostname and machine-id before GRUB, identity.txt says what changed, every other file is the source\'s', async (t) => {
  const { world, fixture, server, version } = await bed(t);
  const refused = await server.api<{ error: { code: string; message: string } }>('POST', '/api/v1/tasks', { kind: 'nuke', mac: '52:54:00:aa:00:05', image: 'golden', options: { identity: { hostname: 'lab_01' } } });
  assert.equal(refused.status, 400);
  assert.match(refused.body.error.message, /options\.identity: hostname "lab_01" is not a valid host name/);
  const notNuke = await server.api<{ error: { message: string } }>('POST', '/api/v1/tasks', { kind: 'compare', mac: '52:54:00:aa:00:05', image: 'golden', options: { identity: { hostname: 'lab-01' } } });
  assert.equal(notNuke.status, 400);
  assert.match(notNuke.body.error.message, /options\.identity \(hostname, address\) is for nuke tasks, not compare/);

  const { dev } = await blankDisk(world, 'clone.img', 1536 << 20);
  const hook = 'echo "$LIFEBOAT_HOSTNAME $LIFEBOAT_MAC $LIFEBOAT_MACHINE_ID $LIFEBOAT_IMAGE" > /etc/lifeboat-hook\necho hook ran in $(cat /etc/hostname)\n';
  const { id, task, output } = await agentNuke(world, server, { mac: '52:54:00:aa:00:04', image: 'golden', dev, options: { identity: { hostname: 'lab-01', hook } } });
  assert.equal(task.state, 'done', `${task.errorCode} ${task.error}\n${output}`);
  assert.ok(task.files.includes('identity.txt'), `files: ${task.files}`);
  const machineId = (task.result!.identity as { machineId: string }).machineId;
  assert.match(machineId, /^[0-9a-f]{32}$/);
  const report = await (await fetch(`${server.url}/api/v1/tasks/${id}/files/identity.txt`, { headers: { authorization: `Bearer ${server.token}` } })).text();
  assert.match(report, new RegExp(`^machine-id ${machineId}$`, 'm'));
  assert.match(report, new RegExp(`^write {2}/etc/hostname: hostname fixture-fixture-bios-gpt → lab-01$`, 'm'));
  assert.match(report, /^delete \/etc\/ssh\/ssh_host_ed25519_key\.pub: the source machine's SSH host key$/m);
  assert.match(report, /^ssh {4}256 SHA256:\S+ .*\(ED25519\)$/m);
  assert.match(report, /^hook {3}exit 0\nhook > hook ran in lab-01\n/m);

  const rootPart = fixture.partitions.find((p) => p.role === 'root')!.number;
  const srcDev = await attachLoop(world, fixture.path, { partitions: true, readOnly: true });
  const a = await mountFs(world, `${srcDev}p${rootPart}`, join(world.dir, 'a'), 'ro,noload');
  const b = await mountFs(world, `${dev}p${rootPart}`, join(world.dir, 'b'), 'ro,noload');
  assert.equal(await readFile(join(b, 'etc/hostname'), 'utf8'), 'lab-01\n');
  assert.equal(await readFile(join(b, 'etc/machine-id'), 'utf8'), `${machineId}\n`);
  assert.notEqual(machineId, fixture.expected.identity.machineId);
  assert.equal(await readFile(join(b, 'etc/lifeboat-hook'), 'utf8'), `lab-01 52:54:00:aa:00:04 ${machineId} golden@${version}\n`);
  assert.notEqual(await readFile(join(b, 'etc/ssh/ssh_host_ed25519_key.pub'), 'utf8'), await readFile(join(a, 'etc/ssh/ssh_host_ed25519_key.pub'), 'utf8'), 'a new host key');
  assert.equal((await stat(join(b, 'etc/ssh/ssh_host_ed25519_key'))).mode & 0o777, 0o600);
  const changed = ['boot/grub', 'etc/hostname', 'etc/machine-id', 'etc/lifeboat-hook', 'etc/ssh'];
  const diffs = diffSnapshots(await snapshotTree(a, { ignore: changed }), await snapshotTree(b, { ignore: changed }), { skipAllocation: true });
  // /etc itself was written into (machine-id is new, hostname replaced): its mtime is the only other change.
  assert.deepEqual(diffs.filter((d) => !/^etc: mtimeNs /.test(d)), []);
  assert.equal(diffs.length, 1, diffs.join('\n'));
});

test('a failing identity hook fails the nuke, naming the stage and the hook\'s words, before the bootloader', async (t) => {
  const { world, server } = await bed(t);
  const { file: target, dev } = await blankDisk(world, 'clone.img', 1536 << 20);
  const hook = 'echo "no license server for $LIFEBOAT_HOSTNAME" >&2; exit 3\n';
  const { task } = await agentNuke(world, server, { mac: '52:54:00:aa:00:06', image: 'golden', dev, options: { identity: { hostname: 'lab-02', hook } } });
  assert.equal(task.state, 'failed');
  assert.match(task.error ?? '', /^during identity hook: the identity hook exited 3: no license server for lab-02$/);
  assert.ok(task.files.includes('identity.txt'));
  assert.ok(!(await mbrOf(target)).includes(Buffer.from('GRUB')), 'no bootloader was installed after the failed hook');
});
