import { LifeboatError } from '../../core/errors.js';
import type { BlockDevice, Disk } from './model.js';
import { bool, defined, int, isRecord, parseToolJson, records, str, type JsonRecord } from './parse-json.js';

/**
 * `lsblk -J -b -O [DEV…]` → the device tree. lsblk prints a tree in which a device built on
 * several others (an md array, an LV spanning PVs) appears once under each of them; here every
 * device appears once, with all the names it is built on as `parents`.
 *
 * Without udev (this kind of host, a rescue initramfs) lsblk leaves FSTYPE, UUID, LABEL, PARTUUID,
 * PTTYPE empty: those come from blkid. START is always in 512-byte units, whatever the sector
 * size, and an extended partition's SIZE is the kernel's 1 KiB stub: sfdisk is the authority on
 * partitions.
 */

export interface LsblkDevice {
  name: string;
  kname?: string;
  path: string;
  /** disk, part, loop, rom, raid1, lvm, crypt, … */
  type: string;
  size: number;
  parents: string[];
  majMin?: string;
  logicalSectorSize?: number;
  physicalSectorSize?: number;
  model?: string;
  serial?: string;
  wwn?: string;
  rotational?: boolean;
  transport?: string;
  removable?: boolean;
  readOnly?: boolean;
  fstype?: string;
  uuid?: string;
  label?: string;
  partuuid?: string;
  parttype?: string;
  partlabel?: string;
  pttype?: string;
  ptuuid?: string;
  mountpoints: string[];
}

export interface LsblkResult {
  /** The roots of the tree (devices built on nothing), as disks without a partition table yet. */
  disks: Disk[];
  blockDevices: BlockDevice[];
  devices: LsblkDevice[];
}

function readDevice(node: JsonRecord, parent: string | undefined): LsblkDevice | undefined {
  const name = str(node.name) ?? str(node.kname);
  if (!name) return undefined;
  const mountpoints = Array.isArray(node.mountpoints)
    ? node.mountpoints.map(str).filter((m): m is string => m !== undefined)
    : [str(node.mountpoint)].filter((m): m is string => m !== undefined);
  return defined({
    name,
    kname: str(node.kname),
    path: str(node.path) ?? `/dev/${name}`,
    type: str(node.type) ?? 'unknown',
    size: int(node.size) ?? 0,
    parents: parent ? [parent] : [],
    majMin: str(node['maj:min']),
    logicalSectorSize: int(node['log-sec']),
    physicalSectorSize: int(node['phy-sec']),
    model: str(node.model),
    serial: str(node.serial),
    wwn: str(node.wwn),
    rotational: bool(node.rota),
    transport: str(node.tran),
    removable: bool(node.rm),
    readOnly: bool(node.ro),
    fstype: str(node.fstype),
    uuid: str(node.uuid),
    label: str(node.label),
    partuuid: str(node.partuuid),
    parttype: str(node.parttype),
    partlabel: str(node.partlabel),
    pttype: str(node.pttype),
    ptuuid: str(node.ptuuid),
    mountpoints,
  });
}

export function parseLsblk(text: string): LsblkResult {
  const json = parseToolJson(text, 'lsblk --json output');
  if (!isRecord(json) || !Array.isArray(json.blockdevices)) {
    throw new LifeboatError('LB_INVALID', 'lsblk --json output has no "blockdevices" list: not lsblk output, or a util-linux too old for --json (2.27+ needed)');
  }
  const byName = new Map<string, LsblkDevice>();
  const order: string[] = [];
  const walk = (nodes: unknown, parent: string | undefined): void => {
    for (const node of records(nodes)) {
      const dev = readDevice(node, parent);
      if (!dev) continue;
      const seen = byName.get(dev.name);
      if (seen) {
        for (const p of dev.parents) if (!seen.parents.includes(p)) seen.parents.push(p);
        for (const m of dev.mountpoints) if (!seen.mountpoints.includes(m)) seen.mountpoints.push(m);
      } else {
        byName.set(dev.name, dev);
        order.push(dev.name);
      }
      walk(node.children, dev.name);
    }
  };
  walk(json.blockdevices, undefined);

  const devices = order.map((n) => byName.get(n)!);
  const blockDevices: BlockDevice[] = devices.map((d) => ({ name: d.name, path: d.path, type: d.type, size: d.size, parents: [...d.parents] }));
  const disks: Disk[] = devices
    .filter((d) => d.parents.length === 0)
    .map((d) => {
      const logical = d.logicalSectorSize && d.logicalSectorSize >= 512 ? d.logicalSectorSize : 512;
      const physical = d.physicalSectorSize && d.physicalSectorSize >= 512 ? d.physicalSectorSize : logical;
      return defined({
        name: d.name,
        path: d.path,
        size: d.size,
        logicalSectorSize: logical,
        physicalSectorSize: physical,
        model: d.model,
        serial: d.serial,
        wwn: d.wwn,
        rotational: d.rotational,
        transport: d.transport,
        table: null,
      });
    });
  return { disks, blockDevices, devices };
}
