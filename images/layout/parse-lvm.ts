import { LifeboatError } from '../../core/errors.js';
import type { Lvm } from './model.js';
import { defined, int, isRecord, parseToolJson, records, str, type JsonRecord } from './parse-json.js';

/**
 * `lvm fullreport --reportformat json --units b --nosuffix` → Lvm. The report holds one group per
 * VG ({vg, pv, lv, pvseg, seg}); PV rows carry no VG name, so a PV belongs to its group's VG, and
 * segment rows name their LV by lv_uuid. Hidden sub-LVs ([root_rimage_0], [pool_tmeta]) are left
 * out: lvcreate makes them again from the public LV's segment type. lvm may print WARNING lines
 * around the JSON; they are skipped.
 */

type Lv = Lvm['lvs'][number];
type Segment = NonNullable<Lv['segments']>[number];

function bytes(row: JsonRecord, key: string, what: string): number | undefined {
  const v = row[key];
  if (v === undefined || v === null || v === '') return undefined;
  const n = int(v);
  if (n === undefined) {
    throw new LifeboatError('LB_INVALID', `lvm report gives ${what} ${key}="${String(v)}", not a number of bytes: run lvm with --units b --nosuffix`, { key, value: v });
  }
  return n;
}

function readSegment(row: JsonRecord): Segment {
  const stripeSize = bytes(row, 'stripe_size', 'segment');
  return defined({
    start: bytes(row, 'seg_start', 'segment') ?? 0,
    size: bytes(row, 'seg_size', 'segment') ?? 0,
    segtype: str(row.segtype) ?? 'unknown',
    stripes: int(row.stripes),
    stripeSize: stripeSize ? stripeSize : undefined,
    devices: (str(row.devices) ?? '').split(',').map((d) => d.trim()).filter((d) => d !== ''),
  });
}

export function parseLvmFullreport(text: string): Lvm {
  const json = parseToolJson(text, 'lvm fullreport output');
  if (!isRecord(json) || !Array.isArray(json.report)) {
    throw new LifeboatError('LB_INVALID', 'lvm report output has no "report" list: run lvm fullreport with --reportformat json');
  }
  const lvm: Lvm = { pvs: [], vgs: [], lvs: [] };
  for (const group of records(json.report)) {
    const vgRows = records(group.vg);
    const groupVg = str(vgRows[0]?.vg_name);
    for (const vg of vgRows) {
      const name = str(vg.vg_name);
      if (!name) continue;
      lvm.vgs.push({
        name,
        uuid: str(vg.vg_uuid) ?? '',
        extentSize: bytes(vg, 'vg_extent_size', `VG ${name}`) ?? 0,
        size: bytes(vg, 'vg_size', `VG ${name}`) ?? 0,
        free: bytes(vg, 'vg_free', `VG ${name}`) ?? 0,
      });
    }
    for (const pv of records(group.pv)) {
      const device = str(pv.pv_name);
      if (!device) continue;
      lvm.pvs.push({
        device,
        // A PV in no VG (an orphan) is listed with an empty VG name.
        vg: str(pv.vg_name) ?? groupVg ?? '',
        uuid: str(pv.pv_uuid) ?? '',
        size: bytes(pv, 'pv_size', `PV ${device}`) ?? bytes(pv, 'dev_size', `PV ${device}`) ?? 0,
      });
    }
    const segmentsByLv = new Map<string, Segment[]>();
    for (const seg of records(group.seg)) {
      const lvUuid = str(seg.lv_uuid);
      if (!lvUuid) continue;
      const list = segmentsByLv.get(lvUuid) ?? [];
      list.push(readSegment(seg));
      segmentsByLv.set(lvUuid, list);
    }
    for (const lv of records(group.lv)) {
      const name = str(lv.lv_name);
      if (!name || name.startsWith('[')) continue;
      const uuid = str(lv.lv_uuid) ?? '';
      const vg = str(lv.vg_name) ?? groupVg ?? str(lv.lv_full_name)?.split('/')[0] ?? '';
      const segments = (segmentsByLv.get(uuid) ?? []).sort((a, b) => a.start - b.start);
      const first = segments[0];
      const stripeSize = first?.stripeSize ?? (bytes(lv, 'stripe_size', `LV ${vg}/${name}`) || undefined);
      lvm.lvs.push(defined({
        name,
        vg,
        uuid,
        size: bytes(lv, 'lv_size', `LV ${vg}/${name}`) ?? 0,
        // A thin pool has no device node: its path is empty, as lvm reports it.
        path: str(lv.lv_path) ?? '',
        segtype: first?.segtype ?? str(lv.segtype) ?? 'unknown',
        stripes: first?.stripes ?? int(lv.stripes),
        stripeSize,
        segments: segments.length > 0 ? segments : undefined,
      }));
    }
  }
  return lvm;
}
