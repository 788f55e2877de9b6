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
 * A clone session on QEMU machines (TCG) that can boot only by PXE and from their own disk: three
 * blank machines PXE-boot at once and receive the image by one multicast stream; one of them is
 * powered off mid-stream and the other two go on; a fourth that boots after the start reads over
 * unicast. The three that finish boot their restored systems, each with its own hostname,
 * machine-id and SSH host key, and the source's files. The server's multicast bytes on the bridge
 * are counted: about one image, not three.
 */

const shared: World = await makeWorld({ after }, 'lb-clone');
let bed: Testbed;
let fixture: FixtureDisk;
let imageBytes = 0;

interface Task { id: number; state: string; errorCode: string | null; error: string | null; result: Record<string, unknown> | null }
interface Session { id: number; state: string; transport: string; members: Array<{ n: number; mac: string; taskId: number; taskState: string }> }
interface Receipt { path: string; via: 'multicast' | 'unicast'; bytes: number; note?: string }

before(async () => {
  const rescueDir = await cachedRescueSystem(fixtureCacheDir());
  bed = await startTestbed(shared, { rescueDir });
  fixture = await buildFixtureDisk({ dir: shared.dir, firmware: 'bios', table: 'gpt', name: 'fixture-bios-gpt' });
  const r = await lifeboat(['archive', '--store', bed.storeDir, '--image', 'golden', '--disk', fixture.path]);
  assert.equal(r.exitCode, 0, r.stderr);
  const listed = JSON.parse((await lifeboat(['images', 'list', 'golden', '--store', bed.storeDir, '--json'])).stdout) as Array<{ versions: Array<{ bytes: number }> }>;
  imageBytes = listed[0]!.versions[0]!.bytes;
  // What the server sends to multicast groups (udpcast's data and its rendezvous), counted in its namespace.
  await sh('ip', ['netns', 'exec', bed.ns, 'nft', '-f', '-'], { input: 'table ip lbclone {\n  chain out {\n    type filter hook output priority 0; policy accept;\n    ip daddr 224.0.0.0/4 counter\n  }\n}\n' });
}, { timeout: 900_000 });

async function multicastBytesSent(): Promise<number> {
  const r = await runInNamespace(bed.ns, 'nft', ['-j', 'list', 'table', 'ip', 'lbclone']);
  const rules = (JSON.parse(String(r.stdout)) as { nftables: Array<{ rule?: { expr: Array<{ counter?: { bytes: number } }> } }> }).nftables;
  return rules.flatMap((x) => x.rule?.expr ?? []).reduce((s, e) => s + (e.counter?.bytes ?? 0), 0);
}

async function session(id: number): Promise<Session> {
  return bed.api<Session>(`/api/v1/clones/${id}`);
}

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await sleep(1000);
  }
}

/** The agent ran its task and the machine powered off (QEMU exits under -no-reboot). */
async function agentFinished(run: MachineRun): Promise<void> {
  await run.waitForSerial('LIFEBOAT-RESCUE-UP', 900_000, { failOn: ['FIXTURE-BOOTED', 'Kernel panic'] });
  await run.waitForSerial(/lifeboat-agent: task \d+ (done|failed)|lifeboat-agent: task failed/, 1_500_000, { failOn: ['Kernel panic', 'agent crashed'] });
  await run.waitForExit(180_000);
}

test('a clone session: three machines by one multicast stream, one powered off mid-stream, a late fourth over unicast; three distinct clones of the source', { timeout: 3_000_000 }, async () => {
  await bed.explainFailure(async () => {
    const machines: QemuMachine[] = [];
    for (const name of ['clone-a', 'clone-b', 'clone-c', 'clone-d']) {
      const disk = await sparseFile(join(shared.dir, `${name}.img`), 1536 << 20);
      machines.push(await bed.addMachine({ name, firmware: 'bios', disks: [disk] }));
    }
    const [a, b, c, d] = machines as [QemuMachine, QemuMachine, QemuMachine, QemuMachine];
    const created = await bed.lifeboat(['clone', 'golden', '--hosts', machines.map((m) => m.mac).join(','), '--hostname', 'lab-{n:02}', '--min-receivers', '3', '--max-wait', '600', '--json']);
    assert.equal(created.exitCode, 0, created.stderr);
    const id = (JSON.parse(created.stdout) as Session).id;
    const taskOf = (m: QemuMachine) => (s: Session) => s.members.find((x) => x.mac === m.mac)!.taskId;
    await until('the server to verify the image', 120_000, async () => ((await session(id)).transport.startsWith('multicast waiting') ? true : undefined));

    const bytesBefore = await multicastBytesSent();
    const runs = await Promise.all([a.boot(), b.boot(), c.boot()]);
    const [runA, runB, runC] = runs as [MachineRun, MachineRun, MachineRun];
    // The stream starts once all three have joined; then one of them loses power.
    await until('the multicast to start', 1_500_000, async () => ((await session(id)).transport.startsWith('multicast sending') ? true : undefined));
    await sleep(2000);
    await runC.stop();
    const runD = await d.boot();
    await Promise.all([agentFinished(runA), agentFinished(runB), agentFinished(runD)]);
    const multicastBytes = (await multicastBytesSent()) - bytesBefore;

    const s = await session(id);
    const tasks = new Map<QemuMachine, Task>();
    for (const m of machines) tasks.set(m, await bed.api<Task>(`/api/v1/tasks/${taskOf(m)(s)}`));
    for (const m of [a, b, d]) assert.equal(tasks.get(m)!.state, 'done', `${m.spec.name}: ${tasks.get(m)!.errorCode} ${tasks.get(m)!.error}`);
    for (const m of [a, b]) {
      const got = (tasks.get(m)!.result!.multicast as { left: string | null; volumes: Receipt[] });
      assert.equal(got.left, null, `${m.spec.name} stayed in the group`);
      assert.ok(got.volumes.length > 0 && got.volumes.every((v) => v.via === 'multicast'), `${m.spec.name}: every volume by multicast: ${JSON.stringify(got.volumes)}`);
    }
    assert.equal(tasks.get(d)!.result!.multicast, undefined, 'the late machine was not told to receive: all unicast');
    assert.equal(tasks.get(c)!.state, 'running', 'the powered-off machine\'s task is still open');
    const sent = /^multicast sent: .* sent once to 3 machines in \d+ s, ([\d.]+)% retransmitted/.exec(s.transport);
    assert.ok(sent, s.transport);
    // One image on the wire for three receivers, plus what udp-sender says it retransmitted for
    // receivers that lost packets (TCG guests do) and its own small control packets: not three copies.
    const retransmitted = Number(sent[1]) / 100;
    const once = multicastBytes / (1 + retransmitted);
    assert.ok(once > 0.9 * imageBytes && once < 1.25 * imageBytes, `multicast bytes ${multicastBytes} for an image of ${imageBytes} with ${sent[1]}% retransmitted`);
    process.stdout.write(`multicast: ${multicastBytes} bytes sent for an image of ${imageBytes} to 3 receivers, ${sent[1]}% of it retransmissions\n`);

    const cancel = await bed.lifeboat(['clones', 'cancel', String(id)]);
    assert.equal(cancel.exitCode, 0, cancel.stderr);

    const source = fixture.expected.identity;
    const seen: Array<{ hostname: string; machineId: string; sshKey: string }> = [];
    for (const [m, hostname] of [[a, 'lab-01'], [b, 'lab-02'], [d, 'lab-04']] as const) {
      const clone = (await bootsRestoredFixture(m, fixture, null)).identity!;
      assert.equal(clone.hostname, hostname);
      assert.equal(clone.machineId, (tasks.get(m)!.result!.identity as { machineId: string }).machineId);
      assert.notEqual(clone.machineId, source.machineId);
      assert.notEqual(clone.sshKey, source.sshKey);
      seen.push(clone);
    }
    assert.equal(new Set(seen.map((x) => x.machineId)).size, 3, 'three machine-ids');
    assert.equal(new Set(seen.map((x) => x.sshKey)).size, 3, 'three SSH host keys');
  });
});
