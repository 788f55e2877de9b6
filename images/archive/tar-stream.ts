import { LifeboatError } from '../../core/errors.js';
import { checkFinished, startTool, lastLines } from '../../core/run-tool.js';
import type { Compression } from '../store/manifest.js';
import { TAR_CREATE_OPTIONS, compressProgram } from './tar-options.js';
import type { VolumeWriter } from './volume-writer.js';

/**
 * One filesystem → one GNU tar stream, compressed by tar's own child (tar -I), read by node into
 * volumes. tar runs the compressor and fails as a whole when it fails (the pipefail lesson), and
 * the data never crosses node uncompressed; tar's checkpoints report uncompressed bytes for progress.
 */
const CHECKPOINT_RECORDS = 1000; // 1000 × 10 KiB records ≈ 10 MiB between progress reports
const CHECKPOINT_MARK = 'LBCP';

export interface TarCreateOptions {
  directory: string;
  /** Anchored member names to leave out, e.g. ./var/cache (see selectExcludes). */
  excludes: string[];
  compression: Compression;
  writer: VolumeWriter;
  /** live: a file that changed while read is a warning (tar exit 1), not a failure. */
  live: boolean;
  /**
   * --listed-incremental snapshot file: absent, tar writes a level 0 and creates it; present (a
   * copy of the previous level's), tar writes only what changed since and updates it.
   */
  snapshot?: string;
  onProgress?: (tarBytes: number) => void;
  signal?: AbortSignal;
}

export interface TarCreateResult {
  tarBytes: number;
  warnings: string[];
}

export function tarCreateArgs(directory: string, excludes: string[], compression: Compression, snapshot?: string): string[] {
  const program = compressProgram(compression);
  return [
    '--create',
    '--file=-',
    `--directory=${directory}`,
    ...TAR_CREATE_OPTIONS,
    `--checkpoint=${CHECKPOINT_RECORDS}`,
    `--checkpoint-action=echo=${CHECKPOINT_MARK} %T`,
    '--totals',
    // Device numbers change between boots and loop attachments; inode numbers identify directories.
    ...(snapshot ? [`--listed-incremental=${snapshot}`, '--no-check-device'] : []),
    ...(program ? [`--use-compress-program=${program}`] : []),
    // Excludes are literal paths anchored at the filesystem's root, never patterns.
    '--anchored',
    '--no-wildcards',
    ...excludes.map((e) => `--exclude=${e}`),
    '.',
  ];
}

export async function createTarArchive(options: TarCreateOptions): Promise<TarCreateResult> {
  const args = tarCreateArgs(options.directory, options.excludes, options.compression, options.snapshot);
  const tar = startTool('tar', args, { stdin: 'ignore', stdout: 'pipe', stderr: 'pipe', ...(options.signal ? { cancelSignal: options.signal } : {}) });
  let stderrTail = '';
  const warnings: string[] = [];
  let tarBytes = 0;
  let failure: unknown = null;

  tar.stderr!.setEncoding('utf8');
  let partial = '';
  const checkpoint = new RegExp(`${CHECKPOINT_MARK} W: (\\d+)`);
  tar.stderr!.on('data', (text: string) => {
    partial += text;
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      const cp = checkpoint.exec(line);
      if (cp) {
        tarBytes = Number(cp[1]);
        options.onProgress?.(tarBytes);
        continue;
      }
      const total = /^Total bytes written: (\d+)/.exec(line);
      if (total) {
        tarBytes = Number(total[1]);
        options.onProgress?.(tarBytes);
        continue;
      }
      stderrTail = lastLines(`${stderrTail}\n${line}`, 20);
      if (warnings.length < 200) warnings.push(line.replace(/^tar: /, ''));
    }
  });

  tar.stdout!.on('data', (chunk: Buffer) => {
    if (failure) return;
    try {
      options.writer.write(chunk);
    } catch (e) {
      // A full store: stop tar now rather than compress the rest of the filesystem into nothing.
      failure = e;
      tar.kill('SIGTERM');
    }
  });

  const result = await tar;
  if (failure) throw failure;
  if (options.signal?.aborted) throw new LifeboatError('LB_INTERRUPTED', `archiving ${options.directory} was interrupted`);
  checkFinished('tar', args, result as never, stderrTail, {
    okExitCodes: options.live ? [0, 1] : [0],
    purpose: `archive ${options.directory}`,
  });
  return { tarBytes, warnings };
}
