import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fullKernelVersion } from '../guest-run.js';
import { libraryClosure, modulesInLoadOrder } from './staging.js';

/**
 * What a fixture takes from the host (a kernel and its modules, busybox, mdadm and lvm with their
 * libraries), and the cache key over it: the fixture's parameters, the builders' own sources and
 * the host files by size and time, so an edited builder or an upgraded package builds anew.
 */

/** Debian's cloud kernel (the single-disk fixture: small, boots fast) or the full one (md, dm, vfat and JFS as modules). */
export type KernelChoice = 'cloud' | 'full';

export interface HostInputs {
  kernelVersion: string;
  vmlinuz: string;
  /** busybox and its shared libraries, by absolute path. */
  busyboxClosure: string[];
  /** mdadm and lvm with their libraries (empty when the fixture has no storage stacks). */
  storageClosure: string[];
  /** Module files in load order. */
  modules: string[];
}

/** The guest-image folder's compiled files: every fixture's cache key includes them. */
export const KIT_DIR = fileURLToPath(new URL('.', import.meta.url));

async function newestCloudKernel(): Promise<string> {
  const kernels = (await readdir('/boot')).filter((f) => /^vmlinuz-.*-cloud-amd64$/.test(f)).sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  const vmlinuzName = kernels.at(-1);
  if (!vmlinuzName) throw new Error('fixture disk: no /boot/vmlinuz-*-cloud-amd64: install the Debian package linux-image-cloud-amd64 (scripts/setup.sh test does)');
  return vmlinuzName.slice('vmlinuz-'.length);
}

export async function findHostInputs(o: { kernel: KernelChoice; modules: readonly string[]; storageTools: boolean }): Promise<HostInputs> {
  const kernelVersion = o.kernel === 'cloud' ? await newestCloudKernel() : await fullKernelVersion();
  const tools = ['/bin/busybox', ...(o.storageTools ? ['/sbin/mdadm', '/sbin/lvm'] : [])];
  for (const tool of tools) {
    if (!existsSync(tool)) throw new Error(`fixture: ${tool} is missing: install the Debian packages busybox${o.storageTools ? ', mdadm and lvm2' : ''} (scripts/setup.sh test does)`);
  }
  const storageClosure = o.storageTools ? [...new Set([...(await libraryClosure('/sbin/mdadm')), ...(await libraryClosure('/sbin/lvm'))])] : [];
  return {
    kernelVersion,
    vmlinuz: `/boot/vmlinuz-${kernelVersion}`,
    busyboxClosure: await libraryClosure('/bin/busybox'),
    storageClosure,
    modules: await modulesInLoadOrder(kernelVersion, o.modules),
  };
}

/**
 * The 24 hex digits that name a cache entry: `params` (JSON), the contents of `sources` (the
 * builder's own files and the scripts baked into the image) and of every file of this folder, and
 * the host's files by path, size and time.
 */
export async function cacheKey(params: object, sources: readonly string[], host: HostInputs, moreHostFiles: readonly string[]): Promise<string> {
  const h = createHash('sha256');
  h.update(JSON.stringify(params));
  const kit = (await readdir(KIT_DIR)).filter((f) => f.endsWith('.js')).sort().map((f) => join(KIT_DIR, f));
  for (const file of [...sources, ...kit]) h.update(await readFile(file));
  for (const file of [host.vmlinuz, ...host.busyboxClosure, ...host.storageClosure, ...host.modules, ...moreHostFiles]) {
    const st = await stat(file).catch(() => null);
    h.update(`${file}:${st?.size}:${st?.mtimeMs}\n`);
  }
  return h.digest('hex').slice(0, 24);
}
