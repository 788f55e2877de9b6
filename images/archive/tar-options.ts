import type { Compression } from '../store/manifest.js';

/**
 * The tar options that make an archive faithful, in one place so that create, extract, list and
 * the README's restore-by-hand line cannot drift apart.
 */

/** POSIX (pax) format keeps nanosecond times, long names and big ids; atime/ctime are dropped so identical trees give identical archives. */
export const TAR_FORMAT_OPTIONS = ['--format=posix', '--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime'];

export const TAR_METADATA_OPTIONS = ['--xattrs', '--xattrs-include=*', '--acls', '--selinux', '--numeric-owner'];

export const TAR_CREATE_OPTIONS = [...TAR_FORMAT_OPTIONS, ...TAR_METADATA_OPTIONS, '--sparse', '--one-file-system'];

/** -p keeps modes (setuid included); --xattrs-include=* on extract, or file capabilities are lost. */
export const TAR_EXTRACT_OPTIONS = [...TAR_METADATA_OPTIONS, '--preserve-permissions', '--same-owner'];

/** The compressor between tar and the volumes, reading stdin and writing stdout. */
export function compressCommand(c: Compression): { file: string; args: string[] } | null {
  switch (c.kind) {
    case 'zstd':
      return { file: 'zstd', args: ['-T0', `-${c.level ?? 3}`, '-q'] };
    case 'gzip':
      return { file: 'gzip', args: [`-${c.level ?? 6}`] };
    case 'none':
      return null;
  }
}

export function decompressProgram(c: Compression): string | null {
  switch (c.kind) {
    case 'zstd':
      return 'zstd -d -q';
    case 'gzip':
      return 'gzip -d';
    case 'none':
      return null;
  }
}

export function archiveSuffix(c: Compression): string {
  return c.kind === 'zstd' ? '.tar.zst' : c.kind === 'gzip' ? '.tar.gz' : '.tar';
}

export function parseCompression(text: string): Compression {
  const m = /^(zstd|gzip|none)(?::(\d+))?$/.exec(text);
  if (!m) throw new Error(`--compress "${text}" is not one of zstd[:LEVEL], gzip[:LEVEL], none`);
  const kind = m[1] as Compression['kind'];
  const level = m[2] === undefined ? undefined : Number(m[2]);
  if (kind === 'none' && level !== undefined) throw new Error('--compress none takes no level');
  if (kind === 'zstd' && level !== undefined && (level < 1 || level > 19)) throw new Error(`zstd level ${level} is outside 1..19`);
  if (kind === 'gzip' && level !== undefined && (level < 1 || level > 9)) throw new Error(`gzip level ${level} is outside 1..9`);
  return level === undefined ? { kind } : { kind, level };
}

/** The one line an operator types to restore a filesystem by hand (README, `images show`). */
export function restoreByHandCommand(c: Compression, volumeGlob: string, target: string, incremental = false): string {
  const decompress = c.kind === 'zstd' ? ' | zstd -d' : c.kind === 'gzip' ? ' | gzip -d' : '';
  const options = `--numeric-owner --xattrs --xattrs-include='*' --acls --selinux -p --same-owner`;
  if (!incremental) return `cat ${volumeGlob}${decompress} | tar -x -f - -C ${target} ${options}`;
  // A chain is extracted level by level; /dev/null makes tar apply each level's deletions and
  // renames, which GNU tar 1.34 gets right only when run inside the target (not with -C).
  return `cd ${target} && cat ${volumeGlob}${decompress} | tar -x -f - ${options} --listed-incremental=/dev/null`;
}
