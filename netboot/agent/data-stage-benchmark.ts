import { mkdir, rm, stat, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { runTool, startTool, checkFinished, lastLines } from '../../core/run-tool.js';
import { decompressProgram } from '../../images/archive/tar-options.js';
import { tarReadArgs } from '../../images/archive/tar-read.js';
import type { RestorePlan } from '../../images/restore/plan.js';
import type { Manifest } from '../../images/store/manifest.js';
import type { ImageSource } from './image-source.js';

/**
 * A benchmark aid, run only when a nuke task asks for it (`options.measureRawExtract`): after the
 * restore is done and unmounted, time the README's restore-by-hand pipeline — `cat volumes |
 * zstd -d | tar -x` — on the same volumes, from the same source, in the same machine, onto the same
 * restored filesystems, so Lifeboat's own data stage has a yardstick measured under the very same
 * conditions. Each filesystem is mounted again, the pipeline extracts into a scratch directory on
 * it, the directory is removed, the filesystem's top directory gets its times back and is
 * unmounted: the restored files are left as they were (only that directory's ctime moves).
 */
export interface RawExtractTiming {
  archiveId: string;
  seconds: number;
}

const MOUNTPOINT = '/run/lifeboat/bench';
const SCRATCH = '.lifeboat-raw-extract';

export async function measureRawExtract(plan: RestorePlan, manifest: Manifest, source: ImageSource, note: (message: string) => void): Promise<RawExtractTiming[]> {
  const timings: RawExtractTiming[] = [];
  await mkdir(MOUNTPOINT, { recursive: true });
  for (const r of plan.restores) {
    const entry = manifest.archives.find((a) => a.id === r.archiveId);
    if (!entry) continue;
    if (entry.incremental) {
      note(`benchmark: ${r.archiveId} is incremental; the raw pipeline is timed for whole archives only`);
      continue;
    }
    await runTool('mount', ['-t', r.fstype, r.device, MOUNTPOINT], { purpose: `mount ${r.device} again to time the raw extraction` });
    try {
      const top = await stat(MOUNTPOINT);
      const target = join(MOUNTPOINT, SCRATCH);
      await mkdir(target);
      const program = decompressProgram(entry.compression);
      // tar's own arguments exactly as Lifeboat's extraction gives them (FAT without owners and xattrs), minus the decompressor.
      const tarArgs = tarReadArgs({ compression: { kind: 'none' } }, 'extract', target, r.fstype);
      const started = performance.now();
      if (source.dir) {
        // Files on the NFS share: the pipeline reads them itself, no node in the data path.
        const script = `set -o pipefail; cat "$@"${program ? ` | ${program}` : ''} | tar ${tarArgs.map((a) => `'${a}'`).join(' ')}`;
        await runTool('sh', ['-c', script, 'sh', ...entry.volumes.map((v) => join(source.dir!, v.path))], { purpose: `time cat | zstd -d | tar -x of ${r.archiveId}` });
      } else {
        // Over HTTP there is no shell downloader in the rescue system: node hands the bytes to the pipeline as they arrive.
        const script = `set -o pipefail; ${program ? `${program} | ` : ''}tar ${tarArgs.map((a) => `'${a}'`).join(' ')}`;
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
        checkFinished('sh', ['-c', script], (await pipeline) as never, stderr, { purpose: `time zstd -d | tar -x of ${r.archiveId}` });
      }
      timings.push({ archiveId: r.archiveId, seconds: (performance.now() - started) / 1000 });
      await rm(target, { recursive: true, force: true });
      await utimes(MOUNTPOINT, top.atime, top.mtime);
    } finally {
      await runTool('umount', [MOUNTPOINT]);
    }
  }
  return timings;
}
