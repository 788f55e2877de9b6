import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runTool } from '../../core/run-tool.js';
import type { VolumeOpener } from '../../images/archive/tar-read.js';
import type { AgentTask } from '../task-protocol.js';
import { resumableRead, resumableText, type ResumableReadOptions } from './resumable-read.js';
import { makeDirs } from '../../core/make-dirs.js';

/**
 * Where the agent reads an image from: the server's NFS share when it mounts (the kernel client
 * reads ahead and the data does not pass through the server's node process), HTTP otherwise.
 *
 * Over HTTP every file is read with resumableRead: a server restart or a dropped connection costs
 * a wait and a Range request, not the restore. Over NFS, a read that fails (a soft mount gives up
 * when the share stays away) continues over HTTP from the byte it reached, and the whole image is
 * read over HTTP from then on; an extraction that tar was reading straight from the share is
 * started again over HTTP (`abandonShare`).
 */
export interface ImageSource {
  readonly kind: 'nfs' | 'http';
  readonly describe: string;
  /** NFS: the version directory as a local path, for tools that read the files themselves. */
  readonly dir?: string;
  readText(path: string): Promise<string>;
  open: VolumeOpener;
  /**
   * NFS only: stop reading the share (an extraction from it failed) and return the opener to read
   * over HTTP from now on; null when the source is already HTTP, so there is nothing to fall back to.
   */
  abandonShare(reason: string): VolumeOpener | null;
  close(): Promise<void>;
}

type Note = (message: string) => void;

function resumeNotes(note: Note): ResumableReadOptions {
  return {
    onInterrupted: ({ url, offset, error, delayMs, attempt }) =>
      note(`reading ${url.slice(url.lastIndexOf('/', url.length - 2) + 1)} stopped at byte ${offset} (${error.message}); attempt ${attempt + 1} in ${(delayMs / 1000).toFixed(1)} s${offset > 0 ? ', resuming from there' : ''}`),
  };
}

export function httpSource(baseUrl: string, note: Note = () => undefined): ImageSource {
  const base = baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`;
  const options = resumeNotes(note);
  return {
    kind: 'http',
    describe: base,
    readText: (path) => resumableText(base + path, options),
    open: (path) => resumableRead(base + path, options),
    abandonShare: () => null,
    close: async () => undefined,
  };
}

export async function nfsSource(nfs: NonNullable<NonNullable<AgentTask['image']>['nfs']>, mountpoint: string, httpUrl: string, note: Note = () => undefined): Promise<ImageSource> {
  await makeDirs(mountpoint);
  await runTool('mount', ['-t', 'nfs4', '-o', 'ro,vers=4.1,soft,timeo=100,retrans=3', `${nfs.server}:${nfs.export}`, mountpoint], { timeoutMs: 30_000, purpose: `mount the image share ${nfs.server}:${nfs.export}` });
  const dir = join(mountpoint, nfs.path);
  let http: ImageSource | null = null;
  const overHttp = (reason: string): ImageSource => {
    if (!http) {
      note(`the NFS share failed (${reason}); reading the image over HTTP from now on`);
      http = httpSource(httpUrl, note);
      // tar must not be pointed at the share's files any more.
      delete open.localPath;
    }
    return http;
  };
  const readFailingOver = (path: string) =>
    readWithFallback(
      createReadStream(join(dir, path), { highWaterMark: 1 << 20 }),
      (offset) => resumableRead(new URL(path, httpUrl).href, { ...resumeNotes(note), offset }),
      (offset, e) => overHttp(`${path} at byte ${offset}: ${e.message}`),
    );
  const open: VolumeOpener = Object.assign((path: string) => (http ? http.open(path) : readFailingOver(path)), { localPath: (path: string) => join(dir, path) });
  return {
    get kind() {
      return http ? 'http' : 'nfs';
    },
    get describe() {
      return http ? http.describe : `nfs://${nfs.server}${nfs.export}/${nfs.path}`;
    },
    dir,
    readText: async (path) => {
      if (http) return http.readText(path);
      try {
        return await readFile(join(dir, path), 'utf8');
      } catch (e) {
        return overHttp(`${path}: ${(e as Error).message}`).readText(path);
      }
    },
    open,
    abandonShare: (reason) => (http ? null : overHttp(reason).open),
    close: async () => {
      // A lazy unmount never waits for a share that went away.
      if (http) await runTool('umount', ['-l', mountpoint]).catch(() => undefined);
      else await runTool('umount', [mountpoint]).catch(() => runTool('umount', ['-l', mountpoint]));
    },
  };
}

/**
 * The bytes of `primary` until it fails, then those of `fallback` from the byte it reached: one
 * stream of the file either way. Only for two sources of the same immutable file (the store's
 * version on the share and over HTTP); the hash taken downstream covers both parts.
 */
export async function* readWithFallback(
  primary: AsyncIterable<Buffer | Uint8Array>,
  fallback: (offset: number) => AsyncIterable<Buffer | Uint8Array>,
  onFallback: (offset: number, error: Error) => void,
): AsyncGenerator<Buffer | Uint8Array> {
  let offset = 0;
  try {
    for await (const chunk of primary) {
      offset += chunk.length;
      yield chunk;
    }
    return;
  } catch (e) {
    onFallback(offset, e as Error);
  }
  yield* fallback(offset);
}

/** NFS when the task offers it and it mounts; HTTP otherwise, saying why. */
export async function openImageSource(image: NonNullable<AgentTask['image']>, note: Note): Promise<ImageSource> {
  if (image.nfs) {
    try {
      return await nfsSource(image.nfs, '/run/lifeboat/image', image.httpUrl, note);
    } catch (e) {
      note(`NFS share unreachable (${(e as Error).message.split('\n')[0]}); reading the image over HTTP`);
    }
  }
  return httpSource(image.httpUrl, note);
}
