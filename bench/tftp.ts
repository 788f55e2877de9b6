/**
 * Benchmark, not a test: Lifeboat's TFTP server against tftpd-hpa on loopback,
 * side by side in one run, a 64 MiB file, median of 5.
 *
 *   node dist/bench/tftp.js [--runs 5] [--mib 64]
 *
 * curl at blksize 512, 1468 and 8192; atftp at blksize 1468 and 8192 with windowsize 1, 4 and 16
 * (tftpd-hpa has no windowsize: it ignores the option and atftp falls back to lock-step). Runs
 * alternate between the two servers so both see the same machine load. Besides MB/s (10^6 bytes
 * per second) it records each server's CPU time per transfer, user and system, which says where
 * the time goes. Prints one JSON document on stdout and writes it as the `tftp` section of
 * docs/benchmarks.md.
 *
 * Needs tftpd-hpa (`bash scripts/setup.sh bench` installs it; its system service is not used:
 * in.tftpd runs here in the foreground on a free port, as nobody).
 */
import { access, chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { execa, type ResultPromise } from 'execa';
import { machineLine, writeBenchSection } from './report.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' }, mib: { type: 'string', default: '64' } } });
const RUNS = Number(values.runs);
const SIZE = Number(values.mib) * 1024 * 1024;
const IN_TFTPD = '/usr/sbin/in.tftpd';

interface Sample {
  mbps: number;
  cpuUser: number;
  cpuSys: number;
}

interface Server {
  name: 'lifeboat' | 'tftpd-hpa';
  port: number;
  /** Starts counting the server's CPU time; the returned function stops and gives (user, system) seconds. */
  measureCpu(): Promise<() => Promise<{ user: number; sys: number }>>;
}

const TICKS = 100; // USER_HZ on Linux

async function procTimes(pid: number, fields: [number, number]): Promise<{ user: number; sys: number }> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which is in parentheses and may contain spaces.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: Number(rest[fields[0] - 3]) / TICKS, sys: Number(rest[fields[1] - 3]) / TICKS };
}

/** CPU time of one process, from its own counters before and after. */
async function processCpu(pid: number): Promise<() => Promise<{ user: number; sys: number }>> {
  const before = await procTimes(pid, [14, 15]);
  return async () => {
    const after = await procTimes(pid, [14, 15]);
    return { user: after.user - before.user, sys: after.sys - before.sys };
  };
}

/**
 * CPU time of the children a forking server starts per transfer. in.tftpd does not wait for
 * them (their times never reach its cutime), so they are sampled every 10 ms while they live and
 * the last sample of each is kept: an undercount of at most 10 ms per child.
 */
async function childrenCpu(pid: number): Promise<() => Promise<{ user: number; sys: number }>> {
  const last = new Map<number, { user: number; sys: number }>();
  const sample = async (): Promise<void> => {
    const list = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '');
    for (const child of list.split(' ').filter(Boolean).map(Number)) {
      const t = await procTimes(child, [14, 15]).catch(() => null);
      if (t) last.set(child, t);
    }
  };
  const timer = setInterval(() => void sample(), 10);
  return async () => {
    clearInterval(timer);
    await sample();
    let user = 0;
    let sys = 0;
    for (const t of last.values()) {
      user += t.user;
      sys += t.sys;
    }
    return { user, sys };
  };
}

async function freeUdpPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
  const port = s.address().port;
  s.close();
  return port;
}

/** Waits until a TFTP server answers (an error for a missing file will do). */
async function waitForTftp(port: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const s = dgram.createSocket('udp4');
    try {
      await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
      s.send(Buffer.from('\0\x01bench-probe-missing\0octet\0'), port, '127.0.0.1');
      await once(s, 'message', { signal: AbortSignal.timeout(300) });
      return;
    } catch {
      // not up yet
    } finally {
      s.close();
    }
  }
  throw new Error(`no TFTP server answered on 127.0.0.1:${port} within 10 s`);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

const round = (x: number, digits = 1): number => Number(x.toFixed(digits));

async function main(): Promise<void> {
  await access(IN_TFTPD).catch(() => {
    throw new Error(`${IN_TFTPD} is missing: run "bash scripts/setup.sh bench" (installs tftpd-hpa) and try again`);
  });
  const dir = await mkdtemp(join(tmpdir(), 'lb-bench-tftp-'));
  const children: ResultPromise[] = [];
  try {
    // tftpd-hpa drops to nobody: the root must be readable by others.
    await chmod(dir, 0o755);
    const content = randomBytes(SIZE);
    await writeFile(join(dir, 'bench.bin'), content, { mode: 0o644 });

    const runEntry = new URL('../server/tftp/run-entry.js', import.meta.url).pathname;
    const lifeboatPort = await freeUdpPort();
    const lifeboat = execa(process.execPath, [runEntry, '--root', dir, '--host', '127.0.0.1', '--port', String(lifeboatPort)], {
      reject: false,
      buffer: false,
      env: { LIFEBOAT_LOG_LEVEL: 'info' },
    });
    children.push(lifeboat);
    // The server logs each finished transfer with the options in force.
    let lastDone: Record<string, unknown> = {};
    let pending = '';
    lifeboat.stderr?.on('data', (chunk: Buffer) => {
      pending += chunk.toString();
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        if (line.includes('"tftp transfer done"')) lastDone = JSON.parse(line) as Record<string, unknown>;
      }
    });
    const hpaPort = await freeUdpPort();
    const hpa = execa(IN_TFTPD, ['-L', '-a', `127.0.0.1:${hpaPort}`, '-s', dir, '-u', 'nobody'], { reject: false, buffer: false });
    children.push(hpa);
    await Promise.all([waitForTftp(lifeboatPort), waitForTftp(hpaPort)]);

    const servers: Server[] = [
      { name: 'lifeboat', port: lifeboatPort, measureCpu: () => processCpu(lifeboat.pid!) },
      // tftpd-hpa forks a child per transfer.
      { name: 'tftpd-hpa', port: hpaPort, measureCpu: () => childrenCpu(hpa.pid!) },
    ];

    const cases = [
      ...[512, 1468, 8192].map((blksize) => ({ client: 'curl', blksize, windowsize: 1 })),
      ...[1468, 8192].flatMap((blksize) => [1, 4, 16].map((windowsize) => ({ client: 'atftp', blksize, windowsize }))),
    ];
    const out = join(dir, 'out.bin');
    const results = [];
    const loadStart = loadavg()[0]!;
    for (const c of cases) {
      const samples: Record<string, Sample[]> = { lifeboat: [], 'tftpd-hpa': [] };
      let granted: unknown = null;
      for (let run = 0; run < RUNS; run++) {
        for (const server of servers) {
          await rm(out, { force: true });
          const args =
            c.client === 'curl'
              ? ['-sS', '-o', out, '--tftp-blksize', String(c.blksize), `tftp://127.0.0.1:${server.port}/bench.bin`]
              : ['--option', `blksize ${c.blksize}`, '--option', `windowsize ${c.windowsize}`, '-g', '-r', 'bench.bin', '-l', out, '127.0.0.1', String(server.port)];
          const stopCpu = await server.measureCpu();
          const t0 = process.hrtime.bigint();
          const r = await execa(c.client, args, { reject: false, timeout: 600_000 });
          const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
          const cpu = await stopCpu();
          if (r.exitCode !== 0) throw new Error(`${c.client} ${args.join(' ')} against ${server.name} exited ${r.exitCode}: ${r.stderr}`);
          const got = await readFile(out);
          if (!got.equals(content)) throw new Error(`${c.client} against ${server.name}: the file arrived different (${got.length} bytes)`);
          samples[server.name]!.push({ mbps: SIZE / 1e6 / seconds, cpuUser: cpu.user, cpuSys: cpu.sys });
          if (server.name === 'lifeboat') granted = lastDone.windowsize;
        }
      }
      const summary = (name: string) => {
        const s = samples[name]!;
        const mbps = median(s.map((x) => x.mbps));
        return {
          mbps: round(mbps),
          runs_mbps: s.map((x) => round(x.mbps)),
          us_per_block: round((1e6 * (SIZE / 1e6 / mbps)) / Math.ceil(SIZE / c.blksize), 2),
          cpu_user_s: round(median(s.map((x) => x.cpuUser)), 2),
          cpu_sys_s: round(median(s.map((x) => x.cpuSys)), 2),
        };
      };
      const ours = summary('lifeboat');
      const theirs = summary('tftpd-hpa');
      const result = {
        client: c.client,
        blksize: c.blksize,
        windowsize_asked: c.client === 'atftp' ? c.windowsize : null,
        windowsize_lifeboat: granted,
        windowsize_tftpd_hpa: c.client === 'atftp' ? 1 : null,
        lifeboat: ours,
        tftpd_hpa: theirs,
        ratio: round(ours.mbps / theirs.mbps, 2),
      };
      results.push(result);
      process.stderr.write(`${c.client} blksize ${c.blksize}${c.client === 'atftp' ? ` windowsize ${c.windowsize}` : ''}: lifeboat ${ours.mbps} MB/s, tftpd-hpa ${theirs.mbps} MB/s, ratio ${result.ratio}\n`);
    }
    const report = {
      benchmark: 'tftp',
      file_bytes: SIZE,
      runs: RUNS,
      statistic: 'median',
      loadavg_1min: { start: round(loadStart, 2), end: round(loadavg()[0]!, 2) },
      results,
      notes: [
        'MB/s = 10^6 bytes per second, wall time of the client process from start to exit.',
        'cpu_*_s: CPU seconds the server spent per transfer (lifeboat: its process; tftpd-hpa: its per-transfer child, sampled every 10 ms).',
        'us_per_block: wall microseconds per DATA block; in lock-step that is one round trip between server and client.',
        'tftpd-hpa has no windowsize (RFC 7440): it ignores the option, so atftp runs lock-step against it.',
        'lifeboat lowers windowsize so a window fits a default 212,992-byte receive buffer (12 blocks at blksize 8192).',
      ],
    };
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    await writeBenchSection('tftp', tftpSection(report));
  } finally {
    for (const child of children) child.kill('SIGTERM');
    await Promise.allSettled(children);
    await rm(dir, { recursive: true, force: true });
  }
}

/** The docs/benchmarks.md section: one table row per case of the JSON report. */
function tftpSection(report: {
  file_bytes: number;
  runs: number;
  loadavg_1min: { start: number; end: number };
  results: Array<{
    client: string;
    blksize: number;
    windowsize_asked: number | null;
    windowsize_lifeboat: unknown;
    lifeboat: { mbps: number; cpu_user_s: number; cpu_sys_s: number };
    tftpd_hpa: { mbps: number; cpu_user_s: number; cpu_sys_s: number };
    ratio: number;
  }>;
  notes: string[];
}): string {
  const rows = report.results.map((r) => {
    const window = r.windowsize_asked === null ? '—' : `${r.windowsize_asked} (Lifeboat granted ${String(r.windowsize_lifeboat ?? '?')}; tftpd-hpa 1)`;
    const cpu = (s: { cpu_user_s: number; cpu_sys_s: number }) => `${s.cpu_user_s.toFixed(2)} + ${s.cpu_sys_s.toFixed(2)}`;
    return `| ${r.client} | ${r.blksize} | ${window} | ${r.lifeboat.mbps} | ${r.tftpd_hpa.mbps} | **${r.ratio.toFixed(2)}×** | ${cpu(r.lifeboat)} | ${cpu(r.tftpd_hpa)} |`;
  });
  return [
    '## TFTP against tftpd-hpa (bench/tftp.ts)',
    '',
    `${new Date().toISOString().slice(0, 10)} — ${machineLine()}. 1-minute load average ${report.loadavg_1min.start.toFixed(2)} when measuring began, ${report.loadavg_1min.end.toFixed(2)} when it ended (2 cores, shared with other work).`,
    '',
    `A ${(report.file_bytes / 2 ** 20).toFixed(0)} MiB random file on loopback, Lifeboat's TFTP server (its own engine, server/tftp/read-transfer.ts) and tftpd-hpa (\`in.tftpd -L\`)`,
    `serving the same directory, ${report.runs} runs per case alternating between the servers, median MB/s (10^6 bytes/s). Target: ratio ≥ 1.0×.`,
    '',
    '| client | blksize | windowsize asked | Lifeboat (MB/s) | tftpd-hpa (MB/s) | ratio | Lifeboat CPU user + sys (s) | tftpd-hpa CPU user + sys (s) |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows,
    '',
    ...report.notes.map((n) => `- ${n}`),
  ].join('\n');
}

main().catch((e: unknown) => {
  process.stderr.write(`bench/tftp: ${(e as Error).message}\n`);
  process.exit(1);
});
