import type { Lvm, MdArray } from './model.js';
import { canon, errorText, exists, rawOf, type Evidence } from './evidence.js';
import type { Devices } from './interpret-devices.js';
import { parseLvmFullreport } from './parse-lvm.js';
import { parseMdadmDetail } from './parse-mdadm.js';
import { parseMdstat, type MdstatArray } from './parse-mdstat.js';

/** md arrays and LVM, from /proc/mdstat, mdadm --detail and lvm fullreport. Pure, from the evidence. */

/** The arrays /proc/mdstat lists, and the ones whose detail the probe reads (those built on the probed disks). */
export function mdArraysOf(ev: Evidence, devices: Devices): { all: MdstatArray[]; probed: MdstatArray[] } {
  const text = rawOf(ev, 'mdstat');
  const all = text === undefined ? [] : parseMdstat(text);
  const limited = ev.facts.options.disks !== undefined;
  return { all, probed: all.filter((a) => !limited || devices.set.has(a.name)) };
}

export function mdOf(ev: Evidence, devices: Devices, notes: string[]): MdArray[] {
  const { all, probed } = mdArraysOf(ev, devices);
  if (all.length === 0) return [];
  if (!ev.facts.tools.mdadm) {
    notes.push(`md arrays exist (${all.map((a) => a.name).join(', ')}) but mdadm is not installed: RAID not recorded; install the Debian package mdadm`);
    return [];
  }
  const out: MdArray[] = [];
  for (const a of probed) {
    const device = `/dev/${a.name}`;
    const name = `mdadm-${a.name}.txt`;
    try {
      const failure = ev.facts.failures[name];
      if (failure !== undefined) throw new Error(failure);
      out.push(parseMdadmDetail(rawOf(ev, name) ?? '', device));
    } catch (e) {
      notes.push(`md array ${device} not recorded: ${errorText(e)}`);
    }
  }
  return out;
}

/** The device paths LVM is restricted to when disks are given (canonical), else undefined. */
export function lvmScanPaths(ev: Evidence, devices: Devices): Set<string> | undefined {
  if (ev.facts.options.disks === undefined) return undefined;
  return new Set([...devices.set.values()].map((d) => canon(ev.facts, d.path)));
}

/** An LVM `devices/filter` that accepts exactly these device paths and rejects every other. */
export function lvmDeviceFilter(paths: Iterable<string>): string {
  const accept = [...paths].map((p) => `"a|^${p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$|"`);
  return `[ ${[...accept, '"r|.*|"'].join(', ')} ]`;
}

/** The `devices` section the probe's LVM commands run with: hints off, no devices file, and only the given disks' devices. */
export function lvmDevicesConfig(paths: Set<string> | undefined): string {
  return `devices { hints = "none" use_devicesfile = 0${paths ? ` filter = ${lvmDeviceFilter(paths)}` : ''} }`;
}

/** The VGs, PVs and LVs on the probed devices, before any note about them. */
export function lvmReportOf(ev: Evidence, devices: Devices): { lvm: Lvm; error?: string } {
  const empty: Lvm = { pvs: [], vgs: [], lvs: [] };
  if (!ev.facts.tools.lvm) return { lvm: empty };
  let lvm: Lvm;
  try {
    const failure = ev.facts.failures['lvm-fullreport.json'];
    if (failure !== undefined) throw new Error(failure);
    lvm = parseLvmFullreport(rawOf(ev, 'lvm-fullreport.json') ?? '');
  } catch (e) {
    return { lvm: empty, error: errorText(e) };
  }
  const paths = lvmScanPaths(ev, devices);
  if (paths) {
    const pvs = lvm.pvs.filter((pv) => paths.has(canon(ev.facts, pv.device)));
    const vgNames = new Set(pvs.map((p) => p.vg));
    lvm = { pvs, vgs: lvm.vgs.filter((v) => vgNames.has(v.name)), lvs: lvm.lvs.filter((l) => vgNames.has(l.vg)) };
  }
  return { lvm };
}

export function lvmOf(ev: Evidence, devices: Devices, notes: string[]): Lvm {
  const { lvm, error } = lvmReportOf(ev, devices);
  if (error !== undefined) {
    notes.push(`LVM not recorded: ${error}`);
    return lvm;
  }
  for (const lv of lvm.lvs) {
    if (lv.path && !exists(ev.facts, lv.path)) notes.push(`LV ${lv.vg}/${lv.name} is not active here (no ${lv.path}): its filesystem was not probed`);
  }
  for (const v of lvm.vgs) {
    const failure = ev.facts.failures[`vgcfgbackup-${v.name}.cfg`];
    if (failure !== undefined) notes.push(`metadata of volume group ${v.name} not saved with vgcfgbackup: ${failure}`);
  }
  return lvm;
}
