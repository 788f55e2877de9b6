import { describeSchedule, runArguments, type Schedule } from './schedule-model.js';
import { SCHEDULE_MARK } from './systemd-units.js';

/**
 * A schedule as an /etc/cron.d file, where there is no systemd. cron has no Persistent=, so an
 * @reboot line runs the schedule with --catch-up: it archives only when the last due time passed
 * with no version made since. Output goes to a log file, since cron would mail it.
 */
export function cronFileName(name: string): string {
  // run-parts (and so cron.d) ignores file names with dots.
  return `lifeboat-${name}`;
}

export function logFile(name: string): string {
  return `/var/log/lifeboat/schedule-${name}.log`;
}

/** One argument for /bin/sh, quoted only when needed. */
export function shellWord(arg: string): string {
  return /^[A-Za-z0-9@%+=:,./_-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`;
}

/** cron turns an unescaped % in a command into a newline. */
function cronCommand(words: string[]): string {
  return words.map(shellWord).join(' ').replaceAll('%', '\\%');
}

export function renderCronTime(s: Pick<Schedule, 'preset' | 'at' | 'day'>): string {
  const [h, m] = s.at.split(':').map(Number) as [number, number];
  return `${m} ${h} * * ${s.preset === 'weekly' ? s.day : '*'}`;
}

export function renderCronFile(s: Schedule, command: { node: string; script: string }): string {
  const log = ` >>${logFile(s.name)} 2>&1`;
  return [
    `${SCHEDULE_MARK}${JSON.stringify(s)}`,
    `# Lifeboat scheduled archive ${s.name}: ${describeSchedule(s)}.`,
    `# Written by lifeboat schedule install; remove it with: lifeboat schedule remove ${s.name}`,
    'SHELL=/bin/sh',
    'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    `${renderCronTime(s)} root ${cronCommand([command.node, command.script, ...runArguments(s)])}${log}`,
    `@reboot root ${cronCommand([command.node, command.script, ...runArguments(s, { catchUp: true })])}${log}`,
    '',
  ].join('\n');
}
