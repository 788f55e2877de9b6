import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nextBoot } from '../../server/boot-decision.js';
import { HostRegistrationLimit } from '../../server/host-registration.js';
import { stateWorld } from '../support/state-world.js';

/** DHCP-side registration of new machines, bounded per minute and by the hosts nobody has claimed. */

function world(t: { after: (fn: () => void) => void }, limits: { perMinute: number; maxUnknown: number }) {
  let now = 1_000_000;
  const w = stateWorld(t, { registration: new HostRegistrationLimit(limits, () => now) });
  return { ...w, advance: (ms: number) => (now += ms) };
}

const mac = (i: number) => `52:54:00:aa:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`;
const dhcp = (m: string) => ({ mac: m, firmware: 'bios' as const, isIpxe: false, via: 'dhcp' as const });
const urls = { httpBase: 'http://10.9.0.1:8080' };

test('at most perMinute new machines a minute; known ones are always marked seen; the next minute registers again', (t) => {
  const w = world(t, { perMinute: 10, maxUnknown: 1000 });
  for (let i = 0; i < 25; i++) {
    w.planner.recordSighting(dhcp(mac(i)));
    assert.equal(nextBoot(dhcp(mac(i)), w.tasks.openTaskFor(mac(i)), urls).action, 'local', 'an unregistered machine still gets its answer');
  }
  assert.equal(w.hosts.list().length, 10);
  assert.equal(w.events.list({ limit: 100 }).filter((e) => e.kind === 'host.registered').length, 10);
  const first = w.hosts.get(mac(0))!;
  w.advance(5000);
  w.planner.recordSighting(dhcp(mac(0)));
  assert.ok(w.hosts.get(mac(0))!.lastSeen > first.lastSeen, 'a known machine is marked seen over the limit');
  w.advance(60_000);
  w.planner.recordSighting(dhcp(mac(20)));
  assert.ok(w.hosts.get(mac(20)), 'registered in the next minute');
  assert.equal(w.hosts.list().length, 11);
});

test('no new machine while maxUnknown hosts have no name and no task; naming one or giving one a task makes room', (t) => {
  const w = world(t, { perMinute: 1000, maxUnknown: 5 });
  for (let i = 0; i < 8; i++) w.planner.recordSighting(dhcp(mac(i)));
  assert.equal(w.hosts.list().length, 5);
  assert.equal(w.hosts.unknownCount(), 5);
  w.hosts.ensure(mac(0), 'web01');
  w.planner.recordSighting(dhcp(mac(6)));
  assert.ok(w.hosts.get(mac(6)), 'room after a host was named');
  w.planner.recordSighting(dhcp(mac(7)));
  assert.equal(w.hosts.get(mac(7)), undefined);
  w.tasks.create({ kind: 'capture', mac: mac(1), image: 'x' });
  w.planner.recordSighting(dhcp(mac(7)));
  assert.ok(w.hosts.get(mac(7)), 'room after a host got a task');
  // An operator's own additions are never limited.
  for (let i = 100; i < 110; i++) w.hosts.ensure(mac(i));
  assert.equal(w.hosts.list().length, 17);
});
