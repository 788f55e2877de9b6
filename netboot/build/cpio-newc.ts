import { createReadStream } from 'node:fs';

/**
 * A writer for the "newc" cpio format the kernel unpacks as an initramfs. Our own rather than
 * GNU cpio so that every byte is decided here: entries in the order given (the caller sorts them),
 * inode numbers counted from 1, owner root, one fixed mtime, device nodes without mknod on the
 * build host. The same entries always give the same bytes.
 */
export type CpioEntry =
  | { kind: 'dir'; path: string; mode: number }
  | { kind: 'file'; path: string; mode: number; size: number; source: { file: string } | { bytes: Buffer } }
  | { kind: 'symlink'; path: string; target: string }
  | { kind: 'char'; path: string; mode: number; major: number; minor: number };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;

function hex8(n: number): string {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new RangeError(`cpio newc field out of range: ${n}`);
  return n.toString(16).padStart(8, '0');
}

const pad4 = (n: number) => (4 - (n % 4)) % 4;

/** One header plus its name, padded so the data that follows starts on a 4-byte boundary. */
export function newcHeader(fields: { ino: number; mode: number; nlink: number; mtime: number; size: number; rdevMajor?: number; rdevMinor?: number }, name: string): Buffer {
  const nameBytes = Buffer.from(`${name}\0`, 'utf8');
  const head =
    '070701' +
    hex8(fields.ino) +
    hex8(fields.mode) +
    hex8(0) + // uid
    hex8(0) + // gid
    hex8(fields.nlink) +
    hex8(fields.mtime) +
    hex8(fields.size) +
    hex8(0) + // devmajor
    hex8(0) + // devminor
    hex8(fields.rdevMajor ?? 0) +
    hex8(fields.rdevMinor ?? 0) +
    hex8(nameBytes.length) +
    hex8(0); // check
  const headBytes = Buffer.from(head, 'ascii');
  return Buffer.concat([headBytes, nameBytes, Buffer.alloc(pad4(headBytes.length + nameBytes.length))]);
}

/**
 * Yields the archive as buffers. File contents are streamed from disk, and a file whose size
 * changed since it was listed fails the build rather than producing a corrupt archive.
 */
export async function* writeNewc(entries: readonly CpioEntry[], mtime: number): AsyncGenerator<Buffer> {
  let ino = 0;
  for (const e of entries) {
    ino += 1;
    const name = e.path.replace(/^\/+/, '');
    switch (e.kind) {
      case 'dir':
        yield newcHeader({ ino, mode: S_IFDIR | e.mode, nlink: 2, mtime, size: 0 }, name);
        break;
      case 'symlink': {
        const target = Buffer.from(e.target, 'utf8');
        yield newcHeader({ ino, mode: S_IFLNK | 0o777, nlink: 1, mtime, size: target.length }, name);
        yield Buffer.concat([target, Buffer.alloc(pad4(target.length))]);
        break;
      }
      case 'char':
        yield newcHeader({ ino, mode: S_IFCHR | e.mode, nlink: 1, mtime, size: 0, rdevMajor: e.major, rdevMinor: e.minor }, name);
        break;
      case 'file': {
        yield newcHeader({ ino, mode: S_IFREG | e.mode, nlink: 1, mtime, size: e.size }, name);
        let written = 0;
        if ('bytes' in e.source) {
          written = e.source.bytes.length;
          yield e.source.bytes;
        } else {
          for await (const chunk of createReadStream(e.source.file, { highWaterMark: 1 << 20 })) {
            written += (chunk as Buffer).length;
            yield chunk as Buffer;
          }
        }
        if (written !== e.size) throw new Error(`${'file' in e.source ? e.source.file : name} changed size while being archived (${e.size} → ${written} bytes): run the build again`);
        const padding = pad4(e.size);
        if (padding) yield Buffer.alloc(padding);
        break;
      }
    }
  }
  yield newcHeader({ ino: 0, mode: 0, nlink: 1, mtime: 0, size: 0 }, 'TRAILER!!!');
}
