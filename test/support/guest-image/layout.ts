import { fixtureUuid } from './ids.js';
import type { DiskSpec, GuestImageSpec } from './spec.js';

/** What a fixture spec's layout gives, the same way wherever the disks are made: partition numbers, the sfdisk script, /etc/fstab. */

export const MiB = 1024 * 1024;

/** The partition's number: primaries and the extended one count from 1, logical ones from 5. */
export function partitionNumber(disk: DiskSpec, index: number): number {
  const p = disk.parts[index]!;
  return p.kind === 'logical' ? 5 + disk.parts.filter((x, j) => j < index && x.kind === 'logical').length : index + 1;
}

export function partUuid(name: string, role: string): string {
  return fixtureUuid(name, `part-${role}`).toUpperCase();
}

export function sfdiskScript(name: string, disk: DiskSpec): string {
  const lines = [`label: ${disk.table}`, `label-id: ${disk.id}`, 'unit: sectors', ''];
  for (const p of disk.parts) {
    const fields = [`start=${p.startMiB * 2048}`, `size=${p.sizeMiB * 2048}`, `type=${p.type}`];
    if (disk.table === 'gpt') fields.push(`uuid=${partUuid(name, p.role)}`, `name="${p.name ?? p.role}"`);
    if (p.bootable) fields.push('bootable');
    lines.push(fields.join(', '));
  }
  return `${lines.join('\n')}\n`;
}

export function renderFstab(spec: GuestImageSpec): string {
  const lines = [`# /etc/fstab of the Lifeboat ${spec.description} '${spec.name}'`, '# <file system>  <mount point>  <type>  <options>  <dump>  <pass>'];
  for (const f of spec.filesystems) {
    const pass = f.mountpoint === '/' ? 1 : f.type === 'swap' || f.type === 'btrfs' ? 0 : 2;
    lines.push(`${f.fstabSpec}  ${f.mountpoint}  ${f.type}  ${f.options}  0  ${pass}`);
  }
  return `${lines.join('\n')}\n`;
}

/** Mountpoints the root filesystem needs a directory for: those not inside another filesystem than /. */
export function rootMountpoints(spec: GuestImageSpec): string[] {
  const mps = spec.filesystems.map((f) => f.mountpoint).filter((m) => m.startsWith('/') && m !== '/');
  return mps.filter((m) => !mps.some((other) => other !== m && m.startsWith(`${other}/`)));
}
