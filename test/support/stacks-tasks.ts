import assert from 'node:assert/strict';
import type { QemuMachine } from './qemu.js';
import type { StacksBed, Task } from './stacks-bed.js';

/**
 * The two runs every storage-stack end-to-end test makes on its bed: a capture of a machine on the
 * given disks, and a nuke onto new blank disks. Each must end done; the caller checks the rest.
 * Machines get 1536 MiB: the full-kernel rescue system and the RAID/LVM tools need it.
 */

type Firmware = 'bios' | 'uefi';

/** A machine on `disks` (the fixture's copies), captured over PXE as `image`. */
export async function captureOn(s: StacksBed, spec: { name: string; firmware: Firmware; disks: string[]; image: string }): Promise<{ machine: QemuMachine; task: Task }> {
  const machine = await s.bed.addMachine({ name: spec.name, firmware: spec.firmware, disks: spec.disks, memoryMiB: 1536 });
  const task = await s.runTaskBoot(machine, await s.task('capture', machine, spec.image));
  assert.equal(task.state, 'done', `capture: ${task.errorCode}: ${task.error}`);
  return { machine, task };
}

/**
 * A machine on blank disks of `sizes` (files named after `diskPrefix`), nuked over PXE from `image`
 * with the operator's `flags`.
 */
export async function nukeOntoBlank(
  s: StacksBed,
  spec: { name: string; firmware: Firmware; diskPrefix: string; sizes: number[]; image: string; flags?: string[] },
): Promise<{ machine: QemuMachine; disks: string[]; task: Task }> {
  const disks = await s.blankDisks(spec.diskPrefix, spec.sizes);
  const machine = await s.bed.addMachine({ name: spec.name, firmware: spec.firmware, disks, memoryMiB: 1536 });
  const task = await s.runTaskBoot(machine, await s.task('nuke', machine, spec.image, spec.flags));
  assert.equal(task.state, 'done', `${task.errorCode}: ${task.error}`);
  return { machine, disks, task };
}
