import { LifeboatError } from '../../core/errors.js';
import { renderVgMetadata } from './lvm-volumes.js';
import type { PlannedFilesystem, PlannedMdArray, PlannedTable, PlannedVg, RestorePlan } from './plan.js';

/** The inputs and argv of single commands the restore runs: sfdisk scripts, mkfs, mdadm --create, LVM metadata. */

/** sfdisk's own quoting for names and attributes: `"` and `\` (and control bytes) as \xHH. */
function sfdiskString(value: string): string {
  return `"${value.replace(/[\\"\x00-\x1f\x7f]/g, (ch) => `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}`)}"`;
}

/** The sfdisk script that recreates a table: header, then one line per partition in number order. */
export function renderSfdiskScript(table: PlannedTable): string {
  const lines = [`label: ${table.type}`, `label-id: ${table.id}`, 'unit: sectors'];
  if (table.firstLba !== undefined) lines.push(`first-lba: ${table.firstLba}`);
  if (table.lastLba !== undefined) lines.push(`last-lba: ${table.lastLba}`);
  lines.push('');
  for (const p of table.partitions) {
    const fields = [`start=${p.start}`, `size=${p.size}`, `type=${p.type}`];
    if (p.uuid) fields.push(`uuid=${p.uuid}`);
    if (p.name !== undefined && p.name !== '') fields.push(`name=${sfdiskString(p.name)}`);
    if (p.attrs) fields.push(`attrs=${sfdiskString(p.attrs)}`);
    if (p.bootable) fields.push('bootable');
    lines.push(`${p.device} : ${fields.join(', ')}`);
  }
  return `${lines.join('\n')}\n`;
}

/** ext* features → -O: "none" first, so mke2fs's own defaults (orphan_file in 1.47, which older e2fsck refuses) are not added. */
function extOptions(features: string[] | undefined): string[] {
  return features && features.length > 0 ? ['-O', ['none', ...features].join(',')] : [];
}

/** xfs_info's "name=value" switches, each under the mkfs.xfs section that takes it. */
const XFS_SECTION: Record<string, '-m' | '-i' | '-n' | '-l'> = {
  crc: '-m', finobt: '-m', rmapbt: '-m', reflink: '-m', bigtime: '-m', inobtcount: '-m',
  sparse: '-i', attr: '-i', projid32bit: '-i', nrext64: '-i',
  ftype: '-n',
  'lazy-count': '-l',
};

function xfsOptions(uuid: string | undefined, features: string[] | undefined): string[] {
  const sections = new Map<string, string[]>([['-m', uuid ? [`uuid=${uuid}`] : []]]);
  for (const f of features ?? []) {
    const [key, value] = f.split('=');
    if (key === 'ascii-ci') {
      if (value === '1') sections.set('-n', [...(sections.get('-n') ?? []), 'version=ci']);
      continue;
    }
    const section = key ? XFS_SECTION[key] : undefined;
    if (section) sections.set(section, [...(sections.get(section) ?? []), f]);
  }
  return ['-m', '-i', '-n', '-l'].flatMap((s) => (sections.get(s)?.length ? [s, sections.get(s)!.join(',')] : []));
}

export function mkfsCommands(fs: PlannedFilesystem): Array<{ description: string; command: string[] }> {
  const label = fs.label ? ['-L', fs.label] : [];
  const what = `${fs.type}${fs.mountpoint ? ` for ${fs.mountpoint}` : ''} on ${fs.device}${fs.uuid ? `, UUID ${fs.uuid}` : ''}${fs.label ? `, label ${fs.label}` : ''}`;
  const one = (command: string[]) => [{ description: `Make ${what}`, command }];
  switch (fs.type) {
    case 'ext2':
    case 'ext3':
    case 'ext4':
      return one([`mkfs.${fs.type}`, '-F', ...(fs.uuid ? ['-U', fs.uuid] : []), ...label, ...extOptions(fs.features), fs.device]);
    case 'xfs':
      return one(['mkfs.xfs', '-f', ...xfsOptions(fs.uuid, fs.features), ...label, fs.device]);
    case 'btrfs':
      return one(['mkfs.btrfs', '-f', ...(fs.uuid ? ['-U', fs.uuid] : []), ...label, fs.device]);
    case 'vfat': {
      const fat = fs.features?.map((f) => /^FAT(12|16|32)$/i.exec(f)?.[1]).find(Boolean);
      // A FAT volume id prints as ABCD-1234; mkfs.vfat -i takes the eight hex digits.
      const volid = fs.uuid ? ['-i', fs.uuid.replace('-', '')] : [];
      return one(['mkfs.vfat', ...(fat ? ['-F', fat] : []), ...volid, ...(fs.label ? ['-n', fs.label] : []), fs.device]);
    }
    case 'jfs': {
      const steps = [{ description: `Make ${what}`, command: ['mkfs.jfs', '-q', ...label, fs.device] }];
      // jfs_mkfs takes no UUID; jfs_tune sets it afterwards.
      if (fs.uuid) steps.push({ description: `Give the jfs filesystem on ${fs.device} its UUID ${fs.uuid}`, command: ['jfs_tune', '-U', fs.uuid, fs.device] });
      return steps;
    }
    default:
      throw new LifeboatError('LB_INTERNAL', `the plan asks for a ${fs.type} filesystem on ${fs.device}, which the renderer cannot make`);
  }
}

/** mdadm --create for a planned array: the source's level, metadata, chunk, layout, UUID and name. */
export function mdadmCreateCommand(a: PlannedMdArray): string[] {
  return [
    'mdadm', '--create', a.device, '--run',
    `--metadata=${a.metadata}`, `--level=${a.level}`, `--raid-devices=${a.raidDevices}`,
    ...(a.spares.length > 0 ? [`--spare-devices=${a.spares.length}`] : []),
    ...(a.chunkSize ? [`--chunk=${a.chunkSize / 1024}`] : []),
    ...(a.layout ? [`--layout=${a.layout}`] : []),
    `--uuid=${a.uuid}`,
    // A 1.x name without "host:" is kept as it is: mdadm would otherwise prefix the rescue system's hostname.
    ...(a.homehost ? [`--homehost=${a.homehost}`] : a.name ? ['--homehost=<none>'] : []),
    ...(a.name ? [`--name=${a.name}`] : []),
    ...(a.force ? ['--force'] : []),
    ...a.members, ...a.spares,
  ];
}

export function vgMetadataText(plan: RestorePlan, vg: PlannedVg): string {
  return renderVgMetadata({
    name: vg.name,
    uuid: vg.uuid,
    extentSize: vg.extentSize,
    pvs: plan.lvm.pvs.filter((p) => p.vg === vg.name).map((p) => ({ device: p.device, uuid: p.uuid, bytes: p.bytes, extents: p.extents })),
    lvs: plan.lvm.lvs.filter((l) => l.vg === vg.name).map((l) => ({ name: l.name, uuid: l.uuid, segments: l.segments, ...(l.stripeSize ? { stripeSize: l.stripeSize } : {}) })),
    description: `lifeboat restore of ${plan.image}@${plan.version}`,
  });
}
