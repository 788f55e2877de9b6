import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { machineLine, writeBenchSection } from './report.js';
import { loadSentence, watchLoad } from './lib/machine-load.js';

/**
 * The test suite's wall time, file by file: runs `scripts/run-tests.js all` (what `npm test` runs
 * after setup) and writes each file's time, the total and the job count to docs/benchmarks.md.
 * `--last` writes the record of the last run instead of running the suite again (copy a clean
 * clone's dist/test-run.json into this checkout's dist/ first to report that run).
 *
 *   node dist/bench/suite.js [--last] [--jobs N] [--note TEXT]
 */

interface RunRecord {
  finishedAt: string;
  suites: string;
  jobs: number;
  totalSeconds: number;
  counts: { pass: number; fail: number; skipped: number };
  files: Array<{ file: string; seconds: number; ok: boolean }>;
}

const PROJECT = fileURLToPath(new URL('../../', import.meta.url));
const args = process.argv.slice(2);
const jobsAt = args.indexOf('--jobs');
const jobs = jobsAt >= 0 ? args[jobsAt + 1] : undefined;
// --note TEXT: what the record alone cannot say (e.g. what else ran on the machine at the time).
const noteAt = args.indexOf('--note');
const note = noteAt >= 0 ? args[noteAt + 1] ?? '' : '';

const stopWatching = watchLoad();
if (!args.includes('--last')) {
  const r = spawnSync(process.execPath, ['--enable-source-maps', `${PROJECT}scripts/run-tests.js`, 'all', ...(jobs ? ['--jobs', jobs] : [])], { stdio: 'inherit' });
  if (r.status !== 0) console.error(`bench suite: the suite failed (exit ${r.status}); its times are written all the same`);
}
const load = stopWatching();

let run: RunRecord;
try {
  run = JSON.parse(await readFile(`${PROJECT}dist/test-run.json`, 'utf8')) as RunRecord;
} catch {
  console.error('bench suite: no dist/test-run.json: run the suite first (npm test, or this benchmark without --last)');
  process.exit(1);
}

const rows = run.files.map((f) => `| ${f.file} | ${f.seconds.toFixed(1)} | ${f.ok ? 'pass' : '**fail**'} |`);
const serial = run.files.reduce((sum, f) => sum + f.seconds, 0);
await writeBenchSection('suite', `
## The test suite, file by file (bench/suite.ts)

${run.finishedAt.slice(0, 10)} — ${machineLine()}. ${args.includes('--last') ? '' : `${loadSentence(load)} `}The suite as \`npm test\` runs it
(\`scripts/run-tests.js all\`, after setup): unit tests in one process, then integration and end-to-end files, ${run.jobs} at a time, longest first.

| file | wall time (s) | result |
| --- | --- | --- |
${rows.join('\n')}

Total: **${(run.totalSeconds / 60).toFixed(1)} min** (${run.totalSeconds} s) with ${run.jobs} job(s); the files' times add up to ${(serial / 60).toFixed(1)} min.
${run.counts.pass} passed, ${run.counts.fail} failed${run.counts.skipped ? `, ${run.counts.skipped} skipped` : ''}.${note ? ` ${note}` : ''} Target: ≤ 30 min on a clean clone of this 2-core machine (it was 48 min at one file at a time).
`);
console.log(`bench suite: ${run.files.length} rows written to docs/benchmarks.md (total ${run.totalSeconds} s)`);
