import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { runTool } from '../../core/run-tool.js';
import { probeLayout } from '../../images/layout/probe.js';
import { planRestore } from '../../images/restore/plan.js';
import { renderPlan, type CommandStep } from '../../images/restore/render-plan.js';
import { GiB, disk, stripedVolumes } from '../support/restore-layouts.js';
import { attachLoop, refreshPartitions, sparseFile } from '../support/loop-devices.js';
import { makeWorld } from '../support/world.js';
import { asStored, rederive } from '../support/rederive.js';

// The rendered LVM steps run for real on loop devices: the generated metadata must be what
// pvcreate --restorefile and vgcfgrestore accept, and give exactly the planned VG. This host's
// kernel has no device-mapper, so activation (vgchange -ay, vgmknodes) and what follows are proven
// in QEMU; everything before it that writes the disks is proven here. The probe then reads the
// VG back, with vgcfgbackup's evidence, and writes nothing to LVM's own directories.

test('the planned VG is made by the rendered pvcreate and vgcfgrestore: PV, VG and LV UUIDs, sizes, stripes; the probe reads it back', async (t) => {
  const world = await makeWorld(t, 'lb-lvm');
  const disks: string[] = [];
  for (const [name, bytes] of [['sys', 40 * GiB], ['d1', 20 * GiB], ['d2', 20 * GiB]] as const) {
    disks.push(await attachLoop(world, await sparseFile(join(world.dir, `${name}.img`), bytes), { partitions: true }));
  }
  // LVM reads its configuration from, and writes its backups to, a directory of this test's own,
  // and sees only this test's PVs.
  const system = join(world.dir, 'lvm');
  await mkdir(system);
  const pvs = disks.slice(1).map((d) => `${d}p1`);
  await writeFile(join(system, 'lvm.conf'), `devices {\n filter = [ ${pvs.map((p) => `"a|^${p}$|"`).join(', ')}, "r|.*|" ]\n use_devicesfile = 0\n hints = "none"\n obtain_device_list_from_udev = 0\n}\n`);
  const before = process.env.LVM_SYSTEM_DIR;
  process.env.LVM_SYSTEM_DIR = system;
  world.defer(async () => {
    if (before === undefined) delete process.env.LVM_SYSTEM_DIR;
    else process.env.LVM_SYSTEM_DIR = before;
  });
  // PV labels are removed before the loop devices go, so no later scan finds this VG.
  world.defer(async () => {
    for (const p of pvs) await execa('wipefs', ['-a', '-q', p], { reject: false });
  });

  const plan = planRestore({
    manifest: stripedVolumes(),
    targetDisks: disks.map((d, i) => disk(d, i === 0 ? 40 * GiB : 20 * GiB)),
    policy: 'proportional',
    firmware: 'uefi',
    targetRoot: join(world.dir, 'target'),
  });
  const steps = renderPlan(plan).steps.filter((s): s is CommandStep => s.kind === 'command');
  const needsDeviceMapper = new Set(['vgchange', 'vgmknodes']);
  for (const s of steps.filter((x) => ['wipe', 'partition', 'lvm'].includes(x.stage) && !needsDeviceMapper.has(x.command[0]!))) {
    await runTool(s.command[0]!, s.command.slice(1), { ...(s.input !== undefined ? { input: s.input } : {}), purpose: s.description });
    if (s.stage === 'partition') await refreshPartitions(s.command.at(-1)!);
  }

  await rm(join(system, 'backup'), { recursive: true, force: true });
  await rm(join(system, 'archive'), { recursive: true, force: true });
  const { layout, raw } = await probeLayout({ disks: disks.slice(1) });
  assert.deepEqual(rederive(raw), asStored(layout), 'the layout is derived again from the raw evidence alone');
  const vg = plan.lvm.vgs[0]!;
  assert.deepEqual(layout.lvm.vgs.map((v) => [v.name, v.uuid, v.extentSize]), [[vg.name, vg.uuid, vg.extentSize]]);
  assert.deepEqual(
    layout.lvm.pvs.map((p) => [p.device, p.uuid]).sort(),
    plan.lvm.pvs.map((p) => [p.device, p.uuid]).sort(),
  );
  const got = layout.lvm.lvs.map((l) => ({ name: l.name, uuid: l.uuid, size: l.size, segtype: l.segtype, stripes: l.stripes, stripeSize: l.stripeSize, devices: l.segments?.flatMap((s) => s.devices) }));
  const want = plan.lvm.lvs.map((l) => ({
    name: l.name, uuid: l.uuid, size: l.bytes, segtype: l.stripes > 1 ? 'striped' : 'linear', stripes: l.stripes, stripeSize: l.stripeSize,
    devices: l.segments.flatMap((s) => s.stripes.map((st) => `${st.pv}(${st.startExtent})`)),
  }));
  assert.deepEqual(got.sort((a, b) => a.name.localeCompare(b.name)), want.sort((a, b) => a.name.localeCompare(b.name)));
  // The sizes are this plan's: both LVs grew with the disks.
  assert.ok(plan.lvm.lvs.every((l) => l.bytes > l.sourceBytes));

  // Evidence: the VG's metadata as vgcfgbackup writes it, and nothing written to LVM's directories.
  const cfg = raw[`vgcfgbackup-${vg.name}.cfg`];
  assert.ok(cfg, `layout/ has vgcfgbackup-${vg.name}.cfg (raw: ${Object.keys(raw).join(', ')})`);
  assert.match(cfg, new RegExp(`id = "${vg.uuid}"`));
  assert.match(cfg, /stripe_count = 2/);
  for (const dir of ['backup', 'archive']) assert.deepEqual(await readdir(join(system, dir)).catch(() => []), [], `nothing in ${dir}`);
});
