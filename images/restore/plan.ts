/**
 * The restore planner: the image's layout and the target's disks in, a RestorePlan out. Pure (no
 * I/O), so what will happen to a machine's disks is decided, shown and tested before anything is
 * written; render-plan.ts turns the plan into the exact commands. It refuses (LB_DOES_NOT_FIT,
 * LB_INVALID) rather than guess: a disk too small, a disk missing, an edit that makes no sense, a
 * layer it cannot build (firmware RAID, thin pools, ReiserFS).
 *
 * The layers stack: disks and partitions → md arrays → LVM PVs, VGs, LVs → filesystems and swap
 * on any of those. plan/plan-restore.ts composes the stages, one file each under plan/:
 *
 *   source-contents.ts  what each source device holds (filesystems, swap, md members, PVs)
 *   map-disks.ts        which source disk goes onto which target disk
 *   restored-sources.ts which source devices that restores; every archive still has a place
 *   survive-stacks.ts   which md arrays and VGs the restored disks carry
 *   stack-needs.ts      what each member and PV needs, from the filesystems on top
 *   size-disks.ts       each disk's partitions sized (partition-disk.ts), RAID members equalised
 *   size-stacks.ts      arrays from their members, VGs from their PVs, LVs within their VG
 *   filesystems.ts      filesystems and swap on what was made (btrfs-subvolumes.ts)
 *   mounts.ts           where each filesystem is mounted and each archive extracted
 *   bootloader.ts       GRUB in boot sectors (BIOS) or a loader on the ESP (UEFI)
 *   fstab-check.ts      fstab lines the restored system would wait for at boot
 *
 * This module is the planner's public face: callers import from here.
 */

export type { SizingPolicy } from './sizing.js';
export { PlanEditsSchema, type PlanEdits } from './plan-edits.js';
export { MKFS_TYPES } from './plan/source-contents.js';
export * from './plan/types.js';
export { compareDevicePaths, partitionDevice } from './plan/device-paths.js';
export { planRestore } from './plan/plan-restore.js';
