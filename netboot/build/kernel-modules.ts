import { copyFile, readdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, join, relative } from 'node:path';
import { LifeboatError, hasErrno } from '../../core/errors.js';
import { runTool } from '../../core/run-tool.js';
import { makeDirs } from '../../core/make-dirs.js';

/**
 * The kernel of the rescue system and the modules that go with it: which kernel (Debian's cloud
 * kernel by default, for virtual machines), which modules (by directory and name, plus everything
 * modprobe says they depend on), and a module tree with its own modules.dep and modules.alias.
 */
export interface KernelChoice {
  version: string;
  vmlinuz: string;
  modulesDir: string;
}

/** Debian version order, enough for kernel versions ("6.1.0-9" < "6.1.0-56"). */
export function compareKernelVersions(a: string, b: string): number {
  const pa = a.split(/[.-]/);
  const pb = b.split(/[.-]/);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? '';
    const y = pb[i] ?? '';
    const nx = /^\d+$/.test(x) ? Number(x) : NaN;
    const ny = /^\d+$/.test(y) ? Number(y) : NaN;
    const c = !Number.isNaN(nx) && !Number.isNaN(ny) ? nx - ny : x.localeCompare(y);
    if (c !== 0) return c;
  }
  return 0;
}

/**
 * The kernels `--kernel` names by kind: Debian's full kernel (linux-image-amd64), which carries the
 * disk and network drivers of real PCs (ahci, e1000e, igb, r8169, xhci_pci, usb_storage) and is
 * the default, since PXE-booting bare metal is what the rescue system is for; and the cloud
 * kernel (linux-image-cloud-amd64), smaller and faster to boot, for virtual machines only.
 */
export const KERNEL_KINDS = {
  full: { pattern: /^vmlinuz-(.+-amd64)$/, exclude: /-cloud-amd64$/, package: 'linux-image-amd64' },
  cloud: { pattern: /^vmlinuz-(.+-cloud-amd64)$/, exclude: null, package: 'linux-image-cloud-amd64' },
} as const;
export type KernelKind = keyof typeof KERNEL_KINDS;

/**
 * `spec` is a path to a vmlinuz, a version (6.1.0-56-amd64), a kind (full or cloud: the newest of
 * that kind in /boot), or nothing for the newest full kernel. The modules must be installed for
 * the same version.
 */
export async function chooseKernel(spec: string | undefined, bootDir = '/boot'): Promise<KernelChoice> {
  let vmlinuz: string;
  if (spec?.includes('/')) {
    vmlinuz = spec;
  } else if (spec && !(spec in KERNEL_KINDS)) {
    vmlinuz = join(bootDir, `vmlinuz-${spec}`);
  } else {
    const kind = KERNEL_KINDS[(spec ?? 'full') as KernelKind];
    const names = await readdir(bootDir).catch(() => [] as string[]);
    const versions = names.map((n) => kind.pattern.exec(n)?.[1]).filter((v): v is string => v !== undefined && !(kind.exclude?.test(v) ?? false));
    versions.sort(compareKernelVersions);
    const newest = versions.at(-1);
    if (!newest) {
      throw new LifeboatError('LB_NOT_FOUND', `no ${spec ?? 'full'} kernel in ${bootDir}: install the Debian package ${kind.package} (npm run setup does), or name a kernel with --kernel full|cloud|PATH|VERSION`);
    }
    vmlinuz = join(bootDir, `vmlinuz-${newest}`);
  }
  if (!(await stat(vmlinuz).catch(() => null))?.isFile()) {
    throw new LifeboatError('LB_NOT_FOUND', `kernel ${vmlinuz} does not exist: install a linux-image package or give --kernel PATH|VERSION of an installed one`);
  }
  const version = basename(vmlinuz).replace(/^vmlinuz-/, '');
  const modulesDir = join('/lib/modules', version);
  if (!(await stat(join(modulesDir, 'modules.dep')).catch(() => null))) {
    throw new LifeboatError('LB_NOT_FOUND', `kernel ${vmlinuz} has no modules in ${modulesDir} (version ${version}): install its linux-image package, which carries both`);
  }
  return { version, vmlinuz, modulesDir };
}

const MODULE_FILE = /\.ko(\.xz|\.zst|\.gz)?$/;
export const moduleName = (file: string) => basename(file).replace(MODULE_FILE, '').replaceAll('-', '_');

async function walkModules(dir: string, out: string[]): Promise<void> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (e) {
    if (hasErrno(e, 'ENOENT')) return;
    throw e;
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) await walkModules(p, out);
    else if (MODULE_FILE.test(e.name)) out.push(p);
  }
}

/** Reads `modprobe --show-depends` output: module files to load, and names built into the kernel. */
export function parseShowDepends(text: string): { files: string[]; builtin: string[] } {
  const files: string[] = [];
  const builtin: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^insmod (\S+)/.exec(line.trim());
    if (m) files.push(m[1]!);
    const b = /^builtin (\S+)/.exec(line.trim());
    if (b) builtin.push(b[1]!);
  }
  return { files, builtin };
}

export interface ModuleSelection {
  /** Absolute paths of the module files, dependencies included, sorted. */
  files: string[];
  /** Requested names built into the kernel (nothing to carry). */
  builtin: string[];
  /** Requested names this kernel has neither as a module nor built in (the cloud kernel lacks real-hardware drivers). */
  absent: string[];
}

export async function selectModules(kernel: KernelChoice, dirs: readonly string[], names: readonly string[]): Promise<ModuleSelection> {
  const all: string[] = [];
  await walkModules(join(kernel.modulesDir, 'kernel'), all);
  const byName = new Map(all.map((f) => [moduleName(f), f]));
  const builtinList = await readFile(join(kernel.modulesDir, 'modules.builtin'), 'utf8').catch(() => '');
  const builtinNames = new Set(builtinList.split('\n').filter(Boolean).map(moduleName));
  const wanted = new Set<string>();
  for (const d of dirs) {
    const prefix = join(kernel.modulesDir, d);
    for (const f of all) if (f === prefix || f.startsWith(`${prefix}/`)) wanted.add(moduleName(f));
  }
  const builtin: string[] = [];
  const absent: string[] = [];
  for (const n of names) {
    const name = n.replaceAll('-', '_');
    if (byName.has(name)) wanted.add(name);
    else if (builtinNames.has(name)) builtin.push(name);
    else absent.push(name);
  }
  const files = new Set<string>();
  const list = [...wanted].sort();
  // One modprobe call per batch; its -C /dev/null keeps the build host's options out of the answer.
  for (let i = 0; i < list.length; i += 200) {
    const r = await runTool('modprobe', ['-S', kernel.version, '-C', '/dev/null', '--show-depends', '-a', ...list.slice(i, i + 200)], { purpose: `find the dependencies of kernel ${kernel.version}'s modules` });
    for (const f of parseShowDepends(r.stdout).files) files.add(f);
  }
  return { files: [...files].sort(), builtin: builtin.sort(), absent: absent.sort() };
}

/**
 * Copies the chosen modules into `stageRoot/lib/modules/VERSION` beside the kernel's own lists and
 * runs depmod there, so modules.dep and modules.alias name exactly what the rescue system carries.
 */
export async function stageModules(kernel: KernelChoice, selection: ModuleSelection, stageRoot: string): Promise<string> {
  const target = join(stageRoot, 'lib', 'modules', kernel.version);
  for (const file of selection.files) {
    const rel = relative(kernel.modulesDir, file);
    if (rel.startsWith('..')) throw new LifeboatError('LB_INVALID', `module ${file} lies outside ${kernel.modulesDir}`);
    await makeDirs(dirname(join(target, rel)));
    await copyFile(file, join(target, rel));
  }
  for (const list of ['modules.order', 'modules.builtin', 'modules.builtin.modinfo']) {
    await copyFile(join(kernel.modulesDir, list), join(target, list)).catch((e: unknown) => {
      if (!hasErrno(e, 'ENOENT')) throw e;
    });
  }
  await runTool('depmod', ['-b', stageRoot, kernel.version], { purpose: `index the rescue system's modules for kernel ${kernel.version}` });
  return target;
}
