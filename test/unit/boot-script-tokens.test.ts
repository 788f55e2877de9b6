import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decideScript } from '../../server/boot-decision.js';
import { TOKEN_PLACEHOLDER } from '../../server/boot-planner.js';
import { TASK_FILE_LIMITS, type Task } from '../../server/state/tasks.js';
import { stateWorld } from '../support/state-world.js';

// Who gets a task token from a script fetch, and what every other fetch does to the task. The
// decision is a pure function of the task and the fetch; the planner records what it decided.

const urls = { httpBase: 'http://10.9.0.1:8080' };
const rescue = { kernelPath: '/boot/rescue/vmlinuz', initrdPath: '/boot/rescue/initrd.img', cmdline: '' };
const MAC = '52:54:00:00:0b:01';

function world(t: { after: (fn: () => void) => void }) {
  const w = stateWorld(t);
  w.hosts.ensure(MAC);
  return w;
}

const task = (over: Partial<Task>): Task => ({
  id: 7, kind: 'nuke', mac: MAC, image: 'web', version: 'v', options: {}, state: 'pending', createdAt: 0, startedAt: null, endedAt: null,
  progress: null, result: null, errorCode: null, error: null, tokenAddress: null, ...over,
});

test('decideScript: a table of tasks and fetches', () => {
  const cases: Array<[string, Task | undefined, Parameters<typeof decideScript>[1], string, string?]> = [
    ['no task', undefined, { mac: MAC, address: '10.0.0.5' }, 'local'],
    ['pending, no DHCP of ours: bound to the fetching address', task({}), { mac: MAC, address: '10.0.0.5' }, 'rescue', '10.0.0.5'],
    ['pending, bound, same address again (a new boot)', task({ tokenAddress: '10.0.0.5' }), { mac: MAC, address: '10.0.0.5' }, 'rescue', '10.0.0.5'],
    ['pending, bound, another address', task({ tokenAddress: '10.0.0.5' }), { mac: MAC, address: '10.0.0.6' }, 'withheld'],
    ['pending, full DHCP, from the lease', task({}), { mac: MAC, address: '10.0.0.5', leasedAddress: '10.0.0.5' }, 'rescue', '10.0.0.5'],
    ['pending, full DHCP, from elsewhere', task({}), { mac: MAC, address: '10.0.0.9', leasedAddress: '10.0.0.5' }, 'withheld'],
    ['pending, full DHCP, no lease', task({}), { mac: MAC, address: '10.0.0.9', leasedAddress: null }, 'withheld'],
    ['running, from its boot: the machine booted again', task({ state: 'running', tokenAddress: '10.0.0.5' }), { mac: MAC, address: '10.0.0.5' }, 'interrupted'],
    ['running, from elsewhere', task({ state: 'running', tokenAddress: '10.0.0.5' }), { mac: MAC, address: '10.0.0.6' }, 'withheld'],
    ['running, full DHCP, from elsewhere', task({ state: 'running', tokenAddress: '10.0.0.5' }), { mac: MAC, address: '10.0.0.6', leasedAddress: '10.0.0.5' }, 'withheld'],
    ['running with a token from before binding', task({ state: 'running' }), { mac: MAC, address: '10.0.0.5' }, 'withheld'],
  ];
  for (const [name, t, request, action, bindTo] of cases) {
    const d = decideScript(t, request);
    assert.equal(d.action, action, name);
    if (bindTo) assert.equal(d.action === 'rescue' && d.bindTo, bindTo, name);
  }
});

test('a running task keeps its token against fetches from elsewhere; a fetch from its own boot fails it; rearm and a new boot mint a new token', (t) => {
  const { tasks, events, planner } = world(t);
  const created = tasks.create({ kind: 'nuke', mac: MAC, image: 'web', version: 'v' });
  const script = planner.ipxeScript({ mac: MAC, address: '10.0.0.5' }, urls, rescue);
  const token = /lifeboat\.token=(\S+)/.exec(script)![1]!;
  assert.equal(tasks.authenticate(created.id, token, '10.0.0.5').id, created.id);
  assert.throws(() => tasks.authenticate(created.id, token, '10.0.0.6'), (e: Error & { code: string }) => e.code === 'LB_FORBIDDEN' && /belongs to the boot at 10\.0\.0\.5; this call came from 10\.0\.0\.6/.test(e.message));
  tasks.start(created.id);

  const other = planner.ipxeScript({ mac: MAC, address: '10.0.0.6' }, urls, rescue);
  assert.doesNotMatch(other, /lifeboat\.token=|kernel/);
  assert.equal(tasks.authenticate(created.id, token, '10.0.0.5').state, 'running', 'the token still works');

  const again = planner.ipxeScript({ mac: MAC, address: '10.0.0.5' }, urls, rescue);
  assert.doesNotMatch(again, /lifeboat\.token=|kernel/);
  const failed = tasks.get(created.id);
  assert.equal(failed.state, 'failed');
  assert.equal(failed.errorCode, 'LB_INTERRUPTED');
  assert.match(failed.error!, /booted again while the task ran/);
  assert.throws(() => tasks.authenticate(created.id, token, '10.0.0.5'), /is failed: it accepts no more reports/);
  assert.equal(events.list({ taskId: created.id }).filter((e) => e.kind === 'task.failed').length, 1);

  assert.equal(tasks.rearm(created.id).state, 'pending');
  assert.throws(() => tasks.authenticate(created.id, token, '10.0.0.5'), /no valid token/, 're-arming forgets the old token');
  assert.throws(() => tasks.rearm(999), /does not exist/);
  const next = /lifeboat\.token=(\S+)/.exec(planner.ipxeScript({ mac: MAC, address: '10.0.0.7' }, urls, rescue))![1]!;
  assert.notEqual(next, token);
  assert.equal(tasks.authenticate(created.id, next, '10.0.0.7').state, 'pending');
});

test('the preview mints nothing and records nothing; an HTTP fetch registers no machine', (t) => {
  const { tasks, events, hosts, planner } = world(t);
  planner.ipxeScript({ mac: '52:54:00:00:0b:99', address: '10.0.0.5' }, urls, rescue);
  assert.equal(hosts.get('52:54:00:00:0b:99'), undefined);
  const created = tasks.create({ kind: 'nuke', mac: MAC, image: 'web', version: 'v' });
  const before = events.list().length;
  const preview = planner.previewScript(MAC, urls, rescue);
  assert.match(preview, new RegExp(`lifeboat\\.token=${TOKEN_PLACEHOLDER}`));
  assert.equal(events.list().length, before);
  assert.equal(tasks.get(created.id).tokenAddress, null);
  assert.throws(() => tasks.authenticate(created.id, TOKEN_PLACEHOLDER, '10.0.0.5'), /no valid token/);
});

test('transitions are guarded by state: the second finish, cancel or start of a finished task is a conflict, and one event is recorded', (t) => {
  const { tasks, events } = world(t);
  const created = tasks.create({ kind: 'nuke', mac: MAC, image: 'web', version: 'v' });
  tasks.start(created.id);
  tasks.finish(created.id, { ok: true });
  assert.throws(() => tasks.finish(created.id, { ok: false, error: { code: 'X', message: 'forged' } }), (e: Error & { code: string }) => e.code === 'LB_CONFLICT' && /is done/.test(e.message));
  assert.throws(() => tasks.cancel(created.id), /already done/);
  assert.throws(() => tasks.start(created.id), /is done: it cannot be started/);
  assert.throws(() => tasks.progress(created.id, { stage: 'restore' }), /LB_CONFLICT|is done/);
  assert.throws(() => tasks.rearm(created.id), /only a failed or pending task/);
  assert.deepEqual(events.list({ taskId: created.id }).map((e) => e.kind).filter((k) => k === 'task.done' || k === 'task.failed'), ['task.done']);
  assert.equal(tasks.get(created.id).state, 'done');
});

test('a task stores at most its file caps; replacing a name is allowed', (t) => {
  const { tasks } = world(t);
  const created = tasks.create({ kind: 'compare', mac: MAC, image: 'web', version: 'v' });
  for (let i = 0; i < TASK_FILE_LIMITS.count; i++) tasks.storeFile(created.id, `f${i}`, Buffer.from('x'));
  assert.throws(() => tasks.storeFile(created.id, 'one-more', Buffer.from('x')), (e: Error & { code: string }) => e.code === 'LB_CONFLICT' && /already holds 32 files/.test(e.message));
  tasks.storeFile(created.id, 'f0', Buffer.alloc(TASK_FILE_LIMITS.bytes - (TASK_FILE_LIMITS.count - 1)));
  assert.throws(() => tasks.storeFile(created.id, 'f1', Buffer.alloc(2)), (e: Error & { code: string }) => e.code === 'LB_TOO_LARGE' && /may total 67108864 bytes and 1 are left/.test(e.message));
  assert.equal(tasks.files(created.id).length, TASK_FILE_LIMITS.count);
});
