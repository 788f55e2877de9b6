import type { Filesystem } from '../../layout/model.js';
import type { ArchiveEntry } from '../../store/manifest.js';

/**
 * The subvolumes a btrfs volume gets right after mkfs: those the source listed (without snapper's
 * snapshots), mounted, or archived, parents first, with notes on what may differ.
 */

export function subvolumesToCreate(fs: Filesystem | undefined, archives: ArchiveEntry[]): { subvolumes: Array<{ path: string; isDefault?: boolean }> | undefined; notes: string[] } {
  if (!fs) return { subvolumes: undefined, notes: [] };
  const notes: string[] = [];
  const mounted = new Set((fs.mounts ?? []).flatMap((m) => (m.subvolume ? [m.subvolume] : [])));
  const listed = [...(fs.subvolumes ?? [])].sort((a, b) => a.id - b.id);
  // Snapper's snapshots are history, not the system: their contents are not in any archive.
  const snapshot = (p: string) => /(^|\/)\.snapshots\/\d+\/snapshot$/.test(p);
  const keep = listed.filter((s) => !snapshot(s.path));
  if (keep.length < listed.length) notes.push(`btrfs on ${fs.device}: ${listed.length - keep.length} snapper snapshot subvolumes are not recreated`);
  const wanted: Array<{ path: string; isDefault?: boolean }> = keep.map((s) => (s.isDefault ? { path: s.path, isDefault: true } : { path: s.path }));
  for (const m of mounted) if (!wanted.some((w) => w.path === m)) wanted.push({ path: m });
  // Every subvolume the image holds an archive of, even one the probe's list missed.
  for (const a of archives) if (a.subvolume && !wanted.some((w) => w.path === a.subvolume)) wanted.push({ path: a.subvolume });
  // In id order, so a fresh volume hands out the same ids where it can; but a parent before its
  // child even when a subvolume was moved under a younger one.
  const out: typeof wanted = [];
  const add = (w: (typeof wanted)[number]) => {
    if (out.includes(w)) return;
    for (const parent of wanted) if (parent !== w && w.path.startsWith(`${parent.path}/`)) add(parent);
    out.push(w);
  };
  wanted.forEach(add);
  if ((fs.mounts ?? []).some((m) => /(^|,)subvolid=/.test(m.options ?? ''))) {
    notes.push(`btrfs on ${fs.device} is mounted by subvolid= on the source: recreated subvolumes may get other ids; check /etc/fstab on the restored system`);
  }
  if (archives.length === 0 && out.length > 0) notes.push(`btrfs on ${fs.device}: its subvolumes are created empty`);
  return { subvolumes: out.length > 0 ? out : undefined, notes };
}
