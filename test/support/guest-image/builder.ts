import { chmod, mkdir, readdir, readFile, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { INIT_DIR, buildInitramfs, grubConfig, kernelCmdline } from './boot.js';
import { cachedEntry, writeRecord, type CachedEntry } from './cache-entry.js';
import { cacheKey, findHostInputs, type HostInputs } from './host.js';
import { buildInGuest } from './in-guest.js';
import { renderFstab, rootMountpoints } from './layout.js';
import { buildOnHost } from './on-host.js';
import type { GuestImageSpec } from './spec.js';
import { copyInto, installBusybox, put } from './staging.js';
import { writeTree } from './trees.js';

/**
 * The one builder of the test fixtures' disks: takes a fixture as data (spec.ts), makes its disks
 * on this host or in a guest, and keeps them in the fixture cache under a key of the spec, the
 * host's kernel and tools, and the builder's own code. The caller turns what the build found out
 * (the hashes, the tool outputs captured in the guest) into its record, kept as fixture.json.
 */

/** What a build found out, for the caller's record. */
export interface BuildOutcome {
  /** Per spec.hashes group, by its first mountpoint. */
  hashes: Record<string, string>;
  fstab: string;
  kernel: { version: string; cmdline: string };
  /** Wall time of the build guest (0 for a build on the host). */
  buildSeconds: number;
  /** Real tool outputs captured in the build guest (sfdisk, mdadm, lvm, lsblk, blkid, btrfs), inside the entry; null for a build on the host. */
  captures: string | null;
}

export interface BuildOptions<R> {
  cacheDir: string;
  /** The entry's name before its key; entries of the same family under other keys are dropped. */
  family: string;
  /** The caller's own source files: part of the key, as the record is made there. */
  sources: string[];
  /** A rescue system built with the full kernel, for builds in a guest; else one kept in the cache. */
  rescueDir?: string;
  record: (outcome: BuildOutcome) => Promise<R> | R;
}

const GRUB_MODINFO = ['/usr/lib/grub/x86_64-efi/modinfo.sh', '/usr/lib/grub/i386-pc/modinfo.sh'];

/** Builds (or finds in the cache) the disks of `spec`: the entry holds <device>.img for each disk and fixture.json. */
export async function buildGuestImage<R>(spec: GuestImageSpec, o: BuildOptions<R>): Promise<CachedEntry<R>> {
  const host = await findHostInputs({ kernel: spec.boot.kernel, modules: spec.boot.initramfsModules, storageTools: spec.boot.storageTools });
  const scripts = (await readdir(INIT_DIR)).sort().map((f) => join(INIT_DIR, f));
  const key = await cacheKey({ spec, kernel: host.kernelVersion }, [...o.sources, ...scripts], host, GRUB_MODINFO);
  return cachedEntry<R>(o.cacheDir, o.family, key, async (work, entry) => {
    const root = spec.filesystems.find((f) => f.mountpoint === '/');
    if (!root) throw new Error(`fixture '${spec.name}': no filesystem is mounted on /`);
    const cmdline = kernelCmdline(root.uuid);
    const fstab = renderFstab(spec);
    const initrd = await fixtureInitramfs(work, spec, host);
    const grubCfg = grubConfig({ ...spec.boot.grub, rootUuid: root.uuid, kernelVersion: host.kernelVersion, cmdline });
    const stage = async (mountpoint: string, dir: string): Promise<void> => {
      if (mountpoint === '/') await stageSystem(dir, spec, host, { fstab, grubCfg, initrd });
      await writeTree(dir, spec.trees.find((t) => t.mountpoint === mountpoint)?.files ?? []);
    };
    const made = spec.build === 'host' ? await buildOnHost(spec, work, entry, stage) : await buildInGuest(spec, work, entry, stage, { host, cacheDir: o.cacheDir, rescueDir: o.rescueDir });
    const record = await o.record({ hashes: made.hashes, fstab, kernel: { version: host.kernelVersion, cmdline }, buildSeconds: made.seconds, captures: made.captures });
    await writeRecord(entry, record);
  });
}

async function fixtureInitramfs(work: string, spec: GuestImageSpec, host: HostInputs): Promise<Buffer> {
  const files: Record<string, string> = {};
  if (spec.raid.length) {
    const arrays = spec.raid.map((md) => `ARRAY ${md.device} metadata=${md.metadata} UUID=${md.uuid}`);
    // HOMEHOST <ignore>: the array is ours whatever host name the restore gave it.
    files['etc/mdadm/mdadm.conf'] = ['# the fixture\'s arrays, by UUID', 'DEVICE partitions', 'HOMEHOST <ignore>', ...arrays, ''].join('\n');
  }
  if (spec.boot.storageTools) files['etc/lvm/lvm.conf'] = 'devices {\n  obtain_device_list_from_udev = 0\n}\nactivation {\n  udev_sync = 0\n  udev_rules = 0\n}\n';
  return buildInitramfs(work, {
    busyboxClosure: host.busyboxClosure, applets: spec.boot.initramfsApplets, hostFiles: host.storageClosure, modules: host.modules,
    init: await readFile(join(INIT_DIR, 'initramfs-init.sh')), dirs: spec.boot.storageTools ? ['run', 'etc/lvm'] : [], files,
  });
}

/** The root filesystem's system part: directories, busybox, the init, fstab, the kernel, the initramfs and grub.cfg. */
async function stageSystem(root: string, spec: GuestImageSpec, host: HostInputs, made: { fstab: string; grubCfg: string; initrd: Buffer }): Promise<void> {
  const dirs = ['proc', 'sys', 'dev', 'run', 'mnt', 'root', 'boot/grub', 'usr/share/fixture', 'usr/lib/fixture', 'var/lib/fixture', ...rootMountpoints(spec).map((m) => m.slice(1))];
  for (const d of dirs) await mkdir(join(root, d), { recursive: true });
  await mkdir(join(root, 'tmp'));
  await chmod(join(root, 'tmp'), 0o1777);
  await chmod(join(root, 'root'), 0o700);
  await installBusybox(root, host.busyboxClosure, spec.boot.rootApplets);
  await put(join(root, 'sbin/init'), await readFile(join(INIT_DIR, spec.boot.init)), 0o755);
  await put(join(root, 'usr/lib/fixture/fixture-lib.sh'), await readFile(join(INIT_DIR, 'fixture-lib.sh')));
  await put(join(root, 'etc/fstab'), made.fstab);
  await put(join(root, 'etc/fixture-name'), `${spec.name}\n`);
  if (spec.raid.length) {
    // What a real system with this layout carries, though the fixture's own initramfs has its own copy.
    const arrays = spec.raid.map((md) => `ARRAY ${md.device} metadata=${md.metadata} UUID=${md.uuid} name=${md.name}`);
    await put(join(root, 'etc/mdadm/mdadm.conf'), ['DEVICE partitions', 'HOMEHOST <ignore>', ...arrays, ''].join('\n'));
  }
  await copyInto(root, host.vmlinuz, 0o644); // lands as /boot/vmlinuz-<version>, as on the host
  await put(join(root, 'boot', `initrd.img-${host.kernelVersion}`), made.initrd);
  await put(join(root, 'boot/grub/grub.cfg'), made.grubCfg);
  await symlink(`boot/vmlinuz-${host.kernelVersion}`, join(root, 'vmlinuz'));
  await symlink(`boot/initrd.img-${host.kernelVersion}`, join(root, 'initrd.img'));
}
