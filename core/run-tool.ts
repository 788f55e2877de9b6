import { execa, type Options, type ResultPromise } from 'execa';
import { LifeboatError } from './errors.js';
import { componentLogger } from './log.js';

/**
 * The one door to external tools (tar, zstd, sfdisk, mkfs, lvm, mdadm, exportfs, ganesha…).
 * Every call is logged with its command line and duration at debug level; a failure becomes a
 * LifeboatError carrying the exit code and the last lines of stderr, so the message says what broke.
 */
const log = componentLogger('tool');

/** Debian package that provides a tool, so "not found" can say what to install. */
const packageOf: Record<string, string> = {
  sfdisk: 'fdisk', sgdisk: 'gdisk', lsblk: 'util-linux', blkid: 'util-linux', findmnt: 'util-linux',
  losetup: 'mount', partx: 'util-linux', wipefs: 'util-linux', mkswap: 'util-linux', 'mkfs.ext4': 'e2fsprogs',
  'mkfs.xfs': 'xfsprogs', 'mkfs.btrfs': 'btrfs-progs', btrfs: 'btrfs-progs', 'mkfs.vfat': 'dosfstools',
  'mkfs.jfs': 'jfsutils', tar: 'tar', zstd: 'zstd', gzip: 'gzip', getfattr: 'attr', setfattr: 'attr',
  getfacl: 'acl', setfacl: 'acl', setcap: 'libcap2-bin', getcap: 'libcap2-bin', lvm: 'lvm2', mdadm: 'mdadm',
  flock: 'util-linux', systemctl: 'systemd', 'ssh-keygen': 'openssh-client', exportfs: 'nfs-kernel-server', 'ganesha.nfsd': 'nfs-ganesha', ip: 'iproute2', 'qemu-system-x86_64': 'qemu-system-x86',
  'udp-sender': 'udpcast', 'udp-receiver': 'udpcast', ss: 'iproute2',
};

export interface ToolResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export interface ToolOptions {
  input?: string | Buffer;
  cwd?: string;
  env?: Record<string, string>;
  /** Exit codes that count as success (tar exits 1 when a live file changed while read). */
  okExitCodes?: number[];
  timeoutMs?: number;
  /** What the call is for, to start the error message ("partition /dev/vda"). */
  purpose?: string;
}

export function lastLines(text: string, n = 8): string {
  return text.trim().split('\n').slice(-n).join('\n');
}

export function commandLine(file: string, args: readonly string[]): string {
  return [file, ...args].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`)).join(' ');
}

function missingToolError(file: string, purpose?: string): LifeboatError {
  const pkg = packageOf[file.split('/').pop() ?? file];
  return new LifeboatError(
    'LB_TOOL_MISSING',
    `${purpose ? `${purpose}: ` : ''}${file} is not installed${pkg ? `: install the Debian package ${pkg} (npm run setup does)` : ''}`,
    { tool: file },
  );
}

export function toolFailure(file: string, args: readonly string[], exitCode: number | undefined, stderr: string, purpose?: string, signal?: string): LifeboatError {
  const how = signal ? `was killed by ${signal}` : `exited with status ${exitCode}`;
  const tail = lastLines(stderr);
  return new LifeboatError(
    'LB_TOOL_FAILED',
    `${purpose ? `${purpose}: ` : ''}${commandLine(file, args)} ${how}${tail ? `:\n${tail}` : ''}`,
    { tool: file, args: [...args], exitCode, stderr: tail },
  );
}

/** Runs a tool to completion and returns its output as text. */
export async function runTool(file: string, args: readonly string[], options: ToolOptions = {}): Promise<ToolResult> {
  const started = performance.now();
  const execaOptions: Options = {
    reject: false,
    stripFinalNewline: false,
    ...(options.input !== undefined ? { input: options.input } : { stdin: 'ignore' as const }),
    ...(options.cwd ? { cwd: options.cwd } : {}),
    ...(options.env ? { env: options.env } : {}),
    ...(options.timeoutMs ? { timeout: options.timeoutMs } : {}),
  };
  const result = await execa(file, args, execaOptions);
  const ms = Math.round(performance.now() - started);
  const exitCode = result.exitCode ?? -1;
  log.debug({ cmd: commandLine(file, args), exitCode, ms }, 'tool finished');
  const stdout = String(result.stdout ?? '');
  const stderr = String(result.stderr ?? '');
  if ((result as { code?: string }).code === 'ENOENT') throw missingToolError(file, options.purpose);
  const ok = options.okExitCodes ?? [0];
  if (result.failed && !(result.exitCode !== undefined && ok.includes(result.exitCode) && !result.signal && !result.timedOut)) {
    if (result.timedOut) {
      throw new LifeboatError('LB_TOOL_FAILED', `${options.purpose ? `${options.purpose}: ` : ''}${commandLine(file, args)} did not finish within ${options.timeoutMs} ms`, { tool: file });
    }
    throw toolFailure(file, args, result.exitCode, stderr, options.purpose, result.signal);
  }
  return { stdout, stderr, exitCode };
}

/** Runs a tool whose output is JSON and parses it. */
export async function runToolJson<T = unknown>(file: string, args: readonly string[], options: ToolOptions = {}): Promise<T> {
  const { stdout } = await runTool(file, args, options);
  try {
    return JSON.parse(stdout) as T;
  } catch (e) {
    throw new LifeboatError('LB_TOOL_FAILED', `${commandLine(file, args)} printed output that is not JSON: ${(e as Error).message}`, { tool: file });
  }
}

/** Whether a tool is on PATH; for optional evidence (lvm, mdadm) on machines without it. */
export async function hasTool(file: string): Promise<boolean> {
  const r = await execa('sh', ['-c', `command -v "$1"`, 'sh', file], { reject: false });
  return r.exitCode === 0;
}

/**
 * Starts a long-running tool with streamed stdio, for pipelines that node reads or feeds.
 * The caller awaits the returned subprocess and passes its outcome to `checkStarted`.
 */
export function startTool(file: string, args: readonly string[], options: Options = {}): ResultPromise {
  log.debug({ cmd: commandLine(file, args) }, 'tool started');
  return execa(file, args, { reject: false, buffer: false, ...options });
}

/** Turns a finished streamed subprocess into success or the same error runTool would raise. */
export function checkFinished(
  file: string,
  args: readonly string[],
  result: { exitCode?: number; signal?: string; failed?: boolean; code?: string },
  stderr: string,
  options: { okExitCodes?: number[]; purpose?: string } = {},
): number {
  if (result.code === 'ENOENT') throw missingToolError(file, options.purpose);
  const ok = options.okExitCodes ?? [0];
  if (result.signal || result.exitCode === undefined || !ok.includes(result.exitCode)) {
    throw toolFailure(file, args, result.exitCode, stderr, options.purpose, result.signal);
  }
  return result.exitCode;
}
