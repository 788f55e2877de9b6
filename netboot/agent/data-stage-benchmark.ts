import { createHash } from 'node:crypto';
import { mkdir, rm, stat, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { LifeboatError } from '../../core/errors.js';
import { runTool, startTool, checkFinished, lastLines } from '../../core/run-tool.js';
import { extractWithChain } from '../../images/archive/archive-chain.js';
import { decompressProgram } from '../../images/archive/tar-options.js';
import { tarReadArgs } from '../../images/archive/tar-read.js';
import type { RestorePlan } from '../../images/restore/plan.js';
import type { ArchiveEntry, Manifest } from '../../images/store/manifest.js';
import type { ImageSource } from './image-source.js';
import { makeDirs } from '../../core/make-dirs.js';

/**
 * A benchmark aid, run only when a nuke task asks for it (`options.measureRawExtract`): after the
 * restore is done and unmounted, Lifeboat's own extraction is timed against the README's
 * restore-by-hand pipeline — `cat volumes | zstd -d | tar -x` — on the same volumes, from the same
 * source, in the same machine, onto the same restored filesystems. Three more methods say where a
 * difference goes: that pipeline fed by node from the image source (as Lifeboat's extraction is
 * fed); node feeding `tar --use-compress-program` instead (as Lifeboat's extraction runs tar,
 * without its hashing); and node reading and sha256-hashing the volumes alone.
 *
 * The machine shares its host with other work, so the methods alternate, in a rotated order, for
 * several rounds, and each round's time is kept. Each run mounts the filesystem again, extracts
 * into a scratch directory on it, removes the directory, gives the filesystem's top directory its
 * times back and unmounts (which flushes, untimed): the restored files are left as they were, only
 * that directory's ctime moves.
 */
export type DataMethod = 'lifeboat' | 'raw' | 'nodeFed' | 'nodeFedTarI' | 'readAndHash';

export interface DataStageBenchmark {
  rounds: number;
  /** Per method, the seconds of each round, summed over the archives. `raw` is empty over HTTP (no shell downloader in the rescue system). */
  seconds: Record<DataMethod, number[]>;
  /** Archives left out (incremental chains), with why. */
  skipped: string[];
}

const MOUNTPOINT = '/run/lifeboat/bench';
const SCRATCH = '.lifeboat-data-benchmark';

export async function benchmarkDataStage(plan: RestorePlan, manifest: Manifest, source: ImageSource, rounds = 3): Promise<DataStageBenchmark> {
  const skipped: string[] = [];
  const archives: Array<{ restore: RestorePlan['restores'][number]; entry: ArchiveEntry }> = [];
  for (const restore of plan.restores) {
    const entry = manifest.archives.find((a) => a.id === restore.archiveId);
    if (!entry) continue;
    if (entry.incremental) skipped.push(`${entry.id}: incremental; the raw pipeline is timed for whole archives only`);
    else archives.push({ restore, entry });
  }
  const methods: DataMethod[] = [...(source.dir ? (['lifeboat', 'raw'] as const) : (['lifeboat'] as const)), 'nodeFed', 'nodeFedTarI', 'readAndHash'];
  const seconds: Record<DataMethod, number[]> = { lifeboat: [], raw: [], nodeFed: [], nodeFedTarI: [], readAndHash: [] };
  await makeDirs(MOUNTPOINT);
  for (let round = 0; round < rounds; round++) {
    // Rotated each round, so no method always runs first or after the same one.
    const order = [...methods.slice(round % methods.length), ...methods.slice(0, round % methods.length)];
    for (const method of order) {
      let total = 0;
      for (const { restore, entry } of archives) {
        await runTool('mount', ['-t', restore.fstype, restore.device, MOUNTPOINT], { purpose: `mount ${restore.device} again for the data-stage benchmark` });
        try {
          const top = await stat(MOUNTPOINT);
          const target = join(MOUNTPOINT, SCRATCH);
          await mkdir(target);
          const started = performance.now();
          await runMethod(method, entry, source, target, restore.fstype);
          total += (performance.now() - started) / 1000;
          await rm(target, { recursive: true, force: true });
          await utimes(MOUNTPOINT, top.atime, top.mtime);
        } finally {
          await runTool('umount', [MOUNTPOINT]);
        }
      }
      seconds[method].push(total);
    }
  }
  return { rounds, seconds, skipped };
}

async function runMethod(method: DataMethod, entry: ArchiveEntry, source: ImageSource, target: string, fstype: string): Promise<void> {
  const program = decompressProgram(entry.compression);
  // tar's own arguments exactly as Lifeboat's extraction gives them (FAT without owners and xattrs), minus the decompressor.
  const tar = `tar ${tarReadArgs({ compression: { kind: 'none' } }, 'extract', target, fstype).map((a) => `'${a}'`).join(' ')}`;
  switch (method) {
    case 'lifeboat': {
      // The restore's own extraction, called as executePlan calls it after the agent's verify pass, without its progress reports.
      const r = await extractWithChain(source.open, entry, { target, targetFstype: fstype, verified: true });
      if (r.damaged[0] || r.streamError) throw new LifeboatError('LB_TOOL_FAILED', `benchmark extraction of ${entry.id} failed: ${r.streamError?.message ?? `${r.damaged[0]!.path} changed`}`);
      return;
    }
    case 'raw':
      await runTool('sh', ['-c', `set -o pipefail; cat "$@"${program ? ` | ${program}` : ''} | ${tar}`, 'sh', ...entry.volumes.map((v) => join(source.dir!, v.path))], {
        purpose: `time cat | zstd -d | tar -x of ${entry.id}`,
      });
      return;
    case 'nodeFed':
    case 'nodeFedTarI': {
      const script =
        method === 'nodeFed'
          ? `set -o pipefail; ${program ? `${program} | ` : ''}${tar}`
          : `${tar}${program ? ` '--use-compress-program=${program}'` : ''}`;
      const pipeline = startTool('sh', ['-c', script], { stdin: 'pipe', stdout: 'ignore', stderr: 'pipe' });
      let stderr = '';
      pipeline.stderr!.setEncoding('utf8');
      pipeline.stderr!.on('data', (t: string) => (stderr = lastLines(stderr + t, 20)));
      for (const v of entry.volumes) {
        for await (const chunk of await source.open(v.path)) {
          if (!pipeline.stdin!.write(chunk)) await new Promise((resolve) => pipeline.stdin!.once('drain', resolve));
        }
      }
      pipeline.stdin!.end();
      checkFinished('sh', ['-c', script], (await pipeline) as never, stderr, { purpose: `time zstd -d | tar -x of ${entry.id}, fed by node` });
      return;
    }
    case 'readAndHash':
      for (const v of entry.volumes) {
        const hash = createHash('sha256');
        for await (const chunk of await source.open(v.path)) hash.update(chunk);
        hash.digest();
      }
      return;
  }
}
