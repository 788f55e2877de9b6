import Type from 'typebox';

/**
 * The operator's changes to the default plan (the edited mountlist), as a schema so that a task
 * can carry them to the rescue agent and the API can check them: which source disk goes where,
 * which are left out, and sizes to use instead of the policy's.
 */
/** A block device path as the probe names disks: checked at the API edge, since plans render into commands. */
const DevicePath = Type.String({ pattern: '^/dev/(?!.*\\.\\.)[A-Za-z0-9._/:+-]{1,200}$', description: 'a device path, e.g. /dev/vda' });

export const PlanEditsSchema = Type.Object(
  {
    /** Source disk path → target disk path; unmapped source disks take the remaining targets in order. */
    diskMap: Type.Optional(Type.Record(Type.String(), DevicePath)),
    /** Source disks not to restore (a RAID1 mirror for "restore onto one disk", a data disk left out). */
    dropDisks: Type.Optional(Type.Array(DevicePath)),
    /** Source partition path → size in bytes on the target, instead of what the policy gives it. */
    partitionSizes: Type.Optional(Type.Record(Type.String(), Type.Integer({ minimum: 1 }))),
    /** "VG/LV" → size in bytes of that logical volume, instead of what the policy gives it. */
    lvSizes: Type.Optional(Type.Record(Type.String(), Type.Integer({ minimum: 1 }))),
  },
  { additionalProperties: false },
);
export type PlanEdits = Type.Static<typeof PlanEditsSchema>;
