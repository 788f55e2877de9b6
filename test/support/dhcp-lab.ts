import { writeFileSync, readFileSync, existsSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { World } from './world.js';
import { type Background, type ServerClientLink, runInNamespace, startInNamespace, waitFor } from './netns.js';
import { LIFEBOAT_BIN } from './cli.js';
import type { DhcpEntryConfig } from './dhcp-server-entry.js';
import { placeholderRescueSystem } from './local-server.js';
import type { RawClientConfig, RawReply } from './dhcp-raw-client.js';

/** Starting Lifeboat's DHCP server and real or crafted clients inside test namespaces. */

const here = fileURLToPath(new URL('.', import.meta.url));
const serverEntry = join(here, 'dhcp-server-entry.js');
const rawClient = join(here, 'dhcp-raw-client.js');

export interface RunningServer extends Background {
  config: DhcpEntryConfig;
  /** Parsed pino lines the server has written so far. */
  lines(): Array<Record<string, unknown>>;
}

export async function startLifeboatDhcp(world: World, ns: string, config: Omit<DhcpEntryConfig, 'dbPath'> & { dbPath?: string }, name = 'dhcp'): Promise<RunningServer> {
  const full: DhcpEntryConfig = { dbPath: join(world.dir, 'lifeboat.sqlite'), ...config };
  const configFile = join(world.dir, `${name}-${Date.now()}.json`);
  writeFileSync(configFile, JSON.stringify(full));
  const bg = startInNamespace(world, ns, process.execPath, ['--enable-source-maps', serverEntry, configFile], join(world.dir, `${name}.log`));
  const lines = () =>
    bg
      .log()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  const ready = await waitFor(`the DHCP server in ${ns} to be ready`, () => {
    const r = lines().find((l) => 'ready' in l);
    return r;
  }, 15000);
  if (ready.ready !== true) throw new Error(`DHCP server did not start: ${String(ready.error)}\n${bg.log()}`);
  return { ...bg, config: full, lines };
}

/** Lifeboat's DHCP server in full mode on the server's end of a link, answering as that end's address. */
export async function startFullDhcp(link: ServerClientLink, config: Omit<DhcpEntryConfig, 'dbPath' | 'mode' | 'interface' | 'serverAddress'>): Promise<RunningServer> {
  if (!link.address) throw new Error(`the server end ${link.sIf} has no address to answer as`);
  return startLifeboatDhcp(link.world, link.s, { mode: 'full', interface: link.sIf, serverAddress: link.address, ...config });
}

/**
 * The real `lifeboat serve` (no TFTP) in full DHCP mode on the server's end of a link, with its data
 * in the world's `data`, once it says it serves; `args` add the test's own flags.
 */
export async function serveFullDhcp(link: ServerClientLink, args: string[]): Promise<{ serve: Background; dataDir: string }> {
  const dataDir = join(link.world.dir, 'data');
  // Tasks are created on this server; its machines are test clients that never boot the rescue system.
  await placeholderRescueSystem(join(dataDir, 'netboot', 'rescue'));
  const serve = startInNamespace(link.world, link.s, process.execPath, [LIFEBOAT_BIN, 'serve', '--data', dataDir, '--tftp', 'off', '--dhcp', 'full', '--interface', link.sIf, ...args], join(link.world.dir, 'serve.log'));
  await waitFor('lifeboat serve', () => (serve.log().includes('"lifeboat serving"') ? true : undefined), 30000);
  return { serve, dataDir };
}

export async function rawExchange(world: World, ns: string, config: RawClientConfig): Promise<RawReply[]> {
  const file = join(world.dir, `raw-${Date.now()}-${Math.random().toString(16).slice(2)}.json`);
  writeFileSync(file, JSON.stringify(config));
  const r = await runInNamespace(ns, process.execPath, ['--enable-source-maps', rawClient, file], { timeoutMs: config.listenMs + 20000 });
  if (r.exitCode !== 0) throw new Error(`raw DHCP client failed (${r.exitCode}): ${r.stderr}`);
  return String(r.stdout)
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as RawReply);
}

export interface UdhcpcResult {
  exitCode: number;
  /** Variables udhcpc passed to its script on "bound" (ip, subnet, router, siaddr, boot_file, serverid…). */
  bound: Record<string, string> | null;
  output: string;
}

/**
 * busybox udhcpc, once, in the foreground: `-q` quits after the lease (with `-R` it RELEASEs on
 * the way out, which needs the address configured). Its script records what it was told and
 * configures the address on the client's interface, inside the client namespace only.
 */
function udhcpcScript(world: World, tag: string): { script: string; out: string } {
  const out = join(world.dir, `udhcpc-${tag}.env`);
  const script = join(world.dir, `udhcpc-${tag}.sh`);
  writeFileSync(
    script,
    [
      '#!/bin/sh',
      'case "$1" in',
      // Address first, then the record, written whole and renamed so the test never reads half a file.
      `  bound|renew) ip addr flush dev "$interface"; ip addr add "$ip/$mask" dev "$interface"; env > '${out}.tmp' && mv '${out}.tmp' '${out}' ;;`,
      '  deconfig) ip addr flush dev "$interface" ;;',
      'esac',
      'exit 0',
      '',
    ].join('\n'),
  );
  chmodSync(script, 0o755);
  return { script, out };
}

function readEnvFile(path: string): Record<string, string> | null {
  if (!existsSync(path)) return null;
  return Object.fromEntries(
    readFileSync(path, 'utf8')
      .split('\n')
      .filter((l) => l.includes('='))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
}

export async function runUdhcpc(world: World, ns: string, iface: string, extra: string[] = [], tries = 3): Promise<UdhcpcResult> {
  const { script, out } = udhcpcScript(world, `${iface}-${Date.now()}`);
  const r = await runInNamespace(ns, 'busybox', ['udhcpc', '-f', '-q', '-n', '-i', iface, '-t', String(tries), '-T', '1', '-A', '1', '-s', script, ...extra], { timeoutMs: 30000 });
  return { exitCode: r.exitCode ?? -1, bound: readEnvFile(out), output: `${r.stdout}\n${r.stderr}` };
}

/** udhcpc running in the background once bound; the caller may signal it (SIGUSR1 renews) and stops it. */
export async function udhcpcBound(world: World, ns: string, iface: string, extra: string[] = []): Promise<Background & { bound: Record<string, string> }> {
  const tag = `${iface}-${Date.now()}`;
  const { script, out } = udhcpcScript(world, tag);
  const bg = startInNamespace(world, ns, 'busybox', ['udhcpc', '-f', '-n', '-i', iface, '-t', '3', '-T', '1', '-A', '1', '-s', script, ...extra], join(world.dir, `udhcpc-${tag}.log`));
  const bound = await waitFor('udhcpc to bind', () => readEnvFile(out) ?? undefined, 15000);
  return { ...bg, bound };
}

/**
 * udhcpc that stays bound until stopped, then RELEASEs (`-R` acts on SIGTERM; with `-q` it would
 * quit before it counts as bound and send nothing).
 */
export async function udhcpcBoundThenReleased(world: World, ns: string, iface: string, extra: string[] = []): Promise<UdhcpcResult> {
  const tag = `${iface}-${Date.now()}`;
  const { script, out } = udhcpcScript(world, tag);
  const logFile = join(world.dir, `udhcpc-${tag}.log`);
  const bg = startInNamespace(world, ns, 'busybox', ['udhcpc', '-f', '-R', '-n', '-i', iface, '-t', '3', '-T', '1', '-A', '1', '-s', script, ...extra], logFile);
  try {
    await waitFor('udhcpc to bind', () => readEnvFile(out) ?? undefined, 15000);
  } finally {
    await bg.stop();
  }
  return { exitCode: (await bg.exited) ?? -1, bound: readEnvFile(out), output: bg.log() };
}

export interface DhclientResult {
  exitCode: number;
  bound: Record<string, string> | null;
  output: string;
}

/**
 * ISC dhclient with its own config, script, lease and pid files (never the host's), once (-1).
 * It backgrounds itself after binding; the pid file lets the test stop exactly that process.
 */
export async function runDhclient(world: World, ns: string, iface: string, confLines: string[]): Promise<DhclientResult> {
  const tag = `${iface}-${Date.now()}`;
  const out = join(world.dir, `dhclient-${tag}.env`);
  const script = join(world.dir, `dhclient-${tag}.sh`);
  const conf = join(world.dir, `dhclient-${tag}.conf`);
  const pidFile = join(world.dir, `dhclient-${tag}.pid`);
  const leaseFile = join(world.dir, `dhclient-${tag}.leases`);
  writeFileSync(script, `#!/bin/sh\ncase "$reason" in BOUND|RENEW|REBOOT) env > '${out}.tmp' && mv '${out}.tmp' '${out}';; esac\nexit 0\n`);
  chmodSync(script, 0o755);
  writeFileSync(conf, `${['timeout 20;', 'retry 1;', ...confLines].join('\n')}\n`);
  world.defer(() => {
    if (!existsSync(pidFile)) return;
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    if (pid > 0) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
  });
  const r = await runInNamespace(ns, 'dhclient', ['-4', '-1', '-v', '-cf', conf, '-sf', script, '-lf', leaseFile, '-pf', pidFile, iface], { timeoutMs: 40000 });
  return { exitCode: r.exitCode ?? -1, bound: readEnvFile(out), output: `${r.stdout}\n${r.stderr}` };
}
