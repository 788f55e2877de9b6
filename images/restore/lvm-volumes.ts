/**
 * LVM on the target: where each logical volume's extents go on the new physical volumes, and the
 * volume group metadata (the text format vgcfgbackup writes) that `vgcfgrestore` puts on them.
 * Restoring a generated metadata file rather than running vgcreate/lvcreate keeps the PV, VG and
 * LV UUIDs of the source (lvcreate cannot set them) and makes every size exact, as ReaR does when
 * it can use vgcfgrestore; the sizes are this plan's, not the source's.
 *
 * The text format counts in 512-byte sectors: extent_size, dev_size, pe_start, stripe_size.
 */

const SECTOR = 512;

/** Where the data of a PV starts: 1 MiB, pvcreate's default alignment, which also suits 4 KiB-sector disks. */
export const PV_DATA_START_BYTES = 1024 * 1024;

/** /dev/mapper/<vg>-<lv>, with every "-" inside a name doubled as device-mapper does. */
export function lvMapperPath(vg: string, lv: string): string {
  return `/dev/mapper/${vg.replaceAll('-', '--')}-${lv.replaceAll('-', '--')}`;
}

export interface LvSegment {
  /** First extent of the segment within the LV. */
  startExtent: number;
  extents: number;
  /** One entry per stripe: the PV (target device) and the first extent used on it. */
  stripes: Array<{ pv: string; startExtent: number }>;
}

export interface ExtentRequest {
  key: string;
  extents: number;
  stripes: number;
  /** Target PVs this LV was on at the source, first choice for its extents. */
  preferred: string[];
}

export type Allocation = { ok: true; segments: Map<string, LvSegment[]> } | { ok: false; key: string; reason: string };

/**
 * Lays LVs out on the PVs, each PV filled from its start. Striped LVs go first, each stripe
 * contiguous on its own PV (the PVs it was striped over, then those with most room); linear LVs
 * then fill what is left, preferring the PVs they were on and spanning PVs when one is full.
 */
export function allocateExtents(pvs: ReadonlyArray<{ device: string; extents: number }>, requests: readonly ExtentRequest[]): Allocation {
  const free = new Map(pvs.map((p) => [p.device, p.extents]));
  const next = new Map(pvs.map((p) => [p.device, 0]));
  const segments = new Map<string, LvSegment[]>();
  const take = (pv: string, n: number) => {
    const start = next.get(pv)!;
    next.set(pv, start + n);
    free.set(pv, free.get(pv)! - n);
    return start;
  };
  const order = (preferred: string[]) => {
    const rest = pvs.map((p) => p.device).filter((d) => !preferred.includes(d)).sort((a, b) => free.get(b)! - free.get(a)!);
    return [...preferred.filter((d) => free.has(d)), ...rest];
  };
  for (const r of requests.filter((x) => x.stripes > 1)) {
    const per = r.extents / r.stripes;
    const chosen = order(r.preferred).filter((d) => free.get(d)! >= per).slice(0, r.stripes);
    if (chosen.length < r.stripes) {
      const fit = pvs.filter((p) => free.get(p.device)! >= per).length;
      return { ok: false, key: r.key, reason: `it is striped over ${r.stripes} PVs and needs ${per} extents on each; ${fit} PV${fit === 1 ? ' has' : 's have'} that much room` };
    }
    segments.set(r.key, [{ startExtent: 0, extents: r.extents, stripes: chosen.map((pv) => ({ pv, startExtent: take(pv, per) })) }]);
  }
  for (const r of requests.filter((x) => x.stripes <= 1)) {
    const list: LvSegment[] = [];
    let left = r.extents;
    for (const pv of order(r.preferred)) {
      if (left === 0) break;
      const n = Math.min(left, free.get(pv)!);
      if (n === 0) continue;
      list.push({ startExtent: r.extents - left, extents: n, stripes: [{ pv, startExtent: take(pv, n) }] });
      left -= n;
    }
    if (left > 0) return { ok: false, key: r.key, reason: `${left} of its ${r.extents} extents find no free room on the PVs` };
    segments.set(r.key, list);
  }
  return { ok: true, segments };
}

export interface VgMetadata {
  name: string;
  uuid: string;
  extentSize: number;
  pvs: Array<{ device: string; uuid: string; bytes: number; extents: number }>;
  lvs: Array<{ name: string; uuid: string; stripeSize?: number; segments: LvSegment[] }>;
  /** Says where the file comes from; LVM keeps it as the metadata's description. */
  description: string;
}

function quote(s: string): string {
  return `"${s.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/** The metadata file vgcfgrestore reads, in the layout vgcfgbackup writes. */
export function renderVgMetadata(vg: VgMetadata): string {
  const pvName = new Map(vg.pvs.map((p, i) => [p.device, `pv${i}`]));
  const out = [
    `# Written by Lifeboat: volume group ${vg.name} sized for this machine's disks, for vgcfgrestore.`,
    'contents = "Text Format Volume Group"',
    'version = 1',
    '',
    `description = ${quote(vg.description)}`,
    '',
    'creation_host = "lifeboat"',
    'creation_time = 0',
    '',
    `${vg.name} {`,
    `\tid = ${quote(vg.uuid)}`,
    '\tseqno = 1',
    '\tformat = "lvm2"',
    '\tstatus = ["RESIZEABLE", "READ", "WRITE"]',
    '\tflags = []',
    `\textent_size = ${vg.extentSize / SECTOR}`,
    '\tmax_lv = 0',
    '\tmax_pv = 0',
    '\tmetadata_copies = 0',
    '',
    '\tphysical_volumes {',
  ];
  for (const p of vg.pvs) {
    out.push(
      '',
      `\t\t${pvName.get(p.device)} {`,
      `\t\t\tid = ${quote(p.uuid)}`,
      `\t\t\tdevice = ${quote(p.device)}`,
      '',
      '\t\t\tstatus = ["ALLOCATABLE"]',
      '\t\t\tflags = []',
      `\t\t\tdev_size = ${Math.floor(p.bytes / SECTOR)}`,
      `\t\t\tpe_start = ${PV_DATA_START_BYTES / SECTOR}`,
      `\t\t\tpe_count = ${p.extents}`,
      '\t\t}',
    );
  }
  out.push('\t}');
  if (vg.lvs.length > 0) {
    out.push('', '\tlogical_volumes {');
    for (const lv of vg.lvs) {
      out.push('', `\t\t${lv.name} {`, `\t\t\tid = ${quote(lv.uuid)}`, '\t\t\tstatus = ["READ", "WRITE", "VISIBLE"]', '\t\t\tflags = []', `\t\t\tsegment_count = ${lv.segments.length}`);
      lv.segments.forEach((s, i) => {
        out.push(
          '',
          `\t\t\tsegment${i + 1} {`,
          `\t\t\t\tstart_extent = ${s.startExtent}`,
          `\t\t\t\textent_count = ${s.extents}`,
          '',
          '\t\t\t\ttype = "striped"',
          `\t\t\t\tstripe_count = ${s.stripes.length}`,
        );
        if (s.stripes.length > 1) out.push(`\t\t\t\tstripe_size = ${(lv.stripeSize ?? 64 * 1024) / SECTOR}`);
        out.push('', '\t\t\t\tstripes = [', s.stripes.map((st) => `\t\t\t\t\t${quote(pvName.get(st.pv)!)}, ${st.startExtent}`).join(',\n'), '\t\t\t\t]', '\t\t\t}');
      });
      out.push('\t\t}');
    }
    out.push('\t}');
  }
  out.push('}', '');
  return out.join('\n');
}
