import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { World } from './world.js';
import { sh } from './world.js';
import { LIFEBOAT_BIN } from './cli.js';
import { createBridge, createNamespace, runInNamespace, startInNamespace, waitFor, type Background } from './netns.js';
import { QemuMachine, type MachineSpec } from './qemu.js';

/**
 * A whole PXE test bed in one network namespace: a bridge with an address (the test-bed link), a
 * router advertisement on it (else iPXE waits ~13 s for IPv6 autoconfiguration), `lifeboat serve`
 * with full DHCP on the bridge, TFTP on 69 and HTTP on 8080 (the namespace is its own, so no port
 * clashes), and QEMU machines on taps of that bridge. Everything is named with the world's run id
 * and removed after the test, failing or not; every log stays in the world's directory.
 *
 *   const world = await makeWorld(t);
 *   const bed = await startTestbed(world, { rescueDir, rescueCmdline: 'console=ttyS0,115200n8 lifeboat.after=reboot' });
 *   const vm = await bed.addMachine({ name: 'target', firmware: 'uefi', nicRom: 'firmware', disks: [disk] });
 *   await bed.lifeboat(['task', 'nuke', '--host', vm.mac, '--image', 'golden']);
 *   await bed.explainFailure(async () => {
 *     const run = await vm.boot();                        // PXE → rescue → agent → reboot ends QEMU
 *     await run.waitForSerial('LIFEBOAT-RESCUE-UP', 300_000);
 *     await run.waitForExit(1_800_000);
 *     const again = await vm.boot();                      // same disk and NVRAM: the restored system
 *     await again.waitForSerial('login:', 600_000);
 *   });
 */
export interface TestbedOptions {
  /** Directory with vmlinuz and initrd.img (lifeboat netboot build --out). */
  rescueDir?: string;
  /** Kernel arguments after the lifeboat.* ones. */
  rescueCmdline?: string;
  /** 'none' starts no Lifeboat server (the benchmark puts dnsmasq there instead). */
  server?: 'lifeboat' | 'none';
  dhcp?: 'full' | 'proxy';
  nfs?: 'off' | 'auto' | 'ganesha';
  /** Extra `lifeboat serve` flags. */
  serveArgs?: string[];
  routerAdvertisement?: boolean;
}

export interface Testbed {
  world: World;
  ns: string;
  bridge: string;
  /** First three octets of the test-bed subnet, e.g. "10.123.45". */
  prefix: string;
  serverAddress: string;
  httpBase: string;
  dataDir: string;
  storeDir: string;
  tokenFile: string;
  server: Background | null;
  /** GET on the server's HTTP API from inside the namespace; parses JSON. */
  api<T>(path: string): Promise<T>;
  /** The lifeboat CLI run inside the namespace with --server and --token-file set. */
  lifeboat(args: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }>;
  /** A QEMU machine on a new tap of the bridge; MACs are unique within the bed. */
  addMachine(spec: Omit<MachineSpec, 'ns' | 'tap' | 'dir' | 'mac'> & { mac?: string }): Promise<QemuMachine>;
  /** Server (and RA daemon) logs, for failure messages. */
  logs(): string;
  /** Runs `body`; when it throws, prints the server's log and every machine's serial console first. */
  explainFailure<T>(body: () => Promise<T>): Promise<T>;
  startLifeboat(extraArgs?: string[]): Promise<Background>;
  /**
   * Ends the running server by its PID with `signal` (default SIGKILL: no chance to close
   * anything), awaits `whileDown`, and starts it again with the same data dir, store and ports, as
   * a crash and a supervisor's restart would. Returns when the new process serves.
   */
  restartLifeboat(options?: { signal?: NodeJS.Signals; whileDown?: () => Promise<unknown>; extraArgs?: string[] }): Promise<Background>;
}

/** 10.<a>.<b>.0/24 from the run id, so two beds in one namespace-less view never look alike in logs. */
export function subnetPrefix(id: string): string {
  const a = 20 + (parseInt(id.slice(0, 2), 16) % 200);
  const b = parseInt(id.slice(2, 4), 16);
  return `10.${a}.${b}`;
}

export async function startTestbed(world: World, options: TestbedOptions = {}): Promise<Testbed> {
  const ns = await createNamespace(world, 'pxe');
  const bridge = `lbbr${world.id}`;
  const prefix = subnetPrefix(world.id);
  const serverAddress = `${prefix}.1`;
  await createBridge(world, ns, bridge, `${serverAddress}/24`);
  const ula = `fd${world.id.slice(0, 2)}:${world.id.slice(2, 6)}::`;
  await sh('ip', ['-n', ns, '-6', 'addr', 'add', `${ula}1/64`, 'dev', bridge, 'nodad']);

  const backgrounds: Background[] = [];
  if (options.routerAdvertisement !== false) {
    // dnsmasq only as a router-advertisement sender: no DNS (port 0), no DHCPv4 (no IPv4 range).
    const ra = startInNamespace(world, ns, 'dnsmasq', [
      '--no-daemon', '--conf-file=/dev/null', '--port=0', `--interface=${bridge}`, '--bind-interfaces', '--enable-ra',
      `--dhcp-range=${ula},ra-only,64`, '--no-resolv', '--no-hosts', '--leasefile-ro', '--user=root', `--pid-file=${join(world.dir, 'ra.pid')}`,
    ], join(world.dir, 'ra-dnsmasq.log'));
    backgrounds.push(ra);
  }

  const dataDir = join(world.dir, 'lifeboat-data');
  const storeDir = join(world.dir, 'lifeboat-store');
  mkdirSync(dataDir, { recursive: true });
  mkdirSync(storeDir, { recursive: true });
  const tokenFile = join(dataDir, 'admin-token');
  const httpBase = `http://${serverAddress}:8080`;
  const machines: QemuMachine[] = [];
  let server: Background | null = null;

  const startLifeboat = async (extraArgs: string[] = []) => {
    const config = join(world.dir, 'lifeboat-serve.json');
    writeFileSync(config, JSON.stringify({ rescueCmdline: options.rescueCmdline ?? 'console=ttyS0,115200n8' }));
    const args = [
      '--enable-source-maps', LIFEBOAT_BIN, 'serve', '--config', config, '--data', dataDir, '--store', storeDir,
      '--http', '0.0.0.0:8080', '--tftp', '0.0.0.0:69', '--dhcp', options.dhcp ?? 'full', '--interface', bridge,
      '--range', `${prefix}.100-${prefix}.199`, '--nfs', options.nfs ?? 'off',
      ...(options.rescueDir ? ['--rescue-dir', options.rescueDir] : []), ...(options.serveArgs ?? []), ...extraArgs,
    ];
    const logFile = join(world.dir, 'lifeboat-serve.log');
    // A restarted server appends to the same log: only what this process wrote says it serves.
    const from = existsSync(logFile) ? statSync(logFile).size : 0;
    const bg = startInNamespace(world, ns, process.execPath, args, logFile);
    await waitFor('lifeboat serve to answer', async () => {
      if (readFileSync(logFile).subarray(from).includes('"lifeboat serving"')) return true;
      const code = await Promise.race([bg.exited, new Promise<'running'>((r) => setTimeout(() => r('running'), 10))]);
      if (code !== 'running') throw new Error(`lifeboat serve exited (${code}) before serving:\n${bg.log()}`);
      return undefined;
    }, 30000);
    server = bg;
    backgrounds.push(bg);
    return bg;
  };
  if ((options.server ?? 'lifeboat') === 'lifeboat') await startLifeboat();

  const logs = () =>
    backgrounds
      .map((b) => {
        try {
          return `--- ${b.logFile} ---\n${b.log().split('\n').slice(-60).join('\n')}`;
        } catch {
          return '';
        }
      })
      .join('\n');

  const bed: Testbed = {
    world,
    ns,
    bridge,
    prefix,
    serverAddress,
    httpBase,
    dataDir,
    storeDir,
    tokenFile,
    get server() {
      return server;
    },
    async api<T>(path: string) {
      // Reads need a token: the admin token the server wrote at its start.
      const token = readFileSync(tokenFile, 'utf8').trim();
      const r = await runInNamespace(ns, 'curl', ['-sS', '--max-time', '10', '--fail-with-body', '-H', `Authorization: Bearer ${token}`, `${httpBase}${path}`]);
      if (r.exitCode !== 0) throw new Error(`GET ${path} failed (${r.exitCode}): ${r.stderr} ${r.stdout}`);
      return JSON.parse(String(r.stdout)) as T;
    },
    async lifeboat(args: string[]) {
      const r = await runInNamespace(ns, process.execPath, [LIFEBOAT_BIN, ...args, '--server', httpBase, '--token-file', tokenFile], { timeoutMs: 60000 });
      return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
    },
    async addMachine(spec) {
      const index = machines.length + 1;
      const tap = `lbt${world.id}${index}`;
      world.defer(() => runInNamespace(ns, 'ip', ['link', 'del', tap]));
      await sh('ip', ['-n', ns, 'tuntap', 'add', 'dev', tap, 'mode', 'tap']);
      await sh('ip', ['-n', ns, 'link', 'set', tap, 'master', bridge]);
      await sh('ip', ['-n', ns, 'link', 'set', tap, 'up']);
      const mac = spec.mac ?? `52:54:00:${world.id.slice(0, 2)}:${world.id.slice(2, 4)}:${index.toString(16).padStart(2, '0')}`;
      const machine = new QemuMachine(world, { ...spec, mac, ns, tap, dir: world.dir });
      machines.push(machine);
      return machine;
    },
    logs,
    async explainFailure(body) {
      try {
        return await body();
      } catch (e) {
        process.stderr.write(`\n=== test bed ${ns}: logs ===\n${logs()}\n`);
        for (const m of machines) {
          for (let boot = 1; ; boot++) {
            const file = join(world.dir, `${m.spec.name}-boot${boot}.serial.log`);
            let text: string;
            try {
              text = readFileSync(file, 'latin1');
            } catch {
              break;
            }
            process.stderr.write(`--- ${m.spec.name} boot ${boot} serial (last 30 lines) ---\n${text.split('\n').slice(-30).join('\n')}\n`);
          }
        }
        throw e;
      }
    },
    startLifeboat,
    async restartLifeboat(o = {}) {
      const running = server;
      if (!running) throw new Error('no lifeboat server is running in this test bed');
      process.kill(running.pid, o.signal ?? 'SIGKILL');
      await running.exited;
      server = null;
      await o.whileDown?.();
      return startLifeboat(o.extraArgs);
    },
  };
  return bed;
}
