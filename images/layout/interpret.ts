import Value from 'typebox/value';
import { LifeboatError } from '../../core/errors.js';
import { LayoutSchema, type Layout } from './model.js';
import type { Evidence } from './evidence.js';
import { devicesOf, disksOf, filesystemsOf, withDetails } from './interpret-devices.js';
import { fstabOf, withMounts } from './interpret-mounts.js';
import { lvmOf, mdOf } from './interpret-stacks.js';
import { bootloaderOf, hostOf } from './interpret-system.js';

/**
 * The layout model from the probe's evidence (an image's layout/ folder): a pure function, so the
 * layout of any stored image can be derived again and compared. Each stage reads the evidence
 * and what the stages before it found; notes come out in the order the probe met their causes.
 */
export function interpretLayout(ev: Evidence): Layout {
  const notes: string[] = [];
  const devices = devicesOf(ev);
  const disks = disksOf(ev, devices, notes);
  const blockDevices = devices.parsed.blockDevices.filter((b) => devices.set.has(b.name));
  const found = filesystemsOf(ev, devices, notes);
  const detailed = found.works.map((w) => withDetails(ev, w, notes));
  const fstab = fstabOf(ev, notes);
  const works = detailed.map((w) => withMounts(ev, w, fstab));
  const md = mdOf(ev, devices, notes);
  const lvm = lvmOf(ev, devices, notes);
  const bootloader = bootloaderOf(ev, devices, disks, works, notes);
  const host = hostOf(ev);

  const layout: Layout = {
    disks,
    blockDevices,
    filesystems: works.map((w) => w.fs),
    swaps: found.swaps,
    md,
    lvm,
    fstab,
    bootloader,
    host,
  };
  if (notes.length > 0) layout.notes = notes;
  if (!Value.Check(LayoutSchema, layout)) {
    const problems = [...Value.Errors(LayoutSchema, layout)].slice(0, 5).map((e) => `${e.instancePath || '/'} ${e.message}`);
    throw new LifeboatError('LB_INTERNAL', `the probe built a layout that does not fit the layout schema (${problems.join('; ')}): this is a bug in the probe`, { problems });
  }
  return layout;
}
