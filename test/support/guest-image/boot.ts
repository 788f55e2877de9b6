import { copyFile, lutimes, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { execa } from 'execa';
import { runTool } from '../../../core/run-tool.js';
import { FIXED_MTIME, copyInto, installBusybox, put } from './staging.js';

/**
 * What boots a fixture: its own small initramfs (busybox, the kernel modules it needs, its /init)
 * and GRUB (the configuration, and the EFI image for UEFI), the same way for every fixture.
 */

/** The fixtures' init scripts (init/ beside this file's source: the compiled file finds them in the checkout). */
export const INIT_DIR = fileURLToPath(new URL('../../../../test/support/guest-image/init/', import.meta.url));

export interface InitramfsSpec {
  /** busybox and its libraries, and the applets linked in /bin. */
  busyboxClosure: string[];
  applets: string[];
  /** More host files, by absolute path (mdadm and lvm with their libraries). */
  hostFiles?: string[];
  /** Module files in load order; /init loads them from /modules in the order of /modules.list. */
  modules: string[];
  init: Buffer;
  /** Directories beyond proc, sys, dev, newroot and modules. */
  dirs?: string[];
  /** More files by path in the initramfs (etc/lvm/lvm.conf). */
  files?: Record<string, string>;
}

/** A gzip'd newc cpio, the same bytes on every build. */
export async function buildInitramfs(work: string, spec: InitramfsSpec): Promise<Buffer> {
  const stage = join(work, 'initramfs');
  for (const d of ['proc', 'sys', 'dev', 'newroot', 'modules', ...(spec.dirs ?? [])]) await mkdir(join(stage, d), { recursive: true });
  await installBusybox(stage, spec.busyboxClosure, spec.applets);
  for (const file of spec.hostFiles ?? []) await copyInto(stage, file);
  await put(join(stage, 'init'), spec.init, 0o755);
  for (const [path, content] of Object.entries(spec.files ?? {})) await put(join(stage, path), content);
  const names = spec.modules.map((m) => m.split('/').pop()!);
  for (const m of spec.modules) await copyFile(m, join(stage, 'modules', m.split('/').pop()!));
  await put(join(stage, 'modules.list'), `${names.join('\n')}\n`);
  // Fixed times and a sorted list make the archive, and so the fixture's hash, the same on every build.
  const list = (await runTool('find', ['.'], { cwd: stage })).stdout.split('\n').filter(Boolean).sort();
  for (const p of list) await lutimes(join(stage, p), FIXED_MTIME, FIXED_MTIME);
  const cpio = await execa('cpio', ['-o', '-H', 'newc', '-R', '0:0', '--reproducible', '--quiet'], { cwd: stage, input: `${list.join('\n')}\n`, encoding: 'buffer' });
  return gzipSync(cpio.stdout, { level: 6 });
}

export interface GrubConfigSpec {
  /** The first line's comment, after '# '. */
  comment: string;
  /** The menu entry's title. */
  title: string;
  /** Modules loaded before the search (what reading the root needs beyond GRUB's defaults). */
  insmod: string[];
  rootUuid: string;
  kernelVersion: string;
  cmdline: string;
}

/** grub.cfg: finds the root filesystem by UUID, as a restore must keep it; serial console on BIOS. */
export function grubConfig(c: GrubConfigSpec): string {
  return [
    `# ${c.comment}`,
    'set timeout=0',
    'set default=0',
    'if [ "$grub_platform" = pc ]; then',
    '  serial --unit=0 --speed=115200',
    '  terminal_output serial console',
    'fi',
    ...c.insmod.map((m) => `insmod ${m}`),
    `search --no-floppy --fs-uuid --set=root ${c.rootUuid}`,
    `menuentry '${c.title}' {`,
    `  search --no-floppy --fs-uuid --set=root ${c.rootUuid}`,
    `  linux /boot/vmlinuz-${c.kernelVersion} ${c.cmdline}`,
    `  initrd /boot/initrd.img-${c.kernelVersion}`,
    '}',
    '',
  ].join('\n');
}

/** The kernel command line of every fixture: root by UUID, read-only, serial console, no reboot loop on panic. */
export function kernelCmdline(rootUuid: string): string {
  return `root=UUID=${rootUuid} ro console=ttyS0,115200 panic=-1`;
}

/**
 * GRUB for UEFI: one EFI image with its modules built in (`storageModules`: what reading the root
 * through md or LVM needs) and an early configuration that finds the root filesystem by UUID.
 */
export async function grubEfiImage(work: string, out: string, rootUuid: string, storageModules: string[] = []): Promise<void> {
  const early = join(work, 'grub-early.cfg');
  await writeFile(early, `search --no-floppy --fs-uuid --set=root ${rootUuid}\nset prefix=($root)/boot/grub\nconfigfile $prefix/grub.cfg\n`);
  await runTool('grub-mkimage', ['-O', 'x86_64-efi', '-o', out, '-p', '/boot/grub', '-c', early,
    'part_gpt', 'part_msdos', 'fat', 'ext2', ...storageModules, 'search', 'search_fs_uuid', 'search_label', 'normal', 'configfile',
    'linux', 'echo', 'test', 'boot', 'serial', 'terminal', 'efi_gop', 'all_video', 'gzio'], { purpose: 'build the fixture\'s GRUB EFI image' });
}
