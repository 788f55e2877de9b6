import { createHash } from 'node:crypto';
import { chmod, chown, link, lstat, mkdir, readdir, readFile, readlink, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { runTool } from '../../../core/run-tool.js';
import { FIXED_MTIME, put, seededBytes, setXattr } from './staging.js';

/**
 * A fixture's files as data, written in order into a filesystem's tree (paths relative to its
 * mountpoint); and the hash over such trees that the fixture's init prints (tree_hash in
 * init/fixture-lib.sh computes the same in the guest).
 */
export type FileEntry =
  /** A regular file with text, or `bytes` reproducible bytes from `seed`; owner is uid and gid; xattr sets user.lifeboat.fixture; capability is setcap's. */
  | { path: string; text: string; mode?: number; owner?: number; xattr?: string; capability?: string }
  | { path: string; seed: string; bytes: number; mode?: number; owner?: number }
  | { path: string; hardlinkTo: string }
  | { path: string; symlinkTo: string }
  | { path: string; dir: true; mode?: number; owner?: number };

export async function writeTree(dir: string, files: readonly FileEntry[]): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const f of files) {
    const at = join(dir, f.path);
    if ('hardlinkTo' in f) await link(join(dir, f.hardlinkTo), at);
    else if ('symlinkTo' in f) await symlink(f.symlinkTo, at);
    else if ('dir' in f) {
      await mkdir(at, { recursive: true });
      if (f.mode !== undefined) await chmod(at, f.mode);
    } else {
      await put(at, 'seed' in f ? seededBytes(f.seed, f.bytes) : f.text, f.mode ?? 0o644);
      if ('xattr' in f && f.xattr !== undefined) await setXattr(at, f.xattr);
      if ('capability' in f && f.capability !== undefined) await runTool('setcap', [f.capability, at]);
    }
    // After the content: chown clears a file's capabilities and set-id bits, so no entry has both.
    if (!('hardlinkTo' in f) && !('symlinkTo' in f) && f.owner !== undefined) await chown(at, f.owner, f.owner);
  }
}

/** A tree as a tar that keeps owners, modes, xattrs and ACLs, the same bytes on every build. */
export async function tarTree(dir: string, file: string): Promise<void> {
  await runTool('tar', ['--format=posix', '--xattrs', "--xattrs-include=*", '--acls', '--numeric-owner', '--sort=name', `--mtime=${FIXED_MTIME.toISOString()}`, '-c', '-f', file, '-C', dir, '.'],
    { purpose: `archive the fixture tree ${dir}` });
}

/**
 * sha256 over the sorted lines `F <path> <size> <mode> <uid> <gid> <links> <sha256>` for every
 * regular file and `L <path> <target>` for every symlink of the given filesystems together (each
 * a directory here, shown as its mountpoint in the guest). Left out: /proc /sys /dev /run /tmp,
 * GRUB's files under /boot/grub other than grub.cfg and the boot loaders under /boot/efi/EFI,
 * which every restore rewrites, and the machine's identity (hostname, machine-id, SSH host keys),
 * which a clone's restore rewrites: FIXTURE-IDENTITY shows those.
 */
export async function hashTrees(trees: ReadonlyArray<{ mountpoint: string; dir: string }>): Promise<string> {
  const lines: string[] = [];
  const walk = async (dir: string, shown: string): Promise<void> => {
    for (const entry of await readdir(dir)) {
      const path = join(dir, entry);
      const guestPath = shown === '/' ? `/${entry}` : `${shown}/${entry}`;
      if (shown === '/' && ['proc', 'sys', 'dev', 'run', 'tmp'].includes(entry)) continue;
      const st = await lstat(path);
      if (st.isDirectory()) await walk(path, guestPath);
      else if (st.isSymbolicLink()) lines.push(`L ${guestPath} ${await readlink(path)}`);
      else if (st.isFile()) {
        if ((guestPath.startsWith('/boot/grub/') && guestPath !== '/boot/grub/grub.cfg') || guestPath.startsWith('/boot/efi/EFI/')) continue;
        if (guestPath === '/etc/hostname' || guestPath === '/etc/machine-id' || guestPath.startsWith('/etc/ssh/ssh_host_')) continue;
        const sum = createHash('sha256').update(await readFile(path)).digest('hex');
        lines.push(`F ${guestPath} ${st.size} ${(st.mode & 0o7777).toString(8)} ${st.uid} ${st.gid} ${st.nlink} ${sum}`);
      }
    }
  };
  for (const t of trees) await walk(t.dir, t.mountpoint);
  lines.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  return createHash('sha256').update(lines.map((l) => `${l}\n`).join('')).digest('hex');
}
