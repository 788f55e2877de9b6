/**
 * bench/server-rss: how much memory `lifeboat serve` holds, idle after start and at its peak
 * during a DHCP storm, with dnsmasq under the same storm for context.
 *
 *   node dist/bench/server-rss.js [--rounds 3] [--rate 1000] [--seconds 10]
 *
 * The server runs in one network namespace with full DHCP on a veth, perfdhcp plays 1000 distinct
 * clients from another (it acts as a relay: giaddr is its own address on the server's /16). RSS is
 * VmRSS from /proc/PID/status, sampled every 50 ms. Each round starts a fresh server of each kind,
 * alternating; the medians over the rounds are reported. A bare Node process is measured too: the
 * part of Lifeboat's number that is the runtime itself.
 *
 * Writes the `server-rss` section of docs/benchmarks.md and prints JSON.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { makeWorld, type World } from '../test/support/world.js';
import { createNamespace, createVethPair, runInNamespace, startInNamespace, waitFor, type Background } from '../test/support/netns.js';
import { machineLine, median, writeBenchSection } from './report.js';
import { measuredLine, watchLoad } from './lib/machine-load.js';
import { mib, residentKiB, sampleResident } from './lib/process-memory.js';
import { startLifeboatServe } from './lib/lifeboat-serve.js';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '3' }, rate: { type: 'string', default: '1000' }, seconds: { type: 'string', default: '10' } } });
const ROUNDS = Number(values.rounds);
const RATE = Number(values.rate);
const SECONDS = Number(values.seconds);
const CLIENTS = 1000;
/** How long a server sits untouched after it is up before its idle RSS is read. */
const SETTLE_MS = 5000;

interface Round {
  idleKiB: number;
  peakKiB: number;
  afterKiB: number;
  samples: number;
  dora: number;
  acks: number;
}

async function storm(c: string, cIf: string, server: Background): Promise<Omit<Round, 'afterKiB'>> {
  await sleep(SETTLE_MS);
  const idleKiB = residentKiB(server.pid);
  if (idleKiB === null) throw new Error(`the server (pid ${server.pid}) is gone:\n${server.log().slice(-2000)}`);
  const sampler = sampleResident(server.pid, 50);
  const r = await runInNamespace(c, 'perfdhcp', ['-4', '-r', String(RATE), '-R', String(CLIENTS), '-p', String(SECONDS), '-l', cIf], { timeoutMs: (SECONDS + 30) * 1000 });
  const trace = sampler.stop();
  const out = `${r.stdout}\n${r.stderr}`;
  const dora = /Rate: ([\d.]+) 4-way exchanges\/second/.exec(out);
  const acks = /REQUEST-ACK\*\*\*\s+sent packets: \d+\s+received packets: (\d+)/.exec(out);
  if (!dora || !acks) throw new Error(`perfdhcp printed no rate:\n${out}`);
  return { idleKiB, peakKiB: trace.peakKiB, samples: trace.samples, dora: Number(dora[1]), acks: Number(acks[1]) };
}

async function settledAfter(pid: number): Promise<number> {
  await sleep(SETTLE_MS);
  return residentKiB(pid) ?? NaN;
}

async function main(): Promise<void> {
  const cleanups: Array<() => unknown> = [];
  const holder = { after: (fn: () => unknown) => void cleanups.push(fn) };
  try {
    const world: World = await makeWorld(holder, 'lb-bench-rss');
    const s = await createNamespace(world, 's');
    const c = await createNamespace(world, 'c');
    const sIf = `lbs${world.id}`;
    const cIf = `lbc${world.id}`;
    await createVethPair(world, { ns: s, name: sIf, address: '10.79.0.1/16' }, { ns: c, name: cIf, address: '10.79.255.254/16' });

    // The runtime alone: a Node process that does nothing.
    const bare = startInNamespace(world, s, process.execPath, ['-e', 'setInterval(() => {}, 1000)'], join(world.dir, 'bare-node.log'));
    await sleep(2000);
    const bareKiB = residentKiB(bare.pid) ?? NaN;
    await bare.stop();

    const stopLoad = watchLoad();
    const rounds: Record<'lifeboat' | 'dnsmasq', Round[]> = { lifeboat: [], dnsmasq: [] };
    for (let i = 0; i < ROUNDS; i++) {
      const runLifeboat = async () => {
        // Every round its own state directory: no leases left from the round before.
        const server = await startLifeboatServe(world, s, [
          '--store', join(world.dir, 'store'), '--http', '10.79.0.1:8080', '--dhcp', 'full', '--interface', sIf, '--range', '10.79.1.0-10.79.8.255',
        ], `lifeboat-${i}`);
        const r = await storm(c, cIf, server);
        rounds.lifeboat.push({ ...r, afterKiB: await settledAfter(server.pid) });
        await server.stop();
      };
      const runDnsmasq = async () => {
        const conf = join(world.dir, `dnsmasq-${i}.conf`);
        writeFileSync(conf, ['port=0', `interface=${sIf}`, 'bind-interfaces', 'dhcp-range=10.79.1.0,10.79.8.255,255.255.0.0,1h',
          `dhcp-leasefile=${join(world.dir, `dnsmasq-${i}.leases`)}`, 'dhcp-lease-max=10000', 'no-ping', 'no-resolv', 'no-hosts', 'user=root', 'pid-file=', ''].join('\n'));
        const dnsmasq = startInNamespace(world, s, 'dnsmasq', ['--no-daemon', '--log-facility=-', `--conf-file=${conf}`], join(world.dir, `dnsmasq-${i}.log`));
        await waitFor('dnsmasq to start', () => (/DHCP, IP range/.test(dnsmasq.log()) ? true : undefined));
        const r = await storm(c, cIf, dnsmasq);
        rounds.dnsmasq.push({ ...r, afterKiB: await settledAfter(dnsmasq.pid) });
        await dnsmasq.stop();
      };
      // Alternate which server goes first.
      if (i % 2 === 0) await runLifeboat().then(runDnsmasq);
      else await runDnsmasq().then(runLifeboat);
      for (const side of ['lifeboat', 'dnsmasq'] as const) {
        const r = rounds[side].at(-1)!;
        process.stderr.write(`round ${i + 1} ${side}: idle ${mib(r.idleKiB)} MiB, peak ${mib(r.peakKiB)} MiB, after ${mib(r.afterKiB)} MiB; ${r.dora.toFixed(0)} DORA/s\n`);
      }
    }
    const load = stopLoad();
    const med = (side: 'lifeboat' | 'dnsmasq', key: keyof Round) => median(rounds[side].map((r) => r[key]));
    const result = {
      bench: 'server-rss',
      machine: machineLine(),
      load,
      storm: { tool: `perfdhcp -4 -r ${RATE} -R ${CLIENTS} -p ${SECONDS}`, clients: CLIENTS },
      bareNodeKiB: bareKiB,
      lifeboat: { idleKiB: med('lifeboat', 'idleKiB'), peakKiB: med('lifeboat', 'peakKiB'), afterKiB: med('lifeboat', 'afterKiB'), rounds: rounds.lifeboat },
      dnsmasq: { idleKiB: med('dnsmasq', 'idleKiB'), peakKiB: med('dnsmasq', 'peakKiB'), afterKiB: med('dnsmasq', 'afterKiB'), rounds: rounds.dnsmasq },
    };
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    const row = (name: string, side: 'lifeboat' | 'dnsmasq') =>
      `| ${name} | ${mib(med(side, 'idleKiB'))} | ${mib(med(side, 'peakKiB'))} | ${mib(med(side, 'afterKiB'))} | ${rounds[side].map((r) => `${mib(r.idleKiB)} / ${mib(r.peakKiB)}`).join(', ')} | ${med(side, 'dora').toFixed(0)} |`;
    await writeBenchSection(
      'server-rss',
      [
        '## Server memory: idle and during a DHCP storm (bench/server-rss.ts)',
        '',
        `${measuredLine(load)}`,
        '',
        `\`lifeboat serve --dhcp full\` (HTTP on, TFTP and NFS off) on a veth in a namespace; \`${result.storm.tool}\` from another namespace`,
        `(${CLIENTS} distinct clients, relay mode). VmRSS from /proc/PID/status: idle ${SETTLE_MS / 1000} s after start, the peak of samples`,
        `every 50 ms during the storm, and ${SETTLE_MS / 1000} s after it. dnsmasq (lease file, no-ping) under the same storm for context.`,
        `${ROUNDS} rounds, a fresh server each, alternating which goes first; medians.`,
        '',
        '| server | idle (MiB) | peak in storm (MiB) | 5 s after (MiB) | rounds, idle / peak (MiB) | DORA/s completed |',
        '| --- | --- | --- | --- | --- | --- |',
        row('Lifeboat', 'lifeboat'),
        row('dnsmasq', 'dnsmasq'),
        '',
        `A bare Node ${process.version} process that does nothing holds ${mib(bareKiB)} MiB here: that much of Lifeboat's number is the runtime.`,
      ].join('\n'),
    );
  } finally {
    for (const fn of cleanups.reverse()) await fn();
  }
}

await main();
