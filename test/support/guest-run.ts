import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { copyFile, mkdir, open, readdir, readFile, rename, rm, stat, truncate } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { runTool } from '../../core/run-tool.js';
import { lifeboat } from './cli.js';
import { within } from './processes.js';
import { buildOnce } from './fixture-cache.js';
import { OVMF_CODE, OVMF_VARS, qemuAccel } from './qemu.js';

/**
 * Runs a shell script inside a QEMU guest booted straight into the rescue system (`-kernel` and
 * `-initrd`, no firmware, no network), for work this host's kernel cannot do: md RAID, LVM, vfat,
 * JFS. The script and what it needs go in on an ext4 disk labelled `label` (made with
 * `mkfs.ext4 -d`, no loop device); the rescue /init sees `lifeboat.script=<label>`, mounts that
 * disk, runs its run.sh with the console as output, unmounts it and powers off. Whatever run.sh
 * leaves in the disk's `out/` comes back to the host (debugfs rdump), with the serial console.
 *
 *   const r = await runInGuest({ rescueDir, payloadDir, workDir, disks: [a, b], timeoutMs: 1_200_000 });
 *   assert.equal(r.exitStatus, 0, r.serialTail);   // run.sh's exit status
 *   readFileSync(join(r.outDir, 'mdstat.txt'));      // what run.sh wrote into ./out
 */
export interface GuestRunOptions {
  /** vmlinuz and initrd.img of a rescue build (lifeboat netboot build --out). */
  rescueDir: string;
  /** A directory with run.sh and its inputs; becomes the script disk. */
  payloadDir: string;
  /** Where the script disk, the serial log and the returned out/ go. */
  workDir: string;
  /** Raw disk images, attached in order before the script disk (/dev/vda, /dev/vdb, …). */
  disks: string[];
  timeoutMs: number;
  /** Label of the script disk; default lbscript. */
  label?: string;
  /** Free room on the script disk for what run.sh writes to out/; default 64 MiB. */
  outBytes?: number;
  /** Default 1536: the rescue initramfs of the full Debian kernel unpacks to about 260 MiB. */
  memoryMiB?: number;
  /** Also shown in the serial log's name. */
  name?: string;
  /**
   * A network card on a tap in that namespace (QEMU then runs inside it); without, none. The
   * rescue /init brings up no network in script mode: run.sh configures the link itself.
   */
  net?: { ns: string; tap: string; mac: string };
}

export interface GuestRunResult {
  /** run.sh's exit status from LIFEBOAT-SCRIPT-EXIT, or null when the guest never got that far. */
  exitStatus: number | null;
  serial: string;
  /** The last 60 lines of the console, for failure messages. */
  serialTail: string;
  /** The script disk's out/ directory, copied back (empty when run.sh wrote nothing). */
  outDir: string;
  seconds: number;
}

const MiB = 1024 * 1024;
const PROJECT_DIR = fileURLToPath(new URL('../../../', import.meta.url));


async function directoryBytes(dir: string): Promise<number> {
  let total = 0;
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) total += 4096 + (await directoryBytes(p));
    else total += Math.ceil((await stat(p)).size / 4096) * 4096 + 4096;
  }
  return total;
}

/** Waits for a QEMU that powers itself off, `timeoutMs` at most; kills it (SIGKILL, by its PID) when it did not. True when it timed out. Call right after spawn. */
async function exitedWithin(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.once('error', () => resolve(-1));
  });
  try {
    return (await within(exited, timeoutMs)) === 'timeout';
  } finally {
    if (child.exitCode === null && child.pid) {
      process.kill(child.pid, 'SIGKILL');
      await exited;
    }
  }
}

export async function runInGuest(o: GuestRunOptions): Promise<GuestRunResult> {
  const label = o.label ?? 'lbscript';
  const name = o.name ?? 'guest';
  await mkdir(o.workDir, { recursive: true });
  const scriptDisk = join(o.workDir, `${name}-script.img`);
  const bytes = Math.ceil(((await directoryBytes(o.payloadDir)) * 1.1 + (o.outBytes ?? 64 * MiB) + 16 * MiB) / MiB) * MiB;
  await rm(scriptDisk, { force: true });
  await (await open(scriptDisk, 'w')).close();
  await truncate(scriptDisk, bytes);
  await runTool('mkfs.ext4', ['-q', '-F', '-L', label, '-d', o.payloadDir, scriptDisk], { purpose: 'make the guest script disk' });

  const serialLog = join(o.workDir, `${name}.serial.log`);
  await rm(serialLog, { force: true });
  const accel = qemuAccel();
  const args = ['-accel', accel, '-machine', 'q35', '-m', String(o.memoryMiB ?? 1536), '-smp', '1', '-nographic', '-no-reboot',
    '-serial', `file:${serialLog}`, '-monitor', 'none',
    ...(o.net ? ['-netdev', `tap,id=n0,ifname=${o.net.tap},script=no,downscript=no`, '-device', `virtio-net-pci,netdev=n0,mac=${o.net.mac}`] : ['-nic', 'none']),
    '-kernel', join(o.rescueDir, 'vmlinuz'), '-initrd', join(o.rescueDir, 'initrd.img'),
    '-append', `console=ttyS0,115200n8 panic=-1 lifeboat.script=${label} lifeboat.after=poweroff`];
  if (accel === 'kvm') args.push('-cpu', 'host');
  [...o.disks, scriptDisk].forEach((file, i) => {
    args.push('-drive', `file=${file},format=raw,if=none,id=d${i}`, '-device', `virtio-blk-pci,drive=d${i},serial=lbdisk${i}`);
  });

  const started = performance.now();
  const qemuLog = join(o.workDir, `${name}.qemu.log`);
  const fd = openSync(qemuLog, 'w');
  // `ip netns exec` execs QEMU, so the PID killed on a timeout is QEMU's own.
  const child = o.net ? spawn('ip', ['netns', 'exec', o.net.ns, 'qemu-system-x86_64', ...args], { stdio: ['ignore', fd, fd] }) : spawn('qemu-system-x86_64', args, { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const timedOut = await exitedWithin(child, o.timeoutMs);
  const serial = () => {
    try {
      return readFileSync(serialLog, 'latin1');
    } catch {
      return '';
    }
  };
  const text = serial();
  const tail = `${text.split('\n').slice(-60).join('\n')}\n--- qemu ---\n${readFileSync(qemuLog, 'utf8').slice(-2000)}`;
  if (timedOut) throw new Error(`guest ${name} did not power off within ${o.timeoutMs} ms (killed)\n--- serial console (last 60 lines) ---\n${tail}`);
  const m = /LIFEBOAT-SCRIPT-EXIT (\d+)/.exec(text);

  const outDir = join(o.workDir, `${name}-out`);
  await rm(outDir, { recursive: true, force: true });
  await mkdir(outDir, { recursive: true });
  // rdump copies /out into outDir/out; a script that wrote nothing leaves no /out, which is fine.
  const listing = await runTool('debugfs', ['-R', 'ls -p /', scriptDisk], { purpose: 'list the guest script disk' });
  if (/\/out\//.test(listing.stdout)) {
    await runTool('debugfs', ['-R', `rdump /out ${outDir}`, scriptDisk], { purpose: 'copy out/ back from the guest script disk' });
  }
  return {
    exitStatus: m ? Number(m[1]) : null,
    serial: text,
    serialTail: tail,
    outDir: join(outDir, 'out'),
    seconds: (performance.now() - started) / 1000,
  };
}

/**
 * Builds a rescue system (vmlinuz, initrd.img) with the given kernel into `outDir`; throws with the
 * builder's output when it fails. With none given, the cloud kernel, not the builder's default (the
 * full one): the tests' QEMU machines need no hardware drivers, and it boots faster.
 */
export async function buildRescueSystem(outDir: string, kernelVersion?: string): Promise<void> {
  const kernel = ['--kernel', kernelVersion ?? 'cloud'];
  const r = await lifeboat(['netboot', 'build', ...kernel, '--out', outDir]);
  if (r.exitCode !== 0) throw new Error(`lifeboat netboot build ${kernel.join(' ')} failed (${r.exitCode}):\n${r.stderr}${r.stdout}`);
}

/**
 * A rescue system (`lifeboat netboot build`, the bundled agent) kept in `cacheDir` and built once
 * for everything it is made of: the kernel (given, or the newest cloud kernel among those in
 * /boot), /init, the builder, the agent's sources and the locked dependencies. Test files that boot
 * the same rescue system share one build, even when they run at the same time.
 */
export async function cachedRescueSystem(cacheDir: string, kernelVersion?: string): Promise<string> {
  const h = createHash('sha256').update(kernelVersion ?? `default:${(await readdir('/boot')).sort().join(',')}`);
  for (const f of await rescueInputs()) h.update(f).update(await readFile(join(PROJECT_DIR, f)));
  const family = `rescue-${kernelVersion ?? 'default'}-`;
  const dir = join(cacheDir, `${family}${h.digest('hex').slice(0, 16)}`);
  await mkdir(cacheDir, { recursive: true });
  await buildOnce(join(dir, 'build.json'), async () => {
    const work = `${dir}.build-${process.pid}`;
    await rm(work, { recursive: true, force: true });
    await buildRescueSystem(work, kernelVersion);
    await rename(work, dir).catch(async (e: NodeJS.ErrnoException) => {
      await rm(work, { recursive: true, force: true });
      if (e.code !== 'ENOTEMPTY' && e.code !== 'EEXIST') throw e;
    });
    for (const entry of await readdir(cacheDir)) {
      if (entry.startsWith(family) && /^[0-9a-f]{16}$/.test(entry.slice(family.length)) && join(cacheDir, entry) !== dir) await rm(join(cacheDir, entry), { recursive: true, force: true });
    }
  });
  return dir;
}

/** The sources a rescue build is made from, relative to the checkout. */
async function rescueInputs(): Promise<string[]> {
  const files = ['package-lock.json', 'netboot/rescue/init', 'netboot/rescue/udhcpc.script'];
  for (const dir of ['netboot', 'images', 'core']) {
    for (const e of await readdir(join(PROJECT_DIR, dir), { recursive: true, withFileTypes: true })) {
      if (e.isFile() && e.name.endsWith('.ts')) files.push(join(e.parentPath ?? e.path, e.name).slice(PROJECT_DIR.length));
    }
  }
  return files.sort();
}

/** The newest Debian full (non-cloud) amd64 kernel in /boot: it has md, dm, vfat and JFS as modules, which the cloud kernel partly lacks. */
export async function fullKernelVersion(bootDir = '/boot'): Promise<string> {
  const names = (await readdir(bootDir)).filter((n) => /^vmlinuz-\d.*-amd64$/.test(n) && !n.includes('cloud') && !n.includes('-rt-'));
  names.sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  const newest = names.at(-1);
  if (!newest) throw new Error(`no full Debian kernel in ${bootDir} (vmlinuz-*-amd64): apt-get install linux-image-amd64 (scripts/setup.sh test does); the cloud kernel has no JFS`);
  return newest.slice('vmlinuz-'.length);
}

/**
 * Boots raw disks the way a machine with no network boots them (SeaBIOS or OVMF, virtio disks in
 * order, no NIC) and waits for the guest to power itself off; returns the serial console. For
 * fixtures whose init prints markers and powers off.
 */
export async function bootDisksOffline(o: { disks: string[]; firmware: 'bios' | 'uefi'; workDir: string; name: string; timeoutMs: number; memoryMiB?: number }): Promise<{ serial: string; seconds: number }> {
  await mkdir(o.workDir, { recursive: true });
  const serialLog = join(o.workDir, `${o.name}.serial.log`);
  await rm(serialLog, { force: true });
  const accel = qemuAccel();
  const args = ['-accel', accel, '-machine', 'q35', '-m', String(o.memoryMiB ?? 1024), '-smp', '1', '-nographic', '-no-reboot',
    '-serial', `file:${serialLog}`, '-monitor', 'none', '-nic', 'none'];
  if (accel === 'kvm') args.push('-cpu', 'host');
  if (o.firmware === 'uefi') {
    const vars = join(o.workDir, `${o.name}-OVMF_VARS.fd`);
    await copyFile(OVMF_VARS, vars);
    args.push('-drive', `if=pflash,format=raw,unit=0,readonly=on,file=${OVMF_CODE}`, '-drive', `if=pflash,format=raw,unit=1,file=${vars}`);
  }
  o.disks.forEach((file, i) => args.push('-drive', `file=${file},format=raw,if=none,id=d${i}`, '-device', `virtio-blk-pci,drive=d${i},bootindex=${i + 1}`));
  const started = performance.now();
  const child = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const timedOut = await exitedWithin(child, o.timeoutMs);
  let serial = '';
  try {
    serial = readFileSync(serialLog, 'latin1');
  } catch {
    /* QEMU never started */
  }
  if (timedOut) throw new Error(`${o.name} did not power off within ${o.timeoutMs} ms (killed)\n--- serial console (last 40 lines) ---\n${serial.split('\n').slice(-40).join('\n')}`);
  if (child.exitCode !== 0) throw new Error(`qemu for ${o.name} exited ${child.exitCode}: ${stderr}\n${serial.slice(-2000)}`);
  return { serial, seconds: (performance.now() - started) / 1000 };
}
