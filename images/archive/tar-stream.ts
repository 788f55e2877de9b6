import { closeSync, openSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { LifeboatError } from '../../core/errors.js';
import { checkFinished, startTool, lastLines } from '../../core/run-tool.js';
import type { Compression, Volume } from '../store/manifest.js';
import { TAR_CREATE_OPTIONS, compressCommand } from './tar-options.js';
import { VolumeHasher } from './volume-hasher.js';

/**
 * One filesystem → one GNU tar stream: tar | compressor > volume file, or tar | compressor | split
 * when the archive is cut into volumes. Each stage is its own process, started through run-tool,
 * and gets the pipe from the one before it: the data never crosses node (reading the compressed
 * stream into node and writing it out again made the archive 0.64× the speed of the raw pipeline).
 * Node follows the files to hash them (VolumeHasher) and reads tar's checkpoints for progress.
 *
 * The pipeline fails as a whole when any stage fails (the pipefail lesson: a truncated zstd must
 * never "succeed"), and the error names the stage furthest down that failed: the ones above it
 * only saw the broken pipe it left. tar is not run with -I, which makes tar ignore SIGPIPE: as its
 * own process, if node dies (kill -9), tar's next checkpoint meets a closed stderr and SIGPIPE ends
 * it, and the stages after it see end of input and stop too.
 */
const CHECKPOINT_RECORDS = 1000; // 1000 × 10 KiB records ≈ 10 MiB between progress reports
const CHECKPOINT_MARK = 'LBCP';
/** The compressor may still work for a while after tar's last checkpoint (zstd -19 holds ~100 MiB). */
const FOLLOW_MS = 250;
/** split -a 3: names .000 to .999, as the volumes have always been named. */
const MAX_VOLUMES = 1000;

export interface TarCreateOptions {
  directory: string;
  /** Anchored member names to leave out, e.g. ./var/cache (see selectExcludes). */
  excludes: string[];
  compression: Compression;
  /** Where the volumes go: dir/baseName, or dir/baseName.000, .001 … of volumeSize bytes each. */
  output: { dir: string; baseName: string; volumeSize: number | null };
  /** live: a file that changed while read is a warning (tar exit 1), not a failure. */
  live: boolean;
  /**
   * --listed-incremental snapshot file: absent, tar writes a level 0 and creates it; present (a
   * copy of the previous level's), tar writes only what changed since and updates it.
   */
  snapshot?: string;
  onProgress?: (progress: { tarBytes: number; storedBytes: number }) => void;
  signal?: AbortSignal;
}

export interface TarCreateResult {
  tarBytes: number;
  storedBytes: number;
  volumes: Volume[];
  warnings: string[];
}

export function tarCreateArgs(directory: string, excludes: string[], snapshot?: string): string[] {
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
    // Excludes are literal paths anchored at the filesystem's root, never patterns.
    '--anchored',
    '--no-wildcards',
    ...excludes.map((e) => `--exclude=${e}`),
    '.',
  ];
}

export function splitArgs(prefix: string, volumeSize: number): string[] {
  return [`--bytes=${volumeSize}`, '--numeric-suffixes', '--suffix-length=3', '-', `${prefix}.`];
}

interface Stage {
  file: string;
  args: string[];
  purpose: string;
  okExitCodes?: number[];
}

interface Running extends Stage {
  run: ReturnType<typeof startTool>;
  stderr: string;
}

/**
 * Starts the stages connected by pipes that node hands on and lets go of: each child gets the
 * read end of the pipe before it, and the last writes into `sink` (a file descriptor) or nowhere.
 */
function startPipeline(stages: Stage[], sink: number | null, signal: AbortSignal | undefined): Running[] {
  const running: Running[] = [];
  let input: Readable | 'ignore' = 'ignore';
  for (const [i, stage] of stages.entries()) {
    const last = i === stages.length - 1;
    const run = startTool(stage.file, stage.args, {
      stdin: input,
      // execa hands a descriptor to spawn as it is (outside an stdio array); its types only list 3–9.
      stdout: last ? (sink === null ? 'ignore' : (sink as 3)) : 'pipe',
      stderr: 'pipe',
      ...(signal ? { cancelSignal: signal } : {}),
    });
    if (input !== 'ignore') input.destroy();
    if (!last) input = run.stdout!;
    running.push({ ...stage, run, stderr: '' });
  }
  return running;
}

const STORE_FULL = /No space left on device|Disk quota exceeded/;

export async function createTarArchive(options: TarCreateOptions): Promise<TarCreateResult> {
  const { dir, baseName, volumeSize } = options.output;
  const path = join(dir, baseName);
  const compressor = compressCommand(options.compression);
  const stages: Stage[] = [
    { file: 'tar', args: tarCreateArgs(options.directory, options.excludes, options.snapshot), purpose: `archive ${options.directory}`, okExitCodes: options.live ? [0, 1] : [0] },
    ...(compressor ? [{ ...compressor, purpose: `compress the archive of ${options.directory}` }] : []),
    ...(volumeSize !== null ? [{ file: 'split', args: splitArgs(path, volumeSize), purpose: `cut the archive of ${options.directory} into volumes` }] : []),
  ];
  const hasher = new VolumeHasher(dir, baseName, volumeSize);
  // One file is created here, private from the start; split creates the volumes itself.
  const sink = volumeSize === null ? openSync(path, 'wx', 0o600) : null;
  let running: Running[];
  try {
    running = startPipeline(stages, sink, options.signal);
  } finally {
    if (sink !== null) closeSync(sink);
  }
  const [tar, ...after] = running as [Running, ...Running[]];

  const warnings: string[] = [];
  let tarBytes = 0;
  let reported = '';
  const progress = () => {
    hasher.catchUp();
    const now = { tarBytes, storedBytes: hasher.bytes };
    if (`${now.tarBytes}/${now.storedBytes}` === reported) return;
    reported = `${now.tarBytes}/${now.storedBytes}`;
    options.onProgress?.(now);
  };
  const follow = setInterval(progress, FOLLOW_MS);
  const checkpoint = new RegExp(`${CHECKPOINT_MARK} W: (\\d+)`);
  let partial = '';
  tar.run.stderr!.setEncoding('utf8');
  tar.run.stderr!.on('data', (text: string) => {
    partial += text;
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      const cp = checkpoint.exec(line) ?? /^Total bytes written: (\d+)/.exec(line);
      if (cp) {
        tarBytes = Number(cp[1]);
        progress();
        continue;
      }
      tar.stderr = lastLines(`${tar.stderr}\n${line}`, 20);
      if (warnings.length < 200) warnings.push(line.replace(/^tar: /, ''));
    }
  });
  for (const stage of after) {
    stage.run.stderr!.setEncoding('utf8');
    stage.run.stderr!.on('data', (text: string) => (stage.stderr = lastLines(`${stage.stderr}\n${text}`, 20)));
  }

  const results = await Promise.all(running.map((s) => s.run));
  clearInterval(follow);
  try {
    if (options.signal?.aborted) throw new LifeboatError('LB_INTERRUPTED', `archiving ${options.directory} was interrupted`);
    const full = running.flatMap((s) => s.stderr.split('\n')).find((l) => STORE_FULL.test(l));
    if (full) {
      throw new LifeboatError(
        'LB_STORE_FULL',
        `the store is full: ${hasher.current} stopped after ${hasher.bytes} bytes of this filesystem's archive (${full.trim()}); free space in the store or choose another --store`,
        { volume: hasher.current, written: hasher.bytes },
      );
    }
    if (volumeSize !== null && /suffixes exhausted/.test(running.at(-1)!.stderr)) {
      throw new LifeboatError('LB_USAGE', `${baseName} needs more than ${MAX_VOLUMES} volumes of ${volumeSize} bytes: choose a larger --volume-size`);
    }
    for (let i = running.length - 1; i >= 0; i--) {
      const s = running[i]!;
      checkFinished(s.file, s.args, results[i] as never, s.stderr, { ...(s.okExitCodes ? { okExitCodes: s.okExitCodes } : {}), purpose: s.purpose });
    }
  } catch (e) {
    await hasher.abandon();
    throw e;
  }
  const volumes = await hasher.finish();
  return { tarBytes, storedBytes: hasher.bytes, volumes, warnings };
}
