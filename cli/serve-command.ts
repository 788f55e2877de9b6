import { rootLogger } from '../core/log.js';
import { LifeboatError } from '../core/errors.js';
import { DEFAULT_EVENT_RETENTION, resolveConfig } from '../server/config.js';
import { readSettings } from '../server/config-file.js';
import { DEFAULT_REGISTRATION_LIMITS } from '../server/host-registration.js';
import { startServer } from '../server/lifeboat-server.js';
import { TFTP_DEFAULT_LIMITS } from '../server/tftp/tftp-server.js';
import { listOption, stringOption, type CommandSpec } from './args.js';
import { parseOrHelp } from './command-group.js';
import { renderBanner } from './serve-banner.js';

export const serveSpec: CommandSpec = {
  name: 'serve',
  summary: 'Run the restore server: HTTP (boot files, store, API), TFTP, DHCP (off, proxy or full) and the NFS share.',
  usage: 'lifeboat serve [--config FILE] [--data DIR] [--store DIR] [--http ADDR:PORT] [--tftp ADDR:PORT|off] [--tftp-max-transfers N] [--tftp-max-per-address N] [--tftp-first-ack-timeout S] [--register-per-minute N] [--max-unknown-hosts N] [--events-keep-days D] [--events-keep-rows N] [--dhcp off|proxy|full] [--interface IFACE] [--range FIRST-LAST] [--admin-token-file F] [--nfs off|auto|ganesha|kernel] [--captures-share SERVER:/EXPORT]',
  description: [
    'With no options it runs with embedded defaults: state and store under /var/lib/lifeboat, HTTP on',
    '0.0.0.0:8080 (on the --interface\'s address when one is given), TFTP on 0.0.0.0:69, DHCP off, NFS',
    'off. State files (lifeboat.sqlite, its -wal and -shm, the token files) are mode 0600. Flags',
    'override the environment, which overrides the config file, which overrides the defaults. DHCP',
    'answers only on --interface; a machine with no task boots its disk.',
  ].join('\n'),
  options: {
    config: { type: 'string', value: 'FILE', description: 'JSON config file (keys as in the README); else $LIFEBOAT_CONFIG, else /etc/lifeboat/config.json if it exists' },
    data: { type: 'string', value: 'DIR', description: 'state directory (or $LIFEBOAT_DATA)', default: '/var/lib/lifeboat' },
    store: { type: 'string', value: 'DIR', description: 'image store (or $LIFEBOAT_STORE)', default: '<data>/store' },
    http: { type: 'string', value: 'ADDR:PORT', description: 'HTTP listen address (ADDR:PORT, or PORT: on the default address)', default: "the --interface's address, else 0.0.0.0; port 8080" },
    tftp: { type: 'string', value: 'ADDR:PORT', description: 'TFTP listen address, or off', default: '0.0.0.0:69' },
    'tftp-max-transfers': { type: 'string', value: 'N', description: 'TFTP transfers in progress at once, all clients; more are refused "server busy"', default: String(TFTP_DEFAULT_LIMITS.maxTransfers) },
    'tftp-max-per-address': { type: 'string', value: 'N', description: 'TFTP transfers in progress at once from one client address', default: String(TFTP_DEFAULT_LIMITS.maxTransfersPerAddress) },
    'tftp-first-ack-timeout': { type: 'string', value: 'SECONDS', description: 'drop a TFTP transfer whose first packet is not acknowledged in this time', default: String(TFTP_DEFAULT_LIMITS.firstAckTimeoutMs / 1000) },
    'register-per-minute': { type: 'string', value: 'N', description: 'new machines DHCP and TFTP register per minute, at most', default: String(DEFAULT_REGISTRATION_LIMITS.perMinute) },
    'max-unknown-hosts': { type: 'string', value: 'N', description: 'stop registering new machines while this many have no name and no task', default: String(DEFAULT_REGISTRATION_LIMITS.maxUnknown) },
    'events-keep-days': { type: 'string', value: 'DAYS', description: 'prune events older than this (hourly)', default: String(DEFAULT_EVENT_RETENTION.keepDays) },
    'events-keep-rows': { type: 'string', value: 'N', description: 'keep at most this many events', default: String(DEFAULT_EVENT_RETENTION.keepRows) },
    dhcp: { type: 'string', value: 'MODE', description: 'off, proxy (boot info beside the site\'s DHCP) or full (addresses too)', default: 'off' },
    interface: { type: 'string', value: 'IFACE', description: 'the test-bed interface: DHCP answers here only' },
    range: { type: 'string', value: 'FIRST-LAST', description: 'full DHCP: the address pool, e.g. 10.77.0.100-10.77.0.199' },
    router: { type: 'string', value: 'IP', description: 'full DHCP: default gateway to hand out' },
    dns: { type: 'string', value: 'IP', multiple: true, description: 'full DHCP: DNS server to hand out' },
    'lease-time': { type: 'string', value: 'SECONDS', description: 'full DHCP: lease length', default: '3600' },
    'public-address': { type: 'string', value: 'IP', description: 'the address machines reach this server at', default: 'the interface\'s address' },
    'admin-token-file': { type: 'string', value: 'FILE', description: 'admin token (created if missing)', default: '<data>/admin-token' },
    'rescue-dir': { type: 'string', value: 'DIR', description: 'rescue kernel (vmlinuz) and initramfs (initrd.img)', default: '<data>/netboot/rescue' },
    nfs: { type: 'string', value: 'MODE', description: 'export the store over NFS: off, auto, ganesha or kernel', default: 'off' },
    'captures-share': { type: 'string', value: 'SERVER:/EXPORT', description: 'with --nfs off: <data>/captures as another NFS server exports it, for capture tasks' },
  },
  examples: [
    'lifeboat serve',
    'lifeboat serve --dhcp full --interface br-testbed --range 10.77.0.100-10.77.0.199 --nfs auto',
    'lifeboat serve --dhcp proxy --interface eth1',
  ],
};

export async function runServe(argv: string[]): Promise<number> {
  const p = parseOrHelp(serveSpec, argv);
  if (!p) return 0;
  // flag > environment > file > default: the file and environment first, then each flag given.
  const { file, path: configPath } = await readSettings(stringOption(p, 'config'));
  const given = (name: string) => (argv.some((a) => a === `--${name}` || a.startsWith(`--${name}=`)) ? stringOption(p, name) : undefined);
  const set = <T>(value: T | undefined, apply: (v: T) => void) => value !== undefined && apply(value);
  set(given('data'), (v) => (file.data = v));
  set(given('store'), (v) => (file.store = v));
  set(given('http'), (v) => (file.http = v));
  set(given('tftp'), (v) => (file.tftp = v));
  set(given('public-address'), (v) => (file.publicAddress = v));
  const tftpLimits = (file.tftpLimits ??= {});
  const count = (flag: string, v: string): number => {
    if (!/^\d+$/.test(v) || Number(v) < 1) throw new LifeboatError('LB_USAGE', `--${flag} ${v} must be a whole number, 1 or more`);
    return Number(v);
  };
  set(given('tftp-max-transfers'), (v) => (tftpLimits.maxTransfers = count('tftp-max-transfers', v)));
  set(given('tftp-max-per-address'), (v) => (tftpLimits.maxTransfersPerAddress = count('tftp-max-per-address', v)));
  const hostsLimits = (file.hosts ??= {});
  set(given('register-per-minute'), (v) => (hostsLimits.registerPerMinute = count('register-per-minute', v)));
  set(given('max-unknown-hosts'), (v) => (hostsLimits.maxUnknown = count('max-unknown-hosts', v)));
  const retention = (file.events ??= {});
  set(given('events-keep-days'), (v) => {
    if (!/^\d+(\.\d+)?$/.test(v) || Number(v) < 0.01) throw new LifeboatError('LB_USAGE', `--events-keep-days ${v} must be a number of days, 0.01 or more`);
    retention.keepDays = Number(v);
  });
  set(given('events-keep-rows'), (v) => {
    if (count('events-keep-rows', v) < 100) throw new LifeboatError('LB_USAGE', `--events-keep-rows ${v} must be 100 or more`);
    retention.keepRows = Number(v);
  });
  set(given('tftp-first-ack-timeout'), (v) => {
    if (!/^\d+(\.\d+)?$/.test(v) || Number(v) < 0.1 || Number(v) > 600) throw new LifeboatError('LB_USAGE', `--tftp-first-ack-timeout ${v} must be a number of seconds from 0.1 to 600`);
    tftpLimits.firstAckSeconds = Number(v);
  });
  set(given('admin-token-file'), (v) => (file.adminTokenFile = v));
  set(given('rescue-dir'), (v) => (file.rescueDir = v));
  const dhcp = (file.dhcp ??= {});
  set(given('dhcp'), (v) => {
    if (!['off', 'proxy', 'full'].includes(v)) throw new LifeboatError('LB_USAGE', `--dhcp ${v}: use off, proxy or full`);
    dhcp.mode = v as 'off' | 'proxy' | 'full';
  });
  set(given('interface'), (v) => (dhcp.interface = v));
  set(given('range'), (v) => {
    if (!/^\d+\.\d+\.\d+\.\d+-\d+\.\d+\.\d+\.\d+$/.test(v)) throw new LifeboatError('LB_USAGE', `--range ${v} is not FIRST-LAST, e.g. 10.77.0.100-10.77.0.199`);
    dhcp.range = v;
  });
  set(given('router'), (v) => (dhcp.router = v));
  if (listOption(p, 'dns').length) dhcp.dns = listOption(p, 'dns');
  set(given('lease-time'), (v) => {
    if (!/^\d+$/.test(v) || Number(v) < 60) throw new LifeboatError('LB_USAGE', `--lease-time ${v} must be a whole number of seconds, 60 or more`);
    dhcp.leaseSeconds = Number(v);
  });
  const nfs = (file.nfs ??= {});
  set(given('nfs'), (v) => {
    if (!['off', 'auto', 'ganesha', 'kernel'].includes(v)) throw new LifeboatError('LB_USAGE', `--nfs ${v}: use off, auto, ganesha or kernel`);
    nfs.mode = v as 'off';
  });
  set(given('captures-share'), (v) => {
    if (!/^[^:\s]+:\/\S*$/.test(v)) throw new LifeboatError('LB_USAGE', `--captures-share ${v} is not SERVER:/EXPORT, e.g. 10.77.0.1:/srv/lifeboat/captures`);
    nfs.capturesShare = v;
  });
  // Logs go to stderr: pretty on a terminal, JSON lines otherwise (core/log.ts); LIFEBOAT_LOG_LEVEL=debug
  // shows every packet and command.
  const log = rootLogger();
  const config = resolveConfig(file);
  const server = await startServer(config, log);
  process.stdout.write(await renderBanner({ server, configPath }));
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info({ signal }, 'stopping');
      resolve();
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  await server.close();
  return 0;
}
