import { LifeboatError, isLifeboatError, oneLineMessage } from '../../core/errors.js';
import type { VolumeOpener } from '../archive/tar-read.js';
import { chainBytes, extractWithChain } from '../archive/archive-chain.js';
import type { ArchiveEntry } from '../store/manifest.js';

/**
 * One extract step of a restore: an archive (with its chain) into a mounted directory, read again
 * once from its start through another opener when the first read fails. The restore's only path
 * from one source to another: NFS that went away continues over HTTP, a multicast volume that was
 * dropped, timed out or hashed wrong continues over unicast. A damaged volume found by tar's own
 * hashing of a verified image is not read again: the store changed under the restore.
 */
export interface ExtractArchiveOptions {
  open: VolumeOpener;
  target: string;
  targetFstype?: string;
  /** Every volume was checked against its sha256 before (the agent's verify pass). */
  verified?: boolean;
  /**
   * Asked when the extraction fails in tar or the decompressor, or its source fails (a multicast
   * receiver, a server gone past the reader's retries): another opener to extract the archive
   * again, from its start, or null to fail. A second extraction over a partial first one is clean:
   * GNU tar replaces every file it extracts, and an incremental chain's listings remove what a
   * later layer had added.
   */
  reopen?: (archiveId: string, error: LifeboatError) => VolumeOpener | null;
  onNote?: (message: string) => void;
  onProgress?: (bytes: number, totalBytes: number) => void;
}

export async function extractArchive(entry: ArchiveEntry, options: ExtractArchiveOptions): Promise<number> {
  const entryBytes = chainBytes(entry);
  const extract = async (open: VolumeOpener) => {
    try {
      return await extractWithChain(open, entry, {
        target: options.target,
        ...(options.targetFstype ? { targetFstype: options.targetFstype } : {}),
        ...(options.verified ? { verified: true } : {}),
        onProgress: (bytes) => options.onProgress?.(bytes, entryBytes),
      });
    } catch (e) {
      // The source failed: tar was stopped with it. Its error is the reason to read elsewhere.
      if (!isLifeboatError(e)) throw e;
      return { damaged: [], members: 0, streamError: null, layers: 0, sourceError: e };
    }
  };
  let result: Awaited<ReturnType<typeof extract>> & { sourceError?: LifeboatError } = await extract(options.open);
  const failure = result.sourceError ?? (result.streamError && result.damaged.length === 0 ? result.streamError : null);
  const other = failure ? options.reopen?.(entry.id, failure) : null;
  if (other) {
    options.onNote?.(`extracting ${entry.id} into ${options.target} again from its start: ${oneLineMessage(failure!.message)}`);
    result = await extract(other);
  }
  if (result.sourceError) throw result.sourceError;
  const damaged = result.damaged[0];
  if (damaged) throw new LifeboatError('LB_IMAGE_CORRUPT', `volume ${damaged.path} changed while it was restored (expected ${damaged.expected.slice(0, 12)}…, got ${damaged.actual.slice(0, 12)}…)`);
  if (result.streamError) throw new LifeboatError('LB_TOOL_FAILED', `extracting ${entry.id} into ${options.target} failed: ${result.streamError.message}`);
  return entryBytes;
}
