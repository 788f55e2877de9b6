import { lstat, readFile, readlink, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { hasErrno, LifeboatError } from '../../core/errors.js';
import { componentLogger, type Logger } from '../../core/log.js';
import { hasTool, runTool } from '../../core/run-tool.js';
import { symlinkAtomic, writeFileAtomic } from './atomic-file.js';
import { checkBindAddress } from './bind-address.js';
import { renderGaneshaConfig } from './ganesha-config.js';
import { GaneshaSupervisor } from './ganesha-supervisor.js';
import { renderKernelExports } from './kernel-exports.js';
import { collectKernelNfs, judgeKernelNfs, type KernelNfsFacts } from './kernel-nfs.js';
import { validateShareSpec, type NfsExport, type NfsShareSpec } from './share-spec.js';
import { makeDirs } from '../../core/make-dirs.js';

/**
 * Lifeboat's NFS share: the image store read-only for restores, a capture area writable, both only
 * for the test-bed subnet. Served by the kernel NFS server where the host has one (exports file +
 * `exportfs -ra`), by a supervised nfs-ganesha where it has none (containers, hosts without nfsd).
 */
export type NfsServerKind = 'ganesha' | 'kernel';

export interface StartNfsShareOptions extends NfsShareSpec {
  kind: 'auto' | NfsServerKind;
  /** Directory for the generated config, log, PID file and NFSv4 recovery records. */
  stateDir: string;
  logger?: Logger;
  /** Run ganesha inside this network namespace (`ip netns exec`); the kernel server cannot. */
  netns?: string;
  /** Kernel server only: where exportfs reads extra exports files. */
  exportsDir?: string;
  /** Ganesha only: how long start and stop may take. */
  startTimeoutMs?: number;
  stopTimeoutMs?: number;
}

export interface NfsShare {
  kind: NfsServerKind;
  /** Why this kind serves (what --nfs asked for and what the host has), for the start-up log line. */
  reason: string;
  /** One libnfs-style URL per export, in the order given: nfs://ADDR/pseudo?version=4. */
  urls: string[];
  /** PID of the ganesha.nfsd serving now (ganesha only). */
  readonly pid: number | undefined;
  /** How many times a dead ganesha was started again. */
  readonly restarts: number;
  /**
   * Serves this list of exports from now on, in place of the one started with: the config is
   * rewritten and the running server told to reread it, without a restart. Calls are serialised.
   */
  update(exports: NfsExport[]): Promise<void>;
  close(): Promise<void>;
}

/** Which server serves and why: the kernel's where one works, ganesha otherwise or inside a namespace. */
export interface NfsServerChoice {
  kind: NfsServerKind;
  reason: string;
}

export function chooseServerKind(requested: StartNfsShareOptions['kind'], kernel: KernelNfsFacts, netns?: string): NfsServerChoice {
  if (requested === 'kernel') {
    if (netns) {
      throw new LifeboatError('LB_USAGE', `the kernel NFS server serves the whole host and cannot be started in network namespace ${netns}: use kind 'ganesha' there`);
    }
    if (!kernel.available) {
      throw new LifeboatError(
        'LB_TOOL_MISSING',
        `no kernel NFS server on this host: ${kernel.reason}. Use --nfs ganesha or auto, or install nfs-kernel-server and load nfsd (modprobe nfsd)`,
      );
    }
    return { kind: 'kernel', reason: `asked for the kernel server: ${kernel.reason}` };
  }
  if (requested === 'ganesha') return { kind: 'ganesha', reason: 'asked for nfs-ganesha' };
  if (netns) return { kind: 'ganesha', reason: `auto: the kernel server cannot serve inside network namespace ${netns}` };
  return kernel.available ? { kind: 'kernel', reason: `auto: ${kernel.reason}` } : { kind: 'ganesha', reason: `auto: ${kernel.reason}` };
}

function shareUrl(bindAddress: string, path: string): string {
  return `nfs://${bindAddress}${encodeURI(path)}?version=4`;
}

async function checkExportDirs(exports: NfsExport[]): Promise<void> {
  for (const e of exports) {
    const st = await stat(e.path).catch((err: unknown) => {
      if (hasErrno(err, 'ENOENT')) throw new LifeboatError('LB_NOT_FOUND', `NFS export ${e.pseudo}: directory ${e.path} does not exist: create it or fix the path`, { path: e.path });
      throw err;
    });
    if (!st.isDirectory()) throw new LifeboatError('LB_INVALID', `NFS export ${e.pseudo}: ${e.path} is not a directory`, { path: e.path });
  }
}

export async function startNfsShare(options: StartNfsShareOptions): Promise<NfsShare> {
  const spec = validateShareSpec(options);
  const log = options.logger ? options.logger.child({ component: 'nfs' }) : componentLogger('nfs');
  const kernel = options.kind === 'ganesha' || options.netns ? { available: false, reason: 'not asked' } : judgeKernelNfs(await collectKernelNfs());
  const choice = chooseServerKind(options.kind, kernel, options.netns);
  await checkExportDirs(spec.exports);
  await makeDirs(options.stateDir);
  return choice.kind === 'kernel' ? startKernelShare(spec, options, log, choice.reason) : startGaneshaShare(spec, options, log, choice.reason);
}

/** One call at a time, in the order made: two quick updates must not write the config out of order. */
function serialised<A>(fn: (arg: A) => Promise<void>): (arg: A) => Promise<void> {
  let last: Promise<void> = Promise.resolve();
  return (arg) => {
    const run = last.catch(() => undefined).then(() => fn(arg));
    last = run;
    return run;
  };
}

const GANESHA_LOG_ROTATE_BYTES = 16 * 1024 * 1024;

async function startGaneshaShare(spec: NfsShareSpec, options: StartNfsShareOptions, log: Logger, reason: string): Promise<NfsShare> {
  if (!(await hasTool('ganesha.nfsd'))) {
    throw new LifeboatError('LB_TOOL_MISSING', 'nfs-ganesha is not installed: install the Debian packages nfs-ganesha and nfs-ganesha-vfs (npm run setup does)', {
      tool: 'ganesha.nfsd',
    });
  }
  await checkBindAddress(spec.bindAddress, options.netns);
  const files = {
    configFile: join(options.stateDir, 'ganesha.conf'),
    logFile: join(options.stateDir, 'ganesha.log'),
    pidFile: join(options.stateDir, 'ganesha.pid'),
    recoveryRoot: join(options.stateDir, 'ganesha-recovery'),
  };
  await refuseRunningGanesha(files.pidFile, files.configFile);
  await makeDirs(files.recoveryRoot);
  const logSize = await stat(files.logFile).then((s) => s.size, () => 0);
  if (logSize > GANESHA_LOG_ROTATE_BYTES) await rename(files.logFile, `${files.logFile}.1`);
  await writeFileAtomic(files.configFile, renderGaneshaConfig(spec, files));

  const supervisor = new GaneshaSupervisor({
    ...files,
    bindAddress: spec.bindAddress,
    logger: log,
    ...(options.netns ? { netns: options.netns } : {}),
    ...(options.startTimeoutMs ? { startTimeoutMs: options.startTimeoutMs } : {}),
    ...(options.stopTimeoutMs ? { stopTimeoutMs: options.stopTimeoutMs } : {}),
  });
  const { ms } = await supervisor.start();
  const urls = spec.exports.map((e) => shareUrl(spec.bindAddress, e.pseudo));
  const update = serialised(async (exports: NfsExport[]) => {
    const next = validateShareSpec({ ...spec, exports });
    await checkExportDirs(next.exports);
    await writeFileAtomic(files.configFile, renderGaneshaConfig(next, files));
    await supervisor.reload();
    log.info({ kind: 'ganesha', exports: next.exports.map((e) => e.pseudo) }, 'NFS exports updated');
  });
  log.info({ kind: 'ganesha', reason, ganeshaPid: supervisor.pid, ms, urls, clients: spec.clients, ...(options.netns ? { netns: options.netns } : {}) }, 'NFS share serving');
  let closed: Promise<void> | undefined;
  return {
    kind: 'ganesha',
    reason,
    urls,
    get pid() {
      return supervisor.pid;
    },
    get restarts() {
      return supervisor.restarts;
    },
    update,
    close() {
      closed ??= supervisor.stop().then(() => log.info({ kind: 'ganesha', urls }, 'NFS share closed'));
      return closed;
    },
  };
}

/**
 * Ganesha refuses a second instance on the same PID file with only "Ganesha already started"; an
 * instance left by an earlier run of ours (its command line names our config) is said plainly.
 */
async function refuseRunningGanesha(pidFile: string, configFile: string): Promise<void> {
  const pid = Number((await readFile(pidFile, 'utf8').catch(() => '')).trim());
  if (!Number.isInteger(pid) || pid <= 0) return;
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  if (cmdline.includes('ganesha.nfsd') && cmdline.split('\0').includes(configFile)) {
    throw new LifeboatError(
      'LB_CONFLICT',
      `nfs-ganesha pid ${pid} from an earlier run still serves ${configFile}: stop it (kill ${pid}) or use another state directory`,
      { pid, configFile },
    );
  }
}

async function startKernelShare(spec: NfsShareSpec, options: StartNfsShareOptions, log: Logger, reason: string): Promise<NfsShare> {
  await checkBindAddress(spec.bindAddress);
  const exportsFile = join(options.stateDir, 'lifeboat.exports');
  const exportsDir = options.exportsDir ?? '/etc/exports.d';
  const link = join(exportsDir, 'lifeboat.exports');
  await writeFileAtomic(exportsFile, renderKernelExports(spec));
  await makeDirs(exportsDir);
  const existing = await lstat(link).catch((e: unknown) => {
    if (hasErrno(e, 'ENOENT')) return undefined;
    throw e;
  });
  if (existing && !existing.isSymbolicLink()) {
    throw new LifeboatError('LB_CONFLICT', `${link} is a file Lifeboat did not put there: move it away so Lifeboat can link its exports file there`, { path: link });
  }
  // exportfs reads every *.exports file in /etc/exports.d; a link keeps the real file under the
  // server's own state directory, beside its other generated files.
  await symlinkAtomic(exportsFile, link);
  await runTool('exportfs', ['-ra'], { purpose: 'export the image store through the kernel NFS server' });
  const urls = spec.exports.map((e) => shareUrl(spec.bindAddress, e.path));
  const update = serialised(async (exports: NfsExport[]) => {
    const next = validateShareSpec({ ...spec, exports });
    await checkExportDirs(next.exports);
    await writeFileAtomic(exportsFile, renderKernelExports(next));
    await runTool('exportfs', ['-ra'], { purpose: 'update the exports of the kernel NFS server' });
    log.info({ kind: 'kernel', exports: next.exports.map((e) => e.path) }, 'NFS exports updated');
  });
  log.info({ kind: 'kernel', reason, urls, clients: spec.clients, exportsFile: link }, 'NFS share serving');
  let closed: Promise<void> | undefined;
  return {
    kind: 'kernel',
    reason,
    urls,
    pid: undefined,
    restarts: 0,
    update,
    close() {
      closed ??= (async () => {
        if ((await readlink(link).catch(() => undefined)) === exportsFile) await rm(link, { force: true });
        await runTool('exportfs', ['-ra'], { purpose: 'withdraw the image store from the kernel NFS server' });
        log.info({ kind: 'kernel', urls }, 'NFS share closed');
      })();
      return closed;
    },
  };
}
