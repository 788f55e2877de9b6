import { LifeboatError } from '../../core/errors.js';
import { checkRetentionPolicy, describePolicy, hasRetentionRules, type RetentionPolicy } from '../retention/retention-plan.js';
import { checkImageName } from '../store/image-store.js';

/**
 * A scheduled archive: when it runs (a preset and a time of day, local time as systemd and cron
 * use), what it archives (store, image, the archive options), and what it keeps afterwards. The
 * same record renders into a systemd timer and service or a cron entry, and is written into them
 * as a comment so `schedule show` reads back exactly what was installed.
 */
export const PRESETS = ['daily', 'weekly', 'weekday'] as const;
export type Preset = (typeof PRESETS)[number];

/** Lower-case as image suffixes (web01-mon), in the order Date.getDay() counts. */
export const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

export interface Schedule {
  /** Names the units (lifeboat-<name>.timer), the cron file and the lock. */
  name: string;
  preset: Preset;
  /** HH:MM, local time. */
  at: string;
  /** weekly: the day it runs. */
  day: Weekday;
  store: string;
  image: string;
  retention: RetentionPolicy;
  /** Options passed on to the archive (--root, --exclude, --incremental, --compress, …). */
  archiveArgs: string[];
  /**
   * A Lifeboat server's backup export this machine writes to (the NFS backup target): each run
   * mounts `export` on <store>/<image>, archives, and unmounts. Retention is then the server's.
   */
  server?: { url: string; export: string };
}

/** Where a backup client's runs mount the server's export: <base>/<image> is the image directory. */
export function backupMountBase(name: string): string {
  return `/run/lifeboat/backup/${name}`;
}

const NFS_EXPORT = /^[^:\s/]+:\/\S*$/;

const NAME = /^[a-z0-9][a-z0-9_-]{0,47}$/;

export function checkScheduleName(name: string): string {
  if (!NAME.test(name)) {
    throw new LifeboatError('LB_USAGE', `schedule name "${name}" is not allowed: use 1–48 lower-case letters, digits, '_' or '-', starting with a letter or digit (it names unit files and a cron file)`);
  }
  return name;
}

/**
 * What each preset keeps when no --keep option is given: a week of days, a month of weeks and half
 * a year of months for daily; the seed's rotation keeps one version per weekday image.
 */
export function defaultRetention(preset: Preset): RetentionPolicy {
  switch (preset) {
    case 'daily':
      return { keepDaily: 7, keepWeekly: 4, keepMonthly: 6 };
    case 'weekly':
      return { keepWeekly: 4, keepMonthly: 6 };
    case 'weekday':
      return { keepLast: 1 };
  }
}

export function checkSchedule(s: Schedule): Schedule {
  checkScheduleName(s.name);
  checkImageName(s.image);
  if (!PRESETS.includes(s.preset)) throw new LifeboatError('LB_USAGE', `--preset ${s.preset} is not one of ${PRESETS.join(', ')}`);
  const at = /^([01]\d|2[0-3]):([0-5]\d)$/.exec(s.at);
  if (!at) throw new LifeboatError('LB_USAGE', `--at ${s.at} is not a time of day as HH:MM (24-hour, local time), e.g. 02:30`);
  if (!WEEKDAYS.includes(s.day)) throw new LifeboatError('LB_USAGE', `--day ${s.day} is not one of ${WEEKDAYS.join(', ')}`);
  if (!s.store.startsWith('/')) throw new LifeboatError('LB_USAGE', `--store ${s.store} must be an absolute path: the scheduled run does not start in this directory`);
  if (s.preset === 'weekday') checkImageName(`${s.image}-wed`);
  if (s.preset === 'weekday' && s.archiveArgs.includes('--incremental')) {
    throw new LifeboatError('LB_USAGE', 'the weekday rotation keeps one full version per weekday image, which an incremental chain cannot span: use --preset daily with --incremental');
  }
  checkRetentionPolicy(s.retention);
  if (s.server) {
    if (s.preset === 'weekday') throw new LifeboatError('LB_USAGE', 'a backup client sends one image, whose history the server keeps: use --preset daily or weekly with --server');
    if (hasRetentionRules(s.retention)) throw new LifeboatError('LB_USAGE', 'with --server the server keeps the history and applies the retention rules: give them to lifeboat hosts allow-backup on the server, not here');
    if (!NFS_EXPORT.test(s.server.export)) throw new LifeboatError('LB_USAGE', `backup export ${JSON.stringify(s.server.export)} is not HOST:/PATH`);
  } else if (!hasRetentionRules(s.retention)) {
    throw new LifeboatError('LB_USAGE', 'a schedule needs at least one retention rule, or its store grows without bound');
  }
  for (const a of s.archiveArgs) {
    if (/[\n\r\0]/.test(a)) throw new LifeboatError('LB_USAGE', `archive option ${JSON.stringify(a)} holds a line break or NUL, which neither a unit file nor a crontab can carry`);
  }
  return s;
}

/** The image a run archives into: the weekday rotation writes <image>-mon … <image>-sun. */
export function imageForRun(s: Pick<Schedule, 'preset' | 'image'>, when: Date): string {
  return s.preset === 'weekday' ? `${s.image}-${WEEKDAYS[when.getDay()]}` : s.image;
}

/** Every image a schedule writes to. */
export function imagesOf(s: Pick<Schedule, 'preset' | 'image'>): string[] {
  return s.preset === 'weekday' ? WEEKDAYS.map((d) => `${s.image}-${d}`) : [s.image];
}

function hourMinute(at: string): [number, number] {
  const [h, m] = at.split(':').map(Number) as [number, number];
  return [h, m];
}

/** The latest time the schedule was due at or before `now` (local time), as Persistent= counts it. */
export function lastDue(s: Pick<Schedule, 'preset' | 'at' | 'day'>, now: Date): Date {
  const [h, m] = hourMinute(s.at);
  const d = new Date(now.getFullYear(), now.getMonth(), now.getDate(), h, m, 0, 0);
  if (d > now) d.setDate(d.getDate() - 1);
  if (s.preset === 'weekly') {
    const want = WEEKDAYS.indexOf(s.day);
    while (d.getDay() !== want) d.setDate(d.getDate() - 1);
  }
  return d;
}

/** The next time the schedule is due after `now` (local time). */
export function nextDue(s: Pick<Schedule, 'preset' | 'at' | 'day'>, now: Date): Date {
  const [h, m] = hourMinute(s.at);
  const d = new Date(now.getFullYear(), now.getMonth(), now.getDate(), h, m, 0, 0);
  if (d <= now) d.setDate(d.getDate() + 1);
  if (s.preset === 'weekly') {
    const want = WEEKDAYS.indexOf(s.day);
    while (d.getDay() !== want) d.setDate(d.getDate() + 1);
  }
  return d;
}

/** "daily at 02:00", "weekly on sun at 03:15", "every day at 02:00 into <image>-<weekday>". */
export function describeWhen(s: Pick<Schedule, 'preset' | 'at' | 'day' | 'image'>): string {
  if (s.preset === 'weekly') return `weekly on ${s.day} at ${s.at}`;
  if (s.preset === 'weekday') return `daily at ${s.at} into ${s.image}-<weekday>`;
  return `daily at ${s.at}`;
}

/** The arguments of `lifeboat schedule run` that carry out this schedule (after node and the script). */
export function runArguments(s: Schedule, options: { catchUp?: boolean } = {}): string[] {
  const retention: string[] = [];
  if (s.retention.keepLast !== undefined) retention.push('--keep', String(s.retention.keepLast));
  if (s.retention.keepDaily !== undefined) retention.push('--keep-daily', String(s.retention.keepDaily));
  if (s.retention.keepWeekly !== undefined) retention.push('--keep-weekly', String(s.retention.keepWeekly));
  if (s.retention.keepMonthly !== undefined) retention.push('--keep-monthly', String(s.retention.keepMonthly));
  return [
    'schedule', 'run', s.name,
    ...(s.server ? ['--server', s.server.url, '--export', s.server.export] : []),
    '--store', s.store, '--image', s.image, '--preset', s.preset, '--at', s.at, ...(s.preset === 'weekly' ? ['--day', s.day] : []),
    ...retention,
    ...(options.catchUp ? ['--catch-up'] : []),
    ...(s.archiveArgs.length ? ['--', ...s.archiveArgs] : []),
  ];
}

export function describeSchedule(s: Schedule): string {
  if (s.server) return `${describeWhen(s)} to ${s.server.export}, the server keeping the history`;
  return `${describeWhen(s)}, keeping ${describePolicy(s.retention)}`;
}
