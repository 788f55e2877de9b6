import { openSync, closeSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { spawn } from 'node:child_process';
import { execa } from 'execa';
import { makeWorld, sh, type World } from './world.js';
import { within } from './processes.js';

/**
 * Network namespaces, veth links and bridges for tests, named with the world's run id so that two
 * runs cannot clash. Every removal is registered with the world before the thing is created, so a
 * failing test still leaves nothing behind. Veth links get `ethtool -K tx off` on both ends:
 * without it the UDP checksums stay unfilled and DHCP clients drop the replies.
 */

/** Creates namespace `lb<role><id>` (role: a short word, e.g. "s", "c"); deleted after the test. */
export async function createNamespace(world: World, role: string): Promise<string> {
  const name = `lb${role}${world.id}`;
  world.defer(() => execa('ip', ['netns', 'del', name], { reject: false }));
  await sh('ip', ['netns', 'add', name]);
  await sh('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  return name;
}

export interface LinkEnd {
  ns: string;
  /** Interface name, at most 15 characters. */
  name: string;
  /** Address with prefix, e.g. 10.50.0.1/24; none when omitted. */
  address?: string;
  mac?: string;
}

/** A veth pair between two namespaces, both ends up, checksum offload off. */
export async function createVethPair(world: World, a: LinkEnd, b: LinkEnd): Promise<void> {
  for (const end of [a, b]) if (end.name.length > 15) throw new Error(`interface name ${end.name} is longer than 15 characters`);
  // Deleting either namespace removes the pair; this covers a pair whose namespaces outlive the test.
  world.defer(() => execa('ip', ['-n', a.ns, 'link', 'del', a.name], { reject: false }));
  await sh('ip', ['link', 'add', a.name, 'netns', a.ns, ...(a.mac ? ['address', a.mac] : []), 'type', 'veth', 'peer', 'name', b.name, 'netns', b.ns, ...(b.mac ? ['address', b.mac] : [])]);
  for (const end of [a, b]) {
    await sh('ip', ['netns', 'exec', end.ns, 'ethtool', '-K', end.name, 'tx', 'off']);
    if (end.address) await sh('ip', ['-n', end.ns, 'addr', 'add', end.address, 'dev', end.name]);
    await sh('ip', ['-n', end.ns, 'link', 'set', end.name, 'up']);
  }
}

export interface ServerClientLink {
  world: World;
  /** The server's namespace, `lbs<id>`, and its end of the link, `lbs<id>`. */
  s: string;
  sIf: string;
  /** The client's namespace, `lbc<id>`, and its end, `lbc<id>`. */
  c: string;
  cIf: string;
  /** The server end's address without its prefix length, when it has one. */
  address?: string;
}

/**
 * A new world with a server namespace and a client namespace joined by one veth link: where the
 * DHCP tests start (a server answering on its end, clients or a bridge of machines on the other).
 */
export async function serverClientLink(
  t: Parameters<typeof makeWorld>[0],
  prefix: string,
  server: Omit<LinkEnd, 'ns' | 'name'>,
  client: Omit<LinkEnd, 'ns' | 'name'> = {},
): Promise<ServerClientLink> {
  const world = await makeWorld(t, prefix);
  const s = await createNamespace(world, 's');
  const c = await createNamespace(world, 'c');
  const sIf = `lbs${world.id}`;
  const cIf = `lbc${world.id}`;
  await createVethPair(world, { ns: s, name: sIf, ...server }, { ns: c, name: cIf, ...client });
  return { world, s, sIf, c, cIf, ...(server.address ? { address: server.address.split('/')[0] } : {}) };
}

/** A bridge inside a namespace, up, for joining several veth ends onto one link. */
export async function createBridge(world: World, ns: string, name: string, address?: string): Promise<string> {
  world.defer(() => execa('ip', ['-n', ns, 'link', 'del', name], { reject: false }));
  await sh('ip', ['-n', ns, 'link', 'add', name, 'type', 'bridge']);
  // No STP listening delay: the link carries traffic as soon as it is up.
  await sh('ip', ['-n', ns, 'link', 'set', name, 'type', 'bridge', 'forward_delay', '0', 'stp_state', '0']);
  if (address) await sh('ip', ['-n', ns, 'addr', 'add', address, 'dev', name]);
  await sh('ip', ['-n', ns, 'link', 'set', name, 'up']);
  return name;
}

export async function attachToBridge(ns: string, iface: string, bridge: string): Promise<void> {
  await sh('ip', ['-n', ns, 'link', 'set', iface, 'master', bridge]);
}

/** Runs a command inside a namespace to completion; never throws, the caller reads the result. */
export async function runInNamespace(ns: string, file: string, args: string[], options: { input?: string; timeoutMs?: number } = {}) {
  return execa('ip', ['netns', 'exec', ns, file, ...args], {
    reject: false,
    ...(options.input !== undefined ? { input: options.input } : { stdin: 'ignore' as const }),
    ...(options.timeoutMs ? { timeout: options.timeoutMs } : {}),
  });
}

export interface Background {
  pid: number;
  /** Resolves with the exit code when the process ends. */
  exited: Promise<number | null>;
  logFile: string;
  log(): string;
  stop(): Promise<void>;
}

/**
 * Starts a long-running command in a namespace with stdout and stderr going to a file.
 * `ip netns exec` execs the command, so the PID is the command's own and it is stopped by that PID.
 */
export function startInNamespace(world: World, ns: string, file: string, args: string[], logFile: string): Background {
  let stopNow: () => Promise<void> = async () => {};
  world.defer(() => stopNow());
  const fd = openSync(logFile, 'a');
  const child = spawn('ip', ['netns', 'exec', ns, file, ...args], { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const pid = child.pid!;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      return;
    }
    if ((await within(exited, 5000)) === 'timeout') {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
      await exited;
    }
  };
  stopNow = stop;
  return { pid, exited, logFile, log: () => readFileSync(logFile, 'utf8'), stop };
}

/** Polls until `check` returns a value (not undefined) or the time runs out. */
export async function waitFor<T>(what: string, check: () => T | undefined | Promise<T | undefined>, timeoutMs = 10000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}
