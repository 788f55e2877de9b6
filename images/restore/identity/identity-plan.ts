import { LifeboatError } from '../../../core/errors.js';
import { findStaticAddresses, rewriteAddress, unpinMac } from './network-files.js';

/**
 * What makes a clone its own machine, decided from the restored tree's files alone (pure, so every
 * distribution's shape is a unit test): a hostname where the OS keeps one, a new machine-id, no
 * DHCP identity or SSH host key carried over from the source, and a static address rewritten
 * where the source had one. The facts behind each rule are in shared/notes/clone-and-media-facts.md.
 */

/** The files of the restored tree that identity touches, by absolute path inside the tree. */
export type TreeSnapshot = ReadonlyMap<string, TreeFile>;

export interface TreeFile {
  /** The text, or null for what is not worth reading (a binary lease, a key). */
  text: string | null;
  mode: number;
}

export interface CloneIdentity {
  hostname?: string;
  /** A static IPv4 address, with /prefix to change the prefix too. */
  ipv4?: string;
  /** 32 lowercase hex digits. */
  machineId: string;
}

export type IdentityChange =
  | { kind: 'write'; path: string; text: string; mode: number; why: string }
  | { kind: 'delete'; path: string; why: string }
  | { kind: 'ssh-host-keys'; why: string };

export interface IdentityPlan {
  changes: IdentityChange[];
  /** What was looked at and left, for identity.txt ("no static address: --ip not used"). */
  notes: string[];
}

/** Where a clone's identity may live: fixed files, and the folders whose files are all candidates. */
export const IDENTITY_FILES = [
  '/etc/hostname', '/etc/hosts', '/etc/sysconfig/network', '/etc/machine-id', '/var/lib/dbus/machine-id',
  '/var/lib/systemd/random-seed', '/etc/udev/rules.d/70-persistent-net.rules', '/etc/network/interfaces',
  '/var/lib/NetworkManager/secret_key', '/etc/dhcpcd.duid', '/var/lib/dhcpcd/duid',
];
export const IDENTITY_DIRS = [
  '/etc/network/interfaces.d', '/etc/netplan', '/etc/NetworkManager/system-connections', '/etc/systemd/network',
  '/etc/sysconfig/network-scripts', '/etc/ssh', '/var/lib/dhcp', '/var/lib/dhclient', '/var/lib/NetworkManager', '/var/lib/dhcpcd',
];

const HOSTNAME = /^(?=.{1,64}$)[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/;

export function checkHostname(name: string): void {
  if (!HOSTNAME.test(name)) {
    throw new LifeboatError('LB_INVALID', `hostname "${name.slice(0, 80)}" is not a valid host name: letters, digits and '-' in dot-separated labels, at most 64 characters (hostname(5))`);
  }
}

const inDir = (path: string, dir: string) => path.startsWith(`${dir}/`) && !path.slice(dir.length + 1).includes('/');
const isNetworkConfig = (path: string) =>
  path === '/etc/network/interfaces' || inDir(path, '/etc/network/interfaces.d') || (inDir(path, '/etc/netplan') && /\.ya?ml$/.test(path)) ||
  inDir(path, '/etc/NetworkManager/system-connections') || (inDir(path, '/etc/systemd/network') && path.endsWith('.network')) ||
  (inDir(path, '/etc/sysconfig/network-scripts') && /\/ifcfg-[^/]+$/.test(path) && !path.endsWith('ifcfg-lo'));

export function planIdentity(tree: TreeSnapshot, identity: CloneIdentity): IdentityPlan {
  if (!/^[0-9a-f]{32}$/.test(identity.machineId)) throw new LifeboatError('LB_INTERNAL', `machine-id "${identity.machineId}" is not 32 hex digits`);
  if (identity.hostname !== undefined) checkHostname(identity.hostname);
  const changes: IdentityChange[] = [];
  const notes: string[] = [];
  const pending = new Map<string, { text: string; mode: number; why: string[] }>();
  const edit = (path: string, text: string, why: string) => {
    const file = tree.get(path) ?? { text: '', mode: 0o644 };
    const entry = pending.get(path) ?? { text: file.text ?? '', mode: file.mode, why: [] };
    if (entry.text === text) return;
    entry.text = text;
    entry.why.push(why);
    pending.set(path, entry);
  };
  const current = (path: string) => pending.get(path)?.text ?? tree.get(path)?.text ?? null;

  if (identity.hostname !== undefined) planHostname(tree, identity.hostname, current, edit);
  planMachineId(tree, identity.machineId, changes);
  for (const path of tree.keys()) {
    const why = staleState(path);
    if (why) changes.push({ kind: 'delete', path, why });
  }
  const hostKeys = [...tree.keys()].filter((p) => /^\/etc\/ssh\/ssh_host_[a-z0-9]+_key(\.pub)?$/.test(p));
  for (const path of hostKeys) changes.push({ kind: 'delete', path, why: 'the source machine\'s SSH host key' });
  if (hostKeys.length > 0) changes.push({ kind: 'ssh-host-keys', why: 'new SSH host keys of every type (ssh-keygen -A), so no two clones share one' });
  else notes.push('no SSH host keys in the image: none generated');

  const configs = [...tree.keys()].filter(isNetworkConfig).sort();
  planNetwork(configs, identity.ipv4, current, edit, notes);
  for (const [path, entry] of pending) changes.push({ kind: 'write', path, text: entry.text, mode: entry.mode, why: entry.why.join('; ') });
  return { changes, notes };
}

type Edit = (path: string, text: string, why: string) => void;
type Current = (path: string) => string | null;

function planHostname(tree: TreeSnapshot, name: string, current: Current, edit: Edit): void {
  const old = (current('/etc/hostname') ?? '').split('\n')[0]!.trim();
  const short = name.split('.')[0]!;
  edit('/etc/hostname', `${name}\n`, tree.has('/etc/hostname') ? `hostname ${old || '(empty)'} → ${name}` : `hostname ${name} (the image had no /etc/hostname)`);
  const hosts = current('/etc/hosts');
  if (hosts !== null) {
    const oldShort = old.split('.')[0]!;
    let found = false;
    const lines = hosts.split('\n').map((line) => {
      const [fields, comment] = splitComment(line);
      const parts = fields.trim().split(/\s+/);
      if (parts.length < 2 || !old) return line;
      const names = parts.slice(1).map((n) => (n === old ? name : n === oldShort ? short : n.startsWith(`${oldShort}.`) ? `${short}${n.slice(oldShort.length)}` : n));
      if (names.join(' ') === parts.slice(1).join(' ')) return line;
      found = true;
      return `${parts[0]}\t${names.join(' ')}${comment}`;
    });
    if (!found) lines.splice(lines[lines.length - 1] === '' ? lines.length - 1 : lines.length, 0, `127.0.1.1\t${name === short ? name : `${name} ${short}`}`);
    edit('/etc/hosts', lines.join('\n'), found ? `the source's name ${old} → ${name}` : `127.0.1.1 ${name} added`);
  }
  const sysconfig = current('/etc/sysconfig/network');
  if (sysconfig !== null && /^HOSTNAME=/m.test(sysconfig)) edit('/etc/sysconfig/network', sysconfig.replace(/^HOSTNAME=.*$/m, `HOSTNAME=${name}`), `HOSTNAME=${name}`);
  for (const [path] of tree) {
    const text = current(path);
    if (inDir(path, '/etc/NetworkManager/system-connections') && text && /^dhcp-hostname=/m.test(text)) {
      edit(path, text.replace(/^dhcp-hostname=.*$/gm, `dhcp-hostname=${short}`), `dhcp-hostname=${short}`);
    }
  }
}

function splitComment(line: string): [string, string] {
  const i = line.indexOf('#');
  return i === -1 ? [line, ''] : [line.slice(0, i), ` ${line.slice(i)}`];
}

function planMachineId(tree: TreeSnapshot, id: string, changes: IdentityChange[]): void {
  changes.push({ kind: 'write', path: '/etc/machine-id', text: `${id}\n`, mode: tree.get('/etc/machine-id')?.mode ?? 0o444, why: 'a new machine-id (networkd and NetworkManager derive their DHCP client id from it)' });
  // libdbus reads its own copy first: a leftover one brings the source's id back (machine-id(5)).
  const dbus = tree.get('/var/lib/dbus/machine-id');
  if (dbus) changes.push({ kind: 'write', path: '/var/lib/dbus/machine-id', text: `${id}\n`, mode: dbus.mode, why: 'the same new machine-id for D-Bus' });
}

/** Why a file is the source's state that a clone must not inherit, or null. */
function staleState(path: string): string | null {
  if (path === '/var/lib/systemd/random-seed') return 'the source\'s random seed (systemd-random-seed.service(8): never replicate it)';
  if (path === '/etc/udev/rules.d/70-persistent-net.rules') return 'names NICs by the source\'s MAC addresses';
  if (path === '/var/lib/NetworkManager/secret_key') return 'NetworkManager\'s host identity, from which its DHCP ids derive';
  if (path === '/etc/dhcpcd.duid' || path === '/var/lib/dhcpcd/duid') return 'dhcpcd\'s DUID';
  if ((inDir(path, '/var/lib/dhcp') || inDir(path, '/var/lib/dhclient') || inDir(path, '/var/lib/NetworkManager') || inDir(path, '/var/lib/dhcpcd')) && /\.lease[s]?$/.test(path)) {
    return 'a DHCP lease of the source (dhclient keeps its DUID there)';
  }
  return null;
}

function planNetwork(configs: string[], ipv4: string | undefined, current: Current, edit: Edit, notes: string[]): void {
  for (const path of configs) {
    const text = current(path)!;
    const unpinned = unpinMac(path, text);
    if (unpinned !== text) edit(path, unpinned, 'no longer pinned to the source\'s MAC address');
  }
  const found = configs.flatMap((path) => findStaticAddresses(path, current(path)!).map((address) => ({ path, address })));
  const distinct = [...new Set(found.map((f) => f.address.split('/')[0]!))];
  if (ipv4 === undefined) {
    if (distinct.length > 0) notes.push(`static address ${distinct.join(', ')} kept (no --ip given)`);
    return;
  }
  if (distinct.length === 0) {
    notes.push(`no static IPv4 address is configured (${configs.length ? configs.join(', ') : 'no network configuration found'}): the clone keeps using DHCP; --ip ${ipv4} not used`);
    return;
  }
  if (distinct.length > 1) {
    throw new LifeboatError('LB_INVALID', `--ip ${ipv4}: the image configures ${distinct.length} static addresses (${found.map((f) => `${f.address.split('/')[0]} in ${f.path}`).join(', ')}); --ip can replace only one`);
  }
  for (const path of new Set(found.map((f) => f.path))) {
    edit(path, rewriteAddress(path, current(path)!, distinct[0]!, ipv4), `static address ${distinct[0]} → ${ipv4.split('/')[0]}`);
  }
}
