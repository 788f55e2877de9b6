import { readFile, readdir, rename, rm, stat, writeFile, lstat } from 'node:fs/promises';
import { join } from 'node:path';
import { LifeboatError, hasErrno } from '../../core/errors.js';
import { componentLogger } from '../../core/log.js';
import { runTool } from '../../core/run-tool.js';
import { checkSchedule, checkScheduleName, type Schedule } from './schedule-model.js';
import { cronFileName, logFile, renderCronFile } from './cron-entry.js';
import { SCHEDULE_MARK, renderService, renderTimer, unitName } from './systemd-units.js';
import { makeDirs } from '../../core/make-dirs.js';

/**
 * Where schedules live on a system (its root: / for this machine, or a directory holding another
 * system's files): systemd units in etc/systemd/system, or a cron file in etc/cron.d where there is
 * no systemd. On the running machine the timer is also enabled and started; under another root
 * only the files and the enable symlink are written (systemctl --root), nothing is started.
 */
const log = componentLogger('schedule');

export type InitSystem = 'systemd' | 'cron';

export interface InstalledSchedule {
  schedule: Schedule;
  init: InitSystem;
  /** The files that hold it, as paths on the system (not under --root). */
  files: string[];
  /** systemd: the timer is linked into timers.target.wants. cron: always. */
  enabled: boolean;
}

export interface LifeboatCommand {
  node: string;
  script: string;
}

const SYSTEMD_DIR = 'etc/systemd/system';
const CRON_DIR = 'etc/cron.d';

const under = (root: string, path: string) => join(root, path);

async function isDir(path: string): Promise<boolean> {
  return (await stat(path).catch(() => null))?.isDirectory() ?? false;
}

/** systemd when it runs this machine (/run/systemd/system, as sd_booted checks) or another root has it installed. */
export async function detectInit(root: string): Promise<InitSystem> {
  if (root === '/') {
    if (await isDir('/run/systemd/system')) return 'systemd';
    if (await isDir('/etc/cron.d')) return 'cron';
    throw new LifeboatError('LB_NOT_FOUND', 'this machine runs neither systemd nor cron (no /run/systemd/system, no /etc/cron.d): install cron, or pass --init systemd|cron');
  }
  for (const p of ['lib/systemd/systemd', 'usr/lib/systemd/systemd']) if (await stat(under(root, p)).catch(() => null)) return 'systemd';
  return 'cron';
}

/** The running machine's systemd is to be told (daemon-reload, start): only for / with systemd running. */
async function liveSystemd(root: string): Promise<boolean> {
  return root === '/' && (await isDir('/run/systemd/system'));
}

async function writeAtomic(path: string, text: string): Promise<void> {
  const tmp = `${path}.lifeboat-tmp`;
  await writeFile(tmp, text, { mode: 0o644 });
  await rename(tmp, path);
}

function parseMark(text: string, where: string): Schedule | null {
  const first = text.split('\n', 1)[0] ?? '';
  if (!first.startsWith(SCHEDULE_MARK)) return null;
  try {
    return checkSchedule(JSON.parse(first.slice(SCHEDULE_MARK.length)) as Schedule);
  } catch (e) {
    throw new LifeboatError('LB_INVALID', `${where} is a Lifeboat schedule file whose first line cannot be read (${(e as Error).message}): remove it with lifeboat schedule remove, or by hand`);
  }
}

export async function listSchedules(root: string): Promise<InstalledSchedule[]> {
  const out: InstalledSchedule[] = [];
  const sd = under(root, SYSTEMD_DIR);
  for (const f of (await readdir(sd).catch(() => [] as string[])).sort()) {
    const m = /^lifeboat-(.+)\.timer$/.exec(f);
    if (!m) continue;
    const schedule = parseMark(await readFile(join(sd, f), 'utf8'), `/${SYSTEMD_DIR}/${f}`);
    if (!schedule) continue;
    const enabled = (await lstat(join(sd, 'timers.target.wants', f)).catch(() => null)) !== null;
    out.push({ schedule, init: 'systemd', files: [`/${SYSTEMD_DIR}/${f}`, `/${SYSTEMD_DIR}/lifeboat-${m[1]}.service`], enabled });
  }
  const cron = under(root, CRON_DIR);
  for (const f of (await readdir(cron).catch(() => [] as string[])).sort()) {
    if (!f.startsWith('lifeboat-')) continue;
    const schedule = parseMark(await readFile(join(cron, f), 'utf8'), `/${CRON_DIR}/${f}`);
    if (schedule) out.push({ schedule, init: 'cron', files: [`/${CRON_DIR}/${f}`], enabled: true });
  }
  return out;
}

export async function findSchedule(root: string, name: string): Promise<InstalledSchedule> {
  checkScheduleName(name);
  const found = (await listSchedules(root)).find((s) => s.schedule.name === name);
  if (!found) throw new LifeboatError('LB_NOT_FOUND', `no Lifeboat schedule named ${name} under ${root} (looked in /${SYSTEMD_DIR} and /${CRON_DIR}); lifeboat schedule show lists them`);
  return found;
}

/** Writes (or rewrites) a schedule's files and enables it; returns what it wrote. */
export async function installSchedule(root: string, schedule: Schedule, command: LifeboatCommand, init: InitSystem): Promise<InstalledSchedule> {
  checkSchedule(schedule);
  const existing = (await listSchedules(root)).find((s) => s.schedule.name === schedule.name);
  if (existing && existing.init !== init) {
    throw new LifeboatError('LB_CONFLICT', `schedule ${schedule.name} is already installed with ${existing.init} (${existing.files.join(', ')}); both would run it: lifeboat schedule remove ${schedule.name} first`);
  }
  if (init === 'systemd') {
    const dir = under(root, SYSTEMD_DIR);
    await makeDirs(dir);
    const unit = unitName(schedule.name);
    await writeAtomic(join(dir, `${unit}.service`), renderService(schedule, command));
    await writeAtomic(join(dir, `${unit}.timer`), renderTimer(schedule));
    if (await liveSystemd(root)) {
      await runTool('systemctl', ['daemon-reload'], { purpose: 'make systemd read the new units' });
      await runTool('systemctl', ['enable', '--now', `${unit}.timer`], { purpose: `enable and start ${unit}.timer` });
    } else {
      await runTool('systemctl', [`--root=${root}`, 'enable', `${unit}.timer`], { purpose: `enable ${unit}.timer under ${root}` });
    }
  } else {
    const dir = under(root, CRON_DIR);
    await makeDirs(dir);
    await makeDirs(under(root, '/var/log/lifeboat'));
    await writeAtomic(join(dir, cronFileName(schedule.name)), renderCronFile(schedule, command));
  }
  log.info({ schedule: schedule.name, init, root }, 'schedule installed');
  return findSchedule(root, schedule.name);
}

export async function removeSchedule(root: string, name: string): Promise<InstalledSchedule> {
  const found = await findSchedule(root, name);
  if (found.init === 'systemd') {
    const unit = unitName(name);
    if (await liveSystemd(root)) {
      await runTool('systemctl', ['disable', '--now', `${unit}.timer`], { purpose: `stop and disable ${unit}.timer` });
    } else {
      await runTool('systemctl', [`--root=${root}`, 'disable', `${unit}.timer`], { purpose: `disable ${unit}.timer under ${root}` });
    }
    for (const f of found.files) await rm(under(root, f), { force: true });
    if (await liveSystemd(root)) await runTool('systemctl', ['daemon-reload'], { purpose: 'make systemd forget the removed units' });
  } else {
    for (const f of found.files) {
      try {
        await rm(under(root, f));
      } catch (e) {
        if (!hasErrno(e, 'ENOENT')) throw e;
      }
    }
  }
  log.info({ schedule: name, init: found.init, root }, 'schedule removed');
  return found;
}

export { logFile };
