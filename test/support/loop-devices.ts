import { open, stat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { sh, type World } from './world.js';

/** Creates a sparse file of the given size. */
export async function sparseFile(path: string, bytes: number): Promise<string> {
  const fh = await open(path, 'w');
  await fh.truncate(bytes);
  await fh.close();
  return path;
}

/** Attaches a file to a loop device; the world detaches it afterwards. Partitions appear via partx (no udev here). */
export async function attachLoop(world: World, file: string, options: { partitions?: boolean; readOnly?: boolean } = {}): Promise<string> {
  const args = ['--find', '--show'];
  if (options.partitions) args.push('--partscan');
  if (options.readOnly) args.push('--read-only');
  const dev = (await sh('losetup', [...args, file])).trim();
  world.defer(async () => {
    await execa('partx', ['-d', dev], { reject: false });
    await execa('losetup', ['-d', dev], { reject: false });
  });
  if (options.partitions) await refreshPartitions(dev);
  return dev;
}

/** Makes the kernel (re)read a loop device's partitions and waits until their nodes exist. */
export async function refreshPartitions(dev: string): Promise<string[]> {
  const table = await execa('sfdisk', ['--json', dev], { reject: false });
  if (table.exitCode !== 0) return [];
  const parts = (JSON.parse(table.stdout).partitiontable.partitions ?? []) as Array<{ node: string }>;
  await execa('partx', ['-u', dev], { reject: false });
  await execa('partx', ['-a', dev], { reject: false });
  for (let i = 0; i < 50 && !parts.every((p) => existsSync(p.node)); i++) await sleep(100);
  for (const p of parts) if (!existsSync(p.node)) throw new Error(`partition ${p.node} did not appear`);
  return parts.map((p) => p.node);
}

export type FsType = 'ext4' | 'ext3' | 'ext2' | 'xfs' | 'btrfs';

export async function makeFilesystem(dev: string, type: FsType, label?: string, uuid?: string): Promise<void> {
  const args: Record<FsType, string[]> = {
    ext2: ['mkfs.ext2', '-q', '-F'], ext3: ['mkfs.ext3', '-q', '-F'], ext4: ['mkfs.ext4', '-q', '-F'],
    xfs: ['mkfs.xfs', '-q', '-f'], btrfs: ['mkfs.btrfs', '-q', '-f'],
  };
  const [cmd, ...rest] = args[type];
  if (label) rest.push('-L', label);
  if (uuid) rest.push(type === 'xfs' ? '-m' : '-U', type === 'xfs' ? `uuid=${uuid}` : uuid);
  await sh(cmd!, [...rest, dev]);
}

/** Mounts and registers the unmount (lazy, so a busy mount cannot wedge cleanup). */
export async function mountFs(world: World, dev: string, target: string, options?: string): Promise<string> {
  await sh('mkdir', ['-p', target]);
  // Every copy of a fixture has the same XFS UUID, and tests in other lanes mount copies at once.
  const xfs = (await execa('blkid', ['-o', 'value', '-s', 'TYPE', dev], { reject: false })).stdout.trim() === 'xfs';
  const all = [options, xfs ? 'nouuid' : undefined].filter(Boolean).join(',');
  await sh('mount', [...(all ? ['-o', all] : []), dev, target]);
  world.defer(async () => {
    const r = await execa('umount', [target], { reject: false });
    if (r.exitCode !== 0) await execa('umount', ['-l', target], { reject: false });
  });
  return target;
}

/** A fresh filesystem of `type` on a loop-backed sparse file, mounted at world.dir/<name>. */
export async function scratchFilesystem(world: World, name: string, type: FsType, bytes = 512 * 1024 * 1024, mountOptions?: string): Promise<{ dev: string; mountpoint: string; file: string }> {
  const file = await sparseFile(join(world.dir, `${name}.img`), bytes);
  const dev = await attachLoop(world, file);
  await makeFilesystem(dev, type, name.slice(0, 12));
  const mountpoint = await mountFs(world, dev, join(world.dir, name), mountOptions ?? (type === 'btrfs' || type === 'xfs' ? undefined : 'user_xattr,acl'));
  return { dev, mountpoint, file };
}

export async function fileSize(path: string): Promise<number> {
  return (await stat(path)).size;
}
