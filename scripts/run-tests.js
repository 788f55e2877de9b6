#!/usr/bin/env node
// Runs the compiled tests: `all` (unit, then integration, then e2e), or one suite by name.
// Integration and e2e tests own namespaces, loop devices and QEMU machines, so they run one file
// at a time; unit tests run in parallel.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const root = new URL('../dist/test/', import.meta.url).pathname;
const which = process.argv[2] ?? 'all';
const suites = which === 'all' ? ['unit', 'integration', 'e2e'] : [which];

function findTests(dir) {
  let out = [];
  let entries = [];
  try { entries = readdirSync(dir); } catch { return out; }
  for (const e of entries.sort()) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out = out.concat(findTests(p));
    else if (e.endsWith('.test.js')) out.push(p);
  }
  return out;
}

let failed = false;
for (const suite of suites) {
  const files = findTests(join(root, suite));
  if (files.length === 0) continue;
  console.log(`\n# suite ${suite}: ${files.length} files`);
  const args = ['--enable-source-maps', '--test', `--test-concurrency=${suite === 'unit' ? 2 : 1}`, ...files];
  const r = spawnSync(process.execPath, args, { stdio: 'inherit' });
  if (r.status !== 0) failed = true;
}
process.exit(failed ? 1 : 0);
