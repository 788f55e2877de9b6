import { LifeboatError } from '../../core/errors.js';
import { formatIpv4, parseIpv4 } from '../ipv4.js';
import { normalizeMac } from '../state/mac.js';

/**
 * The pure part of full mode: which addresses exist, which one to offer, and whether a REQUEST is
 * ACKed, NAKed or left unanswered (RFC 2131 §4.3). No clock, no database, no sockets: callers pass
 * the lease lookups and "now", so every decision is testable on its own.
 */

export type LeaseState = 'bound' | 'released' | 'declined';

export interface Lease {
  address: string;
  mac: string;
  state: LeaseState;
  /** Unix seconds: end of the lease, or for a declined address the end of its quarantine. */
  expiresAt: number;
  hostname: string | null;
}

export interface AddressPlan {
  serverAddress: number;
  mask: number;
  network: number;
  first: number;
  last: number;
  /** mac → address */
  reservationByMac: Map<string, number>;
  /** address → mac */
  reservationByAddress: Map<number, string>;
}

function maskIsContiguous(mask: number): boolean {
  const inverted = ~mask >>> 0;
  return (inverted & (inverted + 1)) === 0;
}

export interface AddressPlanInput {
  serverAddress: string;
  subnetMask: string;
  range: { first: string; last: string };
  reservations?: Array<{ mac: string; address: string }>;
}

/** Validates the operator's pool settings; errors say which setting is wrong and how to fix it. */
export function makeAddressPlan(input: AddressPlanInput): AddressPlan {
  const serverAddress = parseIpv4(input.serverAddress);
  const mask = parseIpv4(input.subnetMask);
  if (!maskIsContiguous(mask) || mask === 0) {
    throw new LifeboatError('LB_USAGE', `subnet mask ${input.subnetMask} is not a contiguous netmask: use e.g. 255.255.255.0`);
  }
  const network = (serverAddress & mask) >>> 0;
  const broadcast = (network | (~mask >>> 0)) >>> 0;
  const inSubnet = (n: number) => ((n & mask) >>> 0) === network && n !== network && n !== broadcast;
  const first = parseIpv4(input.range.first);
  const last = parseIpv4(input.range.last);
  const subnet = `${formatIpv4(network)}/${input.subnetMask}`;
  if (first > last) throw new LifeboatError('LB_USAGE', `DHCP range ${input.range.first}-${input.range.last} is backwards: give the lower address first`);
  if (!inSubnet(first) || !inSubnet(last)) {
    throw new LifeboatError('LB_USAGE', `DHCP range ${input.range.first}-${input.range.last} is not inside the server's subnet ${subnet}: pick a range on the interface's network`);
  }
  const reservationByMac = new Map<string, number>();
  const reservationByAddress = new Map<number, string>();
  for (const r of input.reservations ?? []) {
    const mac = normalizeMac(r.mac);
    const address = parseIpv4(r.address);
    if (!inSubnet(address)) throw new LifeboatError('LB_USAGE', `reservation ${r.mac} → ${r.address} is outside the subnet ${subnet}: reserve an address on the interface's network`);
    if (address === serverAddress) throw new LifeboatError('LB_USAGE', `reservation ${r.mac} → ${r.address} is the server's own address: reserve another`);
    const other = reservationByAddress.get(address);
    if (other && other !== mac) throw new LifeboatError('LB_USAGE', `address ${r.address} is reserved twice (${other} and ${mac}): keep one reservation per address`);
    reservationByMac.set(mac, address);
    reservationByAddress.set(address, mac);
  }
  return { serverAddress, mask, network, first, last, reservationByMac, reservationByAddress };
}

export function inSubnet(plan: AddressPlan, address: number): boolean {
  const broadcast = (plan.network | (~plan.mask >>> 0)) >>> 0;
  return ((address & plan.mask) >>> 0) === plan.network && address !== plan.network && address !== broadcast;
}

export function inPool(plan: AddressPlan, address: number): boolean {
  return address >= plan.first && address <= plan.last && address !== plan.serverAddress;
}

/** Whether an address with this lease record may be given to `mac` now. */
export function isFreeFor(lease: Lease | undefined, mac: string, now: number): boolean {
  if (!lease) return true;
  if (lease.state === 'declined') return lease.expiresAt <= now;
  if (lease.mac === mac) return true;
  return lease.state === 'released' || lease.expiresAt <= now;
}

export interface LeaseView {
  byAddress(address: string): Lease | undefined;
  byMac(mac: string): Lease | undefined;
  /** An address offered to another client a moment ago and not yet requested. */
  offeredTo(address: string): string | undefined;
}

function availableFor(plan: AddressPlan, view: LeaseView, mac: string, address: number, now: number): boolean {
  const reservedFor = plan.reservationByAddress.get(address);
  if (reservedFor !== undefined) return reservedFor === mac;
  if (!inPool(plan, address)) return false;
  const ip = formatIpv4(address);
  const heldBy = view.offeredTo(ip);
  if (heldBy !== undefined && heldBy !== mac) return false;
  return isFreeFor(view.byAddress(ip), mac, now);
}

/**
 * The address to OFFER (RFC 2131 §4.3.1): the client's reservation, else the address it held
 * before, else the one it asks for, else the first never-used address, else the longest-expired
 * one. Null when the pool is exhausted.
 */
export function chooseOfferAddress(plan: AddressPlan, view: LeaseView, mac: string, requested: string | null, now: number): string | null {
  const reserved = plan.reservationByMac.get(mac);
  if (reserved !== undefined) {
    const lease = view.byAddress(formatIpv4(reserved));
    return lease?.state === 'declined' && lease.expiresAt > now ? null : formatIpv4(reserved);
  }
  const previous = view.byMac(mac);
  if (previous && previous.state !== 'declined' && availableFor(plan, view, mac, parseIpv4(previous.address), now)) return previous.address;
  if (requested !== null) {
    const r = safeIpToInt(requested);
    if (r !== null && availableFor(plan, view, mac, r, now)) return requested;
  }
  let oldest: { ip: string; expiresAt: number } | null = null;
  for (let a = plan.first; a <= plan.last; a++) {
    if (a === plan.serverAddress || plan.reservationByAddress.has(a)) continue;
    const ip = formatIpv4(a);
    const held = view.offeredTo(ip);
    if (held !== undefined && held !== mac) continue;
    const lease = view.byAddress(ip);
    if (!lease) return ip;
    if (isFreeFor(lease, mac, now) && (!oldest || lease.expiresAt < oldest.expiresAt)) oldest = { ip, expiresAt: lease.expiresAt };
  }
  return oldest?.ip ?? null;
}

function safeIpToInt(ip: string): number | null {
  try {
    return parseIpv4(ip);
  } catch {
    return null;
  }
}

export type RequestState = 'selecting' | 'init-reboot' | 'renewing' | 'unknown';

/** What a REQUEST's reason names besides the code: the address asked about and whoever else is involved. */
interface ReasonDetail {
  address: string;
  /** Another server, the client holding the address, the client's own lease, or this server's network. */
  other: string;
}

/**
 * Why a REQUEST is NAKed or left unanswered: a closed set. Each code has its answer and its words
 * (the log line, and for a NAK the message option the client sees).
 */
export const REQUEST_REASONS = {
  'other-server': { answer: 'ignore', text: (d: ReasonDetail) => `client chose server ${d.other}` },
  'no-requested-address': { answer: 'nak', text: () => 'REQUEST in SELECTING state names no requested address' },
  'requested-off-network': { answer: 'nak', text: (d: ReasonDetail) => `requested address ${d.address} is not on this network` },
  'requested-not-free': { answer: 'nak', text: (d: ReasonDetail) => `requested address ${d.address} is not free for this client` },
  'no-client-state': { answer: 'ignore', text: () => 'REQUEST names no server, no requested address and no ciaddr' },
  'wrong-network': { answer: 'nak', text: (d: ReasonDetail) => `address ${d.address} is on the wrong network (this server serves ${d.other})` },
  'reserved-for-other': { answer: 'nak', text: (d: ReasonDetail) => `address ${d.address} is reserved for ${d.other}` },
  'leased-to-other': { answer: 'nak', text: (d: ReasonDetail) => `address ${d.address} is leased to another client` },
  'not-in-pool': { answer: 'nak', text: (d: ReasonDetail) => `address ${d.address} is not in this server's pool` },
  'declined-earlier': { answer: 'nak', text: (d: ReasonDetail) => `client declined ${d.address} earlier` },
  'offered-to-other': { answer: 'nak', text: (d: ReasonDetail) => `address ${d.address} was offered to another client` },
  'holds-other-lease': { answer: 'nak', text: (d: ReasonDetail) => `client's lease is ${d.other}, not ${d.address}` },
  'no-record': { answer: 'ignore', text: (d: ReasonDetail) => `no record of this client for ${d.address} (RFC 2131 §4.3.2: stay silent)` },
} as const;
export type RequestReason = keyof typeof REQUEST_REASONS;

export type RequestDecision =
  | { kind: 'ack'; address: string; state: RequestState }
  | { kind: 'nak'; code: RequestReason; reason: string; state: RequestState }
  | { kind: 'ignore'; code: RequestReason; reason: string; state: RequestState };

function refusal(code: RequestReason, state: RequestState, address = '', other = ''): RequestDecision {
  const entry = REQUEST_REASONS[code];
  return { kind: entry.answer, code, reason: entry.text({ address, other }), state } as RequestDecision;
}

export interface RequestFacts {
  mac: string;
  serverId: string | null;
  requested: string | null;
  ciaddr: string;
}

/**
 * RFC 2131 §4.3.2. SELECTING (server id present): ACK our offer, or stay quiet when the client
 * chose another server. INIT-REBOOT (requested address, no server id) and RENEWING/REBINDING
 * (ciaddr): NAK a wrong network, another client's address or an address outside this server's
 * pool; stay silent when this server has no record of the client, so that two servers on one wire
 * do not fight.
 */
export function decideRequest(plan: AddressPlan, view: LeaseView, facts: RequestFacts, now: number): RequestDecision {
  const ours = formatIpv4(plan.serverAddress);
  const { mac } = facts;
  if (facts.serverId !== null) {
    const state = 'selecting';
    if (facts.serverId !== ours) return refusal('other-server', state, '', facts.serverId);
    if (facts.requested === null) return refusal('no-requested-address', state);
    const r = safeIpToInt(facts.requested);
    if (r === null || !inSubnet(plan, r)) return refusal('requested-off-network', state, facts.requested);
    if (!availableFor(plan, view, mac, r, now)) return refusal('requested-not-free', state, facts.requested);
    return { kind: 'ack', address: facts.requested, state };
  }
  const state: RequestState = facts.requested !== null ? 'init-reboot' : facts.ciaddr !== '0.0.0.0' ? 'renewing' : 'unknown';
  if (state === 'unknown') return refusal('no-client-state', state);
  const address = state === 'init-reboot' ? facts.requested! : facts.ciaddr;
  const a = safeIpToInt(address);
  if (a === null || !inSubnet(plan, a)) return refusal('wrong-network', state, address, `${formatIpv4(plan.network)}/${formatIpv4(plan.mask)}`);
  const reservedFor = plan.reservationByAddress.get(a);
  if (reservedFor !== undefined && reservedFor !== mac) return refusal('reserved-for-other', state, address, reservedFor);
  const lease = view.byAddress(address);
  if (lease && lease.mac !== mac && !isFreeFor(lease, mac, now)) return refusal('leased-to-other', state, address);
  if (reservedFor === mac) return { kind: 'ack', address, state };
  if (!inPool(plan, a)) return refusal('not-in-pool', state, address);
  if (lease && lease.mac === mac) {
    if (lease.state === 'declined') return refusal('declined-earlier', state, address);
    if (!availableFor(plan, view, mac, a, now)) return refusal('offered-to-other', state, address);
    return { kind: 'ack', address, state };
  }
  const own = view.byMac(mac);
  if (own && own.state === 'bound' && own.expiresAt > now) return refusal('holds-other-lease', state, address, own.address);
  return refusal('no-record', state, address);
}

/** T1 and T2 as RFC 2131 §4.4.5 suggests: half and seven eighths of the lease. */
export function renewalTimes(leaseSeconds: number): { t1: number; t2: number } {
  return { t1: Math.floor(leaseSeconds * 0.5), t2: Math.floor(leaseSeconds * 0.875) };
}
