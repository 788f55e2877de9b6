import { LifeboatError } from '../../core/errors.js';

/**
 * A streaming reader of the tar streams Lifeboat writes (POSIX/pax, with GNU sparse 1.0), exact
 * down to the byte: pax values stay raw bytes, so binary xattrs such as security.capability and
 * system.posix_acl_access compare exactly, and pax uid/gid/mtime override the octal header. The
 * npm tar-stream package was tried first: it decodes pax values as UTF-8 (losing binary xattrs)
 * and ignores pax uid, gid and mtime, which is what compare is for.
 */
export type TarEntryType = 'file' | 'hardlink' | 'symlink' | 'char' | 'block' | 'dir' | 'fifo' | 'other';

export interface TarEntry {
  /** As stored, e.g. ./etc/hosts or ./etc/ */
  path: string;
  type: TarEntryType;
  mode: number;
  uid: number;
  gid: number;
  /** Nanoseconds since the epoch, as a decimal string (pax keeps nanoseconds). */
  mtimeNs: string;
  /** Logical size (a sparse file's real size). */
  size: number;
  linkTarget?: string;
  devMajor?: number;
  devMinor?: number;
  /** Raw xattr values by name (SCHILY.xattr.*). */
  xattrs: Map<string, Buffer>;
  /** Directories of a --listed-incremental archive: the raw GNU.dumpdir (see archive-chain.ts). */
  dumpdir?: Buffer;
}

/** Receives each entry; returns a sink for its content (regular files) or null to skip it. Sinks must use each chunk before returning: the parser reuses its buffer. */
export type EntryHandler = (entry: TarEntry) => { data(chunk: Buffer): void; end(): void } | null;

const BLOCK = 512;
const TYPES: Record<string, TarEntryType> = { '0': 'file', '\0': 'file', '7': 'file', '1': 'hardlink', '2': 'symlink', '3': 'char', '4': 'block', '5': 'dir', '6': 'fifo' };

function cString(buf: Buffer, start: number, len: number): string {
  const slice = buf.subarray(start, start + len);
  const nul = slice.indexOf(0);
  return (nul === -1 ? slice : slice.subarray(0, nul)).toString('utf8');
}

function octal(buf: Buffer, start: number, len: number): number {
  const field = buf.subarray(start, start + len);
  if (field[0]! & 0x80) {
    // GNU base-256 for values that do not fit in octal
    let v = 0;
    for (let i = 1; i < field.length; i++) v = v * 256 + field[i]!;
    return v;
  }
  const text = cString(buf, start, len).trim();
  return text === '' ? 0 : parseInt(text, 8);
}

/** pax records: "<len> <key>=<value>\n", values kept as raw bytes. */
export function parsePaxRecords(data: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let i = 0;
  while (i < data.length) {
    const space = data.indexOf(0x20, i);
    if (space === -1) break;
    const len = Number(data.subarray(i, space).toString('ascii'));
    if (!Number.isInteger(len) || len <= 0 || i + len > data.length) throw new LifeboatError('LB_IMAGE_CORRUPT', 'a pax header record is malformed');
    const record = data.subarray(space + 1, i + len - 1); // without the trailing newline
    const eq = record.indexOf(0x3d);
    if (eq !== -1) out.set(record.subarray(0, eq).toString('utf8'), Buffer.from(record.subarray(eq + 1)));
    i += len;
  }
  return out;
}

function paxTimeToNs(text: string): string {
  const [sec, frac = ''] = text.split('.');
  return (BigInt(sec!) * 1_000_000_000n + BigInt((frac + '000000000').slice(0, 9))).toString();
}

type State =
  | { kind: 'header' }
  | { kind: 'meta'; type: 'pax' | 'global' | 'longname' | 'longlink'; remaining: number; padded: number; parts: Buffer[] }
  | { kind: 'data'; remaining: number; padding: number; sink: ReturnType<EntryHandler>; sparse: SparseState | null };

interface SparseState {
  /** The map text and the chunk bytes after it, until the map is complete. */
  pending: Buffer;
  map: Array<[number, number]> | null;
  /** Map-block padding still to skip once the map is parsed. */
  skip: number;
  realSize: number;
  /** Logical position written to the sink so far. */
  position: number;
  chunk: number;
  chunkLeft: number;
}

export class TarParser {
  private buffer = Buffer.alloc(0);
  private state: State = { kind: 'header' };
  private pax = new Map<string, Buffer>();
  private globalPax = new Map<string, Buffer>();
  private longName: string | null = null;
  private longLink: string | null = null;
  private zeroBlocks = 0;
  entries = 0;

  constructor(private readonly onEntry: EntryHandler) {}

  write(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? (chunk as Buffer<ArrayBuffer>) : Buffer.concat([this.buffer, chunk]);
    let offset = 0;
    for (;;) {
      const progressed = this.step(offset);
      if (progressed === 0) break;
      offset += progressed;
    }
    this.buffer = this.buffer.subarray(offset);
  }

  end(): void {
    if (this.state.kind !== 'header' || (this.buffer.length > 0 && this.zeroBlocks < 2)) {
      throw new LifeboatError('LB_IMAGE_CORRUPT', 'the tar stream ends in the middle of an entry: the archive is truncated');
    }
  }

  /** Consumes from this.buffer at offset; returns bytes consumed (0: need more). */
  private step(offset: number): number {
    const avail = this.buffer.length - offset;
    const s = this.state;
    if (s.kind === 'header') {
      if (avail < BLOCK) return 0;
      const h = this.buffer.subarray(offset, offset + BLOCK);
      if (h.every((b) => b === 0)) {
        this.zeroBlocks++;
        return BLOCK;
      }
      this.zeroBlocks = 0;
      this.header(h);
      return BLOCK;
    }
    if (s.kind === 'meta') {
      if (avail === 0) return 0;
      const take = Math.min(avail, s.padded);
      const useful = Math.min(take, s.remaining);
      if (useful > 0) s.parts.push(Buffer.from(this.buffer.subarray(offset, offset + useful)));
      s.remaining -= useful;
      s.padded -= take;
      if (s.padded === 0) this.finishMeta(s);
      return take;
    }
    if (avail === 0) return 0;
    if (s.remaining > 0) {
      const take = Math.min(avail, s.remaining);
      const piece = this.buffer.subarray(offset, offset + take);
      // Sinks consume synchronously (a hash update), so the bytes need not be copied.
      if (s.sparse) this.sparseData(s.sparse, piece, s.sink);
      else s.sink?.data(piece);
      s.remaining -= take;
      if (s.remaining === 0 && s.padding === 0) this.endData(s);
      return take;
    }
    const take = Math.min(avail, s.padding);
    s.padding -= take;
    if (s.padding === 0) this.endData(s);
    return take;
  }

  private endData(s: Extract<State, { kind: 'data' }>): void {
    if (s.sparse) this.sparseFinish(s.sparse, s.sink);
    s.sink?.end();
    this.state = { kind: 'header' };
  }

  private finishMeta(s: Extract<State, { kind: 'meta' }>): void {
    const data = Buffer.concat(s.parts);
    if (s.type === 'pax') this.pax = parsePaxRecords(data);
    else if (s.type === 'global') this.globalPax = parsePaxRecords(data);
    else if (s.type === 'longname') this.longName = cString(data, 0, data.length);
    else this.longLink = cString(data, 0, data.length);
    this.state = { kind: 'header' };
  }

  private header(h: Buffer): void {
    const typeflag = String.fromCharCode(h[156]!);
    const size = octal(h, 124, 12);
    const padded = Math.ceil(size / BLOCK) * BLOCK;
    if (typeflag === 'x' || typeflag === 'g' || typeflag === 'L' || typeflag === 'K') {
      const type = typeflag === 'x' ? 'pax' : typeflag === 'g' ? 'global' : typeflag === 'L' ? 'longname' : 'longlink';
      this.state = { kind: 'meta', type, remaining: size, padded, parts: [] };
      if (padded === 0) this.finishMeta(this.state);
      return;
    }
    const magic = cString(h, 257, 6);
    let name = cString(h, 0, 100);
    if (magic.startsWith('ustar')) {
      const prefix = cString(h, 345, 155);
      if (prefix) name = `${prefix}/${name}`;
    }
    const pax = new Map([...this.globalPax, ...this.pax]);
    const text = (key: string) => pax.get(key)?.toString('utf8');
    const path = text('GNU.sparse.name') ?? text('path') ?? this.longName ?? name;
    const xattrs = new Map<string, Buffer>();
    for (const [k, v] of pax) if (k.startsWith('SCHILY.xattr.')) xattrs.set(k.slice('SCHILY.xattr.'.length), v);
    const type = TYPES[typeflag] ?? 'other';
    const sparse = text('GNU.sparse.major') === '1' && text('GNU.sparse.minor') === '0';
    const realSize = sparse ? Number(text('GNU.sparse.realsize')) : Number(text('size') ?? size);
    const entry: TarEntry = {
      path,
      type,
      mode: octal(h, 100, 8) & 0o7777,
      uid: text('uid') !== undefined ? Number(text('uid')) : octal(h, 108, 8),
      gid: text('gid') !== undefined ? Number(text('gid')) : octal(h, 116, 8),
      mtimeNs: text('mtime') !== undefined ? paxTimeToNs(text('mtime')!) : (BigInt(octal(h, 136, 12)) * 1_000_000_000n).toString(),
      size: type === 'file' ? realSize : 0,
      xattrs,
    };
    const link = text('linkpath') ?? this.longLink ?? cString(h, 157, 100);
    if (type === 'symlink' || type === 'hardlink') entry.linkTarget = link;
    const dumpdir = pax.get('GNU.dumpdir');
    if (dumpdir && type === 'dir') entry.dumpdir = dumpdir;
    if (type === 'char' || type === 'block') {
      entry.devMajor = octal(h, 329, 8);
      entry.devMinor = octal(h, 337, 8);
    }
    this.pax = new Map();
    this.longName = null;
    this.longLink = null;
    this.entries++;
    const sink = this.onEntry(entry);
    const dataSize = Number(text('size') ?? size);
    const dataPadded = Math.ceil(dataSize / BLOCK) * BLOCK;
    this.state = {
      kind: 'data',
      remaining: type === 'file' ? dataSize : 0,
      padding: type === 'file' ? dataPadded - dataSize : padded,
      sink: type === 'file' ? sink : null,
      sparse: sparse && type === 'file' ? { pending: Buffer.alloc(0), map: null, skip: 0, realSize, position: 0, chunk: 0, chunkLeft: 0 } : null,
    };
    if (this.state.remaining === 0 && this.state.padding === 0) this.endData(this.state);
  }

  /**
   * GNU sparse 1.0: the data starts with the map in decimal lines (count, then offset/size pairs),
   * padded to a block, followed by the chunks' bytes; the holes between chunks read as zeros.
   */
  private sparseData(sp: SparseState, piece: Buffer, sink: ReturnType<EntryHandler>): void {
    let p = piece;
    if (sp.map === null) {
      sp.pending = Buffer.concat([sp.pending, p]);
      const lines = sp.pending.toString('latin1').split('\n');
      const count = Number(lines[0]);
      if (!Number.isInteger(count) || lines.length - 1 < 1 + 2 * count) return; // map not complete yet
      const numbers = lines.slice(1, 1 + 2 * count).map(Number);
      sp.map = Array.from({ length: count }, (_, i) => [numbers[2 * i]!, numbers[2 * i + 1]!] as [number, number]);
      const textLen = lines.slice(0, 1 + 2 * count).join('\n').length + 1;
      const mapBlock = Math.ceil(textLen / BLOCK) * BLOCK;
      sp.chunk = 0;
      sp.chunkLeft = sp.map[0]?.[1] ?? 0;
      if (sp.pending.length >= mapBlock) {
        p = sp.pending.subarray(mapBlock);
      } else {
        sp.skip = mapBlock - sp.pending.length;
        p = Buffer.alloc(0);
      }
      sp.pending = Buffer.alloc(0);
    }
    if (sp.skip > 0) {
      const n = Math.min(sp.skip, p.length);
      sp.skip -= n;
      p = p.subarray(n);
    }
    const map = sp.map;
    while (p.length > 0) {
      while (sp.chunk < map.length && sp.chunkLeft === 0) {
        sp.chunk++;
        sp.chunkLeft = map[sp.chunk]?.[1] ?? 0;
      }
      if (sp.chunk >= map.length) return;
      const [chunkOffset, chunkSize] = map[sp.chunk]!;
      const at = chunkOffset + (chunkSize - sp.chunkLeft);
      this.zeros(sp, at, sink);
      const take = Math.min(sp.chunkLeft, p.length);
      sink?.data(p.subarray(0, take));
      sp.position = at + take;
      sp.chunkLeft -= take;
      p = p.subarray(take);
    }
  }

  private zeros(sp: SparseState, upTo: number, sink: ReturnType<EntryHandler>): void {
    const zero = Buffer.alloc(1 << 16);
    while (sp.position < upTo) {
      const n = Math.min(zero.length, upTo - sp.position);
      sink?.data(n === zero.length ? zero : zero.subarray(0, n));
      sp.position += n;
    }
  }

  private sparseFinish(sp: SparseState, sink: ReturnType<EntryHandler>): void {
    this.zeros(sp, sp.realSize, sink);
  }
}
