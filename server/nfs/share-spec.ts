import { isIPv4 } from 'node:net';
import { posix } from 'node:path';
import { LifeboatError } from '../../core/errors.js';

/**
 * The typed description of an NFS share: which directories, where in the NFSv4 namespace, for whom.
 * Both renderers (ganesha config, kernel exports file) read only this, so the two servers cannot
 * drift apart on who may read or write what.
 */
export interface NfsExport {
  /** Directory on the server, absolute. */
  path: string;
  /** Where the export appears in the NFSv4 namespace (ganesha); the kernel server serves `path`. */
  pseudo: string;
  /** 'ro' for the image store that restores read; 'rw' for the area captures write into. */
  access: 'ro' | 'rw';
  /**
   * 'none' (default): root on an allowed client stays root. 'root': root becomes nobody.
   * The default is 'none' because the image files are root-owned with mode 0600 and the rescue
   * agent runs as root: with root squashed a restore cannot read its own image.
   */
  squash?: 'none' | 'root' | 'all';
  /**
   * Who may mount this export, overriding the share's `clients`: a backup client's export is open
   * to its one address and to nobody else on the test bed.
   */
  clients?: string[];
  /**
   * Ganesha's Export_Id (default: the position in the list, from 1). An export added or removed
   * while the server runs must keep the others' ids: a reload matches exports by id and refuses
   * one whose path changed.
   */
  id?: number;
  /** With squash 'all': the server-side uid and gid every request of the client runs as. */
  anonUid?: number;
  anonGid?: number;
}

export interface NfsShareSpec {
  /** IPv4 address the server listens on; it must already be on an interface. */
  bindAddress: string;
  /** Clients allowed, as IPv4 CIDRs (10.77.0.0/24) or single addresses; everyone else is refused. */
  clients: string[];
  exports: NfsExport[];
}

function invalid(message: string, details: Record<string, unknown> = {}): LifeboatError {
  return new LifeboatError('LB_INVALID', message, details);
}

/** Characters that neither ganesha's quoted strings nor exports(5) carry without escapes we avoid. */
const UNSAFE_PATH = /["\\\u0000-\u001f\u007f]/;

function isId(n: number | undefined): boolean {
  return n !== undefined && Number.isInteger(n) && n > 0 && n < 2 ** 31;
}

/** Every address any export admits: the NFSv4 root must let each of them walk to its own export. */
export function allClients(spec: NfsShareSpec): string[] {
  return [...new Set([...spec.clients, ...spec.exports.flatMap((e) => e.clients ?? [])])];
}

export function isIpv4Cidr(text: string): boolean {
  const [addr, bits, ...rest] = text.split('/');
  if (rest.length > 0 || addr === undefined || !isIPv4(addr)) return false;
  if (bits === undefined) return true;
  return /^\d{1,2}$/.test(bits) && Number(bits) <= 32;
}

/** Checks a share description and returns it with defaults filled in, or throws LB_INVALID naming the field. */
export function validateShareSpec(spec: NfsShareSpec): NfsShareSpec {
  if (!isIPv4(spec.bindAddress)) {
    throw invalid(`NFS bind address '${spec.bindAddress}' is not an IPv4 address: give the test-bed address of this server (e.g. 10.77.0.1)`);
  }
  if (spec.bindAddress === '0.0.0.0') {
    throw invalid('NFS bind address 0.0.0.0 would listen on every network: give the test-bed address of this server');
  }
  if (spec.clients.length === 0) {
    throw invalid('NFS share has no allowed clients: give the test-bed subnet as a CIDR (e.g. 10.77.0.0/24)');
  }
  for (const c of spec.clients) {
    if (!isIpv4Cidr(c)) throw invalid(`NFS client '${c}' is not an IPv4 CIDR or address: write it as 10.77.0.0/24`, { client: c });
  }
  if (spec.exports.length === 0) throw invalid('NFS share has no exports: give at least the image store');
  // Nested pseudo paths are refused: ganesha would need the inner one's directory to exist inside
  // the outer export, and the kernel server has no pseudo namespace at all.
  const pseudos: string[] = [];
  const ids = new Set<number>();
  const exports = spec.exports.map((e, i) => {
    const id = e.id ?? i + 1;
    if (!Number.isInteger(id) || id < 1 || id > 65535 || ids.has(id)) throw invalid(`NFS export ${e.pseudo}: export id ${id} is not a free whole number from 1 to 65535`, { pseudo: e.pseudo });
    ids.add(id);
    if (!posix.isAbsolute(e.path) || UNSAFE_PATH.test(e.path)) {
      throw invalid(`NFS export path '${e.path}' must be an absolute path without quotes, backslashes or control characters`, { path: e.path });
    }
    if (!/^(\/[\w.@+-]+)+$/.test(e.pseudo)) {
      throw invalid(`NFS pseudo path '${e.pseudo}' must look like /store or /captures/new (letters, digits, . _ - @ +), and cannot be / itself`, { pseudo: e.pseudo });
    }
    if (e.access !== 'ro' && e.access !== 'rw') throw invalid(`NFS export ${e.pseudo}: access must be 'ro' or 'rw', not '${String(e.access)}'`);
    const squash = e.squash ?? 'none';
    if (squash !== 'none' && squash !== 'root' && squash !== 'all') throw invalid(`NFS export ${e.pseudo}: squash must be 'none', 'root' or 'all', not '${String(squash)}'`);
    if (squash === 'all' && (!isId(e.anonUid) || !isId(e.anonGid))) {
      throw invalid(`NFS export ${e.pseudo}: squash 'all' needs the uid and gid the client's requests run as (positive integers below 2^31)`, { pseudo: e.pseudo });
    }
    const clients = e.clients ?? spec.clients;
    if (clients.length === 0) throw invalid(`NFS export ${e.pseudo} has no allowed clients`, { pseudo: e.pseudo });
    for (const c of clients) {
      if (!isIpv4Cidr(c)) throw invalid(`NFS client '${c}' of export ${e.pseudo} is not an IPv4 CIDR or address: write it as 10.77.0.5 or 10.77.0.0/24`, { client: c });
    }
    for (const other of pseudos) {
      if (other === e.pseudo) throw invalid(`NFS pseudo path ${e.pseudo} is given twice: give each export its own`, { pseudo: e.pseudo });
      if (e.pseudo.startsWith(`${other}/`) || other.startsWith(`${e.pseudo}/`)) {
        throw invalid(`NFS pseudo paths ${other} and ${e.pseudo} nest: give each export its own top-level path`, { pseudo: e.pseudo });
      }
    }
    pseudos.push(e.pseudo);
    return {
      path: posix.normalize(e.path),
      pseudo: e.pseudo,
      access: e.access,
      squash,
      id,
      ...(e.clients ? { clients: [...e.clients] } : {}),
      ...(squash === 'all' ? { anonUid: e.anonUid!, anonGid: e.anonGid! } : {}),
    };
  });
  return { bindAddress: spec.bindAddress, clients: [...spec.clients], exports };
}
