import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_SESSION_VOLUMES, receiveFor, senderSettings, sessionPortBase, unicastReason } from '../../server/multicast/session-plan.js';
import { volumePort } from '../../server/multicast/udp-sender.js';

const session = { id: 3, requested: 4, minReceivers: 3, maxWait: 90 };

test('a session multicasts unless told off, without an interface, or with more volumes than its ports', () => {
  assert.equal(unicastReason({ multicast: 'auto', interface: 'br0', volumes: 6 }), null);
  assert.equal(unicastReason({ multicast: 'off', interface: 'br0', volumes: 6 }), '--multicast off');
  assert.match(unicastReason({ multicast: 'on', interface: null, volumes: 6 })!, /no test-bed interface \(serve --interface\)/);
  assert.match(unicastReason({ multicast: 'auto', interface: 'br0', volumes: MAX_SESSION_VOLUMES + 1 })!, /257 volumes; one multicast session sends at most 256/);
});

test('sessions get ports of their own: no two of the 64 slots overlap, every port below 65000', () => {
  const ranges = Array.from({ length: 64 }, (_, i) => [sessionPortBase(i + 1), volumePort(sessionPortBase(i + 1), MAX_SESSION_VOLUMES - 1) + 1] as const);
  for (const [i, [lo, hi]] of ranges.entries()) {
    assert.equal(lo % 2, 0);
    assert.ok(hi < 65000, `slot ${i} ends at ${hi}`);
    if (i > 0) assert.ok(lo > ranges[i - 1]![1], `slot ${i} starts after slot ${i - 1} ends`);
  }
  assert.equal(sessionPortBase(65), sessionPortBase(1), 'the 65th session reuses the first slot');
});

test('the sender waits for --min-receivers (default: every machine) and --max-wait (default 60 s)', () => {
  const s = senderSettings(session, 'br0');
  assert.deepEqual([s.interface, s.portBase, s.minReceivers, s.maxWaitSeconds, s.rendezvous], ['br0', sessionPortBase(3), 3, 90, '224.0.0.1']);
  const d = senderSettings({ ...session, minReceivers: null, maxWait: null }, 'br0');
  assert.deepEqual([d.minReceivers, d.maxWaitSeconds], [4, 60]);
});

test('a member is told to receive only before the start, with a start timeout covering what is left of the wait', () => {
  const settings = senderSettings(session, 'br0');
  const volumes = ['data/root.tar.zst', 'data/data.tar.zst'];
  const t0 = 1_000_000;
  const first = receiveFor({ phase: 'waiting', settings, volumes, firstJoinAt: null }, t0)!;
  assert.deepEqual(first.volumes, volumes);
  assert.equal(first.portBase, settings.portBase);
  assert.equal(first.startTimeoutSeconds, 90 + 120, 'the whole wait and the margin to reach the data stage');
  const later = receiveFor({ phase: 'waiting', settings, volumes, firstJoinAt: t0 }, t0 + 30_000)!;
  assert.equal(later.startTimeoutSeconds, 60 + 120, '30 s of the 90 have gone');
  assert.equal(receiveFor({ phase: 'waiting', settings, volumes, firstJoinAt: t0 }, t0 + 500_000)!.startTimeoutSeconds, 120);
  assert.ok(first.receiveTimeoutSeconds > 60, 'longer than the stall while a silent member is dropped');
  for (const phase of ['verifying', 'sending', 'sent', 'unicast', 'stopped'] as const) {
    assert.equal(receiveFor({ phase, settings, volumes, firstJoinAt: t0 }, t0), null, `nothing offered while ${phase}`);
  }
});
