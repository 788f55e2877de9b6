import Type from 'typebox';

/**
 * build.json, written beside vmlinuz and initrd.img: what the rescue system was built from and what
 * came out, so an operator (or the server) can tell which rescue system a machine boots. It holds
 * no build time or host name: two builds from the same inputs write the same file.
 */
const FileFacts = Type.Object({ file: Type.String(), bytes: Type.Integer(), sha256: Type.String() });

export const BuildRecordSchema = Type.Object({
  format: Type.Literal('lifeboat-rescue/1'),
  lifeboatVersion: Type.String(),
  /** Seconds since the epoch stamped on every file of the initramfs. */
  sourceDateEpoch: Type.Integer(),
  kernel: Type.Object({
    version: Type.String(),
    source: Type.String(),
    package: Type.Union([Type.String(), Type.Null()]),
    packageVersion: Type.Union([Type.String(), Type.Null()]),
  }),
  vmlinuz: FileFacts,
  initrd: Type.Intersect([
    FileFacts,
    Type.Object({
      compression: Type.Union([Type.Literal('zstd'), Type.Literal('gzip')]),
      uncompressedBytes: Type.Integer(),
      entries: Type.Integer(),
    }),
  ]),
  agent: Type.Union([Type.Null(), Type.Object({ source: Type.String(), bundled: Type.Boolean(), bytes: Type.Integer(), sha256: Type.String() })]),
  modules: Type.Object({
    count: Type.Integer(),
    /** Asked for but built into this kernel: nothing to carry. */
    builtin: Type.Array(Type.String()),
    /** Asked for but not in this kernel at all (the cloud kernel has no drivers for real hardware). */
    absent: Type.Array(Type.String()),
  }),
  /** Debian packages the files came from, with versions. */
  packages: Type.Array(Type.Object({ name: Type.String(), version: Type.String() })),
  /** Host files that no Debian package owns (e.g. a node installed by hand). */
  unpackaged: Type.Array(Type.String()),
});
export type BuildRecord = Type.Static<typeof BuildRecordSchema>;
