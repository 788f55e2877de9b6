import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cloneSessionState, decideClaim, type MemberFacts } from '../../server/clone-decision.js';
import { checkCloneRequest, cloneIdentity, parseIdentityTable } from '../../server/clone-request.js';
import { CloneSessions } from '../../server/state/clone-sessions.js';
import { stateWorld } from '../support/state-world.js';
import { refuses } from '../support/unit-kit.js';

const A = '52:54:00:00:0c:01';
const B = '52:54:00:00:0c:02';
const C = '52:54:00:00:0c:03';

const refusal = (fn: () => unknown, message: RegExp) => refuses(fn, 'LB_INVALID', message);

test('parseIdentityTable: MACs in any spelling, hostname and/or ipv4; everything else refused with the file named', () => {
  const table = parseIdentityTable(JSON.stringify({ '52-54-00-00-0C-01': { hostname: 'db-a', ipv4: '10.77.0.11' }, '525400000c02': { hostname: 'db-b' } }), 'ids.json');
  assert.deepEqual(table, { [A]: { hostname: 'db-a', ipv4: '10.77.0.11' }, [B]: { hostname: 'db-b' } });
  const cases: Array<[string, RegExp]> = [
    ['{"a":', /ids\.json is not JSON/],
    ['[]', /a JSON object from MAC/],
    ['{}', /names no machine/],
    ['{"not-a-mac": {"hostname": "x"}}', /key "not-a-mac" is not a MAC/],
    [`{"${A}": {"hostname": "x"}, "${A.toUpperCase()}": {"hostname": "y"}}`, /52:54:00:00:0c:01 is given twice/],
    [`{"${A}": "lab-1"}`, /is not an object/],
    [`{"${A}": {"name": "x"}}`, /has name; only hostname and ipv4/],
    [`{"${A}": {"hostname": 7}}`, /hostname is not a string/],
    [`{"${A}": {}}`, /neither hostname nor ipv4/],
  ];
  for (const [text, message] of cases) refusal(() => parseIdentityTable(text, 'ids.json'), message);
});

test('checkCloneRequest: machines, counts, patterns and tables refused before any task, each with its reason', () => {
  const subnet = '10.77.0.0/24';
  const cases: Array<[Parameters<typeof checkCloneRequest>[0], RegExp]> = [
    [{ hosts: [A], count: 2 }, /--hosts or --count, not both/],
    [{}, /give --hosts MAC,MAC,… .* or --count N/],
    [{ count: 0 }, /1 to 256 machines, not 0/],
    [{ count: 257 }, /1 to 256 machines, not 257/],
    [{ count: 1.5 }, /not 1\.5/],
    [{ hosts: [] }, /names no machine/],
    [{ hosts: [A, A.toUpperCase()] }, /names 52:54:00:00:0c:01 twice/],
    [{ hosts: ['zz'] }, /"zz" is not a MAC/],
    [{ count: 3, hostname: 'lab' }, /machine 1 and machine 2 would both get hostname lab/],
    [{ count: 2, hostname: 'lab_{n}' }, /machine 1: .*lab_1/],
    [{ count: 2, hostname: 'lab-{x}' }, /\{x\} is not a placeholder/],
    [{ hosts: [A, B], ipv4: '10.77.0.{n+254}' }, /machine 2 \(52:54:00:00:0c:02\): "10\.77\.0\.256" is not an IPv4 address/],
    [{ count: 2, ipv4: '10.78.0.{n}' }, /machine 1: address 10\.78\.0\.1 is outside the test-bed network 10\.77\.0\.0\/24/],
    [{ hosts: [A, B], identities: { [A]: { hostname: 'x' } } }, /no entry for 52:54:00:00:0c:02/],
    [{ hosts: [A], identities: { [A]: { hostname: 'x' } }, hostname: 'lab-{n}' }, /--identity FILE or --hostname\/--ip patterns, not both/],
    [{ hosts: [A, B], identities: { [A]: { hostname: 'x' }, [B]: { hostname: 'X' } } }, /would both get hostname x/],
    [{ count: 3, identities: { [A]: { hostname: 'a' }, [B]: { hostname: 'b' } } }, /--count 3 with an identity table of 2 machines/],
    [{ count: 2, minReceivers: 3 }, /--min-receivers 3 is more than the 2 machines/],
  ];
  for (const [req, message] of cases) refusal(() => checkCloneRequest(req, subnet), message);

  assert.deepEqual(checkCloneRequest({ hosts: [A.toUpperCase(), B], hostname: 'lab-{n:02}' }, subnet), { macs: [A, B], count: 2, identities: null });
  assert.deepEqual(checkCloneRequest({ count: 2, identities: { '525400000c01': { hostname: 'a' }, [B]: { ipv4: '10.77.0.9' } } }, subnet), { macs: null, count: 2, identities: { [A]: { hostname: 'a' }, [B]: { ipv4: '10.77.0.9' } } });
});

test('cloneIdentity: the table row by MAC, else the patterns at n, else none', () => {
  const patterns = { hostnamePattern: 'lab-{n:02}', ipv4Pattern: '10.77.0.{n+100}', identities: null };
  assert.deepEqual(cloneIdentity(patterns, A, 3), { hostname: 'lab-03', ipv4: '10.77.0.103' });
  assert.deepEqual(cloneIdentity({ hostnamePattern: null, ipv4Pattern: null, identities: { [A]: { hostname: 'db-a' } } }, A, 1), { hostname: 'db-a' });
  assert.equal(cloneIdentity({ hostnamePattern: null, ipv4Pattern: null, identities: null }, A, 1), undefined);
});

test('cloneSessionState follows the tasks: pending, running, done, failed (saying which), cancelled', () => {
  const m = (n: number, taskState: MemberFacts['taskState']): MemberFacts => ({ n, mac: `52:54:00:00:0c:0${n}`, taskId: 10 + n, taskState });
  const cases: Array<[number, MemberFacts[], boolean, string, RegExp]> = [
    [2, [m(1, 'pending'), m(2, 'pending')], false, 'pending', /0 of 2 done; 2 open/],
    [3, [], false, 'pending', /3 waiting for a machine/],
    [2, [m(1, 'running'), m(2, 'pending')], false, 'running', /1 of 2 done|0 of 2 done; 2 open/],
    [2, [m(1, 'done'), m(2, 'running')], false, 'running', /1 of 2 done; 1 open/],
    [2, [m(1, 'done')], false, 'running', /1 of 2 done; 1 waiting for a machine/],
    [2, [m(1, 'failed'), m(2, 'running')], false, 'running', /lost: task 11 \(52:54:00:00:0c:01\) failed/],
    [2, [m(1, 'done'), m(2, 'done')], false, 'done', /all 2 machines done/],
    [2, [m(1, 'done'), m(2, 'failed')], false, 'failed', /1 of 2 machines not cloned: task 12 \(52:54:00:00:0c:02\) failed/],
    [2, [m(1, 'cancelled'), m(2, 'done')], false, 'failed', /task 11 .* cancelled/],
    [2, [m(1, 'running'), m(2, 'pending')], true, 'cancelled', /by the operator/],
  ];
  for (const [requested, members, cancelled, state, reason] of cases) {
    const got = cloneSessionState({ requested, cancelled, members });
    assert.equal(got.state, state, JSON.stringify(members));
    assert.match(got.reason, reason);
  }
});

test('decideClaim: only a network boot with no open task and in no open session, into the oldest session with room that allows it', () => {
  const s = (sessionId: number, free: number, allowed: string[] | null = null) => ({ sessionId, free, allowed });
  const base = { mac: A, networkBoot: true, hasOpenTask: false, openSession: null as number | null, sessions: [s(4, 1), s(5, 2)] };
  assert.deepEqual(decideClaim(base), { claim: true, sessionId: 4 });
  assert.deepEqual(decideClaim({ ...base, sessions: [s(4, 0), s(5, 2)] }), { claim: true, sessionId: 5 });
  assert.deepEqual(decideClaim({ ...base, sessions: [s(4, 1, [B]), s(5, 1, [A])] }), { claim: true, sessionId: 5 });
  const no = (over: Partial<typeof base>, reason: RegExp) => {
    const d = decideClaim({ ...base, ...over });
    assert.equal(d.claim, false);
    assert.match((d as { reason: string }).reason, reason);
  };
  no({ sessions: [] }, /no clone session is waiting/);
  no({ networkBoot: false }, /not a network boot/);
  no({ hasOpenTask: true }, /has an open task/);
  no({ openSession: 3 }, /already in clone session 3/);
  no({ sessions: [s(4, 0)] }, /no waiting clone session takes/);
  no({ sessions: [s(4, 1, [B])] }, /not in its identity table/);
});


const session = (over: Partial<Parameters<CloneSessions['create']>[0]> = {}) => ({
  image: 'web', version: '20261205T100000Z', macs: null, count: 2, hostnamePattern: 'lab-{n:02}', ipv4Pattern: null, identities: null,
  options: { policy: 'proportional' as const }, multicast: 'auto' as const, minReceivers: null, maxWait: null, ...over,
});

test('a --count session claims the next network boots in order, each getting its task and identity; the session follows the tasks to done', (t) => {
  const w = stateWorld(t);
  const live: string[] = [];
  w.events.subscribe((e) => live.push(e.kind));
  const s = w.clones.create(session());
  assert.equal(s.state, 'pending');
  assert.equal(w.clones.claim(A, false), null, 'a DHCP request of a running OS is not a network boot');
  const first = w.clones.claim(A, true)!;
  assert.deepEqual(first.options, { policy: 'proportional', identity: { hostname: 'lab-01' }, clone: { session: s.id, n: 1 } });
  assert.equal(w.clones.claim(A, true), null, 'the same machine again joins nothing more');
  const second = w.clones.claim(B, true)!;
  assert.equal(second.options.identity?.hostname, 'lab-02');
  assert.equal(w.clones.claim(C, true), null, 'the session is full');
  assert.equal(w.tasks.openTaskFor(C), undefined);
  w.tasks.start(first.id);
  assert.equal(w.clones.get(s.id).state, 'running');
  w.tasks.finish(first.id, { ok: true });
  assert.equal(w.clones.get(s.id).state, 'running');
  w.tasks.start(second.id);
  w.tasks.finish(second.id, { ok: false, error: { code: 'LB_DOES_NOT_FIT', message: 'too small' } });
  const ended = w.clones.get(s.id);
  assert.equal(ended.state, 'failed');
  assert.match(ended.stateReason!, /task 2 \(52:54:00:00:0c:02\) failed/);
  const kinds = w.events.list({ limit: 100 }).map((e) => e.kind).filter((k) => k.startsWith('clone.'));
  assert.deepEqual(kinds, ['clone.created', 'clone.joined', 'clone.joined', 'clone.started', 'clone.started', 'clone.dropped', 'clone.failed']);
  assert.deepEqual(live.slice(-3), ['task.failed', 'clone.dropped', 'clone.failed'], 'the live feed has a session\'s events after the task event they follow');
  w.tasks.rearm(second.id);
  assert.equal(w.clones.get(s.id).state, 'running', 'a re-armed task opens its session again');
});

test('the planner claims in the boot-script path: the claimed machine gets a rescue script with a token on that same fetch', (t) => {
  const w = stateWorld(t);
  w.clones.create(session({ count: 1 }));
  const urls = { httpBase: 'http://10.9.0.1:8080' };
  const rescue = { kernelPath: '/boot/rescue/vmlinuz', initrdPath: '/boot/rescue/initrd.img', cmdline: '' };
  const script = w.planner.ipxeScript({ mac: A, address: '10.9.0.5' }, urls, rescue);
  assert.match(script, /lifeboat\.token=\S+/);
  assert.ok(w.hosts.get(A), 'the claimed machine is registered');
  assert.match(w.planner.ipxeScript({ mac: B, address: '10.9.0.6' }, urls, rescue), /has no task pending/);
});

test('a --hosts session: all tasks at once in the given order; a MAC with an open task or in an open session is refused with nothing written; cancel ends it', (t) => {
  const w = stateWorld(t);
  const s = w.clones.create(session({ macs: [B, A], count: 2 }));
  assert.deepEqual(w.clones.members(s.id).map((m) => [m.n, m.mac, m.identity?.hostname]), [[1, B, 'lab-01'], [2, A, 'lab-02']]);
  assert.throws(() => w.clones.create(session({ macs: [C, A], count: 2 })), /52:54:00:00:0c:01 already has open task/);
  w.hosts.ensure(C);
  const task = w.tasks.create({ kind: 'compare', mac: C, image: 'web', version: 'v' });
  w.tasks.cancel(task.id);
  w.tasks.cancel(w.clones.members(s.id)[1]!.taskId);
  assert.throws(() => w.clones.create(session({ macs: [C, A], count: 2 })), /52:54:00:00:0c:01 is already in open clone session 1/);
  assert.equal(w.clones.list().length, 1, 'no session was written by the refusals');
  assert.equal(w.tasks.openTaskFor(C), undefined, 'nor a task');
  const c = w.clones.cancel(s.id);
  assert.equal(c.state, 'cancelled');
  assert.deepEqual(w.clones.members(s.id).map((m) => m.taskState), ['cancelled', 'cancelled']);
  assert.throws(() => w.clones.cancel(s.id), /already cancelled/);
  assert.equal(w.clones.create(session({ macs: [C, A], count: 2 })).state, 'pending', 'once cancelled, its machines may join another session');
});
