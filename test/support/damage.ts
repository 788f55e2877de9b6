import { open } from 'node:fs/promises';

/** Flips bits of one byte of a file in place, as a bad disk or a bad copy would. */
export async function flipByte(path: string, offset: number, mask = 0xff): Promise<void> {
  const fh = await open(path, 'r+');
  try {
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, offset);
    b[0] = b[0]! ^ mask;
    await fh.write(b, 0, 1, offset);
  } finally {
    await fh.close();
  }
}
