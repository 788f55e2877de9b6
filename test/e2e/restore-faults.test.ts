import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { lifeboat } from '../support/cli.js';
import { makeWorld, sh, type World } from '../support/world.js';
import { startTestbed, type Testbed } from '../support/testbed.js';
import { buildFixtureDisk, type FixtureDisk } from '../support/fixture-disk.js';
import { bootsRestoredFixture } from '../support/restored-boot.js';
import { sparseFile } from '../support/loop-devices.js';
import { cachedRescueSystem } from '../support/guest-run.js';
import { fixtureCacheDir } from '../support/fixture-cache.js';
import { runInNamespace } from '../support/netns.js';
import type { MachineRun, QemuMachine } from '../support/qemu.js';

/**
 * Faults during a restore, on one QEMU machine (BIOS, TCG) and the smallest fixture with a data
 * stage (root and /data): the server is killed (SIGKILL) and started again on the same state while
 * the agent streams a volume over HTTP; a second nuke runs over a link that drops 5 % of the
 * packets each way; a third loses its server for longer than the agent waits, fails naming the
 * stage, and the same nuke started again restores the disk; on a second bed that exports the store
 * over NFS, the share stops answering the machine after the verify pass, and each archive is
 * extracted over HTTP instead. Each restore ends with the machine booting the restored system.
 *
 * On the shared bed the image is read over HTTP (no NFS share), so the restart breaks the very
 * connection the extraction reads from. The host kernel here has no sch_netem: the loss is an nftables rule on the
 * machine's tap (netdev ingress and egress hooks, `numgen random mod 100 < 5 drop`), the same
 * random 5 % as `tc qdisc add dev <tap> root netem loss 5%`, in both directions.
 */

const world: World = await makeWorld({ after }, 'lb-faults');
let bed: Testbed;
let fixture: FixtureDisk;
let machine: QemuMachine;
let disk: string;
let rescueDir: string;

/** A test bed and the machine on it; the tests share one, the NFS test has its own. */
interface Rig { bed: Testbed; machine: QemuMachine }
const main = (): Rig => ({ bed, machine });

interface Task { id: number; state: string; errorCode: string | null; error: string | null; progress: { stage?: string; message?: string; bytes?: number; totalBytes?: number } | null }

before(async () => {
  rescueDir = await cachedRescueSystem(fixtureCacheDir());
  bed = await startTestbed(world, { rescueDir, nfs: 'off' });
  fixture = await buildFixtureDisk({ dir: world.dir, firmware: 'bios', table: 'gpt', name: 'fixture-bios-gpt' });
  const r = await lifeboat(['archive', '--store', bed.storeDir, '--image', 'golden', '--disk', fixture.path]);
  assert.equal(r.exitCode, 0, r.stderr);
  disk = await sparseFile(join(world.dir, 'target.img'), 1024 << 20);
  machine = await bed.addMachine({ name: 'faults', firmware: 'bios', disks: [disk] });
}, { timeout: 900_000 });

async function nukeTask({ bed, machine }: Rig = main()): Promise<number> {
  const r = await bed.lifeboat(['task', 'nuke', '--host', machine.mac, '--image', 'golden', '--json']);
  assert.equal(r.exitCode, 0, `lifeboat task nuke: ${r.stderr}`);
  return (JSON.parse(r.stdout) as { id: number }).id;
}

/** Waits for the agent's outcome on the console and QEMU's exit (the rescue system reboots under -no-reboot). */
async function agentOutcome(run: MachineRun, id: number, { bed }: Rig = main()): Promise<Task> {
  await run.waitForSerial(/lifeboat-agent: task \d+ done|lifeboat-agent: task failed/, 900_000, { failOn: ['Kernel panic', 'agent crashed'] });
  await run.waitForExit(180_000);
  return bed.api<Task>(`/api/v1/tasks/${id}`);
}

/**
 * A failed restore must name its stage, and leave a disk that the same nuke, started again,
 * restores cleanly: returns the task that finished the restore.
 */
async function doneOrCleanRetry(first: Task): Promise<{ task: Task; retried: boolean }> {
  if (first.state === 'done') return { task: first, retried: false };
  assert.equal(first.state, 'failed');
  assert.match(first.error ?? '', /^during [a-z]+/, `a failure names its stage: ${first.errorCode}: ${first.error}`);
  const id = await nukeTask();
  const run = await machine.boot();
  await run.waitForSerial('LIFEBOAT-RESCUE-UP', 420_000, { failOn: ['FIXTURE-BOOTED', 'Kernel panic'] });
  const again = await agentOutcome(run, id);
  assert.equal(again.state, 'done', `the retry after "${first.errorCode}: ${first.error}": ${again.errorCode}: ${again.error}`);
  return { task: again, retried: true };
}

/** Boots the machine's own disk and checks the fixture's markers, as nuke-restore does. */
async function bootsRestoredSystem({ machine }: Rig = main()): Promise<void> {
  await bootsRestoredFixture(machine, fixture);
}

const tc = (args: string[]) => sh('ip', ['netns', 'exec', bed.ns, 'tc', ...args]);

/**
 * Boots the machine into the rescue system for task `id` and, once the agent streams a volume of
 * its data stage, kills the server and starts it again after `whileDown`. The data stage of this
 * fixture takes a few seconds at full speed: from the agent's first write on, the link to the
 * machine is held to 24 Mbit/s, so the kill lands while a volume is streaming.
 */
async function restartDuringDataStage(id: number, whileDown: (run: MachineRun) => Promise<unknown>): Promise<{ run: MachineRun; killedAt: NonNullable<Task['progress']> }> {
  const tap = machine.spec.tap;
  const run = await machine.boot();
  await run.waitForSerial('LIFEBOAT-RESCUE-UP', 420_000, { failOn: ['FIXTURE-BOOTED', 'Kernel panic'] });
  let limited = false;
  const until = Date.now() + 600_000;
  for (;;) {
    assert.ok(Date.now() < until, 'the data stage began within 10 minutes');
    const t = await bed.api<Task>(`/api/v1/tasks/${id}`);
    assert.ok(t.state === 'pending' || t.state === 'running', `the task ended before its data stage: ${t.state} ${t.errorCode}: ${t.error}`);
    const p = t.progress;
    if (!limited && ['wipe', 'partition', 'md', 'lvm', 'mkfs', 'mount', 'restore'].includes(p?.stage ?? '')) {
      await tc(['qdisc', 'add', 'dev', tap, 'root', 'tbf', 'rate', '24mbit', 'burst', '64kb', 'latency', '400ms']);
      limited = true;
    }
    if (limited && p?.stage === 'restore' && p.bytes && p.totalBytes && p.bytes < p.totalBytes * 0.8) {
      await bed.restartLifeboat({
        signal: 'SIGKILL',
        whileDown: async () => {
          await tc(['qdisc', 'del', 'dev', tap, 'root']);
          await whileDown(run);
        },
      });
      return { run, killedAt: p };
    }
    await sleep(250);
  }
}

function agentNotes(serial: string): string {
  return serial.split(/\r?\n/).filter((l) => /stopped at byte|failed \(|task failed|again from its start/.test(l)).join('\n');
}

test('1. the server is killed and started again while the agent extracts: the volume resumes where it broke and the machine boots the restore', { timeout: 1_500_000 }, async () => {
  await bed.explainFailure(async () => {
    const id = await nukeTask();
    const { run, killedAt } = await restartDuringDataStage(id, () => sleep(2000));
    const t = await agentOutcome(run, id);
    const serial = run.serial();
    process.stdout.write(`killed at ${JSON.stringify(killedAt)}; the agent said:\n${agentNotes(serial)}\n`);
    assert.equal(t.state, 'done', `${t.errorCode}: ${t.error}`);
    // The agent saw the connection it was extracting from break, and asked for the rest.
    assert.match(serial, /lifeboat-agent: reading \S+ stopped at byte [1-9]\d* \(.*\); attempt 2 in \d+\.\d s, resuming from there/);
    await bootsRestoredSystem();
  });
});

test('2. a nuke over a link that drops 5 % of the packets each way completes and the machine boots it', { timeout: 1_500_000 }, async () => {
  await bed.explainFailure(async () => {
    const tap = machine.spec.tap;
    const table = `lbloss${world.id}`;
    const rules = ['egress', 'ingress'].map((hook) => `chain ${hook} { type filter hook ${hook} device "${tap}" priority 0; counter; numgen random mod 100 < 5 counter drop; }`);
    await sh('ip', ['netns', 'exec', bed.ns, 'nft', '-f', '-'], { input: `table netdev ${table} {\n${rules.join('\n')}\n}\n` });
    let counters: number[][] = [];
    try {
      const id = await nukeTask();
      const run = await machine.boot();
      await run.waitForSerial('LIFEBOAT-RESCUE-UP', 600_000, { failOn: ['FIXTURE-BOOTED', 'Kernel panic'] });
      const t = await agentOutcome(run, id);
      const listing = String((await runInNamespace(bed.ns, 'nft', ['list', 'table', 'netdev', table])).stdout);
      // Per hook (egress: towards the machine, ingress: from it): packets seen, packets dropped.
      counters = [...listing.matchAll(/counter packets (\d+) bytes \d+/g)].map((m) => Number(m[1])).reduce<number[][]>((acc, n, i) => (i % 2 ? acc[acc.length - 1]!.push(n) : acc.push([n]), acc), []);
      assert.equal(counters.length, 2, listing);
      for (const [seen, dropped] of counters) {
        assert.ok(seen! > 1000, `the rule saw the restore's traffic: ${listing}`);
        const share = dropped! / seen!;
        assert.ok(share > 0.02 && share < 0.08, `about 5 % dropped: ${dropped} of ${seen}`);
      }
      assert.equal(t.state, 'done', `${t.errorCode}: ${t.error}\n${agentNotes(run.serial())}`);
    } finally {
      await runInNamespace(bed.ns, 'nft', ['delete', 'table', 'netdev', table]);
    }
    process.stdout.write(`packets seen/dropped towards the machine ${counters[0]?.join('/')}, from it ${counters[1]?.join('/')}\n`);
    await bootsRestoredSystem();
  });
});

test('3. a server down longer than the agent waits: the restore fails naming its stage, and the same nuke again restores the disk', { timeout: 1_500_000 }, async () => {
  await bed.explainFailure(async () => {
    const id = await nukeTask();
    // The server stays down until the agent has given up (AGENT_RETRY: two minutes), and comes
    // back while the agent still tries to report the failure.
    const { run } = await restartDuringDataStage(id, (r) => r.waitForSerial('lifeboat-agent: task failed', 300_000, { failOn: ['Kernel panic', 'agent crashed'] }));
    const first = await agentOutcome(run, id);
    process.stdout.write(`first attempt: ${first.state} ${first.errorCode}: ${first.error}\n`);
    assert.equal(first.state, 'failed');
    assert.equal(first.errorCode, 'LB_UNREACHABLE');
    assert.match(first.error ?? '', /^during extract of \/(data)?: GET http:\/\/\S+\.tar\.zst \(stopped at byte [1-9]\d*\): no success in \d+ attempts over \d+ s/);
    const { retried } = await doneOrCleanRetry(first);
    assert.ok(retried);
    await bootsRestoredSystem();
  });
});

test('4. the NFS share goes away before the data stage: each extraction is done over HTTP instead and the machine boots the restore', { timeout: 1_500_000 }, async (t) => {
  // A bed of its own that exports the store over NFS, so that the agent reads the image there.
  const nfsWorld = await makeWorld(t, 'lb-fnfs');
  const rig: Rig = { bed: await startTestbed(nfsWorld, { rescueDir, nfs: 'ganesha' }), machine: null as unknown as QemuMachine };
  await rig.bed.explainFailure(async () => {
    const r = await lifeboat(['archive', '--store', rig.bed.storeDir, '--image', 'golden', '--disk', fixture.path]);
    assert.equal(r.exitCode, 0, r.stderr);
    rig.machine = await rig.bed.addMachine({ name: 'nfs', firmware: 'bios', disks: [await sparseFile(join(nfsWorld.dir, 'target.img'), 1024 << 20)] });
    const id = await nukeTask(rig);
    const run = await rig.machine.boot();
    await run.waitForSerial('LIFEBOAT-RESCUE-UP', 420_000, { failOn: ['FIXTURE-BOOTED', 'Kernel panic'] });
    await run.waitForSerial(/lifeboat-agent: verifying \S+ from nfs:\/\//, 300_000, { failOn: ['task failed', 'reading the image over HTTP'] });
    // Once the agent writes (its verify pass read the share), the share stops answering this machine; HTTP still does.
    const table = `lbnfs${nfsWorld.id}`;
    const tap = rig.machine.spec.tap;
    for (;;) {
      const task = await rig.bed.api<Task>(`/api/v1/tasks/${id}`);
      assert.ok(task.state === 'running', `the task ended before its data stage: ${task.state} ${task.errorCode}: ${task.error}`);
      if (['wipe', 'partition', 'mkfs', 'mount'].includes(task.progress?.stage ?? '')) break;
      assert.notEqual(task.progress?.stage, 'restore', 'the share was cut before the data stage');
      await sleep(200);
    }
    await sh('ip', ['netns', 'exec', rig.bed.ns, 'nft', '-f', '-'], {
      input: `table netdev ${table} {\nchain ingress { type filter hook ingress device "${tap}" priority 0; tcp dport 2049 counter drop; }\nchain egress { type filter hook egress device "${tap}" priority 0; tcp sport 2049 counter drop; }\n}\n`,
    });
    const outcome = await agentOutcome(run, id, rig);
    const serial = run.serial();
    process.stdout.write(`the agent said:\n${serial.split(/\r?\n/).filter((l) => /NFS|again from its start|task (done|failed)|\d+ done/.test(l)).join('\n')}\n`);
    assert.equal(outcome.state, 'done', `${outcome.errorCode}: ${outcome.error}`);
    assert.match(serial, /lifeboat-agent: the NFS share failed \(extracting \S+: .*\); reading the image over HTTP from now on/);
    assert.match(serial, /lifeboat-agent: extracting \S+ into \S+ again from its start/);
    await bootsRestoredSystem(rig);
  });
});
