import { contentsOf, deviceNamer, fsName } from './source-contents.js';
import { planBootloader } from './bootloader.js';
import { checkInput, checkLvEdits, checkPartitionEdits } from './check-input.js';
import { planFilesystems } from './filesystems.js';
import { checkFstab } from './fstab-check.js';
import { mapDisks, sourceDisksOf } from './map-disks.js';
import { planMounts, withEspMount } from './mounts.js';
import { checkArchivesPlaced, restoredSources } from './restored-sources.js';
import { equaliseMembers, sizeDisks, type DiskSizing } from './size-disks.js';
import { sizeStacks } from './size-stacks.js';
import { stackNeeds, stackedName } from './stack-needs.js';
import { surviveStacks } from './survive-stacks.js';
import { PLAN_FORMAT, TARGET_ROOT, type PlanInput, type RestorePlan } from './types.js';

/**
 * The restore planner's stages, in order. Each takes what the earlier ones made and returns a new
 * value with its own notes; the plan's notes are theirs in this order. What each layer needs is
 * worked out from the top down to the partitions (stackNeeds), and sizes from the partitions back
 * up (sizeDisks, equaliseMembers, sizeStacks).
 */
export function planRestore(input: PlanInput): RestorePlan {
  checkInput(input);
  const { manifest, targetDisks, policy, firmware } = input;
  const root = input.targetRoot ?? TARGET_ROOT;
  const workDir = `${root === '/' ? '' : root}.work`;
  const edits = input.edits ?? {};
  const layout = manifest.layout;
  const name = deviceNamer(layout);

  const found = contentsOf(manifest, name);
  const contents = found.contents;
  const { disks: sourceDisks, empty } = sourceDisksOf(layout, (d) => contents.has(d.path));
  const mapping = mapDisks(sourceDisks, empty, targetDisks, edits);
  const sources = restoredSources(sourceDisks, mapping);
  checkPartitionEdits(edits, sources.partitionPaths, sources.droppedDisks);
  const survived = surviveStacks({ layout, name, restored: sources.restoredDevices });
  const stacks = survived.stacks;
  checkLvEdits(edits, layout, stacks.vgs.map((v) => v.name));
  checkArchivesPlaced(contents, sources, stacks);

  const needs = stackNeeds(stacks, contents, edits.lvSizes ?? {});
  const sizing: DiskSizing = {
    pairs: mapping.pairs, contents, policy, sizes: edits.partitionSizes ?? {}, matched: new Set(),
    defaultMapping: Object.keys(edits.diskMap ?? {}).length === 0, allTargets: targetDisks,
    view: { needs, label: (c) => (c.kind === 'md-member' || c.kind === 'pv' ? stackedName(stacks, contents, c.device) : fsName(c)) },
  };
  const sized = sizeDisks(sizing);
  const equalised = equaliseMembers({ stacks, sized, sizing, partitionPaths: sources.partitionPaths });
  const stacked = sizeStacks({ stacks, contents, devices: equalised.devices, bytesOf: equalised.bytesOf, policy, lvSizes: edits.lvSizes ?? {}, workDir, holds: needs.holds });
  const { md, lvm, devices, bytesOf } = stacked;
  const made = planFilesystems({ layout, name, contents, sourceDisks, devices, bytesOf, md, lvm, disksUnder: stacks.disksUnder, droppedDisks: sources.droppedDisks });
  const { mounts, restores } = planMounts(made.filesystems, contents, root, workDir);
  const diskOf = new Map(mapping.pairs.map((p) => [p.source.path, p]));
  const boot = planBootloader({ layout, firmware, diskOf, disks: equalised.disks, filesystems: made.filesystems, disksUnder: stacks.disksUnder });
  const noRoot = restores.length > 0 && !restores.some((r) => r.mountpoint === '/') ? ['the image holds no archive of /: only the filesystems it has are restored'] : [];
  const fstab = checkFstab(layout, { disks: equalised.disks, filesystems: made.filesystems, swaps: made.swaps }, devices);

  return {
    format: PLAN_FORMAT,
    image: manifest.image,
    version: manifest.version,
    policy,
    firmware,
    targetRoot: root,
    workDir,
    disks: equalised.disks,
    untouchedDisks: mapping.untouched,
    droppedDisks: mapping.dropped,
    md,
    lvm,
    filesystems: made.filesystems,
    swaps: made.swaps,
    mounts: withEspMount(mounts, boot.bootloader, root),
    restores,
    bootloader: boot.bootloader,
    notes: [
      ...(layout.notes ?? []).map((n) => `probe: ${n}`),
      ...found.notes, ...survived.notes, ...sized.notes, ...equalised.notes, ...stacked.notes, ...made.notes, ...boot.notes, ...noRoot, ...fstab,
    ],
  };
}
