#!/usr/bin/env node
// Runs every compiled benchmark in dist/bench (or those named on the command line) one after another.
// Only the files directly in dist/bench are benchmarks: report.js and dist/bench/lib/ hold what they share.
import { readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

const dir = new URL('../dist/bench/', import.meta.url).pathname;
const wanted = process.argv.slice(2);
const all = readdirSync(dir, { withFileTypes: true })
  .filter((e) => e.isFile() && e.name.endsWith('.js') && e.name !== 'report.js')
  .map((e) => e.name.replace(/\.js$/, ''));
let failed = false;
for (const name of wanted.length ? wanted : all) {
  console.log(`\n# bench ${name}`);
  const r = spawnSync(process.execPath, ['--enable-source-maps', `${dir}${name}.js`], { stdio: 'inherit' });
  if (r.status !== 0) failed = true;
}
process.exit(failed ? 1 : 0);
