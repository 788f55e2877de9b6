import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkSchedule, imageForRun, lastDue, nextDue, runArguments, type Schedule } from '../../images/schedule/schedule-model.js';
import { renderOnCalendar, renderService, renderTimer, systemdWord } from '../../images/schedule/systemd-units.js';
import { renderCronFile, renderCronTime, shellWord } from '../../images/schedule/cron-entry.js';

const base: Schedule = {
  name: 'web01', preset: 'daily', at: '02:30', day: 'sun', store: '/srv/store', image: 'web01',
  retention: { keepDaily: 7 }, archiveArgs: ['--incremental'],
};
const local = (y: number, mo: number, d: number, h: number, mi: number) => new Date(y, mo - 1, d, h, mi, 0, 0);

test('systemd words: bare when safe, quoted otherwise; % and $ doubled in both', () => {
  assert.equal(systemdWord('/srv/store'), '/srv/store');
  assert.equal(systemdWord('50%'), '50%%');
  assert.equal(systemdWord('/my store'), '"/my store"');
  assert.equal(systemdWord('a"b\\c'), '"a\\"b\\\\c"');
  assert.equal(systemdWord('$HOME and 5%'), '"$$HOME and 5%%"');
  assert.equal(systemdWord(';'), '";"', 'a lone ; would separate commands');
  assert.equal(systemdWord(''), '""');
});

test('shell words for cron: single quotes, an embedded quote closed and escaped', () => {
  assert.equal(shellWord('/srv/store'), '/srv/store');
  assert.equal(shellWord("it's"), `'it'\\''s'`);
  assert.equal(shellWord('$x `y`'), `'$x \`y\`'`);
});

test('when: OnCalendar and cron fields for each preset', () => {
  assert.equal(renderOnCalendar(base), '*-*-* 02:30:00');
  assert.equal(renderOnCalendar({ ...base, preset: 'weekly', day: 'sat' }), 'Sat *-*-* 02:30:00');
  assert.equal(renderOnCalendar({ ...base, preset: 'weekday' }), '*-*-* 02:30:00');
  assert.equal(renderCronTime(base), '30 2 * * *');
  assert.equal(renderCronTime({ ...base, preset: 'weekly', day: 'mon', at: '23:05' }), '5 23 * * mon');
});

test('due times: the last one at or before now and the next one after it, local time', () => {
  // Friday 27 November 2026.
  assert.deepEqual(lastDue(base, local(2026, 11, 27, 2, 30)), local(2026, 11, 27, 2, 30), 'exactly at the time, it is due');
  assert.deepEqual(lastDue(base, local(2026, 11, 27, 2, 29)), local(2026, 11, 26, 2, 30));
  assert.deepEqual(nextDue(base, local(2026, 11, 27, 2, 30)), local(2026, 11, 28, 2, 30));
  const weekly = { ...base, preset: 'weekly' as const, day: 'sun' as const };
  assert.deepEqual(lastDue(weekly, local(2026, 11, 27, 12, 0)), local(2026, 11, 22, 2, 30));
  assert.deepEqual(nextDue(weekly, local(2026, 11, 27, 12, 0)), local(2026, 11, 29, 2, 30));
  assert.deepEqual(lastDue(weekly, local(2026, 11, 29, 3, 0)), local(2026, 11, 29, 2, 30));
});

test('the weekday rotation writes the image of the day the run starts', () => {
  const rot = { ...base, preset: 'weekday' as const, archiveArgs: [] };
  assert.equal(imageForRun(rot, local(2026, 11, 27, 2, 30)), 'web01-fri');
  assert.equal(imageForRun(rot, local(2026, 11, 29, 2, 30)), 'web01-sun');
  assert.equal(imageForRun(base, local(2026, 11, 29, 2, 30)), 'web01');
});

test('refusals say what is wrong and what to do', () => {
  assert.throws(() => checkSchedule({ ...base, name: 'Web 01' }), /schedule name "Web 01" is not allowed/);
  assert.throws(() => checkSchedule({ ...base, at: '2:30' }), /--at 2:30 is not a time of day as HH:MM/);
  assert.throws(() => checkSchedule({ ...base, store: 'store' }), /--store store must be an absolute path/);
  assert.throws(() => checkSchedule({ ...base, preset: 'weekday' }), /use --preset daily with --incremental/);
  assert.throws(() => checkSchedule({ ...base, retention: {} }), /needs at least one retention rule/);
  assert.throws(() => checkSchedule({ ...base, archiveArgs: ['--exclude', 'a\nb'] }), /line break/);
  assert.equal(checkSchedule(base), base);
});

test('the run command carries every setting, archive options after --, --catch-up before them', () => {
  assert.deepEqual(runArguments(base), ['schedule', 'run', 'web01', '--store', '/srv/store', '--image', 'web01', '--preset', 'daily', '--at', '02:30', '--keep-daily', '7', '--', '--incremental']);
  assert.deepEqual(runArguments({ ...base, preset: 'weekly', archiveArgs: [] }, { catchUp: true }).slice(9), ['--at', '02:30', '--day', 'sun', '--keep-daily', '7', '--catch-up']);
});

test('rendered files open with the schedule itself, for show to read back', () => {
  const command = { node: '/usr/bin/node', script: '/opt/lifeboat/bin/lifeboat.js' };
  for (const text of [renderTimer(base), renderService(base, command), renderCronFile(base, command)]) {
    const first = text.split('\n')[0]!;
    assert.ok(first.startsWith('# lifeboat-schedule '));
    assert.deepEqual(JSON.parse(first.slice('# lifeboat-schedule '.length)), base);
  }
  assert.match(renderService(base, command), /^ExecStart=\/usr\/bin\/node \/opt\/lifeboat\/bin\/lifeboat\.js schedule run web01 /m);
  assert.match(renderCronFile({ ...base, store: '/srv/100%' }, command), /--store \/srv\/100\\% /);
});

test('a backup client schedule mounts the export each run: no retention of its own, the network before it, the export on the run line', () => {
  const client = { ...base, store: '/run/lifeboat/backup/web01', retention: {}, server: { url: 'http://10.77.0.1:8080', export: '10.77.0.1:/backup/web01' } };
  assert.equal(checkSchedule(client), client);
  assert.deepEqual(runArguments(client).slice(0, 11), ['schedule', 'run', 'web01', '--server', 'http://10.77.0.1:8080', '--export', '10.77.0.1:/backup/web01', '--store', '/run/lifeboat/backup/web01', '--image', 'web01']);
  assert.ok(!runArguments(client).some((a) => a.startsWith('--keep')), 'the server keeps the history');
  const service = renderService(client, { node: '/usr/bin/node', script: '/opt/lifeboat/bin/lifeboat.js' });
  assert.match(service, /\nWants=network-online\.target\nAfter=network-online\.target\n/);
  assert.doesNotMatch(service, /RequiresMountsFor/, 'the run mounts the export itself, so nothing waits for a mount unit');
  assert.match(service, /Description=Lifeboat scheduled archive web01: web01 into 10\.77\.0\.1:\/backup\/web01/);
  assert.throws(() => checkSchedule({ ...client, retention: { keepDaily: 7 } }), /the server keeps the history and applies the retention rules/);
  assert.throws(() => checkSchedule({ ...client, preset: 'weekday', archiveArgs: [] }), /a backup client sends one image/);
  assert.throws(() => checkSchedule({ ...client, server: { ...client.server, export: '/backup/web01' } }), /is not HOST:\/PATH/);
});
