import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import os from 'node:os';

/**
 * docs/benchmarks.md is assembled from sections, one per benchmark, each replaced in place when
 * that benchmark runs again, so running one benchmark never erases another's numbers.
 */
const DOC = fileURLToPath(new URL('../../docs/benchmarks.md', import.meta.url));
const HEADER = `# Benchmarks

Measured by \`npm run bench\` (or one file: \`node dist/bench/<name>.js\`) on the development machine,
side by side with the peer tool in the same run. Ratios above 1.0 mean Lifeboat is faster (for
times: the peer's time divided by Lifeboat's). Tests never assert on these numbers.
`;

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function machineLine(): string {
  return `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Linux ${os.release()}, Node ${process.version}`;
}

/** The current text of a benchmark's section (without its markers), or null when it has none yet. */
export async function readBenchSection(name: string): Promise<string | null> {
  let doc: string;
  try {
    doc = await readFile(DOC, 'utf8');
  } catch {
    return null;
  }
  const start = `<!-- bench:${name} -->`;
  const i = doc.indexOf(start);
  const j = doc.indexOf(`<!-- /bench:${name} -->`);
  return i !== -1 && j > i ? doc.slice(i + start.length, j).trim() : null;
}

export async function writeBenchSection(name: string, markdown: string): Promise<void> {
  let doc = HEADER;
  try {
    doc = await readFile(DOC, 'utf8');
  } catch {
    /* first benchmark written */
  }
  const start = `<!-- bench:${name} -->`;
  const end = `<!-- /bench:${name} -->`;
  const section = `${start}\n${markdown.trim()}\n${end}`;
  const i = doc.indexOf(start);
  const j = doc.indexOf(end);
  doc = i !== -1 && j !== -1 ? doc.slice(0, i) + section + doc.slice(j + end.length) : `${doc.trimEnd()}\n\n${section}\n`;
  await writeFile(DOC, doc);
}

export async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return (performance.now() - t0) / 1000;
}
