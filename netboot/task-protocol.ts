import Type from 'typebox';
import { PlanEditsSchema } from '../images/restore/plan-edits.js';

/**
 * The task protocol: the only thing the server and the rescue agent share. The agent fetches its
 * task, reports progress as it goes, and finishes with success or a precise failure; every call
 * carries the task's own token. Versioned by its path (/agent/v1).
 */
export const TASK_KINDS = ['nuke', 'capture', 'compare'] as const;
export type TaskKind = (typeof TASK_KINDS)[number];
export const TASK_STATES = ['pending', 'running', 'done', 'failed', 'cancelled'] as const;
export type TaskState = (typeof TASK_STATES)[number];
export const OPEN_TASK_STATES: readonly TaskState[] = ['pending', 'running'];

/** A string enum as JSON Schema's `enum`, so a wrong value is reported with the allowed ones. */
function StringEnum<const T extends readonly string[]>(values: T) {
  return Type.Unsafe<T[number]>({ type: 'string', enum: [...values] });
}
export const TaskKindSchema = StringEnum(TASK_KINDS);
export const TaskStateSchema = StringEnum(TASK_STATES);

export const TaskOptionsSchema = Type.Object(
  {
    /** nuke: how to size partitions for other disks. */
    policy: Type.Optional(StringEnum(['proportional', 'grow-last'] as const)),
    /** nuke: print the plan and stop before writing. */
    dryRun: Type.Optional(Type.Boolean()),
    /** nuke: the operator's edits to the default plan (disk map, disks left out, sizes), handed to the planner as they are. */
    edits: Type.Optional(PlanEditsSchema),
    /**
     * nuke: who the restored machine is (a clone's own name and address), applied to the restored
     * tree before the bootloader: hostname, a new machine-id and SSH host keys, a static address
     * rewritten where the image has one (images/restore/identity/). Without it the restore keeps
     * the image's identity, as a restore of the same machine should.
     */
    identity: Type.Optional(
      Type.Object(
        {
          hostname: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
          ipv4: Type.Optional(Type.String({ minLength: 7, maxLength: 18 })),
          /**
           * A shell script run in the restored tree (chroot, /bin/sh) once the identity is applied,
           * with the machine's facts in LIFEBOAT_* variables: the site's own last touch.
           */
          hook: Type.Optional(Type.String({ minLength: 1, maxLength: 65536 })),
        },
        { additionalProperties: false },
      ),
    ),
    /**
     * nuke: the clone session this task belongs to and the machine's place in it (1…N), so the
     * session's data path (and an operator reading the task) can find the session.
     */
    clone: Type.Optional(Type.Object({ session: Type.Integer({ minimum: 1 }), n: Type.Integer({ minimum: 1 }) }, { additionalProperties: false })),
    /** capture: the image name to publish under. */
    captureImage: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$' })),
    /** Reboot when finished (default true). */
    reboot: Type.Optional(Type.Boolean()),
    /**
     * nuke, a benchmark aid (bench/restore.ts): after the restore, also time the plain
     * `cat volumes | zstd -d | tar -x` of the same volumes onto the restored filesystems (in a
     * scratch directory, removed again) and report both times as `result.benchmark`.
     */
    measureRawExtract: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type TaskOptions = Type.Static<typeof TaskOptionsSchema>;

/**
 * nuke in a clone session: the image's volumes also come by multicast (udpcast), one udp-sender
 * per volume, in `volumes` order, volume i on port base `portBase + 2 * i` (the receiver binds the
 * base, the sender the base + 1). The agent hashes each volume as it receives it; a volume that
 * fails (dropped by the sender, silent, a non-zero exit, a sha256 or size other than the
 * manifest's) is read again over unicast (image.httpUrl / NFS) from its archive's start, and every
 * later volume comes over unicast too: a machine that left the group never rejoins it, so it never
 * waits on a transfer that has already begun (udp-sender ignores late joiners).
 */
export const MULTICAST_RENDEZVOUS = '224.0.0.1';

export const MulticastReceiveSchema = Type.Object(
  {
    /** Even UDP port base of the first volume. */
    portBase: Type.Integer({ minimum: 1024, maximum: 65000, multipleOf: 2 }),
    /**
     * Where sender and receivers meet (--mcast-rdv-address on both sides): MULTICAST_RENDEZVOUS,
     * 224.0.0.1, unless the server says otherwise. Measured: it connects whichever starts first and
     * needs no broadcast address on the interface; udpcast's default (broadcast) needs one, and a
     * unicast rendezvous (the server's address, as FOG does) never connects a receiver that started
     * before its sender.
     */
    rendezvous: Type.String({ minLength: 7, maxLength: 15 }),
    /** Interface to receive on; without it, the one the agent's route to the server goes through. */
    interface: Type.Optional(Type.String({ minLength: 1, maxLength: 15 })),
    /** How long the first volume's receiver waits for the session to start (udp-receiver --start-timeout). */
    startTimeoutSeconds: Type.Integer({ minimum: 1, maximum: 86400 }),
    /** The same for every later volume: the sender of the next volume starts once the previous one ended. */
    nextStartTimeoutSeconds: Type.Integer({ minimum: 1, maximum: 3600 }),
    /** A transfer silent this long is abandoned (udp-receiver --receive-timeout). */
    receiveTimeoutSeconds: Type.Integer({ minimum: 1, maximum: 3600 }),
    /** Volume paths as in the manifest (data/root.tar.zst.000 …), in the order the server sends them. */
    volumes: Type.Array(Type.String({ minLength: 1, maxLength: 512 }), { minItems: 1, maxItems: 10000 }),
  },
  { additionalProperties: false },
);
export type MulticastReceive = Type.Static<typeof MulticastReceiveSchema>;

/** What GET /agent/v1/task returns to the agent. */
export const AgentTaskSchema = Type.Object({
  id: Type.Integer(),
  kind: TaskKindSchema,
  mac: Type.String(),
  state: TaskStateSchema,
  options: TaskOptionsSchema,
  image: Type.Optional(
    Type.Object({
      name: Type.String(),
      version: Type.String(),
      /** Base URL of the version directory over HTTP (manifest.json, SHA256SUMS, data/…). */
      httpUrl: Type.String(),
      /** The same directory on the NFS share, when the server exports one. */
      nfs: Type.Optional(Type.Object({ server: Type.String(), export: Type.String(), path: Type.String() })),
    }),
  ),
  /** nuke in a clone session: where the image's volumes come by multicast (see MulticastReceiveSchema). */
  multicast: Type.Optional(MulticastReceiveSchema),
  /** capture: the image name to publish, and the writable NFS capture area it goes to. */
  upload: Type.Optional(Type.Object({ image: Type.String(), nfs: Type.Optional(Type.Object({ server: Type.String(), export: Type.String() })) })),
});
export type AgentTask = Type.Static<typeof AgentTaskSchema>;

export const STAGES = ['boot', 'fetch', 'verify', 'plan', 'wipe', 'partition', 'md', 'lvm', 'mkfs', 'mount', 'restore', 'identity', 'bootloader', 'probe', 'archive', 'compare', 'report', 'reboot'] as const;
export const ProgressReportSchema = Type.Object(
  {
    stage: StringEnum(STAGES),
    message: Type.Optional(Type.String({ maxLength: 2000 })),
    bytes: Type.Optional(Type.Integer({ minimum: 0 })),
    totalBytes: Type.Optional(Type.Integer({ minimum: 0 })),
    /** Bytes per second. */
    rate: Type.Optional(Type.Number({ minimum: 0 })),
  },
  { additionalProperties: false },
);
export type ProgressReport = Type.Static<typeof ProgressReportSchema>;

export const FinishReportSchema = Type.Object(
  {
    ok: Type.Boolean(),
    /** On failure: a stable code (LB_IMAGE_CORRUPT, LB_DOES_NOT_FIT, …) and the message an operator reads. */
    error: Type.Optional(Type.Object({ code: Type.String(), message: Type.String({ maxLength: 8000 }) })),
    /** On success: what was done (the plan's summary, the captured version, the compare summary). */
    result: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  },
  { additionalProperties: false },
);
export type FinishReport = Type.Static<typeof FinishReportSchema>;

/**
 * What the agent found on the machine it runs on, sent before its task's work: the server keeps
 * the last report per host and refuses a nuke that this machine's disks cannot hold.
 */
export const InventorySchema = Type.Object(
  {
    firmware: StringEnum(['bios', 'uefi'] as const),
    disks: Type.Array(
      Type.Object(
        {
          path: Type.String({ pattern: '^/dev/[A-Za-z0-9/._-]{1,100}$' }),
          size: Type.Integer({ minimum: 0 }),
          logicalSectorSize: Type.Integer({ minimum: 512, maximum: 65536 }),
          physicalSectorSize: Type.Integer({ minimum: 512, maximum: 65536 }),
          model: Type.Optional(Type.String({ maxLength: 200 })),
          serial: Type.Optional(Type.String({ maxLength: 200 })),
        },
        { additionalProperties: false },
      ),
      { maxItems: 64 },
    ),
  },
  { additionalProperties: false },
);
export type Inventory = Type.Static<typeof InventorySchema>;

/** Kernel command line keys the rescue initramfs passes to the agent. */
export const CMDLINE_KEYS = { server: 'lifeboat.server', task: 'lifeboat.task', token: 'lifeboat.token' } as const;
