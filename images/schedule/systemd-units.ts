import { describeSchedule, runArguments, type Schedule } from './schedule-model.js';

/**
 * A schedule as a systemd timer and a oneshot service. The timer is Persistent=, so a run missed
 * while the machine was off happens at the next boot; systemd never starts a service that is
 * still running, and the run takes a lock of its own as well (for runs started by hand). The
 * schedule itself is written as a comment on the first line, for `schedule show`.
 */
export const SCHEDULE_MARK = '# lifeboat-schedule ';

export function unitName(name: string): string {
  return `lifeboat-${name}`;
}

/**
 * One argument as systemd.syntax(7) reads an ExecStart= word: bare when it is plainly safe,
 * otherwise double-quoted with \\ and " escaped. % starts a specifier and $ a variable in both
 * forms, so they are doubled.
 */
export function systemdWord(arg: string): string {
  const doubled = arg.replaceAll('%', '%%').replaceAll('$', () => '$$');
  if (/^[A-Za-z0-9@%+=:,./_-]+$/.test(arg) && arg !== ';') return doubled;
  return `"${doubled.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
}

/** A path in a unit setting that takes specifiers but no variables (RequiresMountsFor=). */
function systemdPath(path: string): string {
  const doubled = path.replaceAll('%', '%%');
  return /^[^\s"'\\]+$/.test(path) ? doubled : `"${doubled.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
}

export function renderOnCalendar(s: Pick<Schedule, 'preset' | 'at' | 'day'>): string {
  const day = s.preset === 'weekly' ? `${s.day[0]!.toUpperCase()}${s.day.slice(1)} ` : '';
  return `${day}*-*-* ${s.at}:00`;
}

export function renderTimer(s: Schedule): string {
  return [
    `${SCHEDULE_MARK}${JSON.stringify(s)}`,
    '[Unit]',
    `Description=Lifeboat scheduled archive ${s.name} (${describeSchedule(s)})`,
    '',
    '[Timer]',
    `OnCalendar=${renderOnCalendar(s)}`,
    // A run missed while the machine was off is made up at the next boot.
    'Persistent=true',
    '',
    '[Install]',
    'WantedBy=timers.target',
    '',
  ].join('\n');
}

export function renderService(s: Schedule, command: { node: string; script: string }): string {
  return [
    `${SCHEDULE_MARK}${JSON.stringify(s)}`,
    '[Unit]',
    `Description=Lifeboat scheduled archive ${s.name}: ${s.image} into ${s.server ? s.server.export : s.store}`,
    // The run mounts a backup server's export itself; it needs the network up for that.
    ...(s.server
      ? ['Wants=network-online.target', 'After=network-online.target']
      : // The store may be an NFS mount: wait for it rather than fill the directory under it.
        [`RequiresMountsFor=${systemdPath(s.store)}`]),
    '',
    '[Service]',
    'Type=oneshot',
    `ExecStart=${[command.node, command.script, ...runArguments(s)].map(systemdWord).join(' ')}`,
    // An archive of a large machine takes hours; it yields the CPU and disk to the machine's work.
    'TimeoutStartSec=infinity',
    'Nice=10',
    'IOSchedulingClass=idle',
    '',
  ].join('\n');
}
