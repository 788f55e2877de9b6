import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { copyFile, open } from 'node:fs/promises';
import { makeWorld, sh } from '../support/world.js';
import { waitFor } from '../support/netns.js';
import { snapshotTree, diffSnapshots } from '../support/tree-snapshot.js';
import { addMachine, makeMulticastBed, receivePlan, receiverResult, senderLines, senderOutcome, startReceiver, startSender, txBytes, type Machine, type MulticastBed, type ReceiverResult } from '../support/multicast-bed.js';
import type { SenderSettings } from '../../server/multicast/udp-sender.js';
import { MULTICAST_RENDEZVOUS } from '../../netboot/task-protocol.js';
import type { VolumeReceipt } from '../../netboot/agent/multicast-source.js';

// Real udp-sender and udp-receivers on a test-bed bridge: Lifeboat's multicast transfer (one
// udp-sender per volume, in the server namespace, on the bridge) and its receiving side (the
// agent's multicast opener with the HTTP fallback through extractArchive's reopen), each receiver
// a node process in its own namespace, the fallback served by `lifeboat serve`.


let shared: MulticastBed;
// One bed for the file (server, image, bridge); each test adds its own machines. The world's
// cleanups run after the last test, failing or not, and after a failed setup too.
const world = await makeWorld({ after }, 'lb-mcast');
before(async () => {
  shared = await makeMulticastBed(world);
  assert.ok(shared.volumes.length >= 5, `the image has several volumes (${shared.volumes.length})`);
});

function senderSettings(b: MulticastBed, portBase: number, minReceivers: number): SenderSettings {
  return {
    interface: b.bed.bridge, portBase, rendezvous: MULTICAST_RENDEZVOUS, minReceivers,
    maxWaitSeconds: 15, nextMaxWaitSeconds: 5, startTimeoutSeconds: 60, nextStartTimeoutSeconds: 20,
    // A few retries: a silent machine stalls the others seconds, not minutes.
    retriesUntilDrop: 15, duplex: 'full',
    // Slow enough that the transfer lasts a few seconds, for the late joiner and the power cut.
    maxBitrate: '60m',
  };
}

/** Every volume's bytes as the manifest has them, and the extracted tree the same as the source. */
async function assertRestored(b: MulticastBed, m: Machine, r: ReceiverResult): Promise<void> {
  assert.equal(r.ok, true, `${m.ns}: ${r.error}\n${r.notes.join('\n')}`);
  const good = new Map<string, VolumeReceipt>();
  for (const receipt of r.receipts) if (receipt.note === undefined || receipt.via === 'unicast') good.set(receipt.path, receipt);
  for (const v of b.volumes) {
    const got = good.get(v.path);
    assert.ok(got, `${m.ns}: volume ${v.path} was received`);
    assert.equal(got.sha256, v.sha256, `${m.ns}: ${v.path} hashes as in the manifest`);
    assert.equal(got.bytes, v.bytes);
  }
  for (const a of b.manifest.archives) {
    assert.deepEqual(diffSnapshots(await snapshotTree(b.src, { ignore: ['lost+found'] }), await snapshotTree(join(m.target, a.id), { ignore: ['lost+found'] })), [], `${m.ns}: the tree of ${a.id}`);
  }
}

test('three machines get every volume by multicast, byte for byte, while the server sends about one copy', async () => {
  const b = shared;
  const port = 9100;
  const machines = [await addMachine(b, 'ka', 11), await addMachine(b, 'kb', 12), await addMachine(b, 'kc', 13)];
  const bridgeBefore = await txBytes(b.bed.ns, b.bed.bridge);
  const portsBefore = await Promise.all(machines.map((m) => txBytes(b.bed.ns, m.bridgePort)));
  const sender = startSender(b, senderSettings(b, port, 3), b.volumes, 'sender-all');
  const receivers = machines.map((m) => startReceiver(b, m, receivePlan(b, port)));
  const outcome = await senderOutcome(sender, 120_000);
  const results = await Promise.all(receivers.map((r) => receiverResult(r, 60_000)));
  for (const [i, m] of machines.entries()) {
    await assertRestored(b, m, results[i]!);
    assert.deepEqual(results[i]!.receipts.map((x) => x.via), b.volumes.map(() => 'multicast'), `${m.ns}: every volume came by multicast:\n${results[i]!.notes.join('\n')}\n${JSON.stringify(outcome.volumes)}`);
    assert.equal(results[i]!.left, null);
  }
  assert.equal(outcome.complete, true, JSON.stringify(outcome.volumes));
  for (const v of outcome.volumes) assert.deepEqual([...v.completed].sort(), machines.map((m) => m.address).sort(), `${v.path}: all three completed`);

  // What the server put on the bridge: one copy of the image plus retransmissions and control, not three.
  const sent = (await txBytes(b.bed.ns, b.bed.bridge)) - bridgeBefore;
  const perMachine = await Promise.all(machines.map(async (m, i) => (await txBytes(b.bed.ns, m.bridgePort)) - portsBefore[i]!));
  process.stderr.write(`multicast: image ${b.imageBytes} B, server sent ${sent} B on the bridge (${(sent / b.imageBytes).toFixed(2)} copies); each machine's port carried ${perMachine.join(', ')} B\n`);
  assert.ok(sent >= b.imageBytes, `the server sent at least the image (${sent} of ${b.imageBytes})`);
  assert.ok(sent < 1.6 * b.imageBytes, `the server sent about one copy, not three (${sent} B for a ${b.imageBytes} B image)`);
  for (const bytes of perMachine) assert.ok(bytes >= b.imageBytes, 'each machine was reached by the whole image');
});

test('a machine that joins after the transfer began neither stalls the others nor waits for long: it completes over unicast', async () => {
  const b = shared;
  const port = 9200;
  const [ma, mb, late] = [await addMachine(b, 'la', 21), await addMachine(b, 'lb', 22), await addMachine(b, 'lc', 23)];
  const sender = startSender(b, senderSettings(b, port, 2), b.volumes, 'sender-late');
  const onTime = [startReceiver(b, ma, receivePlan(b, port)), startReceiver(b, mb, receivePlan(b, port))];
  await waitFor('the first volume to start', () => senderLines(sender).find((l) => l.type === 'event' && l.event.kind === 'start') ?? undefined, 60_000);
  // The late machine's first receiver waits 5 s for a sender that will never take it.
  const lateRun = startReceiver(b, late, receivePlan(b, port, 5));
  const outcome = await senderOutcome(sender, 120_000);
  for (const [i, r] of (await Promise.all(onTime.map((x) => receiverResult(x, 60_000)))).entries()) {
    const m = [ma, mb][i]!;
    await assertRestored(b, m, r);
    assert.deepEqual(r.receipts.map((x) => x.via), b.volumes.map(() => 'multicast'), `${m.ns}: every volume by multicast:\n${r.notes.join('\n')}`);
  }
  assert.equal(outcome.complete, true);
  for (const v of outcome.volumes) assert.ok(!v.joined.includes(late.address), `${v.path}: the late machine never joined`);
  const lateResult = await receiverResult(lateRun, 90_000);
  await assertRestored(b, late, lateResult);
  assert.equal(lateResult.receipts[0]!.via, 'multicast');
  assert.match(lateResult.receipts[0]!.note ?? '', /exited with status 255 \(no-sender\)/, 'its first receiver gave up waiting');
  assert.ok(lateResult.receipts.slice(1).every((x) => x.via === 'unicast'), 'everything after it came over unicast');
  assert.match(lateResult.left ?? '', new RegExp(`volume ${b.volumes[0]!.path}`));
  assert.ok(lateResult.notes.some((n) => n.includes('again from its start')), 'the archive was extracted again from its start');
});

test('a machine powered off mid-transfer is dropped within seconds; the others finish by multicast', async () => {
  const b = shared;
  const port = 9300;
  const machines = [await addMachine(b, 'pa', 31), await addMachine(b, 'pb', 32), await addMachine(b, 'pc', 33)];
  const sender = startSender(b, senderSettings(b, port, 3), b.volumes, 'sender-poweroff');
  const receivers = machines.map((m) => startReceiver(b, m, receivePlan(b, port)));
  await waitFor('the second volume to start', () => senderLines(sender).find((l) => l.type === 'event' && l.index === 1 && l.event.kind === 'start') ?? undefined, 60_000);
  // Power off: every process of that machine's namespace (all started by this test) dies at once.
  const victim = machines[2]!;
  const cut = Date.now();
  for (const pid of (await sh('ip', ['netns', 'pids', victim.ns])).split('\n').filter(Boolean)) process.kill(Number(pid), 'SIGKILL');
  const outcome = await senderOutcome(sender, 120_000);
  const afterCut = (outcome.at - cut) / 1000;
  for (const [i, m] of machines.slice(0, 2).entries()) {
    const r = await receiverResult(receivers[i]!, 60_000);
    await assertRestored(b, m, r);
    assert.deepEqual(r.receipts.map((x) => x.via), b.volumes.map(() => 'multicast'), `${m.ns}: every volume by multicast:\n${r.notes.join('\n')}`);
  }
  const dropped = outcome.volumes[1]!;
  assert.deepEqual(dropped.dropped, [victim.address], 'the sender dropped the machine that went silent');
  assert.deepEqual([...dropped.completed].sort(), [machines[0]!.address, machines[1]!.address].sort());
  assert.equal(dropped.exitCode, 0, 'udp-sender exited 0 all the same (why its status is never trusted alone)');
  for (const v of outcome.volumes.slice(2)) assert.ok(!v.joined.includes(victim.address));
  // 15 retries: the stall is seconds; the rest of the image at 60 Mbit/s takes about as long again.
  process.stderr.write(`power cut: the transfer ended ${afterCut.toFixed(1)} s after the cut\n`);
  assert.ok(afterCut < 45, `the others were stalled seconds, not minutes (${afterCut.toFixed(1)} s)`);
});

test('a volume whose multicast bytes are corrupted fails its hash, named, and its archive is read again over unicast', async () => {
  const b = shared;
  const port = 9400;
  const machines = [await addMachine(b, 'ca', 41), await addMachine(b, 'cb', 42)];
  // The sender sends a copy of volume 1 with one byte flipped in the middle.
  const bad = b.volumes[1]!;
  const corrupt = join(b.world.dir, 'corrupt-volume');
  await copyFile(bad.file, corrupt);
  const fh = await open(corrupt, 'r+');
  const one = Buffer.alloc(1);
  const at = Math.floor(bad.bytes / 2);
  await fh.read(one, 0, 1, at);
  one[0] = one[0]! ^ 0xff;
  await fh.write(one, 0, 1, at);
  await fh.close();
  const volumes = b.volumes.map((v) => (v === bad ? { path: v.path, file: corrupt } : v));
  const sender = startSender(b, senderSettings(b, port, 2), volumes, 'sender-corrupt');
  const receivers = machines.map((m) => startReceiver(b, m, receivePlan(b, port)));
  await senderOutcome(sender, 120_000);
  for (const [i, m] of machines.entries()) {
    const r = await receiverResult(receivers[i]!, 90_000);
    await assertRestored(b, m, r);
    const failed = r.receipts.find((x) => x.path === bad.path && x.via === 'multicast');
    assert.ok(failed, `${m.ns}: volume ${bad.path} came by multicast first`);
    assert.match(failed.note ?? '', /sha256 is [0-9a-f]{12}…, the manifest says/, 'the hash failed');
    assert.match(r.left ?? '', new RegExp(`^volume ${bad.path.replaceAll('.', '\\.')}: its sha256`), 'the volume is named');
    assert.deepEqual(r.receipts.slice(0, 1).map((x) => x.via), ['multicast'], 'volume 0 came by multicast');
    assert.ok(r.notes.some((n) => n.startsWith(`extracting ${b.manifest.archives[0]!.id}`) && n.includes('again from its start') && n.includes(bad.path)), `${m.ns}: the archive was extracted again, the volume named:\n${r.notes.join('\n')}`);
    const afterwards = r.receipts.slice(r.receipts.indexOf(failed) + 1);
    assert.ok(afterwards.length >= b.volumes.length && afterwards.every((x) => x.via === 'unicast'), `${m.ns}: the whole archive again over unicast`);
  }
});
