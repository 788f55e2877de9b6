import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { World } from './world.js';
import { startInNamespace, type Background } from './netns.js';
import { within } from './processes.js';

/**
 * QEMU machines for end-to-end tests: a q35 PC with BIOS (SeaBIOS) or UEFI (OVMF), a virtio NIC
 * on a tap device that boots first, virtio disks after it, the serial console in a file. A machine
 * keeps its disks and its UEFI NVRAM across boots: with -no-reboot a guest's reboot ends QEMU, and
 * `boot()` again is the machine coming back up, e.g. into the system a nuke task restored.
 */

export const OVMF_CODE = '/usr/share/OVMF/OVMF_CODE_4M.fd';
export const OVMF_VARS = '/usr/share/OVMF/OVMF_VARS_4M.fd';

/**
 * KVM only where it is real: this machine's /dev/kvm is a paravirtual KVM without VMX/SVM, on which
 * iPXE triple-faults and OVMF stops (see the test-bed notes). Everything else runs under TCG.
 */
export function qemuAccel(): 'kvm' | 'tcg' {
  try {
    const cpu = readFileSync('/proc/cpuinfo', 'utf8');
    if (/\b(vmx|svm)\b/.test(cpu) && !existsSync('/sys/module/kvm_pvm') && existsSync('/dev/kvm')) return 'kvm';
  } catch {
    /* no /proc: TCG */
  }
  return 'tcg';
}

export interface MachineSpec {
  /** Short name for files and logs ("bios", "uefi"). */
  name: string;
  firmware: 'bios' | 'uefi';
  mac: string;
  /** Namespace QEMU runs in and tap device (already on the bridge) its NIC uses. */
  ns: string;
  tap: string;
  /** Raw disk images, booted in this order after the network. */
  disks?: string[];
  memoryMiB?: number;
  /**
   * The NIC's option ROM: 'ipxe' (QEMU's own iPXE ROM, the default) or 'firmware' (no ROM: under
   * OVMF the firmware's own PXE runs and has to load an EFI binary over TFTP, as real UEFI machines do).
   */
  nicRom?: 'ipxe' | 'firmware';
  /** Directory for serial logs, QEMU's output and the NVRAM copy. */
  dir: string;
  extraArgs?: string[];
}

export interface MachineRun {
  boot: number;
  pid: number;
  serialLog: string;
  /** performance.now() when QEMU was started, for timings in benchmarks. */
  startedAt: number;
  /** The serial console so far. */
  serial(): string;
  /**
   * Waits for text (or a pattern) on the serial console; returns the line it is on, and when it
   * appeared. `failOn`: text that proves the marker will never come (e.g. the local disk booting
   * when the rescue system was expected), to fail at once instead of at the timeout.
   */
  waitForSerial(marker: string | RegExp, timeoutMs: number, options?: { failOn?: Array<string | RegExp> }): Promise<{ line: string; at: number }>;
  /** Waits for QEMU to end by itself (a guest reboot or poweroff under -no-reboot). */
  waitForExit(timeoutMs: number): Promise<number | null>;
  exited: Promise<number | null>;
  stop(): Promise<void>;
  qemu: Background;
}

export class QemuMachine {
  readonly nvram: string | null;
  private boots = 0;
  private current: MachineRun | null = null;

  constructor(
    private readonly world: World,
    readonly spec: MachineSpec,
  ) {
    this.nvram = spec.firmware === 'uefi' ? join(spec.dir, `${spec.name}-OVMF_VARS.fd`) : null;
    // A private NVRAM, written by the firmware; it outlives each QEMU run like a real machine's.
    if (this.nvram) copyFileSync(OVMF_VARS, this.nvram);
  }

  get mac(): string {
    return this.spec.mac;
  }

  /** The QEMU command line of a boot (for logs and the benchmark's report). */
  args(serialLog: string): string[] {
    const s = this.spec;
    const accel = qemuAccel();
    const args = ['-accel', accel, '-machine', 'q35', '-m', String(s.memoryMiB ?? 1024), '-smp', '1', '-nographic', '-no-reboot', '-serial', `file:${serialLog}`, '-monitor', 'none'];
    if (accel === 'kvm') args.push('-cpu', 'host');
    if (s.firmware === 'uefi') {
      args.push('-drive', `if=pflash,format=raw,unit=0,readonly=on,file=${OVMF_CODE}`, '-drive', `if=pflash,format=raw,unit=1,file=${this.nvram}`);
      // No IPv6 network boot (PXE or HTTP) after IPv4 fails: each waits about a minute for a DHCPv6
      // server nobody runs (measured: 246 s to the disk with it, 177 s without, with no DHCP at all).
      args.push('-fw_cfg', 'name=opt/org.tianocore/IPv6Support,string=no', '-fw_cfg', 'name=opt/org.tianocore/IPv6PXESupport,string=no');
    }
    const rom = s.nicRom === 'firmware' ? ',romfile=' : '';
    args.push('-netdev', `tap,id=n0,ifname=${s.tap},script=no,downscript=no`, '-device', `virtio-net-pci,netdev=n0,mac=${s.mac},bootindex=1${rom}`);
    (s.disks ?? []).forEach((file, i) => {
      args.push('-drive', `file=${file},format=raw,if=none,id=d${i}`, '-device', `virtio-blk-pci,drive=d${i},bootindex=${i + 2}`);
    });
    args.push(...(s.extraArgs ?? []));
    return args;
  }

  /** Powers the machine on; the previous run must have ended (or is stopped first). */
  async boot(): Promise<MachineRun> {
    if (this.current) await this.current.stop();
    this.boots += 1;
    const boot = this.boots;
    const serialLog = join(this.spec.dir, `${this.spec.name}-boot${boot}.serial.log`);
    const qemuLog = join(this.spec.dir, `${this.spec.name}-boot${boot}.qemu.log`);
    const startedAt = performance.now();
    const qemu = startInNamespace(this.world, this.spec.ns, 'qemu-system-x86_64', this.args(serialLog), qemuLog);
    const serial = () => {
      try {
        return readFileSync(serialLog, 'latin1');
      } catch {
        return '';
      }
    };
    let exitCode: number | null | undefined;
    void qemu.exited.then((c) => (exitCode = c));
    const describe = (what: string) =>
      `${this.spec.name} (boot ${boot}): ${what}\n--- serial console (last 40 lines) ---\n${serial().split('\n').slice(-40).join('\n')}\n--- qemu ---\n${qemu.log().slice(-2000)}`;
    const run: MachineRun = {
      boot,
      pid: qemu.pid,
      serialLog,
      startedAt,
      serial,
      exited: qemu.exited,
      qemu,
      async waitForSerial(marker, timeoutMs, options = {}) {
        const end = Date.now() + timeoutMs;
        const matches = (l: string, m: string | RegExp) => (typeof m === 'string' ? l.includes(m) : m.test(l));
        for (;;) {
          const text = serial();
          const lines = text.split(/\r?\n/);
          const line = lines.find((l) => matches(l, marker));
          if (line !== undefined) return { line, at: performance.now() };
          const bad = lines.find((l) => (options.failOn ?? []).some((m) => matches(l, m)));
          if (bad !== undefined) throw new Error(describe(`waiting for ${String(marker)}, the console said instead: ${bad.trim()}`));
          if (exitCode !== undefined) throw new Error(describe(`QEMU exited (${exitCode}) before ${String(marker)} appeared`));
          if (Date.now() > end) throw new Error(describe(`${String(marker)} did not appear within ${timeoutMs} ms`));
          await sleep(100);
        }
      },
      async waitForExit(timeoutMs) {
        const r = await within(qemu.exited, timeoutMs);
        if (r === 'timeout') throw new Error(describe(`QEMU did not exit within ${timeoutMs} ms`));
        return r;
      },
      stop: () => qemu.stop(),
    };
    this.current = run;
    return run;
  }
}

/**
 * A 512-byte BIOS boot sector that writes LOCAL-DISK-BOOTED to COM1 and halts: the smallest proof
 * that the firmware booted the local disk. Hand-assembled (16-bit real mode, loaded at 0x7c00):
 *   cli; cld; xor ax,ax; mov ds,ax; mov si,msg; mov dx,0x3f8
 *   next: lodsb; test al,al; jz done; out dx,al; jmp next
 *   done: hlt; jmp done
 */
export const LOCAL_DISK_MARKER = 'LOCAL-DISK-BOOTED';

export function markerBootSector(marker = LOCAL_DISK_MARKER): Buffer {
  const code = Buffer.from([0xfa, 0xfc, 0x31, 0xc0, 0x8e, 0xd8, 0xbe, 0x17, 0x7c, 0xba, 0xf8, 0x03, 0xac, 0x84, 0xc0, 0x74, 0x03, 0xee, 0xeb, 0xf8, 0xf4, 0xeb, 0xfd]);
  const sector = Buffer.alloc(512);
  code.copy(sector, 0);
  Buffer.from(`\r\n${marker}\r\n\0`, 'ascii').copy(sector, code.length);
  sector[510] = 0x55;
  sector[511] = 0xaa;
  return sector;
}
