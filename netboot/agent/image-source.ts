import { createReadStream } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runTool } from '../../core/run-tool.js';
import type { VolumeOpener } from '../../images/archive/tar-read.js';
import type { AgentTask } from '../task-protocol.js';
import { httpStream, httpText } from './server-client.js';

/**
 * Where the agent reads an image from: the server's NFS share when it mounts (the kernel client
 * reads ahead and the data does not pass through the server's node process), HTTP otherwise.
 */
export interface ImageSource {
  kind: 'nfs' | 'http';
  describe: string;
  /** NFS: the version directory as a local path, for tools that read the files themselves. */
  dir?: string;
  readText(path: string): Promise<string>;
  open: VolumeOpener;
  close(): Promise<void>;
}

export function httpSource(baseUrl: string): ImageSource {
  const base = baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`;
  return {
    kind: 'http',
    describe: base,
    readText: (path) => httpText(base + path),
    open: (path) => httpStream(base + path),
    close: async () => undefined,
  };
}

export async function nfsSource(nfs: NonNullable<NonNullable<AgentTask['image']>['nfs']>, mountpoint: string): Promise<ImageSource> {
  await mkdir(mountpoint, { recursive: true });
  await runTool('mount', ['-t', 'nfs4', '-o', 'ro,vers=4.1,soft,timeo=100,retrans=3', `${nfs.server}:${nfs.export}`, mountpoint], { timeoutMs: 30_000, purpose: `mount the image share ${nfs.server}:${nfs.export}` });
  const dir = join(mountpoint, nfs.path);
  return {
    kind: 'nfs',
    describe: `nfs://${nfs.server}${nfs.export}/${nfs.path}`,
    dir,
    readText: (path) => readFile(join(dir, path), 'utf8'),
    open: Object.assign((path: string) => createReadStream(join(dir, path), { highWaterMark: 1 << 20 }), { localPath: (path: string) => join(dir, path) }),
    close: async () => {
      await runTool('umount', [mountpoint]).catch(() => runTool('umount', ['-l', mountpoint]));
    },
  };
}

/** NFS when the task offers it and it mounts; HTTP otherwise, saying why. */
export async function openImageSource(image: NonNullable<AgentTask['image']>, note: (message: string) => void): Promise<ImageSource> {
  if (image.nfs) {
    try {
      return await nfsSource(image.nfs, '/run/lifeboat/image');
    } catch (e) {
      note(`NFS share unreachable (${(e as Error).message.split('\n')[0]}); reading the image over HTTP`);
    }
  }
  return httpSource(image.httpUrl);
}
