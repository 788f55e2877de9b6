import { runToolJson } from '../../core/run-tool.js';
import type { MountEntry } from './select-sources.js';

interface FindmntJson {
  filesystems: Array<{ target: string; source: string; fstype: string; options: string; fsroot?: string }>;
}

/** The mount table in mount order (findmnt --list keeps /proc/self/mountinfo's order). */
export async function listMounts(): Promise<MountEntry[]> {
  const out = await runToolJson<FindmntJson>('findmnt', ['--json', '--list', '--output', 'TARGET,SOURCE,FSTYPE,OPTIONS,FSROOT'], { purpose: 'list mounted filesystems' });
  return out.filesystems.map((f) => ({
    target: f.target,
    // findmnt writes a bind or subvolume mount's source as /dev/sda1[/dir]
    source: f.source.replace(/\[.*\]$/, ''),
    fstype: f.fstype,
    options: f.options,
    fsroot: f.fsroot ?? '/',
  }));
}

interface InverseNode {
  path: string;
  type: string;
  children?: InverseNode[];
}

/** The whole disks (or loop devices) that the given devices are built on, via lsblk's inverse tree. */
export async function disksHolding(devices: string[]): Promise<string[]> {
  if (devices.length === 0) return [];
  const out = await runToolJson<{ blockdevices: InverseNode[] }>('lsblk', ['--json', '--inverse', '--output', 'PATH,TYPE', ...new Set(devices)], { purpose: 'find the disks under the archived filesystems' });
  const disks = new Set<string>();
  const walk = (n: InverseNode) => {
    if (!n.children?.length) {
      if (n.type === 'disk' || n.type === 'loop') disks.add(n.path);
      return;
    }
    n.children.forEach(walk);
  };
  out.blockdevices.forEach(walk);
  return [...disks].sort();
}
