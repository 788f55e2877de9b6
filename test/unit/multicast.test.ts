import { test } from 'node:test';
import assert from 'node:assert/strict';
import Value from 'typebox/value';
import { parseSenderLine, summarizeVolume, udpSenderArgs, DEFAULT_SENDER_SETTINGS, type SenderEvent, type SenderSettings } from '../../server/multicast/udp-sender.js';
import { receiverFailure, routeVolume, udpReceiverArgs } from '../../netboot/agent/multicast-source.js';
import { AgentTaskSchema, type MulticastReceive } from '../../netboot/task-protocol.js';

const settings: SenderSettings = { ...DEFAULT_SENDER_SETTINGS, interface: 'lbbr1', portBase: 9000, rendezvous: '10.1.2.1', minReceivers: 3 };

function option(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i === -1 ? undefined : args[i + 1];
}

test('udp-sender: the first volume waits long for the whole group, later ones briefly on their own port', () => {
  const first = udpSenderArgs(settings, '/store/g/v/data/root.tar.zst.000', 0, 3);
  assert.equal(option(first, '--file'), '/store/g/v/data/root.tar.zst.000');
  assert.equal(option(first, '--interface'), 'lbbr1');
  assert.equal(option(first, '--portbase'), '9000');
  assert.equal(option(first, '--mcast-rdv-address'), '10.1.2.1');
  assert.equal(option(first, '--min-receivers'), '3');
  assert.equal(option(first, '--max-wait'), '60');
  assert.equal(option(first, '--start-timeout'), '600');
  assert.equal(option(first, '--retries-until-drop'), '20');
  assert.ok(first.includes('--full-duplex') && !first.includes('--half-duplex'));
  assert.ok(first.includes('--nokbd'));
  assert.equal(option(first, '--max-bitrate'), undefined);

  const third = udpSenderArgs({ ...settings, duplex: 'half', maxBitrate: '600m' }, 'f', 2, 2);
  assert.equal(option(third, '--portbase'), '9004', 'volume i on portBase + 2i');
  assert.equal(option(third, '--min-receivers'), '2');
  assert.equal(option(third, '--max-wait'), '10');
  assert.equal(option(third, '--start-timeout'), '60');
  assert.ok(third.includes('--half-duplex') && !third.includes('--full-duplex'));
  assert.equal(option(third, '--max-bitrate'), '600m');
  // udp-sender refuses receiver-only options (pitfall 4).
  assert.ok(!third.includes('--receive-timeout') && !third.includes('--exit-wait'));
  assert.equal(option(udpSenderArgs(settings, 'f', 1, 0), '--min-receivers'), '1', 'never asks for zero receivers');
});

// Lines as udp-sender 20120424 printed them here, with a receiver killed mid-transfer.
const LOG = [
  'Udp-sender 20120424',
  'Using mcast address 234.231.0.1',
  'UDP sender for /tmp/x.bin at 10.231.0.1 on mcxbr ',
  'Broadcasting control to 224.0.0.1',
  'New connection from 10.231.0.2  (#0) 00000009',
  'New connection from 10.231.0.3  (#1) 00000009',
  'Starting transfer: 00000009',
  'bytes=  3 000 000  re-xmits=0001019 ( 49.4%) slice=0112 -   0',
  'Timeout notAnswered=[1] notReady=[1] nrAns=1 nrRead=1 nrPart=2 avg=10000',
  'Dropping client #1 because of timeout',
  'Disconnecting #1 (10.231.0.3)',
  'Transfer complete.\u0007',
  'Disconnecting #0 (10.231.0.2)',
];

test("udp-sender's lines become joins, a start, its retransmissions, a drop and the end; banners are ignored", () => {
  const events = LOG.map(parseSenderLine).filter((e): e is SenderEvent => e !== null);
  assert.deepEqual(events, [
    { kind: 'join', receiver: 0, address: '10.231.0.2' },
    { kind: 'join', receiver: 1, address: '10.231.0.3' },
    { kind: 'start' },
    { kind: 'progress', retransmittedBlocks: 1019, retransmittedPercent: 49.4 },
    { kind: 'drop', receiver: 1 },
    { kind: 'disconnect', receiver: 1, address: '10.231.0.3' },
    { kind: 'complete' },
    { kind: 'disconnect', receiver: 0, address: '10.231.0.2' },
  ]);
});

test('a volume is judged by what the sender said, not by its exit status', () => {
  const events = LOG.map(parseSenderLine).filter((e): e is SenderEvent => e !== null);
  // Exit 0 after a drop: the dropped machine is not counted as having the volume.
  assert.deepEqual(summarizeVolume(events, 0, false), { joined: ['10.231.0.2', '10.231.0.3'], dropped: ['10.231.0.3'], completed: ['10.231.0.2'], status: 'sent' });
  // Exit 0 with nobody there (the start timeout): nothing was sent.
  assert.deepEqual(summarizeVolume([], 0, false), { joined: [], dropped: [], completed: [], status: 'no-receivers' });
  // Exit 0 but no "Transfer complete": not sent.
  assert.equal(summarizeVolume(events.filter((e) => e.kind !== 'complete'), 0, false).status, 'failed');
  assert.equal(summarizeVolume(events, 1, false).status, 'failed');
  assert.deepEqual(summarizeVolume(events, 1, false).completed, []);
  assert.equal(summarizeVolume(events, null, true).status, 'stopped');
});

const mc: MulticastReceive = {
  portBase: 9100, rendezvous: '10.1.2.1', startTimeoutSeconds: 300, nextStartTimeoutSeconds: 30, receiveTimeoutSeconds: 20,
  volumes: ['data/boot.tar.zst', 'data/root.tar.zst.000', 'data/root.tar.zst.001'],
};

test('udp-receiver: explicit interface, the volume\'s port, the rendezvous, and both timeouts', () => {
  const first = udpReceiverArgs(mc, 0, 'eth0');
  assert.deepEqual(first, ['--nokbd', '--interface', 'eth0', '--portbase', '9100', '--mcast-rdv-address', '10.1.2.1', '--start-timeout', '300', '--receive-timeout', '20']);
  const later = udpReceiverArgs(mc, 2, 'eth0');
  assert.equal(option(later, '--portbase'), '9104');
  assert.equal(option(later, '--start-timeout'), '30');
});

test('routing: in order by multicast; out of order, passed, unknown or after leaving the group by unicast', () => {
  assert.deepEqual(routeVolume(mc.volumes, 0, null, 'data/boot.tar.zst'), { via: 'multicast', index: 0 });
  assert.deepEqual(routeVolume(mc.volumes, 1, null, 'data/root.tar.zst.000'), { via: 'multicast', index: 1 });
  // Asked ahead of the sender's order: it skips to that slot.
  assert.deepEqual(routeVolume(mc.volumes, 0, null, 'data/root.tar.zst.001'), { via: 'multicast', index: 2 });
  const passed = routeVolume(mc.volumes, 3, null, 'data/boot.tar.zst');
  assert.equal(passed.via, 'unicast');
  assert.match((passed as { why: string }).why, /already gone by/);
  assert.match((routeVolume(mc.volumes, 0, null, 'data/home.tar.zst') as { why: string }).why, /not in the multicast transfer/);
  const left = routeVolume(mc.volumes, 1, 'volume data/boot.tar.zst: dropped', 'data/root.tar.zst.000');
  assert.deepEqual(left, { via: 'unicast', why: 'this machine left the multicast group (volume data/boot.tar.zst: dropped)' });
});

test("a receiver's failure is named from its exit status and words", () => {
  assert.equal(receiverFailure(1, undefined, 'Dropped by server'), 'dropped');
  assert.equal(receiverFailure(255, undefined, 'Udp-receiver 20120424'), 'no-sender');
  assert.equal(receiverFailure(1, undefined, 'Receive timeout'), 'timeout');
  assert.equal(receiverFailure(1, undefined, 'something else'), 'exit');
  assert.equal(receiverFailure(null, 'SIGKILL', ''), 'stopped');
});

test('the task protocol carries the multicast plan and refuses a bad one', () => {
  const task = { id: 1, kind: 'nuke', mac: '52:54:00:00:00:01', state: 'running', options: {}, multicast: mc };
  assert.ok(Value.Check(AgentTaskSchema, task));
  assert.ok(Value.Check(AgentTaskSchema, { ...task, multicast: { ...mc, interface: 'eth0' } }));
  assert.ok(!Value.Check(AgentTaskSchema, { ...task, multicast: { ...mc, portBase: 9101 } }), 'an odd port base');
  assert.ok(!Value.Check(AgentTaskSchema, { ...task, multicast: { ...mc, volumes: [] } }), 'no volumes');
  assert.ok(!Value.Check(AgentTaskSchema, { ...task, multicast: { ...mc, pipe: 'gzip -dc' } }), 'an unknown field');
});
