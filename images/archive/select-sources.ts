import { posix } from 'node:path';

/**
 * Which mounted filesystems become tar streams, and what each leaves out. Pure, so the rules —
 * network and pseudo filesystems skipped, bind mounts archived once, the store and the scratch
 * directory never swallowed by the archive written into them — are unit-tested on plain data.
 */
export interface MountEntry {
  /** Where it is mounted on this machine. */
  target: string;
  source: string;
  fstype: string;
  options: string;
  /** The directory of the filesystem that is mounted there: "/" unless a bind or subvolume mount. */
  fsroot: string;
}

export interface ArchiveSource {
  id: string;
  /** Where the filesystem is mounted on the system being archived ("/", "/home"). */
  mountpoint: string;
  /** Where tar reads it on this machine. */
  directory: string;
  device: string;
  fstype: string;
  /** Anchored member names to leave out: ./var/cache */
  excludes: string[];
  /** btrfs: the subvolume the stream holds, as a path from the volume's top ("" for the top). */
  subvolume?: string;
}

export interface SkippedMount {
  target: string;
  fstype: string;
  reason: string;
}

export const NETWORK_FSTYPES = new Set(['nfs', 'nfs4', 'cifs', 'smb3', 'smbfs', 'sshfs', 'autofs', 'ceph', 'glusterfs', 'afs', 'ncpfs', '9p', 'davfs', 'lustre', 'gfs2', 'ocfs2', 'virtiofs']);
export const PSEUDO_FSTYPES = new Set([
  'proc', 'sysfs', 'devtmpfs', 'devpts', 'tmpfs', 'ramfs', 'cgroup', 'cgroup2', 'securityfs', 'debugfs', 'tracefs',
  'pstore', 'efivarfs', 'bpf', 'mqueue', 'hugetlbfs', 'configfs', 'fusectl', 'binfmt_misc', 'rpc_pipefs', 'nfsd',
  'selinuxfs', 'overlay', 'squashfs', 'iso9660', 'nsfs', 'rootfs', 'zonefs', 'aufs',
]);
export const LOCAL_FSTYPES = new Set(['ext2', 'ext3', 'ext4', 'xfs', 'btrfs', 'vfat', 'msdos', 'exfat', 'jfs', 'reiserfs', 'f2fs', 'ntfs', 'ntfs3', 'hfsplus', 'nilfs2', 'bcachefs']);

/** "/" → root, "/boot/efi" → boot-efi, "/var/lib/x y" → var-lib-x-y. */
export function archiveIdFor(mountpoint: string): string {
  if (mountpoint === '/') return 'root';
  const id = mountpoint.replace(/^\/+|\/+$/g, '').toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^[._-]+/, '');
  return id || 'fs';
}

function within(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir === '/' ? '/' : `${dir}/`);
}

export function selectSources(
  mounts: MountEntry[],
  options: { root: string; excludes: string[]; storeDir: string; scratchDir?: string },
): { sources: ArchiveSource[]; skipped: SkippedMount[]; excludedSubvolumes: SubvolumeRef[] } {
  const root = posix.normalize(options.root).replace(/(.)\/$/, '$1');
  const toSourcePath = (target: string): string => (root === '/' ? target : `/${posix.relative(root, target)}`.replace(/\/$/, '') || '/');
  const userExcludes = options.excludes.map((e) => posix.normalize(e).replace(/(.)\/$/, '$1'));
  // The store and scratch are paths on this machine; user excludes are paths on the archived system.
  const hostExcludes = [options.storeDir, ...(options.scratchDir ? [options.scratchDir] : [])].map((p) => posix.normalize(p).replace(/(.)\/$/, '$1'));

  const sources: ArchiveSource[] = [];
  const skipped: SkippedMount[] = [];
  const excludedSubvolumes: SubvolumeRef[] = [];
  const seen = new Map<string, string>();
  const ids = new Set<string>();
  const bindTargets: string[] = [];

  // Mount order matters for over-mounts: the last mount on a target is the one that is visible.
  const visible = new Map<string, MountEntry>();
  for (const m of mounts) if (within(m.target, root)) visible.set(m.target, m);
  const candidates = [...visible.values()].sort((a, b) => a.target.localeCompare(b.target));

  for (const m of candidates) {
    const mountpoint = toSourcePath(m.target);
    const skip = (reason: string) => skipped.push({ target: m.target, fstype: m.fstype, reason });
    if (NETWORK_FSTYPES.has(m.fstype) || m.fstype.startsWith('fuse')) { skip('network or FUSE filesystem'); continue; }
    if (PSEUDO_FSTYPES.has(m.fstype)) { skip('pseudo or in-memory filesystem'); continue; }
    if (!LOCAL_FSTYPES.has(m.fstype) || !m.source.startsWith('/dev/')) { skip(`not a local disk filesystem (${m.fstype} on ${m.source})`); continue; }
    const excludedBy = userExcludes.find((e) => within(mountpoint, e)) ?? hostExcludes.find((e) => within(m.target, e));
    if (excludedBy) {
      skip(`under excluded path ${excludedBy}`);
      if (m.fstype === 'btrfs') excludedSubvolumes.push({ device: m.source, subvolume: subvolumeOf(m.fsroot) });
      continue;
    }
    const key = `${m.source}\u0000${m.fstype === 'btrfs' ? m.fsroot : '/'}`;
    const earlier = seen.get(key);
    if (earlier) { skip(`same filesystem as ${earlier} (bind mount)`); bindTargets.push(m.target); continue; }
    if (m.fsroot !== '/' && m.fstype !== 'btrfs') { skip(`bind mount of ${m.fsroot} on ${m.source}`); bindTargets.push(m.target); continue; }
    seen.set(key, m.target);
    let id = archiveIdFor(mountpoint);
    for (let n = 2; ids.has(id); n++) id = `${archiveIdFor(mountpoint)}-${n}`;
    ids.add(id);
    sources.push({ id, mountpoint, directory: m.target, device: m.source, fstype: m.fstype, excludes: [], ...(m.fstype === 'btrfs' ? { subvolume: subvolumeOf(m.fsroot) } : {}) });
  }

  // Excludes go to the stream whose filesystem holds the path: the deepest source above it.
  const owner = (hostPath: string): ArchiveSource | undefined =>
    sources.filter((s) => within(hostPath, s.directory)).sort((a, b) => b.directory.length - a.directory.length)[0];
  const addExclude = (hostPath: string) => {
    const s = owner(hostPath);
    if (!s || hostPath === s.directory) return;
    const member = `./${posix.relative(s.directory, hostPath)}`;
    if (!s.excludes.includes(member)) s.excludes.push(member);
  };
  for (const e of userExcludes) addExclude(root === '/' ? e : posix.join(root, e));
  for (const e of hostExcludes) addExclude(e);
  // A bind mount shares its device with its parent, so --one-file-system would walk into it twice.
  for (const b of bindTargets) addExclude(b);
  return { sources, skipped, excludedSubvolumes };
}

/** findmnt's FSROOT of a btrfs mount ("/@home", "/") as a subvolume path from the top ("@home", ""). */
function subvolumeOf(fsroot: string): string {
  return fsroot.replace(/^\/+/, '').replace(/\/+$/, '');
}

export interface SubvolumeRef {
  device: string;
  subvolume: string;
}

/** A btrfs volume as the layout records it: its subvolumes (paths from the top) and where it is mounted. */
export interface BtrfsVolume {
  device: string;
  mountpoint?: string;
  subvolumes: Array<{ path: string }>;
}

/** Snapper's numbered snapshots: history, not the system; the restore does not recreate them either. */
export function isSnapperSnapshot(path: string): boolean {
  return /(^|\/)\.snapshots\/\d+\/snapshot$/.test(path);
}

function subvolumeSlug(path: string): string {
  if (path === '') return 'top';
  return path.toLowerCase().replace(/[^a-z0-9._]+/g, '-').replace(/^[._-]+|[._-]+$/g, '') || 'subvolume';
}

/**
 * The btrfs subvolumes no stream holds yet, each as a stream of its own: tar's --one-file-system
 * stops at a subvolume (it has its own device number), so a subvolume nested in a mounted one, or
 * one mounted nowhere, would otherwise be left out. Each is read where this machine shows it: under
 * the mount of the subvolume that holds it, or in `tops`, the volume's top mounted by the caller
 * (`needTop` names the volumes that need one). Its id is the volume's id, "@" and the subvolume
 * ("srv@logs", "root@var-lib-machines"); its mountpoint is "" (mounted nowhere), its `subvolume`
 * says where it goes. The top itself becomes a stream only when it holds more than subvolumes.
 */
export function btrfsSubvolumeSources(input: {
  sources: ArchiveSource[];
  volumes: BtrfsVolume[];
  /** Subvolumes mounted under an excluded path (the store, scratch, --exclude): never archived, nor what they hold. */
  excluded: SubvolumeRef[];
  /** Directories of this machine left out (the store, scratch, --exclude under --root). */
  excludedDirectories?: string[];
  tops: ReadonlyMap<string, { directory: string; holdsFiles: boolean }>;
}): { sources: ArchiveSource[]; needTop: string[]; skipped: SkippedMount[] } {
  const excludedDirs = (input.excludedDirectories ?? []).map((p) => posix.normalize(p).replace(/(.)\/$/, '$1'));
  const ids = new Set(input.sources.map((s) => s.id));
  const out: ArchiveSource[] = [];
  const needTop: string[] = [];
  const skipped: SkippedMount[] = [];
  const under = (path: string, parent: string) => parent === '' ? path !== '' : path.startsWith(`${parent}/`);
  for (const vol of input.volumes) {
    const mine = input.sources.filter((s) => s.device === vol.device && s.fstype === 'btrfs' && s.subvolume !== undefined);
    const covered = new Set(mine.map((s) => s.subvolume!));
    const excluded = input.excluded.filter((e) => e.device === vol.device).map((e) => e.subvolume);
    const base = [...mine].sort((a, b) => a.mountpoint.length - b.mountpoint.length)[0]?.id
      ?? (vol.mountpoint ? archiveIdFor(vol.mountpoint) : `dev-${vol.device.split('/').pop()!.toLowerCase().replace(/[^a-z0-9._-]+/g, '-')}`);
    const candidates = ['', ...vol.subvolumes.map((s) => s.path).sort()].filter((p) => !covered.has(p));
    for (const path of candidates) {
      const where = `${vol.device} subvolume ${path === '' ? '(top)' : path}`;
      if (isSnapperSnapshot(path)) {
        skipped.push({ target: where, fstype: 'btrfs', reason: 'snapper snapshot (history, not the system)' });
        continue;
      }
      if (excluded.some((e) => e === path || under(path, e))) {
        skipped.push({ target: where, fstype: 'btrfs', reason: 'inside an excluded subvolume' });
        continue;
      }
      const holder = mine.filter((s) => under(path, s.subvolume!)).sort((a, b) => b.subvolume!.length - a.subvolume!.length)[0];
      let directory: string;
      if (holder) {
        directory = posix.join(holder.directory, holder.subvolume === '' ? path : path.slice(holder.subvolume!.length + 1));
      } else {
        const top = input.tops.get(vol.device);
        if (!top) {
          if (!needTop.includes(vol.device)) needTop.push(vol.device);
          continue;
        }
        if (path === '' && !top.holdsFiles) {
          skipped.push({ target: where, fstype: 'btrfs', reason: 'holds nothing but subvolumes' });
          continue;
        }
        directory = path === '' ? top.directory : posix.join(top.directory, path);
      }
      const excludedBy = excludedDirs.find((e) => within(directory, e));
      if (excludedBy) {
        skipped.push({ target: where, fstype: 'btrfs', reason: `under excluded path ${excludedBy}` });
        continue;
      }
      let id = `${base}@${subvolumeSlug(path)}`;
      for (let n = 2; ids.has(id); n++) id = `${base}@${subvolumeSlug(path)}-${n}`;
      ids.add(id);
      const excludes = excludedDirs.filter((e) => e !== directory && within(e, directory)).map((e) => `./${posix.relative(directory, e)}`);
      out.push({ id, mountpoint: '', directory, device: vol.device, fstype: 'btrfs', excludes, subvolume: path });
    }
  }
  return { sources: out, needTop, skipped };
}
