import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { treeHash, type FixtureDisk } from '../../test/support/fixture-disk.js';
import { Undo, attachLoop, mountAt, waitForNode } from '../../test/support/guest-image/host-disk.js';

/**
 * Grows a fixture disk's /data (XFS) with a payload of files for the restore benchmark, on the
 * host: the disk is attached read-write, /data mounted, the files written, the fixture's tree hash
 * computed again (root mounted read-only without journal replay), and everything unmounted
 * cleanly and detached. The payload is moderately compressible, as a system's files are: every
 * 16 KiB block is either random bytes or a slice of the system's licence texts, half and half,
 * which zstd -3 packs to about half; a few large files and many small ones, as on a real disk.
 */
export interface Payload {
  files: number;
  bytes: number;
  /** FIXTURE-HASH the restored system must print. */
  hash: string;
}

const BLOCK = 16 << 10;

async function corpus(): Promise<Buffer> {
  const dir = '/usr/share/common-licenses';
  const parts = await Promise.all((await readdir(dir)).map((f) => readFile(join(dir, f)).catch(() => Buffer.alloc(0))));
  const text = Buffer.concat(parts);
  if (text.length < BLOCK * 4) throw new Error(`${dir} holds too little text to build the payload from`);
  return text;
}

function content(bytes: number, text: Buffer): Buffer {
  const out = Buffer.alloc(bytes);
  for (let off = 0, i = 0; off < bytes; off += BLOCK, i++) {
    const n = Math.min(BLOCK, bytes - off);
    if (i % 2 === 0) randomBytes(n).copy(out, off);
    else {
      const at = Math.floor(Math.random() * (text.length - n));
      text.copy(out, off, at, at + n);
    }
  }
  return out;
}

export async function addPayload(fixture: FixtureDisk, workDir: string, spec = { large: 100, largeBytes: 1 << 20, small: 2000, smallBytes: 48 << 10 }): Promise<Payload> {
  const undo = new Undo();
  try {
    const loop = await attachLoop(fixture.path, undo);
    const node = async (role: string) => {
      const dev = `${loop}p${fixture.partitions.find((p) => p.role === role)!.number}`;
      await waitForNode(dev);
      return dev;
    };
    const rootDir = join(workDir, 'payload-root');
    const dataDir = join(workDir, 'payload-data');
    await mountAt(await node('data'), dataDir, undo, ['-t', 'xfs']);
    const text = await corpus();
    let files = 0;
    let bytes = 0;
    const put = async (dir: string, name: string, size: number) => {
      await mkdir(join(dataDir, 'payload', dir), { recursive: true });
      await writeFile(join(dataDir, 'payload', dir, name), content(size, text));
      files++;
      bytes += size;
    };
    for (let i = 0; i < spec.large; i++) await put('large', `l${String(i).padStart(4, '0')}.bin`, spec.largeBytes);
    for (let i = 0; i < spec.small; i++) await put(`small/d${String(i % 40).padStart(2, '0')}`, `s${String(i).padStart(5, '0')}.dat`, spec.smallBytes);
    // Root read-only without journal replay: the hash must not change the fixture.
    await mountAt(await node('root'), rootDir, undo, ['-t', 'ext4', '-o', 'ro,noload']);
    const hash = await treeHash({ root: rootDir, data: dataDir });
    return { files, bytes, hash };
  } finally {
    await undo.run();
  }
}
