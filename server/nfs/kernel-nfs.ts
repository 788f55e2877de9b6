import { readFile } from 'node:fs/promises';
import { hasTool, runTool } from '../../core/run-tool.js';

/**
 * Whether this host has a kernel NFS server that works. An empty /proc/fs/nfsd directory proves
 * nothing (the directory is there in kernels without nfsd, and in containers): the kernel must
 * register the nfsd filesystem (/proc/filesystems), that filesystem must be mounted or mountable at
 * /proc/fs/nfsd, and exportfs must be installed to hand it the exports. Collecting runs the checks;
 * judging is pure and unit-tested.
 */
export interface KernelNfsEvidence {
  /** /proc/filesystems as read ('' when unreadable). */
  filesystems: string;
  /** Whether `exportfs` is on the PATH. */
  exportfs: boolean;
  /** The nfsd filesystem at /proc/fs/nfsd: already mounted, mounted now, failed to mount (why), or not tried. */
  nfsdMount: 'mounted' | 'mounted now' | { failed: string } | 'not tried';
}

export interface KernelNfsFacts {
  available: boolean;
  /** Why, or why not, in words an operator can act on. */
  reason: string;
}

export const NFSD_MOUNTPOINT = '/proc/fs/nfsd';

export function nfsdRegistered(filesystems: string): boolean {
  return filesystems.split('\n').some((line) => line.trim().split(/\s+/).at(-1) === 'nfsd');
}

function nfsdMounted(mounts: string): boolean {
  return mounts.split('\n').some((line) => {
    const [, mountpoint, type] = line.split(' ');
    return type === 'nfsd' && mountpoint === NFSD_MOUNTPOINT;
  });
}

export function judgeKernelNfs(e: KernelNfsEvidence): KernelNfsFacts {
  if (!nfsdRegistered(e.filesystems)) {
    return { available: false, reason: 'the kernel has no NFS server (nfsd is not in /proc/filesystems; modprobe nfsd where it is a module)' };
  }
  if (!e.exportfs) return { available: false, reason: 'nfsd is in the kernel but exportfs is not installed (Debian package nfs-kernel-server)' };
  if (typeof e.nfsdMount === 'object') return { available: false, reason: `nfsd is in the kernel but its filesystem cannot be mounted at ${NFSD_MOUNTPOINT}: ${e.nfsdMount.failed}` };
  if (e.nfsdMount === 'not tried') return { available: false, reason: `nfsd is in the kernel but its filesystem is not mounted at ${NFSD_MOUNTPOINT}` };
  return { available: true, reason: `nfsd is in /proc/filesystems, its filesystem is ${e.nfsdMount === 'mounted' ? 'mounted' : 'now mounted'} at ${NFSD_MOUNTPOINT} and exportfs is installed` };
}

/** Reads the evidence; mounts nfsd's filesystem only when the rest says a kernel server could serve (as nfs-kernel-server's start does). */
export async function collectKernelNfs(): Promise<KernelNfsEvidence> {
  const filesystems = await readFile('/proc/filesystems', 'utf8').catch(() => '');
  const exportfs = await hasTool('exportfs');
  if (!nfsdRegistered(filesystems) || !exportfs) return { filesystems, exportfs, nfsdMount: 'not tried' };
  if (nfsdMounted(await readFile('/proc/self/mounts', 'utf8').catch(() => ''))) return { filesystems, exportfs, nfsdMount: 'mounted' };
  try {
    await runTool('mount', ['-t', 'nfsd', 'nfsd', NFSD_MOUNTPOINT], { timeoutMs: 10_000, purpose: 'mount the kernel NFS server\'s control filesystem' });
    return { filesystems, exportfs, nfsdMount: 'mounted now' };
  } catch (e) {
    return { filesystems, exportfs, nfsdMount: { failed: (e as Error).message.split('\n').at(-1) ?? 'mount failed' } };
  }
}
