import { test } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { type Lease, type LeaseView, chooseOfferAddress, decideRequest, makeAddressPlan, renewalTimes } from '../../server/dhcp/address-plan.js';
import { LeaseStore, migrateLeases, readLeases } from '../../server/dhcp/lease-store.js';

const A = '52:54:00:00:00:0a';
const B = '52:54:00:00:00:0b';
const NOW = 1_800_000_000;

const plan = makeAddressPlan({
  serverAddress: '10.9.0.1',
  subnetMask: '255.255.255.0',
  range: { first: '10.9.0.100', last: '10.9.0.103' },
  reservations: [{ mac: '52:54:00:00:00:0C', address: '10.9.0.50' }],
});

function view(leases: Lease[], offers: Record<string, string> = {}): LeaseView {
  return {
    byAddress: (a) => leases.find((l) => l.address === a),
    byMac: (m) => leases.find((l) => l.mac === m && l.state !== 'declined'),
    offeredTo: (a) => offers[a],
  };
}
const lease = (address: string, mac: string, state: Lease['state'] = 'bound', expiresAt = NOW + 600): Lease => ({ address, mac, state, expiresAt, hostname: null });

test('the plan refuses ranges and reservations off the server\'s network, with the way out', () => {
  assert.throws(() => makeAddressPlan({ serverAddress: '10.9.0.1', subnetMask: '255.255.255.0', range: { first: '10.9.1.10', last: '10.9.1.20' } }), /not inside the server's subnet 10\.9\.0\.0/);
  assert.throws(() => makeAddressPlan({ serverAddress: '10.9.0.1', subnetMask: '255.255.255.0', range: { first: '10.9.0.20', last: '10.9.0.10' } }), /backwards/);
  assert.throws(() => makeAddressPlan({ serverAddress: '10.9.0.1', subnetMask: '255.0.255.0', range: { first: '10.9.0.10', last: '10.9.0.20' } }), /contiguous/);
  assert.throws(() => makeAddressPlan({ serverAddress: '10.9.0.1', subnetMask: '255.255.255.0', range: { first: '10.9.0.10', last: '10.9.0.20' }, reservations: [{ mac: A, address: '192.168.1.5' }] }), /outside the subnet/);
});

test('offer: reservation first, then the address the client held, then the requested one, then the lowest free', () => {
  assert.equal(chooseOfferAddress(plan, view([]), '52:54:00:00:00:0c', null, NOW), '10.9.0.50');
  assert.equal(chooseOfferAddress(plan, view([lease('10.9.0.102', A, 'released', NOW - 10)]), A, null, NOW), '10.9.0.102');
  assert.equal(chooseOfferAddress(plan, view([]), A, '10.9.0.103', NOW), '10.9.0.103');
  assert.equal(chooseOfferAddress(plan, view([]), A, '10.9.0.200', NOW), '10.9.0.100', 'a requested address outside the pool is not offered');
  assert.equal(chooseOfferAddress(plan, view([lease('10.9.0.100', B)]), A, null, NOW), '10.9.0.101');
});

test('offer: another client\'s live lease or pending offer is never offered; never-used addresses before expired ones', () => {
  const leases = [lease('10.9.0.100', B), lease('10.9.0.101', '52:54:00:00:00:0d', 'bound', NOW - 5)];
  assert.equal(chooseOfferAddress(plan, view(leases, { '10.9.0.102': B }), A, null, NOW), '10.9.0.103');
  assert.equal(chooseOfferAddress(plan, view([...leases, lease('10.9.0.103', B)], { '10.9.0.102': B }), A, null, NOW), '10.9.0.101', 'the expired lease is reused last');
});

test('offer: an exhausted pool yields no address', () => {
  const full = ['10.9.0.100', '10.9.0.101', '10.9.0.102', '10.9.0.103'].map((a, i) => lease(a, `52:54:00:00:01:0${i}`));
  assert.equal(chooseOfferAddress(plan, view(full), A, null, NOW), null);
});

test('offer: a declined address stays out of the pool until its quarantine ends', () => {
  const declined = [lease('10.9.0.100', A, 'declined', NOW + 300)];
  assert.equal(chooseOfferAddress(plan, view(declined), A, '10.9.0.100', NOW), '10.9.0.101');
  assert.equal(chooseOfferAddress(plan, view(declined), B, '10.9.0.100', NOW), '10.9.0.101', 'not even when asked for');
  assert.equal(chooseOfferAddress(plan, view(declined), B, '10.9.0.100', NOW + 301), '10.9.0.100', 'free again after the quarantine');
});

test('request in SELECTING: ACK our offer, ignore another server\'s, NAK an address not free for the client', () => {
  const v = view([lease('10.9.0.101', B)], { '10.9.0.100': A });
  assert.deepEqual(decideRequest(plan, v, { mac: A, serverId: '10.9.0.1', requested: '10.9.0.100', ciaddr: '0.0.0.0' }, NOW), { kind: 'ack', address: '10.9.0.100', state: 'selecting' });
  assert.deepEqual(decideRequest(plan, v, { mac: A, serverId: '10.9.0.254', requested: '10.9.0.100', ciaddr: '0.0.0.0' }, NOW), { kind: 'ignore', code: 'other-server', reason: 'client chose server 10.9.0.254', state: 'selecting' });
  assert.equal(decideRequest(plan, v, { mac: A, serverId: '10.9.0.1', requested: '10.9.0.101', ciaddr: '0.0.0.0' }, NOW).kind, 'nak');
  assert.equal(decideRequest(plan, v, { mac: B, serverId: '10.9.0.1', requested: '10.9.0.100', ciaddr: '0.0.0.0' }, NOW).kind, 'nak', 'offered to A');
});

test('request in INIT-REBOOT: NAK wrong network, another client\'s address, an address outside the pool; ACK the client\'s own', () => {
  const v = view([lease('10.9.0.100', A), lease('10.9.0.101', B)]);
  const ask = (mac: string, requested: string) => decideRequest(plan, v, { mac, serverId: null, requested, ciaddr: '0.0.0.0' }, NOW);
  assert.match((ask(A, '192.168.7.7') as { reason: string }).reason, /wrong network/);
  assert.equal(ask(A, '192.168.7.7').kind, 'nak');
  assert.match((ask(A, '10.9.0.101') as { reason: string }).reason, /leased to another client/);
  assert.match((ask(A, '10.9.0.50') as { reason: string }).reason, /reserved for/);
  assert.match((ask(A, '10.9.0.7') as { reason: string }).reason, /not in this server's pool/);
  assert.deepEqual(ask(A, '10.9.0.100'), { kind: 'ack', address: '10.9.0.100', state: 'init-reboot' });
  assert.match((ask(A, '10.9.0.103') as { reason: string }).reason, /client's lease is 10\.9\.0\.100/);
  assert.equal(ask('52:54:00:00:00:99', '10.9.0.103').kind, 'ignore', 'no record of the client: stay silent');
});

test('request while RENEWING: ACK the client\'s lease, even after it expired, NAK another\'s', () => {
  const v = view([lease('10.9.0.100', A, 'bound', NOW - 1), lease('10.9.0.101', B)]);
  assert.equal(decideRequest(plan, v, { mac: A, serverId: null, requested: null, ciaddr: '10.9.0.100' }, NOW).kind, 'ack');
  assert.equal(decideRequest(plan, v, { mac: A, serverId: null, requested: null, ciaddr: '10.9.0.101' }, NOW).kind, 'nak');
  assert.equal(decideRequest(plan, v, { mac: A, serverId: null, requested: null, ciaddr: '0.0.0.0' }, NOW).kind, 'ignore');
});

test('T1 and T2 are half and seven eighths of the lease', () => {
  assert.deepEqual(renewalTimes(3600), { t1: 1800, t2: 3150 });
});

test('lease store: the migration is idempotent and leases survive reopening the database', () => {
  const db = new Database(':memory:');
  migrateLeases(db);
  migrateLeases(db);
  const store = new LeaseStore(db);
  store.bind('10.9.0.100', A, NOW + 600, 'host-a');
  store.bind('10.9.0.101', B, NOW + 600, null);
  assert.equal(readLeases(db).length, 0, 'nothing is written before commit');
  store.commit(NOW);
  const again = new LeaseStore(db);
  assert.equal(again.byMac(A)?.address, '10.9.0.100');
  assert.equal(again.byAddress('10.9.0.101')?.mac, B);
  assert.equal(again.active(NOW).length, 2);
  assert.equal(again.active(NOW + 601).length, 0, 'expired leases are not active');
});

test('lease store: release frees the address but remembers the client; decline quarantines', () => {
  const db = new Database(':memory:');
  const store = new LeaseStore(db);
  store.bind('10.9.0.100', A, NOW + 600, null);
  store.bind('10.9.0.101', B, NOW + 600, null);
  store.release('10.9.0.100', NOW);
  store.quarantine('10.9.0.101', B, NOW + 300);
  store.commit(NOW);
  const rows = Object.fromEntries(readLeases(db).map((l) => [l.address, l]));
  assert.equal(rows['10.9.0.100']!.state, 'released');
  assert.equal(rows['10.9.0.101']!.state, 'declined');
  const reopened = new LeaseStore(db);
  assert.deepEqual(reopened.active(NOW), []);
  assert.equal(chooseOfferAddress(plan, reopened, A, null, NOW), '10.9.0.100', 'the releasing client gets its address back');
  assert.equal(chooseOfferAddress(plan, reopened, B, null, NOW), '10.9.0.102', 'the declined address is not offered, not even to the decliner');
});

test('lease store: binding a client to a new address releases its old one', () => {
  const store = new LeaseStore(new Database(':memory:'));
  store.bind('10.9.0.100', A, NOW + 600, null);
  store.bind('10.9.0.102', A, NOW + 600, null);
  assert.equal(store.byAddress('10.9.0.100')?.state, 'released');
  assert.deepEqual(store.active(NOW).map((l) => l.address), ['10.9.0.102']);
});
