import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { LifeboatError } from '../../core/errors.js';

/**
 * SHA256SUMS in the format `sha256sum -c` reads, so an operator with only coreutils can check an
 * image by hand: `cd <version> && sha256sum -c SHA256SUMS`.
 */
export function renderSha256Sums(entries: Array<{ path: string; sha256: string }>): string {
  return [...entries]
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
    .map((e) => `${e.sha256}  ${e.path}\n`)
    .join('');
}

export function parseSha256Sums(text: string, where: string): Map<string, string> {
  const sums = new Map<string, string>();
  for (const [i, line] of text.split('\n').entries()) {
    if (line.trim() === '') continue;
    const m = /^([0-9a-f]{64}) [ *](.+)$/.exec(line);
    if (!m) throw new LifeboatError('LB_IMAGE_CORRUPT', `${where} line ${i + 1} is not "<sha256>  <path>": the checksum list is damaged`, { where });
    sums.set(m[2]!, m[1]!);
  }
  return sums;
}

export async function sha256File(path: string, onBytes?: (n: number) => void): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    hash.update(chunk as Buffer);
    onBytes?.((chunk as Buffer).length);
  }
  return hash.digest('hex');
}
