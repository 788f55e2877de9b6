import { chmod, copyFile, readFile, stat, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { hasErrno, LifeboatError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { BOOT_REASONS, nextBoot } from './boot-decision.js';
import { BOOT_FILE_REASONS, IPXE_BINARIES, IPXE_SOURCE_DIR } from './boot-files.js';
import { BootPlanner } from './boot-planner.js';
import { HostRegistrationLimit } from './host-registration.js';
import type { ServerConfig } from './config.js';
import { startDhcpServer, type DhcpServer } from './dhcp/index.js';
import { readLeases } from './dhcp/lease-store.js';
import { buildHttpApp } from './http/app.js';
import { startNfsShare, type NfsShare } from './nfs/nfs-share.js';
import { openDatabase } from './state/database.js';
import { EventLog } from './state/events.js';
import { HostRegistry } from './state/hosts.js';
import { ImageCatalog } from './state/image-catalog.js';
import { ImageVerifications } from './state/image-verifications.js';
import { ImageVerifier } from './image-verifier.js';
import { normalizeMac } from './state/mac.js';
import { TaskBoard } from './state/tasks.js';
import { checkHealth } from './health.js';
import { ServerMetrics } from './metrics.js';
import { CloneSessions } from './state/clone-sessions.js';
import { SessionTransfers } from './multicast/session-transfers.js';
import { startTftpServer, type TftpServer } from './tftp/tftp-server.js';
import { makeDirs } from '../core/make-dirs.js';
import { BackupClients } from './state/backup-clients.js';
import { BackupIntake, backupPending } from './backup/backup-intake.js';
import { BackupService, backupExports } from './backup/backup-service.js';
import type { NfsExport } from './nfs/share-spec.js';

/**
 * The one server process: state, the BootPlanner, and the listeners that ask it (HTTP, TFTP,
 * DHCP), plus the NFS share of the store. Started in dependency order, stopped in reverse.
 */
export interface RunningServer {
  httpBase: string;
  config: ServerConfig;
  /** The NFS share as started (`auto` resolved to the kind it chose), or null when off. */
  nfs: { kind: string; reason: string; urls: string[] } | null;
  close(): Promise<void>;
}

/** The iPXE builds are copied from Debian's ipxe package, not linked: TFTP refuses links out of its root. */
async function layOutNetbootRoot(root: string, log: Logger): Promise<void> {
  await makeDirs(root);
  for (const file of IPXE_BINARIES) {
    const src = join(IPXE_SOURCE_DIR, file);
    const dst = join(root, file);
    try {
      const [s, d] = await Promise.all([stat(src), stat(dst).catch(() => null)]);
      if (!d || d.size !== s.size || d.mtimeMs < s.mtimeMs) await copyFile(src, dst);
    } catch (e) {
      if (hasErrno(e, 'ENOENT')) log.warn({ file: src }, 'iPXE binary missing: install the Debian package ipxe (npm run setup does)');
      else throw e;
    }
  }
}

/** A token kept in a file (0600), created at the first start: the admin token and the read-only token. */
async function tokenFromFile(path: string, what: 'admin' | 'read-only', log: Logger): Promise<string> {
  try {
    const token = (await readFile(path, 'utf8')).trim();
    if (token.length >= 16) {
      const mode = (await stat(path)).mode & 0o777;
      if (mode & 0o077) log.warn({ path, mode: mode.toString(8) }, `the ${what} token file can be read by other users: chmod 600 ${path}`);
      return token;
    }
    log.warn({ path }, `${what} token file holds fewer than 16 characters: writing a new token`);
  } catch (e) {
    if (!hasErrno(e, 'ENOENT')) throw e;
  }
  const token = randomBytes(24).toString('base64url');
  await writeFile(path, `${token}\n`, { mode: 0o600 });
  await chmod(path, 0o600); // mode applies only to a file writeFile creates, not to one it rewrites
  log.info({ path }, `wrote a new ${what} token`);
  return token;
}

/** The HTTP port's usual failures as what to do; the CLI words any other system error. */
function httpListenError(e: unknown, address: string): unknown {
  if (hasErrno(e, 'EADDRINUSE')) return new LifeboatError('LB_CONFLICT', `HTTP cannot listen on ${address}: another process already uses it (ss -ltnp shows which): stop it or choose another address with --http`, {}, { cause: e });
  if (hasErrno(e, 'EACCES')) return new LifeboatError('LB_FORBIDDEN', `HTTP cannot listen on ${address}: ports below 1024 need root or CAP_NET_BIND_SERVICE: run as root or choose another port with --http`, {}, { cause: e });
  if (hasErrno(e, 'EADDRNOTAVAIL')) return new LifeboatError('LB_USAGE', `HTTP cannot listen on ${address}: no interface here has that address: choose one of this machine's addresses with --http`, {}, { cause: e });
  return e;
}

/** How often the event log is pruned (and once at start). */
const EVENT_PRUNE_INTERVAL_MS = 3_600_000;

export async function startServer(config: ServerConfig, log: Logger): Promise<RunningServer> {
  const stops: Array<() => Promise<void>> = [];
  const closeAll = async () => {
    for (const stop of stops.reverse()) await stop().catch((err: unknown) => log.error({ err }, 'stopping a component failed'));
  };
  try {
    await makeDirs(config.dataDir);
    await makeDirs(config.store);
    await makeDirs(config.rescueDir);
    await layOutNetbootRoot(config.netbootRoot, log);
    const token = await tokenFromFile(config.adminTokenFile, 'admin', log);
    const readToken = await tokenFromFile(join(dirname(config.adminTokenFile), 'read-token'), 'read-only', log);
    if (readToken === token) throw new Error('the read-token file holds the admin token: give it its own token (delete it; the server writes a new one)');

    const db = openDatabase(join(config.dataDir, 'lifeboat.sqlite'));
    stops.push(async () => {
      db.close();
    });
    const events = new EventLog(db);
    const hosts = new HostRegistry(db);
    const tasks = new TaskBoard(db, events);
    const backupClients = new BackupClients(db);
    const verifications = new ImageVerifications(db);
    // A backup client's version is catalogued once the intake has adopted it: root's, and verified.
    const catalog = new ImageCatalog(db, config.store, (image, dir) => backupPending({ clients: backupClients, verifications }, image, dir));
    await catalog.refresh();
    catalog.start();
    stops.push(() => catalog.stop());
    const plannerLog = log.child({ component: 'planner' });
    const clones = new CloneSessions(db, tasks, hosts, events);
    const planner = new BootPlanner(hosts, tasks, events, plannerLog, new HostRegistrationLimit(config.registration), clones);
    const transfers = new SessionTransfers({ interface: config.dhcp.interface ?? null, store: config.store, clones, events, log: log.child({ component: 'multicast' }) });
    stops.push(() => transfers.close());
    const verifier = new ImageVerifier({ verifications, events, log: log.child({ component: 'verify' }) });
    stops.push(() => verifier.close());
    // Retention: at start and every hour, events beyond the configured age and count are removed.
    const prune = () => {
      try {
        const removed = events.prune(config.eventRetention);
        if (removed > 0) log.info({ removed, ...config.eventRetention }, `pruned ${removed} events (kept ${config.eventRetention.keepDays} days, at most ${config.eventRetention.keepRows})`);
      } catch (e) {
        log.error({ err: e }, 'pruning the event log failed');
      }
    };
    prune();
    const pruneTimer = setInterval(prune, EVENT_PRUNE_INTERVAL_MS).unref();
    stops.push(async () => clearInterval(pruneTimer));
    const httpBase = `http://${config.publicAddress}:${config.http.port}`;
    const rescue = {
      kernelPath: '/boot/rescue/vmlinuz',
      initrdPath: '/boot/rescue/initrd.img',
      cmdline: config.rescueCmdline,
      kernelFile: join(config.rescueDir, 'vmlinuz'),
      initrdFile: join(config.rescueDir, 'initrd.img'),
    };
    if (!(await stat(rescue.kernelFile).catch(() => null))) {
      log.warn({ dir: config.rescueDir }, 'no rescue system built yet: machines with a task cannot boot it until lifeboat netboot build has run');
    }

    const backupIntake = new BackupIntake({
      store: config.store,
      clients: backupClients,
      verifier,
      events,
      log: log.child({ component: 'backup' }),
      verifications,
      uid: config.nfs.backupUid,
      gid: config.nfs.backupUid,
      onChange: () => void catalog.refresh(),
    });
    stops.push(() => backupIntake.close());
    // Before the NFS share starts: it prepares each client's directory, which its export must find.
    await backupIntake.start();

    let nfs: NfsShare | null = null;
    const capturesDir = join(config.dataDir, 'captures');
    // Captures land here whichever NFS server exports it: this one's share or the site's (--captures-share).
    if (config.nfs.capturesShare) await makeDirs(capturesDir);
    let nfsExports: { share: NfsShare; server: string; baseExports: NfsExport[] } | null = null;
    if (config.nfs.mode !== 'off') {
      await makeDirs(capturesDir);
      const baseExports: NfsExport[] = [
        { path: config.store, pseudo: '/store', access: 'ro' },
        { path: capturesDir, pseudo: '/captures', access: 'rw' },
      ];
      nfs = await startNfsShare({
        kind: config.nfs.mode,
        bindAddress: config.publicAddress,
        clients: config.nfs.clients,
        // Backup clients allowed before this start get their exports from the first config on.
        exports: [...baseExports, ...backupExports(backupClients.list(), config.store, config.nfs.backupUid, config.nfs.backupUid)],
        stateDir: join(config.dataDir, 'nfs'),
        logger: log,
      });
      const share = nfs;
      stops.push(() => share.close());
      nfsExports = { share, server: config.publicAddress, baseExports };
    }
    const backup = new BackupService({ store: config.store, clients: backupClients, intake: backupIntake, nfs: nfsExports, uid: config.nfs.backupUid, gid: config.nfs.backupUid });

    let dhcp: DhcpServer | null = null;
    const metrics = new ServerMetrics({ tasks, events, leases: () => (dhcp ? dhcp.leases() : readLeases(db)) });
    stops.push(async () => metrics.close());
    const app = await buildHttpApp({
      health: () => checkHealth({ db, store: config.store }),
      metrics,
      backup,
      planner,
      hosts,
      tasks,
      clones,
      transfers,
      events,
      catalog,
      verifications,
      verifier,
      leases: () => (dhcp ? dhcp.leases() : readLeases(db)),
      store: config.store,
      capturesDir,
      netbootRoot: config.netbootRoot,
      rescue,
      adminToken: token,
      readToken,
      leasedAddress: (mac) => (config.dhcp.mode !== 'full' ? undefined : (dhcp?.leases().find((l) => l.mac === normalizeMac(mac))?.address ?? null)),
      httpBase: () => httpBase,
      testbedSubnet: config.testbedSubnet,
      capturesShare: () => (nfs ? { server: config.publicAddress, export: nfs.kind === 'ganesha' ? '/captures' : capturesDir } : config.nfs.capturesShare),
      nfs: () => (nfs ? { server: config.publicAddress, storeExport: nfs.kind === 'ganesha' ? '/store' : config.store, capturesExport: nfs.kind === 'ganesha' ? '/captures' : capturesDir } : null),
      log: log.child({ component: 'http' }),
    });
    await app.listen({ host: config.http.host, port: config.http.port }).catch((e: unknown) => {
      throw httpListenError(e, `${config.http.host}:${config.http.port}`);
    });
    stops.push(() => app.close());

    let tftp: TftpServer | null = null;
    if (config.tftp) {
      tftp = await startTftpServer({
        root: config.netbootRoot,
        host: config.tftp.host,
        port: config.tftp.port,
        ...config.tftpLimits,
        logger: log,
        onTransferDone: (bytes) => metrics.served('tftp', bytes),
        onRequest: (info) => {
          const lease = dhcp?.leases().find((l) => l.address === info.remoteAddress);
          if (lease) {
            planner.recordSighting({ mac: lease.mac, firmware: 'unknown', via: 'tftp', address: info.remoteAddress });
            planner.claimForBoot(lease.mac, true);
          }
        },
      });
      const t = tftp;
      stops.push(() => t.close());
    }

    if (config.dhcp.mode !== 'off') {
      const d = config.dhcp;
      dhcp = await startDhcpServer({
        mode: d.mode as 'full' | 'proxy',
        interface: d.interface!,
        serverAddress: config.publicAddress,
        ...(d.range ? { range: d.range } : {}),
        ...(d.subnetMask ? { subnetMask: d.subnetMask } : {}),
        ...(d.router ? { router: d.router } : {}),
        ...(d.dns ? { dns: d.dns } : {}),
        ...(d.leaseSeconds ? { leaseSeconds: d.leaseSeconds } : {}),
        ...(d.reservations ? { reservations: d.reservations } : {}),
        ...(d.port ? { port: d.port } : {}),
        db,
        logger: log,
        onPacket: (type, outcome) => metrics.dhcpPacket(type, outcome),
        bootFor: async (client) => {
          planner.recordSighting({ mac: client.mac, firmware: client.firmware, arch: client.arch, via: 'dhcp' });
          planner.claimForBoot(client.mac, client.isPxe || client.isIpxe);
          const boot = nextBoot(client, tasks.openTaskFor(client.mac), { httpBase });
          plannerLog.debug({ mac: client.mac, via: 'dhcp', action: boot.action, bootfile: boot.file.filename, reason: BOOT_FILE_REASONS[boot.file.reason] }, `${BOOT_REASONS[boot.reason]}: ${BOOT_FILE_REASONS[boot.file.reason]}`);
          return boot.file.filename !== null ? { filename: boot.file.filename } : null;
        },
      });
      const running = dhcp;
      stops.push(() => running.close());
    }

    // The NFS server's kind and why (what --nfs asked for, what this host has) is what an operator checks first when a share does not mount.
    const nfsState = nfs ? { nfs: nfs.urls, nfsServer: nfs.kind, nfsReason: nfs.reason } : { nfs: 'off' };
    log.info({ http: httpBase, tftp: tftp?.address ?? 'off', dhcp: config.dhcp.mode, interface: config.dhcp.interface, ...nfsState, store: config.store, data: config.dataDir }, 'lifeboat serving');
    events.record('server.started', `server started: HTTP ${httpBase}, TFTP ${config.tftp ? `${config.tftp.host}:${config.tftp.port}` : 'off'}, DHCP ${config.dhcp.mode}`);
    return { httpBase, config, nfs: nfs ? { kind: nfs.kind, reason: nfs.reason, urls: nfs.urls } : null, close: closeAll };
  } catch (e) {
    await closeAll();
    throw e;
  }
}
