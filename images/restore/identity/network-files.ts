/**
 * The static IPv4 address in each network configuration format a Linux distribution keeps
 * (ifupdown, netplan, NetworkManager keyfiles, systemd-networkd, ifcfg), found and rewritten line
 * by line, so comments, order and everything else in the file stay as the source had them.
 */

const IPV4 = String.raw`(?:25[0-5]|2[0-4]\d|1?\d?\d)(?:\.(?:25[0-5]|2[0-4]\d|1?\d?\d)){3}`;
const CIDR = new RegExp(String.raw`(?<![\d.])${IPV4}/\d{1,2}(?![\d.])`, 'g');
const PLAIN = new RegExp(String.raw`(?<![\d.])${IPV4}(?![\d./])`);

export type NetworkFormat = 'ifupdown' | 'netplan' | 'keyfile' | 'networkd' | 'ifcfg';

export function formatOf(path: string): NetworkFormat {
  if (path.startsWith('/etc/network/')) return 'ifupdown';
  if (path.startsWith('/etc/netplan/')) return 'netplan';
  if (path.startsWith('/etc/NetworkManager/')) return 'keyfile';
  if (path.startsWith('/etc/systemd/network/')) return 'networkd';
  return 'ifcfg';
}

/** The static addresses a file configures, as written ("10.0.0.5/24", or "10.0.0.5" for ifcfg/ifupdown). */
export function findStaticAddresses(path: string, text: string): string[] {
  const lines = text.split('\n').map((l) => l.replace(/#.*$/, '').trimEnd());
  switch (formatOf(path)) {
    case 'ifupdown':
      return ifupdownStatic(lines);
    case 'netplan':
      return netplanAddresses(lines);
    case 'keyfile':
      return keyfileAddresses(text);
    case 'networkd':
      return lines.flatMap((l) => (/^\s*Address\s*=/i.test(l) ? (l.match(CIDR) ?? []) : []));
    case 'ifcfg': {
      const vars = shellVars(lines);
      const proto = (vars.get('BOOTPROTO') ?? 'none').toLowerCase();
      if (proto !== 'none' && proto !== 'static') return [];
      return [...vars].filter(([k, v]) => /^IPADDR\d*$/.test(k) && PLAIN.test(v)).map(([, v]) => v);
    }
  }
}

function ifupdownStatic(lines: string[]): string[] {
  const found: string[] = [];
  let inStatic = false;
  for (const line of lines) {
    const stanza = /^\s*(iface|auto|allow-\S+|mapping|source|source-directory)\b(.*)$/.exec(line);
    if (stanza) inStatic = stanza[1] === 'iface' && /\binet\s+static\b/.test(stanza[2]!);
    const address = /^\s*address\s+(\S+)/.exec(line);
    if (inStatic && address && (CIDR.test(address[1]!) || PLAIN.test(address[1]!))) found.push(address[1]!);
    CIDR.lastIndex = 0;
  }
  return found;
}

/** Addresses with a prefix under an `addresses` key; nameservers' addresses carry none. */
function netplanAddresses(lines: string[]): string[] {
  const found: string[] = [];
  let listIndent = -1;
  for (const line of lines) {
    const indent = line.length - line.trimStart().length;
    const key = /^\s*addresses\s*:\s*(.*)$/.exec(line);
    if (key) {
      found.push(...(key[1]!.match(CIDR) ?? []));
      listIndent = key[1]!.trim() === '' ? indent : -1;
      continue;
    }
    if (listIndent >= 0 && /^\s*-\s/.test(line) && indent >= listIndent) found.push(...(line.match(CIDR) ?? []));
    else if (line.trim() !== '' && indent <= listIndent) listIndent = -1;
  }
  return found;
}

function keyfileAddresses(text: string): string[] {
  const ipv4 = /^\[ipv4\]\s*$([\s\S]*?)(?=^\[|(?![\s\S]))/m.exec(text)?.[1] ?? '';
  if (!/^method\s*=\s*manual\s*$/m.test(ipv4)) return [];
  return [...ipv4.matchAll(/^address(?:es)?\d*\s*=\s*([^,;\s]+)/gm)].map((m) => m[1]!);
}

function shellVars(lines: string[]): Map<string, string> {
  const vars = new Map<string, string>();
  for (const line of lines) {
    const m = /^\s*([A-Z_][A-Z0-9_]*)=(["']?)(.*)\2\s*$/.exec(line);
    if (m) vars.set(m[1]!, m[3]!);
  }
  return vars;
}

function prefixToNetmask(prefix: number): string {
  const bits = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return [24, 16, 8, 0].map((s) => (bits >>> s) & 255).join('.');
}

/**
 * `oldAddress` (no prefix) replaced by `spec` ("10.0.0.7" keeps each place's prefix, "10.0.0.7/16"
 * sets it) wherever the file names it, and the prefix's other spellings (ifcfg PREFIX/NETMASK,
 * ifupdown netmask) with it when the prefix changes.
 */
export function rewriteAddress(path: string, text: string, oldAddress: string, spec: string): string {
  const [address, prefix] = spec.split('/') as [string, string | undefined];
  const escaped = oldAddress.replaceAll('.', '\\.');
  const format = formatOf(path);
  let out = text.replace(new RegExp(String.raw`(?<![\d.])${escaped}(/\d{1,2})?(?![\d.])`, 'g'), (_, oldPrefix: string | undefined) =>
    oldPrefix === undefined ? address : `${address}/${prefix ?? oldPrefix.slice(1)}`,
  );
  if (prefix === undefined) return out;
  if (format === 'ifcfg') {
    out = out.replace(/^(\s*PREFIX\d*=)(["']?)\d+\2/gm, `$1$2${prefix}$2`).replace(/^(\s*NETMASK\d*=)(["']?)[\d.]+\2/gm, `$1$2${prefixToNetmask(Number(prefix))}$2`);
  } else if (format === 'ifupdown') {
    out = out.replace(/^(\s+netmask\s+)[\d.]+/gm, `$1${prefixToNetmask(Number(prefix))}`);
  }
  return out;
}

/** The file without the lines that bind it to the source's NIC by MAC address (ifcfg HWADDR, keyfile mac-address). */
export function unpinMac(path: string, text: string): string {
  const format = formatOf(path);
  if (format === 'ifcfg') return text.replace(/^\s*HWADDR=.*\n?/gm, '');
  if (format === 'keyfile') return text.replace(/^mac-address=.*\n?/gm, '');
  return text;
}
