import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { appendFile, lstat, readFile, readdir, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { execa } from 'execa';
import { makeWorld, sh } from '../support/world.js';
import { scratchFilesystem } from '../support/loop-devices.js';
import { lifeboat, jsonLines } from '../support/cli.js';
import { WEEKDAYS } from '../../images/schedule/schedule-model.js';

// A schedule installed into a temporary root: systemd units that systemd-analyze accepts, and a
// cron file; then their command lines, taken from the files as systemd and cron would read them,
// run here and archive correctly (compare finds nothing different), overlap is refused by the
// lock, retention runs after each archive, and a missed cron run is made up by @reboot.

/** ExecStart= words as systemd.syntax(7) reads them: quotes, C escapes, %% and $$. */
function systemdWords(line: string): string[] {
  const words: string[] = [];
  let i = 0;
  while (i < line.length) {
    while (line[i] === ' ') i++;
    if (i >= line.length) break;
    let word = '';
    const quote = line[i] === '"' || line[i] === "'" ? line[i++] : null;
    for (; i < line.length; i++) {
      const c = line[i]!;
      if (quote ? c === quote : c === ' ') {
        if (quote) i++;
        break;
      }
      if (c === '\\' && quote) {
        const n = line[++i]!;
        word += ({ n: '\n', t: '\t', '\\': '\\', '"': '"', "'": "'" } as Record<string, string>)[n] ?? assert.fail(`unexpected escape \\${n}`);
      } else if (c === '%') {
        assert.equal(line[++i], '%', 'the only specifier a Lifeboat unit may use is %% (a literal %)');
        word += '%';
      } else if (c === '$') {
        assert.equal(line[++i], '$', 'a Lifeboat unit expands no variables; $$ is a literal $');
        word += '$';
      } else word += c;
    }
    words.push(word);
  }
  return words;
}

const setting = (unit: string, key: string) => unit.split('\n').find((l) => l.startsWith(`${key}=`))?.slice(key.length + 1);

async function makeSource(t: Parameters<typeof makeWorld>[0], prefix: string) {
  const world = await makeWorld(t, prefix);
  const src = await scratchFilesystem(world, `${prefix}-src`, 'ext4', 64 << 20);
  await sh('mkdir', ['-p', join(src.mountpoint, 'etc'), join(src.mountpoint, 'skip me')]);
  await writeFile(join(src.mountpoint, 'etc', 'hosts'), '127.0.0.1 localhost\n');
  await writeFile(join(src.mountpoint, 'skip me', '100% big'), 'left out by --exclude\n');
  // A store path with a space, a % and a $: what the unit and cron quoting must carry through.
  const store = join(world.dir, 'st 100% $ore');
  const root = join(world.dir, 'sysroot');
  return { world, src, store, root };
}

test('a systemd schedule: units systemd-analyze accepts, whose ExecStart archives, locks and prunes', async (t) => {
  const { world, src, store, root } = await makeSource(t, 'lb-sched');
  const name = `nightly-${world.id}`;
  const install = await lifeboat(['schedule', 'install', name, '--store', store, '--image', 'web', '--root', root, '--init', 'systemd', '--at', '02:30', '--keep', '2', '--',
    '--root', src.mountpoint, '--incremental', '--exclude', '/skip me']);
  assert.equal(install.exitCode, 0, install.stderr);
  const dir = join(root, 'etc', 'systemd', 'system');
  const service = await readFile(join(dir, `lifeboat-${name}.service`), 'utf8');
  const timer = await readFile(join(dir, `lifeboat-${name}.timer`), 'utf8');
  assert.equal((await lstat(join(dir, 'timers.target.wants', `lifeboat-${name}.timer`))).isSymbolicLink(), true, 'the timer is enabled');

  const verify = await execa('systemd-analyze', ['verify', join(dir, `lifeboat-${name}.service`), join(dir, `lifeboat-${name}.timer`)], { reject: false });
  assert.equal(verify.exitCode, 0, verify.stderr);
  assert.equal(verify.stderr.trim(), '', 'systemd-analyze has nothing to say about the units');
  assert.equal(setting(timer, 'OnCalendar'), '*-*-* 02:30:00');
  assert.equal(setting(timer, 'Persistent'), 'true', 'a run missed while the machine was off happens at the next boot');
  assert.equal(setting(service, 'Type'), 'oneshot');
  const calendar = await sh('systemd-analyze', ['calendar', setting(timer, 'OnCalendar')!]);
  assert.match(calendar, /Next elapse: .* 02:30:00/);

  const argv = systemdWords(setting(service, 'ExecStart')!);
  assert.equal(argv[0], process.execPath);
  assert.ok(argv.includes(store), `the store path survives systemd's quoting: ${JSON.stringify(argv)}`);
  const run = () => execa(argv[0]!, argv.slice(1), { reject: false, env: { LIFEBOAT_LOG_LEVEL: 'warn' } });

  const first = await run();
  assert.equal(first.exitCode, 0, first.stderr);
  assert.match(first.stdout, new RegExp(`schedule ${name}: archived web@\\d{8}T\\d{6}Z`));
  const same = await lifeboat(['compare', 'web', '--store', store, '--root', src.mountpoint, '--output', join(world.dir, 'changed.txt')]);
  assert.equal(same.exitCode, 0, `the scheduled archive is the source exactly: ${same.stdout} ${await readFile(join(world.dir, 'changed.txt'), 'utf8')}`);
  const excluded = await lifeboat(['images', 'show', 'web', '--store', store, '--json']);
  assert.deepEqual(JSON.parse(excluded.stdout).archives[0].excludes, ['./skip me'], 'the archive options after -- reached the archive');

  // Overlap: while another run holds the schedule's lock, a run does nothing and says why.
  const lock = `/run/lock/lifeboat-schedule-${name}.lock`;
  world.defer(() => execa('rm', ['-f', lock]));
  // --no-fork: flock becomes the sleep holding the lock, so killing this one process releases it.
  const holder = execa('flock', ['--no-fork', lock, 'sleep', '600'], { reject: false, stdio: 'ignore' });
  world.defer(() => holder.kill('SIGKILL'));
  for (let i = 0; (await execa('flock', ['--nonblock', lock, 'true'], { reject: false })).exitCode === 0; i++) {
    assert.ok(i < 100, 'the holder took the lock');
    await new Promise((r) => setTimeout(r, 50));
  }
  const blocked = await run();
  assert.equal(blocked.exitCode, 4, blocked.stdout + blocked.stderr);
  assert.match(blocked.stderr, new RegExp(`schedule ${name} is already running \\(it holds ${lock}\\): this run is skipped`));
  holder.kill('SIGKILL');
  await holder;

  // Two more runs: level 1 and 2 of the chain; --keep 2 keeps the newest two and the full they build on.
  const versions = async () => (JSON.parse((await lifeboat(['images', 'list', 'web', '--store', store, '--json'])).stdout) as Array<{ versions: Array<{ version: string }> }>)[0]!.versions.map((v) => v.version);
  assert.equal((await versions()).length, 1, 'the blocked run archived nothing');
  for (const change of ['one', 'two']) {
    await new Promise((r) => setTimeout(r, 1100));
    await appendFile(join(src.mountpoint, 'etc', 'hosts'), `# ${change}\n`);
    const r = await run();
    assert.equal(r.exitCode, 0, r.stderr);
  }
  assert.equal((await versions()).length, 3, 'the full stays as the base of the two kept increments');
  const now = await lifeboat(['compare', 'web', '--store', store, '--root', src.mountpoint, '--output', '-']);
  assert.equal(now.exitCode, 0, now.stdout);

  const show = await lifeboat(['schedule', 'show', name, '--root', root, '--json']);
  assert.equal(show.exitCode, 0, show.stderr);
  const shown = JSON.parse(show.stdout)[0] as { name: string; init: string; enabled: boolean; keeps: string; archiveArgs: string[]; command: string[] };
  assert.deepEqual([shown.name, shown.init, shown.enabled, shown.keeps], [name, 'systemd', true, '--keep 2']);
  assert.deepEqual(shown.command, argv, 'show reports exactly the command the unit runs');

  const removed = await lifeboat(['schedule', 'remove', name, '--root', root]);
  assert.equal(removed.exitCode, 0, removed.stderr);
  assert.deepEqual((await readdir(dir)).filter((f) => f.includes(name)), []);
  assert.ok(!existsSync(join(dir, 'timers.target.wants', `lifeboat-${name}.timer`)));
  const gone = await lifeboat(['schedule', 'remove', name, '--root', root]);
  assert.equal(gone.exitCode, 3);
  assert.match(gone.stderr, new RegExp(`no Lifeboat schedule named ${name}`));
});

test('a cron schedule with the weekday rotation: the entry runs, keeps one version per weekday, @reboot catches up', async (t) => {
  const { world, src, store, root } = await makeSource(t, 'lb-cron');
  const name = `rotate-${world.id}`;
  const install = await lifeboat(['schedule', 'install', name, '--store', store, '--image', 'box', '--root', root, '--init', 'cron', '--preset', 'weekday', '--at', '23:45', '--', '--root', src.mountpoint]);
  assert.equal(install.exitCode, 0, install.stderr);
  const cron = await readFile(join(root, 'etc', 'cron.d', `lifeboat-${name}`), 'utf8');
  const entries = cron.split('\n').filter((l) => l && !l.startsWith('#') && !/^[A-Z]+=/.test(l));
  assert.equal(entries.length, 2, cron);
  const [timed, reboot] = entries as [string, string];
  assert.match(timed, /^45 23 \* \* \* root \//);
  assert.match(reboot, /^@reboot root \/.* --catch-up /);
  assert.ok(!/[^\\]%/.test(timed.replace(/^\S+ \S+ \S+ \S+ \S+ /, '')), 'every % is escaped, or cron would cut the command there');

  // cron's reading of a command: an escaped % is a literal %; the rest goes to /bin/sh. The log
  // redirect in the entry targets /var/log/lifeboat: a private tmpfs there keeps this machine's clean.
  const runEntry = async (entry: string) => {
    const command = entry.replace(/^(@reboot|\S+ \S+ \S+ \S+ \S+) root /, '').replaceAll('\\%', '%');
    const log = `/var/log/lifeboat/schedule-${name}.log`;
    const r = await execa('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', `mount -t tmpfs lb-log /var/log && mkdir -p /var/log/lifeboat && ( ${command} ); code=$?; cat ${log}; exit $code`], { reject: false, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LIFEBOAT_LOG_LEVEL: 'warn' } });
    return { exitCode: r.exitCode, output: `${r.stdout}${r.stderr}` };
  };

  const versionsOf = async () => {
    const listed = JSON.parse((await lifeboat(['images', 'list', '--store', store, '--json'])).stdout) as Array<{ image: string; versions: Array<{ version: string }> }>;
    return Object.fromEntries(listed.map((i) => [i.image, i.versions.length]));
  };
  const today = `box-${WEEKDAYS[new Date().getDay()]}`;
  const caught = await runEntry(reboot);
  assert.equal(caught.exitCode, 0, caught.output);
  assert.match(caught.output, /catching up: the run due at .* was missed \(newest version: none\)/);
  assert.deepEqual(await versionsOf(), { [today]: 1 });
  const notDue = await runEntry(reboot);
  assert.equal(notDue.exitCode, 0, notDue.output);
  assert.match(notDue.output, new RegExp(`not due: ${today}@\\S+ was made after the last due time`));
  assert.deepEqual(await versionsOf(), { [today]: 1 });

  await new Promise((r) => setTimeout(r, 1100));
  const nightly = await runEntry(timed);
  assert.equal(nightly.exitCode, 0, nightly.output);
  assert.match(nightly.output, new RegExp(`archived ${today}@\\S+; removed 1 version\\(s\\) retention does not keep`));
  assert.deepEqual(await versionsOf(), { [today]: 1 }, 'the weekday image keeps its newest version only');
  const same = await lifeboat(['compare', today, '--store', store, '--root', src.mountpoint, '--output', '-']);
  assert.equal(same.exitCode, 0, same.stdout);

  const show = await lifeboat(['schedule', 'show', '--root', root]);
  assert.match(show.stdout, new RegExp(`${name}  \\(cron\\)\\n  when      daily at 23:45 into box-<weekday> \\(cron "45 23 \\* \\* \\*" and @reboot --catch-up\\)`));
  const removed = await lifeboat(['schedule', 'remove', name, '--root', root]);
  assert.equal(removed.exitCode, 0, removed.stderr);
  assert.ok(!existsSync(join(root, 'etc', 'cron.d', `lifeboat-${name}`)));

  // Refusals name the problem and the way out.
  const bad = await lifeboat(['schedule', 'install', name, '--store', store, '--root', root, '--init', 'cron', '--preset', 'weekday', '--', '--incremental']);
  assert.equal(bad.exitCode, 2);
  assert.match(bad.stderr, /use --preset daily with --incremental/);
  const badAt = await lifeboat(['schedule', 'install', name, '--store', store, '--root', root, '--at', '25:00']);
  assert.equal(badAt.exitCode, 2);
  assert.match(badAt.stderr, /--at 25:00 is not a time of day/);
  const badArchive = await lifeboat(['schedule', 'install', name, '--store', store, '--root', root, '--', '--image', 'x']);
  assert.equal(badArchive.exitCode, 2);
  assert.match(badArchive.stderr, /Unknown option '--image'/);
});
