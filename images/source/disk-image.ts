import { existsSync } from 'node:fs';
import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { hasErrno, LifeboatError } from '../../core/errors.js';
import { componentLogger } from '../../core/log.js';
import { runTool } from '../../core/run-tool.js';
import { parseSfdisk } from '../layout/parse-sfdisk.js';

/**
 * A disk to archive from, given as a raw image file or a block device. A file is attached to a
 * loop device (read-only when asked); its partitions are added with partx, because on a machine
 * without udev `losetup --partscan` alone does not reliably produce the /dev nodes. A block device
 * is used as it is and left alone afterwards.
 */
const log = componentLogger('disk-image');

export interface AttachedDisk {
  /** The whole-disk device: /dev/loopN, or the block device given. */
  device: string;
  /** Partition device nodes, in table order (empty for a disk without a partition table). */
  partitions: string[];
  /** Removes the partition mappings and the loop device; a no-op for a block device; safe to call twice. */
  detach(): Promise<void>;
}

const PARTITION_WAIT_MS = 5000;

/** Partition nodes the kernel shows for a block device, from sysfs (no udev needed). */
async function sysfsPartitions(device: string): Promise<string[]> {
  const name = basename(await realpath(device));
  const dir = join('/sys/class/block', name);
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch {
    return [];
  }
  const parts: Array<{ node: string; number: number }> = [];
  for (const e of entries) {
    if (!e.startsWith(name)) continue;
    try {
      const number = Number((await readFile(join(dir, e, 'partition'), 'utf8')).trim());
      parts.push({ node: `/dev/${e}`, number });
    } catch {
      // not a partition (holders, slaves, queue, …)
    }
  }
  return parts.sort((a, b) => a.number - b.number).map((p) => p.node);
}

/** The partition nodes sfdisk expects for the device; empty when it holds no partition table. */
async function expectedPartitions(device: string): Promise<string[]> {
  const r = await runTool('sfdisk', ['--json', device], { okExitCodes: [0, 1], purpose: `read the partition table of ${device}` });
  if (r.exitCode !== 0) return [];
  try {
    return parseSfdisk(r.stdout).partitions.map((p) => p.path);
  } catch {
    // A table sfdisk can print but we cannot record (sun, sgi…): the kernel's view is all there is.
    return [];
  }
}

async function waitForNodes(nodes: string[]): Promise<string[]> {
  const deadline = Date.now() + PARTITION_WAIT_MS;
  while (Date.now() < deadline && !nodes.every((n) => existsSync(n))) await sleep(50);
  return nodes.filter((n) => !existsSync(n));
}

export async function attachDiskImage(path: string, opts: { readOnly: boolean }): Promise<AttachedDisk> {
  let info;
  try {
    info = await stat(path);
  } catch (e) {
    if (hasErrno(e, 'ENOENT')) throw new LifeboatError('LB_NOT_FOUND', `disk ${path} does not exist: give the path of a raw disk image file or of a block device`, { path });
    throw e;
  }
  if (info.isBlockDevice()) {
    return { device: path, partitions: await sysfsPartitions(path), detach: async () => undefined };
  }
  if (!info.isFile()) {
    throw new LifeboatError('LB_USAGE', `disk ${path} is neither a regular file nor a block device: give a raw disk image (qcow2 and other formats must be converted with qemu-img convert -O raw first)`, { path });
  }

  const args = ['--find', '--show', '--partscan', ...(opts.readOnly ? ['--read-only'] : []), path];
  const device = (await runTool('losetup', args, { purpose: `attach disk image ${path}` })).stdout.trim();
  log.debug({ path, device, readOnly: opts.readOnly }, 'disk image attached');

  let detaching: Promise<void> | undefined;
  const detach = (): Promise<void> => {
    detaching ??= (async () => {
      // partx -d fails harmlessly when the kernel already dropped the partitions.
      await runTool('partx', ['-d', device], { okExitCodes: [0, 1] });
      await runTool('losetup', ['-d', device], { purpose: `detach ${device} (disk image ${path})` });
      log.debug({ path, device }, 'disk image detached');
    })().catch((e: unknown) => {
      detaching = undefined;
      throw e;
    });
    return detaching;
  };

  try {
    const expected = await expectedPartitions(device);
    if (expected.length > 0) {
      // -u brings the kernel's table in line with the disk, -a adds what is still missing; each
      // fails harmlessly when the other (or --partscan) already did the work.
      await runTool('partx', ['-u', device], { okExitCodes: [0, 1] });
      await runTool('partx', ['-a', device], { okExitCodes: [0, 1] });
      const missing = await waitForNodes(expected);
      if (missing.length > 0) {
        throw new LifeboatError('LB_TOOL_FAILED', `partitions ${missing.join(', ')} of disk image ${path} (on ${device}) did not appear within ${PARTITION_WAIT_MS / 1000} s: check that the kernel supports partitioned loop devices`, { path, device, missing });
      }
    }
    return { device, partitions: expected, detach };
  } catch (e) {
    await detach().catch(() => undefined);
    throw e;
  }
}
