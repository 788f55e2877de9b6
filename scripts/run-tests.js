#!/usr/bin/env node
// Runs the compiled tests: `all` (unit, then integration and e2e together), or one suite by name.
//
// Unit tests run in one `node --test` process, two files at a time. Integration and end-to-end files
// each run in their own `node --test` process, `--jobs` of them at once: integration files one after
// another in a lane of their own (they share the host's loop devices, mounts and LVM view), e2e
// files in the other lanes. The default, 3, was measured
// on this project's 2-core machines: a QEMU guest under TCG keeps a core busy only while it
// computes, and the files also wait on firmware, networks and disks (whole suite on a clean clone:
// 25.8 min at 2 jobs, 22.9 min at 3, both beside other work; every file passed). They can share the machine
// because every test names its namespaces, bridges, taps, loop devices and directories with a run id
// of its own and binds no fixed port outside its namespaces. Files start longest first, by the wall
// times in test/durations.json, so the last one to finish is not a long one started late. A file's
// output is printed whole when it ends, never interleaved with another's.
//
// At the end: each file's wall time, longest first, and the totals; the times are also written to
// dist/test-durations.json (copy it over test/durations.json to refresh the schedule) and, with the
// totals, to dist/test-run.json, which bench/suite.ts writes into docs/benchmarks.md.
//
//   node scripts/run-tests.js [all|unit|integration|e2e] [--jobs N]     (or LIFEBOAT_TEST_JOBS=N)
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawn } from 'node:child_process';

const projectDir = new URL('..', import.meta.url).pathname;
const root = join(projectDir, 'dist/test');
const args = process.argv.slice(2);
const jobsAt = args.indexOf('--jobs');
const jobs = Number(jobsAt >= 0 ? args.splice(jobsAt, 2)[1] : process.env.LIFEBOAT_TEST_JOBS ?? 3);
const which = args[0] ?? 'all';
if (!['all', 'unit', 'integration', 'e2e'].includes(which) || !Number.isInteger(jobs) || jobs < 1) {
  console.error('usage: node scripts/run-tests.js [all|unit|integration|e2e] [--jobs N]');
  process.exit(2);
}

// The suite runs in a mount namespace of its own whose / is shared. `ip netns exec` (QEMU, dnsmasq,
// servers in test namespaces) gives each process a copy of every mount there is at that moment; with
// a private / (as in containers) those copies never see the later unmount, so they keep the
// filesystem's superblock alive: a disk the agent had mounted rw then refuses a ro mount
// ('already mounted or mount point busy') and a second copy of an XFS fixture refuses to mount
// ('duplicate UUID'). Under a shared /, `ip netns exec` makes its copies slaves and unmounts reach
// them. The host's own propagation is left as it is.
if (!process.env.LIFEBOAT_TEST_MOUNT_NS) {
  const child = spawn('unshare', ['--mount', '--propagation', 'shared', '--', process.execPath, ...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, LIFEBOAT_TEST_MOUNT_NS: '1' },
  });
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
  await new Promise(() => {});
}

function findTests(dir) {
  let out = [];
  let entries = [];
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const e of entries.sort()) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out = out.concat(findTests(p));
    else if (e.endsWith('.test.js')) out.push(p);
  }
  return out;
}

const name = (file) => relative(root, file);
const counts = { pass: 0, fail: 0, skipped: 0, todo: 0, cancelled: 0 };
const times = [];
let failed = false;

/** Adds the closing counts of node's test runner (TAP: "# pass 3") to the totals. */
function addCounts(output) {
  const got = {};
  for (const m of output.matchAll(/^# (pass|fail|skipped|todo|cancelled) (\d+)$/gm)) got[m[1]] = Number(m[2]);
  for (const [k, v] of Object.entries(got)) counts[k] += v;
  return got;
}

function runNodeTest(files, options) {
  return new Promise((resolve) => {
    const started = performance.now();
    const child = spawn(process.execPath, ['--enable-source-maps', '--test', `--test-concurrency=${options.concurrency}`, ...files], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const take = (stream) => (d) => {
      output += d;
      if (options.live) stream.write(d);
    };
    child.stdout.on('data', take(process.stdout));
    child.stderr.on('data', take(process.stderr));
    child.on('close', (code, signal) => resolve({ code, signal, output, seconds: (performance.now() - started) / 1000 }));
  });
}

function expectedSeconds() {
  try {
    return JSON.parse(readFileSync(join(projectDir, 'test/durations.json'), 'utf8'));
  } catch {
    return {};
  }
}

async function runPool(files) {
  const expected = expectedSeconds();
  // Unknown files count as long: a new end-to-end test should not be the one started last.
  const weight = (f) => expected[name(f)] ?? (name(f).startsWith('e2e/') ? 1e6 : 120);
  const byWeight = (a, b) => weight(b) - weight(a);
  const isE2e = (f) => name(f).startsWith('e2e/');
  // Integration files share the host's loop devices, mounts and LVM view (lvm scans every block
  // device; a partition being mounted can meet another file's tools holding it): two at once
  // failed now and then, so they run one after another, as they always have, in a lane of their
  // own. The e2e files, whose machines live in QEMU and namespaces, take the other lanes.
  const integration = files.filter((f) => !isE2e(f)).sort(byWeight);
  const e2e = files.filter(isE2e).sort(byWeight);
  console.log(`\n# integration and e2e: ${files.length} files, ${jobs} at a time (integration files one after another), longest first`);
  const runOne = async (file) => {
    console.log(`# start ${name(file)}`);
    const r = await runNodeTest([file], { concurrency: 1, live: false });
    const got = addCounts(r.output);
    const ok = r.code === 0;
    if (!ok) failed = true;
    // A file that dies before its runner prints counts (a crash on import) still counts as failed.
    if (!ok && !got.fail) counts.fail += 1;
    times.push({ file: name(file), seconds: r.seconds, ok });
    process.stdout.write(`\n# ===== ${name(file)}: ${ok ? 'ok' : `FAILED (exit ${r.code ?? r.signal})`} in ${r.seconds.toFixed(1)} s =====\n${r.output}# ===== end of ${name(file)} =====\n`);
  };
  // Lane 0 runs the integration files, then helps with what e2e is left; the others run e2e files.
  const lane = async (first, then) => {
    for (let file = first.shift() ?? then.shift(); file; file = first.shift() ?? then.shift()) await runOne(file);
  };
  if (jobs === 1) await lane(integration, e2e);
  else await Promise.all([lane(integration, e2e), ...Array.from({ length: jobs - 1 }, () => lane(e2e, []))]);
}

const started = performance.now();
if (which === 'all' || which === 'unit') {
  const files = findTests(join(root, 'unit'));
  if (files.length) {
    console.log(`\n# suite unit: ${files.length} files`);
    const r = await runNodeTest(files, { concurrency: 2, live: true });
    addCounts(r.output);
    if (r.code !== 0) failed = true;
    times.push({ file: `unit/ (${files.length} files, one process)`, seconds: r.seconds, ok: r.code === 0 });
  }
}
const pooled = [...(which === 'all' || which === 'integration' ? findTests(join(root, 'integration')) : []), ...(which === 'all' || which === 'e2e' ? findTests(join(root, 'e2e')) : [])];
if (pooled.length) await runPool(pooled);

const total = (performance.now() - started) / 1000;
times.sort((a, b) => b.seconds - a.seconds);
console.log('\n# wall time per test file, longest first');
for (const t of times) console.log(`# ${t.seconds.toFixed(1).padStart(8)} s  ${t.ok ? '  ' : '✗ '}${t.file}`);
console.log(`# total ${total.toFixed(1)} s (${(total / 60).toFixed(1)} min) with ${jobs} job(s)`);
try {
  mkdirSync(join(projectDir, 'dist'), { recursive: true });
  const perFile = Object.fromEntries(times.filter((t) => !t.file.startsWith('unit/ (')).map((t) => [t.file, Math.round(t.seconds)]));
  writeFileSync(join(projectDir, 'dist/test-durations.json'), `${JSON.stringify(perFile, null, 2)}\n`);
  // The whole run, for bench/suite.ts: what ran, with how many jobs, each file's time and the counts.
  const record = { finishedAt: new Date().toISOString(), suites: which, jobs, totalSeconds: Math.round(total), counts, files: times.map((t) => ({ ...t, seconds: Math.round(t.seconds * 10) / 10 })) };
  writeFileSync(join(projectDir, 'dist/test-run.json'), `${JSON.stringify(record, null, 2)}\n`);
} catch {
  /* the summary above is what matters */
}
console.log(`${counts.pass} passed, ${counts.fail} failed${counts.skipped ? `, ${counts.skipped} skipped` : ''}`);
process.exit(failed ? 1 : 0);
