// DHCP benchmark (not a test): DORA exchanges per second that perfdhcp completes against
// Lifeboat's full-mode server and against dnsmasq with its lease file (and, for context, dnsmasq
// with leasefile-ro, which persists nothing), in one run, on the same namespaces and veth link.
// Prints one JSON document; `ratio` is Lifeboat over dnsmasq with its lease file. Writes the same
// numbers as the `dhcp` section of docs/benchmarks.md.
//   node --enable-source-maps dist/bench/dhcp.js   (root; env BENCH_SECONDS, BENCH_RATES)
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeWorld } from '../test/support/world.js';
import { createNamespace, createVethPair, runInNamespace, startInNamespace, waitFor } from '../test/support/netns.js';
import { startLifeboatDhcp } from '../test/support/dhcp-lab.js';
import { writeBenchSection } from './report.js';
import { measuredLine, watchLoad, type LoadWindow } from './lib/machine-load.js';

const seconds = Number(process.env.BENCH_SECONDS ?? 5);
// Offered load (DORA/s asked of perfdhcp). Past its peak a server drops more than it completes, so
// each server is measured at every rate and its best is its number.
const rates = (process.env.BENCH_RATES ?? '500,1000,2000,3000,5000').split(',').map(Number);
const clients = 1000;

interface PerfResult {
  offered: number;
  dora: number;
  discoverDrops: number;
  requestDrops: number;
}

function parsePerf(offered: number, out: string): PerfResult {
  const dora = /Rate: ([\d.]+) 4-way exchanges\/second/.exec(out);
  const drops = [...out.matchAll(/drops ratio: ([\d.]+) ?%/g)].map((m) => Number(m[1]));
  if (!dora) throw new Error(`perfdhcp printed no rate:\n${out}`);
  return { offered, dora: Number(dora[1]), discoverDrops: drops[0] ?? NaN, requestDrops: drops[1] ?? NaN };
}


async function main(): Promise<void> {
  const cleanups: Array<() => unknown> = [];
  const world = await makeWorld({ after: (fn: () => unknown) => void cleanups.push(fn) }, 'bench-dhcp');
  try {
    const s = await createNamespace(world, 's');
    const c = await createNamespace(world, 'c');
    const sIf = `lbs${world.id}`;
    const cIf = `lbc${world.id}`;
    await createVethPair(world, { ns: s, name: sIf, address: '10.79.0.1/16' }, { ns: c, name: cIf, address: '10.79.255.254/16' });
    const perf = async (rate: number): Promise<PerfResult> => {
      const r = await runInNamespace(c, 'perfdhcp', ['-4', '-r', String(rate), '-R', String(clients), '-p', String(seconds), '-l', cIf], { timeoutMs: (seconds + 30) * 1000 });
      return parsePerf(rate, `${r.stdout}\n${r.stderr}`);
    };
    const results: Record<string, PerfResult[]> = { lifeboat: [], dnsmasq: [], dnsmasqNoLeaseFile: [] };
    const stopLoad = watchLoad();
    const runDnsmasq = async (tag: string, leaseLine: string, into: PerfResult[], rate: number) => {
      const conf = join(world.dir, `dnsmasq-${tag}.conf`);
      writeFileSync(conf, ['port=0', `interface=${sIf}`, 'bind-interfaces', 'dhcp-range=10.79.1.0,10.79.8.255,255.255.0.0,1h',
        leaseLine, 'dhcp-lease-max=10000', 'no-ping', 'no-resolv', 'no-hosts', 'user=root', 'pid-file=', ''].join('\n'));
      const dnsmasq = startInNamespace(world, s, 'dnsmasq', ['--no-daemon', '--log-facility=-', `--conf-file=${conf}`], join(world.dir, `dnsmasq-${tag}.log`));
      await waitFor('dnsmasq to start', () => (/DHCP, IP range/.test(dnsmasq.log()) ? true : undefined));
      into.push(await perf(rate));
      await dnsmasq.stop();
    };

    for (const [i, rate] of rates.entries()) {
      const dbPath = join(world.dir, `lifeboat-${i}.sqlite`);
      const server = await startLifeboatDhcp(world, s, {
        mode: 'full', interface: sIf, serverAddress: '10.79.0.1', range: { first: '10.79.1.0', last: '10.79.8.255' },
        subnetMask: '255.255.0.0', leaseSeconds: 3600, logLevel: 'info', dbPath,
      }, `lifeboat-${i}`);
      results.lifeboat!.push(await perf(rate));
      await server.stop();

      await runDnsmasq(`${i}`, `dhcp-leasefile=${join(world.dir, `dnsmasq-${i}.leases`)}`, results.dnsmasq!, rate);
      await runDnsmasq(`ro-${i}`, 'leasefile-ro', results.dnsmasqNoLeaseFile!, rate);
    }
    const load = stopLoad();
    const summary = Object.fromEntries(
      Object.entries(results).map(([name, runs]) => [name, { doraPerSecond: Math.max(...runs.map((r) => r.dora)), runs }]),
    );
    const lifeboat = summary.lifeboat!.doraPerSecond;
    const dnsmasq = summary.dnsmasq!.doraPerSecond;
    const report = {
      benchmark: 'dhcp-dora',
      tool: `perfdhcp -4 -r RATE -R ${clients} -p ${seconds} for RATE in ${rates.join(', ')} (relay mode, veth between two namespaces); best rate per server`,
      lifeboat: { ...summary.lifeboat, config: 'full mode, SQLite WAL lease store, info logging' },
      dnsmasq: { ...summary.dnsmasq, config: 'dhcp-range, lease file, no-ping' },
      dnsmasqNoLeaseFile: { ...summary.dnsmasqNoLeaseFile, config: 'as above with leasefile-ro: persists nothing; for context' },
      ratio: Math.round((lifeboat / dnsmasq) * 100) / 100,
      load,
    };
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    await writeBenchSection('dhcp', dhcpSection(report, load));
  } finally {
    for (const step of cleanups.reverse()) await step();
  }
}

/** The docs/benchmarks.md section: each server's best rate, and every offered rate it was measured at. */
function dhcpSection(
  report: { tool: string; ratio: number } & Record<'lifeboat' | 'dnsmasq' | 'dnsmasqNoLeaseFile', { doraPerSecond?: number; runs?: PerfResult[]; config: string }>,
  load: LoadWindow,
): string {
  const names = { lifeboat: 'Lifeboat', dnsmasq: 'dnsmasq, lease file', dnsmasqNoLeaseFile: 'dnsmasq, leasefile-ro (context only)' } as const;
  const keys = Object.keys(names) as Array<keyof typeof names>;
  const cell = (r: PerfResult) => `${r.dora.toFixed(0)} (drops ${r.discoverDrops.toFixed(1)} % / ${r.requestDrops.toFixed(1)} %)`;
  return [
    '## DHCP DORA/s against dnsmasq (bench/dhcp.ts)',
    '',
    `${measuredLine(load)}`,
    '',
    `\`${report.tool}\`. perfdhcp plays ${clients} distinct clients in one namespace, the server runs in another, joined by a veth pair.`,
    'Each server is measured at every offered rate and its best completed DORA/s is its number (past its peak a server drops more than it completes).',
    '',
    '| server | configuration | best DORA/s |',
    '| --- | --- | --- |',
    ...keys.map((k) => `| ${names[k]} | ${report[k].config} | ${(report[k].doraPerSecond ?? NaN).toFixed(0)} |`),
    '',
    `Ratio Lifeboat / dnsmasq with its lease file: **${report.ratio.toFixed(2)}×** (target ≥ 2×).`,
    '',
    `Completed DORA/s at each offered rate (DISCOVER / REQUEST drop ratios):`,
    '',
    `| offered DORA/s | ${keys.map((k) => names[k]).join(' | ')} |`,
    `| --- | ${keys.map(() => '---').join(' | ')} |`,
    ...(report.lifeboat.runs ?? []).map((r, i) => `| ${r.offered} | ${keys.map((k) => (report[k].runs?.[i] ? cell(report[k].runs[i]!) : '—')).join(' | ')} |`),
  ].join('\n');
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
