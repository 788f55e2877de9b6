import { join } from 'node:path';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import dgram from 'node:dgram';
import { execa, type ResultPromise } from 'execa';
import { LIFEBOAT_BIN } from './cli.js';
import type { World } from './world.js';

/**
 * `lifeboat serve` on loopback with its own data directory and store, for tests that drive the API
 * and run the rescue agent on this machine against loop devices (no PXE, no QEMU).
 */
export interface LocalServer {
  url: string;
  dataDir: string;
  store: string;
  /** The admin token; `readToken` is the read-only one. */
  token: string;
  readToken: string;
  process: ResultPromise;
  /** The TFTP port, when started with `tftp: true`. */
  tftpPort: number | null;
  api<T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }>;
  /** Creates a task and returns its id and the one-time token the iPXE script would carry. */
  taskWithToken(kind: string, mac: string, image: string, options?: Record<string, unknown>): Promise<{ id: number; token: string }>;
  log(): Promise<string>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

/** A UDP port nobody listens on right now (for TFTP). */
export async function freeUdpPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
  const port = s.address().port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/**
 * What a local server's tasks need to be accepted (server/task-readiness.ts refuses tasks that cannot
 * run). These servers' machines are the test itself or an agent run on this host, never a PXE boot,
 * so the rescue system is two placeholder files in the server's default rescue directory, and
 * captures are pointed at a share (--captures-share) that nobody mounts here. `rescue: false` and
 * `capturesShare: false` leave them out, for the tests of those refusals.
 */
export async function placeholderRescueSystem(rescueDir: string): Promise<void> {
  await mkdir(rescueDir, { recursive: true });
  await writeFile(join(rescueDir, 'vmlinuz'), 'placeholder rescue kernel: never booted by this test\n');
  await writeFile(join(rescueDir, 'initrd.img'), 'placeholder rescue initrd: never booted by this test\n');
}

export const UNMOUNTED_CAPTURES_SHARE = '127.0.0.1:/captures-not-mounted-in-this-test';

export async function startLocalServer(world: World, options: { store?: string; dataDir?: string; tftp?: boolean; args?: string[]; rescue?: boolean; capturesShare?: boolean } = {}): Promise<LocalServer> {
  const port = await freePort();
  const tftpPort = options.tftp ? await freeUdpPort() : null;
  const dataDir = options.dataDir ?? join(world.dir, 'server-data');
  const store = options.store ?? join(dataDir, 'store');
  const logFile = join(world.dir, `server-${port}.log`);
  if (options.rescue !== false) await placeholderRescueSystem(join(dataDir, 'netboot', 'rescue'));
  const captures = options.capturesShare !== false ? ['--captures-share', UNMOUNTED_CAPTURES_SHARE] : [];
  const child = execa(process.execPath, [LIFEBOAT_BIN, 'serve', '--data', dataDir, '--store', store, '--http', `127.0.0.1:${port}`, '--tftp', tftpPort ? `127.0.0.1:${tftpPort}` : 'off', '--public-address', '127.0.0.1', ...captures, ...(options.args ?? [])], {
    reject: false,
    stdout: { file: logFile },
    stderr: { file: `${logFile}.err` },
    env: { LIFEBOAT_LOG_LEVEL: 'debug' },
  });
  world.defer(async () => {
    child.kill('SIGTERM');
    await Promise.race([child, new Promise((r) => setTimeout(r, 5000))]);
    child.kill('SIGKILL');
  });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      // The one document that needs no token.
      const r = await fetch(`${url}/api/v1/openapi.json`);
      if (r.ok) break;
    } catch {
      /* not up yet */
    }
    if (i > 100 || child.exitCode !== null) throw new Error(`lifeboat serve did not start: ${await readFile(`${logFile}.err`, 'utf8').catch(() => '')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const token = (await readFile(join(dataDir, 'admin-token'), 'utf8')).trim();
  const readToken = (await readFile(join(dataDir, 'read-token'), 'utf8')).trim();
  const api = async <T>(method: string, path: string, body?: unknown) => {
    const r = await fetch(`${url}${path}`, { method, headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}) });
    const text = await r.text();
    return { status: r.status, body: (text ? JSON.parse(text) : undefined) as T };
  };
  return {
    url,
    dataDir,
    store,
    token,
    readToken,
    process: child,
    tftpPort,
    api,
    async taskWithToken(kind, mac, image, taskOptions) {
      const created = await api<{ id: number; error?: { message: string } }>('POST', '/api/v1/tasks', { kind, mac, image, options: taskOptions ?? {} });
      if (created.status !== 201) throw new Error(`task not created: ${JSON.stringify(created.body)}`);
      const script = await (await fetch(`${url}/boot/${mac}.ipxe`)).text();
      const token = /lifeboat\.token=(\S+)/.exec(script)?.[1];
      if (!token) throw new Error(`no token in the boot script:\n${script}`);
      return { id: created.body.id, token };
    },
    log: async () => `${await readFile(`${logFile}.err`, 'utf8').catch(() => '')}`,
  };
}
