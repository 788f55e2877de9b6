import { createReadStream } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { LifeboatError } from '../../core/errors.js';
import { checkFinished, lastLines, startTool } from '../../core/run-tool.js';
import type { ArchiveEntry } from '../store/manifest.js';
import { TAR_EXTRACT_OPTIONS, decompressProgram } from './tar-options.js';

/**
 * Streams an archive's volumes, in order, into tar (list or extract), hashing every volume on the
 * way through. The hash of a volume is known only once it has been read, so callers that must not
 * touch a disk before the image is proven (the rescue agent) run a verify pass first; this pass
 * still reports which volume was damaged when tar or the decompressor chokes on it.
 */
/**
 * Where volumes come from: files in a version directory (local or NFS), or a stream per volume
 * (HTTP). A source of files also says where each file is, so that tar can read it itself.
 */
export type VolumeOpener = ((volumePath: string) => AsyncIterable<Buffer | Uint8Array> | Promise<AsyncIterable<Buffer | Uint8Array>>) & {
  localPath?: (volumePath: string) => string;
};

export function fileVolumes(versionDir: string): VolumeOpener {
  return Object.assign((path: string) => createReadStream(join(versionDir, path), { highWaterMark: 1 << 20 }), {
    localPath: (path: string) => join(versionDir, path),
  });
}

export interface ReadArchiveOptions {
  mode: 'list' | 'extract';
  /** Target directory for extract. */
  target?: string;
  /** The filesystem extracted onto: FAT has no owners, modes, xattrs or ACLs to restore. */
  targetFstype?: string;
  /** A --listed-incremental archive: extraction applies its directory listings (deletions, renames). */
  incremental?: boolean;
  /**
   * The caller has already checked every volume against its sha256 (the rescue agent does, before
   * it touches a disk). Then a one-volume archive on a file is read by tar itself, with node out
   * of the data path: measured in a 1-vCPU guest, node reading, hashing and piping the volume made
   * the data stage 1.8x slower than `zstd -d | tar -x`.
   */
  verified?: boolean;
  onProgress?: (compressedBytes: number) => void;
  signal?: AbortSignal;
  /** Extract only these members (as stored: ./etc/hosts; a directory brings what is under it). */
  members?: string[];
}

/** Member names go last, literal (a name with * is a name), after -- so none reads as an option. */
function memberArgs(options: Pick<ReadArchiveOptions, 'members'>): string[] {
  return options.members ? ['--no-wildcards', '--', ...options.members] : [];
}

export interface ReadArchiveResult {
  /** Volumes whose bytes do not hash to the manifest's sha256. */
  damaged: Array<{ path: string; expected: string; actual: string }>;
  /** Members tar listed (list mode). */
  members: number;
  /** Error from tar or the decompressor, if the stream did not read back cleanly. */
  streamError: LifeboatError | null;
}

const NO_POSIX_METADATA = new Set(['vfat', 'msdos', 'exfat', 'ntfs', 'ntfs3']);

/** What reading needs of an archive: its own volumes (a chain layer has the same shape). */
export type ReadableArchive = Pick<ArchiveEntry, 'id' | 'compression' | 'volumes'>;

export function tarReadArgs(entry: Pick<ArchiveEntry, 'compression'>, mode: 'list' | 'extract', target?: string, targetFstype?: string, incremental = false, file = '-'): string[] {
  const program = decompressProgram(entry.compression);
  const extractOptions = targetFstype && NO_POSIX_METADATA.has(targetFstype) ? ['--no-same-owner', '--no-same-permissions', '--no-xattrs', '--no-acls', '--no-selinux'] : TAR_EXTRACT_OPTIONS;
  return [
    mode === 'list' ? '--list' : '--extract',
    `--file=${file}`,
    ...(program ? [`--use-compress-program=${program}`] : []),
    // An incremental extraction runs in the target instead (see readArchive).
    ...(mode === 'extract' && !incremental ? [`--directory=${target}`] : []),
    ...(mode === 'extract' ? extractOptions : []),
    // /dev/null: apply the archive's directory listings without keeping a snapshot.
    ...(mode === 'extract' && incremental ? ['--listed-incremental=/dev/null'] : []),
  ];
}

/** Resolves when a writable drains or closes, leaving no listener behind either way. */
function drained(stream: NodeJS.WritableStream): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      stream.off('drain', done);
      stream.off('close', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('close', done);
  });
}

/**
 * Reads one archive's own volumes; an incremental archive's chain is applied by extractWithChain
 * (archive-chain.ts), which calls this once per layer.
 */
export async function readArchive(source: string | VolumeOpener, entry: ReadableArchive, options: ReadArchiveOptions): Promise<ReadArchiveResult> {
  const open = typeof source === 'string' ? fileVolumes(source) : source;
  if (options.mode === 'extract' && !options.target) throw new LifeboatError('LB_USAGE', 'extract needs a target directory');
  const direct = options.verified === true && open.localPath !== undefined && entry.volumes.length === 1 ? open.localPath(entry.volumes[0]!.path) : null;
  if (direct !== null) return readArchiveFile(direct, entry, options);
  const args = [...tarReadArgs(entry, options.mode, options.target, options.targetFstype, options.incremental ?? false), ...memberArgs(options)];
  // GNU tar 1.34 resolves the temporary directory of a cyclic rename, and a directory that
  // replaced a file, against its working directory rather than --directory: measured here, both
  // failed (and the rename's files were lost) with --directory, and both were right run in the target.
  const cwd = options.mode === 'extract' && options.incremental ? { cwd: options.target! } : {};
  const tar = startTool('tar', args, { stdin: 'pipe', stdout: options.mode === 'list' ? 'pipe' : 'ignore', stderr: 'pipe', ...cwd, ...(options.signal ? { cancelSignal: options.signal } : {}) });
  let stderr = '';
  tar.stderr!.setEncoding('utf8');
  tar.stderr!.on('data', (t: string) => (stderr = lastLines(stderr + t, 20)));
  let members = 0;
  if (tar.stdout) {
    tar.stdout.on('data', (b: Buffer) => {
      for (let i = b.indexOf(10); i !== -1; i = b.indexOf(10, i + 1)) members++;
    });
  }

  const damaged: ReadArchiveResult['damaged'] = [];
  let stdinClosed = false;
  tar.stdin!.on('error', () => (stdinClosed = true)); // tar stopped reading: its exit status says why
  let done = 0;
  try {
    for (const volume of entry.volumes) {
      const hash = createHash('sha256');
      for await (const chunk of await open(volume.path)) {
        hash.update(chunk);
        done += chunk.length;
        options.onProgress?.(done);
        if (!stdinClosed && !tar.stdin!.write(chunk)) await drained(tar.stdin!);
      }
      const actual = hash.digest('hex');
      if (actual !== volume.sha256) damaged.push({ path: volume.path, expected: volume.sha256, actual });
    }
  } catch (e) {
    // The source failed for good (a server gone past the reader's retries): no tar is left waiting on its stdin.
    tar.kill();
    await tar;
    throw e;
  }
  tar.stdin!.end();
  const result = await tar;
  let streamError: LifeboatError | null = null;
  try {
    checkFinished('tar', args, result as never, stderr, { purpose: `${options.mode} ${entry.id}${cwd.cwd ? ` in ${cwd.cwd}` : ''}` });
  } catch (e) {
    streamError = e as LifeboatError;
  }
  return { damaged, members, streamError };
}

/** tar reads a verified one-volume archive from its file; progress comes from tar's checkpoints. */
async function readArchiveFile(file: string, entry: ReadableArchive, options: ReadArchiveOptions): Promise<ReadArchiveResult> {
  const args = [...tarReadArgs(entry, options.mode, options.target, options.targetFstype, options.incremental ?? false, file), '--checkpoint=1000', '--checkpoint-action=echo=LBCP %T', ...memberArgs(options)];
  const cwd = options.mode === 'extract' && options.incremental ? { cwd: options.target! } : {};
  const tar = startTool('tar', args, { stdin: 'ignore', stdout: options.mode === 'list' ? 'pipe' : 'ignore', stderr: 'pipe', ...cwd, ...(options.signal ? { cancelSignal: options.signal } : {}) });
  const compressed = entry.volumes[0]!.bytes;
  const uncompressed = (entry as { tarBytes?: number }).tarBytes;
  let stderr = '';
  let partial = '';
  tar.stderr!.setEncoding('utf8');
  tar.stderr!.on('data', (t: string) => {
    partial += t;
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      const cp = /LBCP [RW]: (\d+)/.exec(line);
      if (cp) {
        // Checkpoints count archive bytes; report them as a share of the compressed volume.
        if (uncompressed) options.onProgress?.(Math.min(compressed, Math.round((Number(cp[1]) / uncompressed) * compressed)));
        continue;
      }
      stderr = lastLines(`${stderr}\n${line}`, 20);
    }
  });
  let members = 0;
  tar.stdout?.on('data', (b: Buffer) => {
    for (let i = b.indexOf(10); i !== -1; i = b.indexOf(10, i + 1)) members++;
  });
  const result = await tar;
  options.onProgress?.(compressed);
  let streamError: LifeboatError | null = null;
  try {
    checkFinished('tar', args, result as never, stderr, { purpose: `${options.mode} ${entry.id} from ${file}` });
  } catch (e) {
    streamError = e as LifeboatError;
  }
  return { damaged: [], members, streamError };
}
