import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LifeboatError } from '../core/errors.js';
import { describePolicy } from '../images/retention/retention-plan.js';
import { listVersions } from '../images/store/image-store.js';
import { detectInit, findSchedule, installSchedule, listSchedules, logFile, removeSchedule, type InstalledSchedule, type InitSystem } from '../images/schedule/schedule-files.js';
import { lockPath } from '../images/schedule/schedule-lock.js';
import { backupMountBase, checkSchedule, defaultRetention, describeWhen, imagesOf, nextDue, PRESETS, runArguments, WEEKDAYS, type Preset, type Schedule, type Weekday } from '../images/schedule/schedule-model.js';
import { runSchedule } from '../images/schedule/run-schedule.js';
import { renderOnCalendar, unitName } from '../images/schedule/systemd-units.js';
import { renderCronTime } from '../images/schedule/cron-entry.js';
import { parseScheduledArchiveArgs } from './archive-command.js';
import { flag, stringOption, type CommandSpec, type Parsed } from './args.js';
import { parseOrHelp, pickSubcommand, type CommandGroup } from './command-group.js';
import { keepOptions, storeOpt } from './common-options.js';
import { untilInterrupted } from './interrupt.js';
import { retentionOptions } from './images-command.js';
import { createProgressSink } from './progress-display.js';
import { storeOption } from './store-option.js';
import { askBackupExport, type BackupTarget } from './backup-target.js';

/** How the units and cron entries start Lifeboat: this node, this checkout's bin/lifeboat.js. */
const COMMAND = { node: process.execPath, script: fileURLToPath(new URL('../../bin/lifeboat.js', import.meta.url)) };

const rootOpt = { type: 'string' as const, value: 'DIR', description: 'the system whose schedules these are: / for this machine, or a directory holding another system\'s files', default: '/' };
const keepOpts = keepOptions();
const serverOpt = { type: 'string' as const, value: 'URL', description: "a Lifeboat server this machine sends its archives to, as its backup client (instead of --store)" };
const whenOpts = {
  preset: { type: 'string' as const, value: 'PRESET', description: `${PRESETS.join(', ')} (weekday: a daily run into IMAGE-mon … IMAGE-sun, as Mondo users rotated a folder per weekday)`, default: 'daily' },
  at: { type: 'string' as const, value: 'HH:MM', description: 'time of day, local time', default: '02:00' },
  day: { type: 'string' as const, value: 'DAY', description: `weekly: ${WEEKDAYS.join(', ')}`, default: 'sun' },
};

/** A subcommand that only reads or removes the schedule files under --root. */
function rootCommand(sub: string, summary: string, args: string, json: string, positionals: CommandSpec['positionals']): CommandSpec {
  return { name: `schedule ${sub}`, summary, usage: `lifeboat schedule ${sub} ${args}`, options: { root: rootOpt, json: { type: 'boolean', description: json } }, positionals };
}

export const scheduleSpecs: Record<string, CommandSpec> = {
  install: {
    name: 'schedule install',
    summary: 'Install a scheduled archive: a systemd timer and service (cron where there is no systemd).',
    usage: 'lifeboat schedule install NAME (--store DIR | --server URL) [--image NAME] [--preset daily|weekly|weekday] [--at HH:MM] [--day DAY] [--keep… N] [--init auto|systemd|cron] [--root DIR] [-- ARCHIVE OPTIONS…]',
    description: [
      'The timer runs `lifeboat schedule run` with the same settings: it takes a lock (two runs never overlap),',
      'archives like `lifeboat archive` with the options after --, then prunes the image with the --keep rules.',
      'systemd makes up a run missed while the machine was off at the next boot (Persistent=true); under',
      'cron an @reboot entry does the same (--catch-up). Without --keep options a preset keeps: daily',
      `${describePolicy(defaultRetention('daily'))}; weekly ${describePolicy(defaultRetention('weekly'))}; weekday ${describePolicy(defaultRetention('weekday'))} per weekday image.`,
      'Installing a name again replaces that schedule.',
      'With --server, the machine is a backup client of that Lifeboat server (allowed there with lifeboat hosts',
      'allow-backup): the server is asked for this machine\'s NFS export, each run mounts it, archives into it and',
      'unmounts, and the server verifies every version and keeps the history with its own retention rules.',
    ].join('\n'),
    options: {
      store: storeOpt,
      server: serverOpt,
      image: { type: 'string', value: 'NAME', description: 'image to archive into (default: the schedule name)' },
      ...whenOpts,
      ...keepOpts,
      init: { type: 'string', value: 'auto|systemd|cron', description: 'auto: systemd when it runs the machine (or is installed under --root), else cron', default: 'auto' },
      root: rootOpt,
      json: { type: 'boolean', description: 'what was installed, as JSON' },
    },
    positionals: { min: 1, max: 1 },
    examples: [
      'lifeboat schedule install web01 --store /srv/lifeboat/store -- --incremental --full-every 7 --exclude /srv/cache',
      'lifeboat schedule install golden --store /srv/store --preset weekday --at 23:30',
      'lifeboat schedule install db --store /mnt/nfs/store --preset weekly --day sat --keep-weekly 8 --keep-monthly 12',
      'lifeboat schedule install web01 --server http://10.77.0.1:8080 -- --incremental --full-every 7',
    ],
  },
  remove: rootCommand('remove', 'Stop and remove a scheduled archive (its versions stay in the store).', 'NAME [--root DIR]', 'what was removed, as JSON', { min: 1, max: 1 }),
  show: rootCommand('show', 'List scheduled archives: when they run next, what they archive and keep, their newest version.', '[NAME] [--root DIR] [--json]', 'as JSON', { min: 0, max: 1 }),
  run: {
    name: 'schedule run',
    summary: 'Carry out one run of a schedule now (what the timer or cron starts): lock, archive, prune.',
    usage: 'lifeboat schedule run NAME (--store DIR | --server URL --export HOST:/PATH) --image NAME [--preset P] [--at HH:MM] [--day DAY] [--keep… N] [--catch-up] [--json] [-- ARCHIVE OPTIONS…]',
    description: 'Exits 4 without doing anything when another run of the same schedule holds its lock. With --server it mounts the export first and unmounts it after.',
    options: {
      store: storeOpt,
      server: serverOpt,
      export: { type: 'string', value: 'HOST:/PATH', description: 'with --server: the NFS export to mount (what schedule install was told by the server)' },
      image: { type: 'string', value: 'NAME', description: 'image to archive into (default: the schedule name)' },
      ...whenOpts,
      ...keepOpts,
      'catch-up': { type: 'boolean', description: 'run only if the last due time passed with no version made since (cron @reboot)' },
      json: { type: 'boolean', description: 'progress and the outcome as JSON lines on stdout' },
    },
    positionals: { min: 1, max: 1 },
  },
};

const scheduleGroup: CommandGroup = { name: 'schedule', summary: 'Scheduled archives with retention.', specs: scheduleSpecs };

export async function runScheduleCommand(argv: string[]): Promise<number> {
  const picked = pickSubcommand(scheduleGroup, argv);
  if (typeof picked === 'number') return picked;
  const { sub, spec, rest } = picked;
  // Everything after -- belongs to the archive.
  const split = rest.indexOf('--');
  const own = split === -1 ? rest : rest.slice(0, split);
  const archiveArgs = split === -1 ? [] : rest.slice(split + 1);
  if (archiveArgs.length > 0 && sub !== 'install' && sub !== 'run') throw new LifeboatError('LB_USAGE', `${spec.name} takes no archive options after --`);
  const p = parseOrHelp(spec, own);
  if (!p) return 0;
  const json = flag(p, 'json');
  const root = resolve(stringOption(p, 'root') ?? '/');
  switch (sub) {
    case 'install':
      return installCommand(p, spec, archiveArgs, root, json);
    case 'remove':
      return removeCommand(p.positionals[0]!, root, json);
    case 'show':
      return showCommand(p.positionals[0], root, json);
    default:
      return runCommand(p, spec, archiveArgs, json);
  }
}

/** The schedule the options describe, checked, with the archive options validated as archive would. */
function scheduleFrom(p: Parsed, spec: CommandSpec, archiveArgs: string[], backup?: BackupTarget): Schedule {
  const name = p.positionals[0]!;
  const preset = (stringOption(p, 'preset') ?? 'daily') as Preset;
  const given = retentionOptions(p);
  // The run line carries the mount base as --store; only install refuses both.
  if (backup && stringOption(p, 'store') && spec.name === 'schedule install') {
    throw new LifeboatError('LB_USAGE', `${spec.name}: --store and --server exclude each other: a backup client archives into the server's export, mounted at ${backupMountBase(name)} for each run`);
  }
  const image = stringOption(p, 'image') ?? backup?.image ?? name;
  if (backup && image !== backup.image) throw new LifeboatError('LB_USAGE', `${spec.name}: the server keeps this machine's archives as image ${backup.image}, not ${image}: leave out --image`);
  const schedule: Schedule = {
    name,
    preset,
    at: stringOption(p, 'at') ?? '02:00',
    day: (stringOption(p, 'day') ?? 'sun').toLowerCase() as Weekday,
    store: backup && !stringOption(p, 'store') ? backupMountBase(name) : resolve(storeOption(p, spec)),
    image,
    retention: backup || Object.keys(given).length > 0 ? given : PRESETS.includes(preset) ? defaultRetention(preset) : {},
    archiveArgs,
    ...(backup ? { server: { url: backup.url, export: backup.export } } : {}),
  };
  checkSchedule(schedule);
  parseScheduledArchiveArgs(archiveArgs);
  return schedule;
}

function commandLine(words: string[]): string {
  return words.map((w) => (/^[\w@%+=:,./-]+$/.test(w) ? w : `'${w.replaceAll("'", `'\\''`)}'`)).join(' ');
}

async function installCommand(p: Parsed, spec: CommandSpec, archiveArgs: string[], root: string, json: boolean): Promise<number> {
  const url = stringOption(p, 'server');
  const schedule = scheduleFrom(p, spec, archiveArgs, url ? await askBackupExport(url) : undefined);
  const initText = stringOption(p, 'init') ?? 'auto';
  if (!['auto', 'systemd', 'cron'].includes(initText)) throw new LifeboatError('LB_USAGE', `--init ${initText} is not one of auto, systemd, cron`);
  const init: InitSystem = initText === 'auto' ? await detectInit(root) : (initText as InitSystem);
  const installed = await installSchedule(root, schedule, COMMAND, init);
  const next = nextDue(schedule, new Date());
  if (json) {
    process.stdout.write(`${JSON.stringify({ ...installed, root, next: next.toISOString(), command: [COMMAND.node, COMMAND.script, ...runArguments(schedule)] })}\n`);
    return 0;
  }
  process.stdout.write(`installed schedule ${schedule.name} (${init}${root === '/' ? '' : ` under ${root}`}): ${describeWhen(schedule)}, next ${next.toString()}\n`);
  for (const f of installed.files) process.stdout.write(`  ${f}\n`);
  process.stdout.write(`  runs:  ${commandLine([COMMAND.node, COMMAND.script, ...runArguments(schedule)])}\n`);
  process.stdout.write(`  keeps: ${schedule.server ? `what the server's retention keeps (lifeboat hosts allow-backup ${schedule.image} --keep… on the server)` : describePolicy(schedule.retention)}\n`);
  if (init === 'cron') process.stdout.write(`  log:   ${logFile(schedule.name)}\n`);
  else process.stdout.write(`  log:   journalctl -u ${unitName(schedule.name)}.service\n`);
  return 0;
}

async function removeCommand(name: string, root: string, json: boolean): Promise<number> {
  const removed = await removeSchedule(root, name);
  if (json) process.stdout.write(`${JSON.stringify({ removed: removed.files, init: removed.init, root })}\n`);
  else process.stdout.write(`removed schedule ${name} (${removed.init}): ${removed.files.join(', ')}; its versions stay in ${removed.schedule.store}\n`);
  return 0;
}

async function showCommand(name: string | undefined, root: string, json: boolean): Promise<number> {
  const found = name ? [await findSchedule(root, name)] : await listSchedules(root);
  const now = new Date();
  const rows = [];
  for (const s of found) rows.push(await describeInstalled(s, root, now));
  if (json) {
    process.stdout.write(`${JSON.stringify(rows)}\n`);
    return 0;
  }
  if (rows.length === 0) process.stdout.write(`no Lifeboat schedules under ${root}\n`);
  for (const r of rows) {
    process.stdout.write(
      [
        `${r.name}  (${r.init}${r.enabled ? '' : ', NOT enabled'})`,
        `  when      ${r.when} (${r.calendar}), next ${new Date(r.next).toString()}`,
        `  archives  ${r.images.join(', ')} into ${r.schedule.server ? `${r.schedule.server.export} (backup server ${r.schedule.server.url})` : r.store}${r.archiveArgs.length ? ` with ${commandLine(r.archiveArgs)}` : ''}`,
        `  keeps     ${r.keeps}`,
        `  newest    ${r.newest ?? (r.schedule.server ? '(kept on the server: lifeboat images list there)' : root === '/' ? 'no version yet' : '(store not read under --root)')}`,
        `  lock      ${r.lock}`,
        `  files     ${r.files.join(', ')}`,
        `  runs      ${commandLine(r.command)}`,
        '',
      ].join('\n'),
    );
  }
  return 0;
}

async function describeInstalled(s: InstalledSchedule, root: string, now: Date) {
  const sc = s.schedule;
  let newest: string | null = null;
  if (root === '/' && !sc.server) {
    for (const image of imagesOf(sc)) {
      const v = (await listVersions(sc.store, image).catch(() => [])).at(-1);
      if (v && (!newest || v.version > newest.split('@')[1]!)) newest = `${v.image}@${v.version}`;
    }
  }
  return {
    name: sc.name,
    init: s.init,
    enabled: s.enabled,
    when: describeWhen(sc),
    calendar: s.init === 'systemd' ? `OnCalendar=${renderOnCalendar(sc)}, Persistent=true` : `cron "${renderCronTime(sc)}" and @reboot --catch-up`,
    next: nextDue(sc, now).toISOString(),
    images: imagesOf(sc),
    store: sc.store,
    archiveArgs: sc.archiveArgs,
    keeps: sc.server ? `the server's retention rules (lifeboat hosts allow-backup ${sc.image} --keep… there)` : describePolicy(sc.retention),
    newest,
    lock: lockPath(sc.name),
    files: s.files,
    command: [COMMAND.node, COMMAND.script, ...runArguments(sc)],
    schedule: sc,
  };
}

async function runCommand(p: Parsed, spec: CommandSpec, archiveArgs: string[], json: boolean): Promise<number> {
  const url = stringOption(p, 'server');
  const exported = stringOption(p, 'export');
  if (url && !exported) throw new LifeboatError('LB_USAGE', `${spec.name}: --server needs --export HOST:/PATH (schedule install asks the server for it)`);
  const schedule = scheduleFrom(p, spec, archiveArgs, url ? { url, export: exported!, image: stringOption(p, 'image') ?? p.positionals[0]! } : undefined);
  const archive = parseScheduledArchiveArgs(archiveArgs);
  const sink = createProgressSink({ json });
  try {
    const outcome = await untilInterrupted((signal) => runSchedule({ schedule, archive, catchUp: flag(p, 'catch-up'), onEvent: (e) => sink.event(e), signal }));
    sink.stop();
    if (json) process.stdout.write(`${JSON.stringify({ type: 'schedule-run', name: schedule.name, ...(outcome.ran ? { ran: true, image: outcome.image, version: outcome.version.version, removed: outcome.removed.map((a) => a.path) } : outcome) })}\n`);
    else if (!outcome.ran) process.stdout.write(`schedule ${schedule.name}: ${outcome.reason}\n`);
    else process.stdout.write(`schedule ${schedule.name}: archived ${outcome.image}@${outcome.version.version}; removed ${outcome.removed.length} version(s) retention does not keep\n`);
    return 0;
  } finally {
    sink.stop();
  }
}
