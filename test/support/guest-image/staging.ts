import { createHash } from 'node:crypto';
import { chmod, copyFile, mkdir, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { runTool } from '../../../core/run-tool.js';

/**
 * Staging files into a guest image's trees, the same way for every fixture (fixture-disk.ts: one
 * disk made on the host; multidisk-fixture.ts: RAID, LVM and several disks made in a guest):
 * reproducible content, busybox and kernel modules from the host.
 */

/** Every staged file gets this time, so an image's content, and its hash, is the same on every build. */
export const FIXED_MTIME = new Date('2024-01-01T00:00:00Z');

/** Bytes that depend only on the seed, so a rebuild writes the same content and gets the same hash. */
export function seededBytes(seed: string, length: number): Buffer {
  const out = Buffer.alloc(length);
  let offset = 0;
  for (let counter = 0; offset < length; counter++) offset += createHash('sha256').update(`${seed}:${counter}`).digest().copy(out, offset);
  return out;
}

export async function put(path: string, content: string | Buffer, mode = 0o644): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, content);
  await chmod(path, mode);
}

/** A host file into the same path under `root`. */
export async function copyInto(root: string, hostPath: string, mode = 0o755): Promise<void> {
  const target = join(root, hostPath);
  await mkdir(dirname(target), { recursive: true });
  await copyFile(hostPath, target);
  await chmod(target, mode);
}

/** A binary and the shared libraries it loads (ldd), by absolute path. */
export async function libraryClosure(binary: string): Promise<string[]> {
  const ldd = await runTool('ldd', [binary], { purpose: `list the libraries ${binary} needs` });
  return [binary, ...new Set([...ldd.stdout.matchAll(/(?:=>\s*)?(\/\S+)\s+\(0x/g)].map((m) => m[1]!))];
}

/** busybox with its libraries, and a link in /bin for each applet. */
export async function installBusybox(root: string, busyboxClosure: string[], applets: string[]): Promise<void> {
  for (const file of busyboxClosure) await copyInto(root, file);
  await mkdir(join(root, 'bin'), { recursive: true });
  for (const applet of applets) await symlink('busybox', join(root, 'bin', applet));
}

/** The module files of `kernelVersion` that `modules` need, dependencies first (the order to insmod them). */
export async function modulesInLoadOrder(kernelVersion: string, modules: readonly string[]): Promise<string[]> {
  const files: string[] = [];
  for (const module of modules) {
    const r = await runTool('modprobe', ['-S', kernelVersion, '--show-depends', '--ignore-install', module], { purpose: `find the module ${module} of kernel ${kernelVersion}` });
    for (const m of r.stdout.matchAll(/^insmod (\S+)/gm)) if (!files.includes(m[1]!)) files.push(m[1]!);
  }
  return files;
}

export async function setXattr(path: string, value: string): Promise<void> {
  await runTool('setfattr', ['-n', 'user.lifeboat.fixture', '-v', value, path]);
}
