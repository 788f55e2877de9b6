import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir, readdir, readFile, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { execa } from 'execa';
import { makeWorld, sh } from '../support/world.js';
import { startTestbed, type Testbed } from '../support/testbed.js';
import { attachToBridge, createBridge, createNamespace, createVethPair, runInNamespace, waitFor } from '../support/netns.js';
import { LIFEBOAT_BIN } from '../support/cli.js';
import { flipByte } from '../support/damage.js';

/**
 * The NFS backup target from the server's side: backup clients on their own network (not the test
 * bed) reach the server's nfs-ganesha through a router namespace; libnfs (nfs-ls, nfs-cp) is their
 * NFS client, since this host has none in its kernel. What a client writes over NFS is written on
 * the server as the backup uid, so the archives themselves are written here by `lifeboat archive`
 * run as that uid (setpriv) straight into the exported directory: the same files, owners and
 * permission checks the export gives a client, and the same atomic publish.
 */

const BACKUP_UID = 60100;

interface Client {
  ns: string;
  address: string;
}

async function nfs(ns: string, tool: 'nfs-ls' | 'nfs-cp', args: string[]): Promise<{ exitCode: number; out: string }> {
  const r = await runInNamespace(ns, tool, args, { timeoutMs: 30_000 });
  return { exitCode: r.exitCode ?? -1, out: `${String(r.stdout)}${String(r.stderr)}` };
}

/** Three machines on a network of their own, routed to the test bed by the server's namespace. */
async function backupNetwork(bed: Testbed): Promise<{ web: Client; db: Client; outsider: Client }> {
  const { world } = bed;
  const net = `172.30.${parseInt(world.id.slice(0, 2), 16)}`;
  const bridge = await createBridge(world, bed.ns, `lbbk${world.id}`, `${net}.1/24`);
  const make = async (role: string, host: number): Promise<Client> => {
    const ns = await createNamespace(world, role);
    const peer = `lb${role}${world.id}`;
    await createVethPair(world, { ns, name: 'eth0', address: `${net}.${host}/24` }, { ns: bed.ns, name: peer });
    await attachToBridge(bed.ns, peer, bridge);
    await sh('ip', ['-n', ns, 'route', 'add', 'default', 'via', `${net}.1`]);
    return { ns, address: `${net}.${host}` };
  };
  return { web: await make('bkw', 10), db: await make('bkd', 11), outsider: await make('bko', 12) };
}

interface ImageEntry {
  name: string;
  version: string;
  verification: { state: string } | null;
}

interface EventRow {
  kind: string;
  message: string;
}

async function versions(bed: Testbed, image: string): Promise<ImageEntry[]> {
  return (await bed.api<ImageEntry[]>('/api/v1/images')).filter((e) => e.name === image);
}

async function eventsOf(bed: Testbed, kind: string): Promise<EventRow[]> {
  return (await bed.api<EventRow[]>('/api/v1/events?limit=500')).filter((e) => e.kind === kind);
}

/** `lifeboat archive` as a backup client's requests run on the server: uid and gid 60100, nothing else. */
function archiveAsClient(storeDir: string, image: string, tree: string, extra: string[] = []) {
  return execa('setpriv', ['--reuid', String(BACKUP_UID), '--regid', String(BACKUP_UID), '--clear-groups', process.execPath, LIFEBOAT_BIN, 'archive', '--store', storeDir, '--image', image, '--path', tree, '--compress', 'none', ...extra], {
    reject: false,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/tmp' },
  });
}

async function tree(dir: string, files: Record<string, string | Buffer>): Promise<string> {
  for (const [name, content] of Object.entries(files)) {
    await mkdir(join(dir, name, '..'), { recursive: true });
    await writeFile(join(dir, name), content, { mode: 0o644 });
  }
  await chmod(dir, 0o755);
  return dir;
}

test('backup clients: each writes only its own export, the server adopts verified versions, quarantines damaged or over-quota ones, prunes what a killed client left, and applies retention', async (t) => {
  const world = await makeWorld(t, 'lbbackup');
  const bed = await startTestbed(world, { nfs: 'ganesha', routerAdvertisement: false });
  await bed.explainFailure(async () => {
    const { web, db, outsider } = await backupNetwork(bed);
    // The client's own view needs no path above its export; the stand-in writer here starts at the store.
    await chmod(world.dir, 0o711);
    await chmod(bed.storeDir, 0o711);

    // ---- allowing -------------------------------------------------------------------------------
    const allowWeb = await bed.lifeboat(['hosts', 'allow-backup', 'web01', '--address', web.address, '--keep', '1', '--quota', '100M']);
    assert.equal(allowWeb.exitCode, 0, allowWeb.stderr);
    assert.match(allowWeb.stdout, new RegExp(`web01 at ${web.address.replace(/\./g, '\\.')}: image web01, export ${bed.serverAddress.replace(/\./g, '\\.')}:/backup/web01`));
    assert.match(allowWeb.stdout, /lifeboat schedule install web01 --server http:/);
    const allowDb = await bed.lifeboat(['hosts', 'allow-backup', 'db01', '--address', db.address, '--quota', '2K']);
    assert.equal(allowDb.exitCode, 0, allowDb.stderr);
    const bad = await bed.lifeboat(['hosts', 'allow-backup', 'x1', '--address', 'db.lan']);
    assert.notEqual(bad.exitCode, 0);
    assert.match(bad.stderr, /'db\.lan' is not an IPv4 address or CIDR/);
    const taken = await bed.lifeboat(['hosts', 'allow-backup', 'other', '--address', outsider.address, '--image', 'web01']);
    assert.notEqual(taken.exitCode, 0);
    assert.match(taken.stderr, /image web01 is already the backup of client web01/);
    const imageDir = join(bed.storeDir, 'web01');
    const st = await stat(imageDir);
    assert.deepEqual([st.uid, st.gid, (st.mode & 0o7777).toString(8)], [0, BACKUP_UID, '1770'], 'root-owned, writable by the backup group, sticky');

    // ---- who reaches what over NFS ----------------------------------------------------------------
    const url = (path: string) => `nfs://${bed.serverAddress}${path}?version=4`;
    const probe = join(world.dir, 'probe');
    await writeFile(probe, 'probe');
    const own = await nfs(web.ns, 'nfs-cp', [probe, url('/backup/web01/probe')]);
    assert.equal(own.exitCode, 0, `the client writes its own export: ${own.out}`);
    assert.equal((await stat(join(imageDir, 'probe'))).uid, BACKUP_UID, 'written as the backup uid, whatever the client is');
    const intoOther = await nfs(web.ns, 'nfs-cp', [probe, url('/backup/db01/probe')]);
    assert.notEqual(intoOther.exitCode, 0, "web01 cannot write db01's export");
    const listOther = await nfs(db.ns, 'nfs-ls', [url('/backup/web01')]);
    assert.notEqual(listOther.exitCode, 0, `db01 cannot even list web01's export: ${listOther.out}`);
    assert.doesNotMatch(listOther.out, /probe/);
    const storeFromClient = await nfs(web.ns, 'nfs-ls', [url('/store')]);
    assert.notEqual(storeFromClient.exitCode, 0, 'a backup client is not on the test bed: the store is not its to read');
    const outsiderRoot = await nfs(outsider.ns, 'nfs-ls', [url('/')]);
    assert.notEqual(outsiderRoot.exitCode, 0, 'an address no export names cannot list the NFSv4 root');
    const up = await nfs(web.ns, 'nfs-ls', [url('/backup/web01/../..')]);
    assert.doesNotMatch(up.out, /lifeboat-data|admin-token|captures/, 'above the export is the pseudo namespace, not the server');
    await runInNamespace(web.ns, 'true', []);
    const selfWeb = await runInNamespace(web.ns, 'curl', ['-sS', `${bed.httpBase}/backup/v1/export`]);
    assert.deepEqual(JSON.parse(String(selfWeb.stdout)), { name: 'web01', image: 'web01', export: `${bed.serverAddress}:/backup/web01` });
    const selfOutsider = await runInNamespace(outsider.ns, 'curl', ['-sS', '-w', '%{http_code}', `${bed.httpBase}/backup/v1/export`]);
    assert.match(String(selfOutsider.stdout), new RegExp(`${outsider.address.replace(/\./g, '\\.')} is not a backup client of this server.*404$`));

    // ---- a full version, then an incremental one on top of it: both adopted --------------------
    const src = await tree(join(world.dir, 'web-src'), { 'etc/hostname': 'web01\n', 'srv/www/index.html': '<p>one</p>\n', 'srv/big.bin': randomBytes(300_000) });
    // --incremental from the start: level 0 keeps tar's snapshot, which the next run builds on.
    const full = await archiveAsClient(bed.storeDir, 'web01', src, ['--incremental']);
    assert.equal(full.exitCode, 0, full.stderr);
    const [v1] = await waitFor('the full version adopted', async () => {
      const vs = await versions(bed, 'web01');
      return vs.length === 1 && vs[0]!.verification?.state === 'ok' ? vs : undefined;
    }, 60_000);
    const v1dir = join(imageDir, v1!.version);
    const v1st = await stat(v1dir);
    assert.deepEqual([v1st.uid, v1st.gid, (v1st.mode & 0o777).toString(8)], [0, BACKUP_UID, '750'], 'adopted: the server owns it now');
    const rmByClient = await execa('setpriv', ['--reuid', String(BACKUP_UID), '--regid', String(BACKUP_UID), '--clear-groups', 'rm', '-rf', v1dir], { reject: false });
    assert.notEqual(rmByClient.exitCode, 0, 'a client cannot delete history');
    const mvByClient = await execa('setpriv', ['--reuid', String(BACKUP_UID), '--regid', String(BACKUP_UID), '--clear-groups', 'mv', v1dir, join(imageDir, '.incoming-x')], { reject: false });
    assert.notEqual(mvByClient.exitCode, 0, 'nor rename it (the directory is sticky)');
    const overwrite = await nfs(web.ns, 'nfs-cp', [probe, url(`/backup/web01/${v1!.version}/manifest.json`)]);
    assert.notEqual(overwrite.exitCode, 0, 'nor overwrite its files over NFS');
    await writeFile(join(src, 'srv/www/index.html'), '<p>two</p>\n');
    const incr = await archiveAsClient(bed.storeDir, 'web01', src, ['--incremental']);
    assert.equal(incr.exitCode, 0, incr.stderr);
    assert.match(incr.stdout + incr.stderr, /level 1/, 'the client read its adopted version back and built on it');
    await waitFor('the incremental version adopted, its base kept by retention', async () => {
      const vs = await versions(bed, 'web01');
      return vs.length === 2 && vs.every((v) => v.verification?.state === 'ok') ? vs : undefined;
    }, 60_000);

    // ---- a damaged version: quarantined, not catalogued; the older ones stay ------------------
    const scratchStore = join(world.dir, 'scratch-store');
    await mkdir(scratchStore, { recursive: true });
    await chmod(scratchStore, 0o777);
    const damaged = await archiveAsClient(scratchStore, 'web01', src);
    assert.equal(damaged.exitCode, 0, damaged.stderr);
    const [dv] = (await readdir(join(scratchStore, 'web01'))).filter((n) => /^\d{8}T/.test(n));
    const volume = (await readdir(join(scratchStore, 'web01', dv!, 'data')))[0]!;
    await flipByte(join(scratchStore, 'web01', dv!, 'data', volume), 1000);
    const asClient = ['--reuid', String(BACKUP_UID), '--regid', String(BACKUP_UID), '--clear-groups'];
    await sh('setpriv', [...asClient, 'cp', '-a', join(scratchStore, 'web01', dv!), join(imageDir, '.incoming-copy')]);
    await sh('setpriv', [...asClient, 'mv', join(imageDir, '.incoming-copy'), join(imageDir, '20301231T235959Z')]);
    const [q] = await waitFor('the damaged version quarantined', async () => {
      const e = (await eventsOf(bed, 'backup.quarantined')).filter((x) => x.message.includes('20301231T235959Z'));
      return e.length > 0 ? e : undefined;
    }, 60_000);
    assert.match(q!.message, /web01@20301231T235959Z failed verification: data\/.* (does not match|checksum)/);
    await waitFor('the catalog to show both earlier versions', async () => ((await versions(bed, 'web01')).length === 2 ? true : undefined), 10_000);
    assert.deepEqual((await versions(bed, 'web01')).map((v) => v.verification?.state), ['ok', 'ok'], 'not catalogued; the two earlier versions stay');
    const quarantined = (await readdir(imageDir)).filter((n) => n.startsWith('.quarantine-20301231T235959Z'));
    assert.equal(quarantined.length, 1);
    assert.equal((await stat(join(imageDir, quarantined[0]!))).uid, 0, "out of the client's hands");

    // ---- over quota: quarantined with the numbers ----------------------------------------------
    const dbSrc = await tree(join(world.dir, 'db-src'), { 'var/lib/db.bin': randomBytes(20_000) });
    const dbRun = await archiveAsClient(bed.storeDir, 'db01', dbSrc);
    assert.equal(dbRun.exitCode, 0, dbRun.stderr);
    const [overQuota] = await waitFor('the over-quota version quarantined', async () => {
      const e = (await eventsOf(bed, 'backup.quarantined')).filter((x) => x.message.includes('db01@'));
      return e.length > 0 ? e : undefined;
    }, 60_000);
    assert.match(overQuota!.message, /would bring db01 to \d+ bytes, over its quota of 2048/);
    assert.equal((await versions(bed, 'db01')).length, 0);
    const listed = await bed.lifeboat(['hosts', 'backups']);
    assert.match(listed.stdout, /db01 at .*: image db01, .* 0 versions .*\(quota 2\.00 KiB\), 1 quarantined/);
    assert.match(listed.stdout, /web01 at .*: image web01, .* 2 versions .*\(quota 100\.0 MiB\), 1 quarantined, keeps --keep 1/);
    const local = await execa(process.execPath, [LIFEBOAT_BIN, 'images', 'list', '--store', bed.storeDir], { reject: false });
    assert.match(local.stdout, new RegExp(`\\nweb01: sent by backup client web01 \\(${web.address.replace(/\./g, '\\.')}\\), [\\d.]+ KiB of its 100\\.0 MiB quota$`, 'm'), local.stdout);
    const wide = await bed.lifeboat(['hosts', 'allow-backup', 'lan', '--address', '10.0.0.0/8']);
    assert.match(wide.stderr, /10\.0\.0\.0\/8 would open its writable export to 16777216 addresses/);

    // ---- killed mid-archive: nothing adopted; the leftover goes once it has been still -------
    const bigSrc = await tree(join(world.dir, 'big-src'), { 'big.bin': randomBytes(8_000_000) });
    // A host name of its own (a UTS namespace), as the real client has: the server cannot ask
    // another machine whether the writer lives, so only a long silence makes it a leftover.
    const command = ['setpriv', ...asClient, process.execPath, LIFEBOAT_BIN, 'archive', '--store', bed.storeDir, '--image', 'web01', '--path', bigSrc, '--compress', 'zstd:19'];
    // Its own process group: kill -9 takes the archiver and its tar and zstd at once, as a crash of the machine would.
    const killed = execa('unshare', ['--uts', 'sh', '-c', 'hostname web01-client && exec "$@"', 'sh', ...command], { reject: false, detached: true, env: { PATH: process.env.PATH ?? '', HOME: '/tmp' } });
    const incoming = await waitFor('the client to start writing', async () => (await readdir(imageDir)).find((n) => n.startsWith('.incoming-') && !n.endsWith('.owner')), 30_000);
    process.kill(-killed.pid!, 'SIGKILL');
    await killed;
    await waitFor('no process of the killed archive left', async () => {
      try {
        process.kill(-killed.pid!, 0);
        return undefined;
      } catch {
        return true;
      }
    }, 10_000);
    const leftover = join(imageDir, incoming);
    assert.ok(await stat(leftover), 'the killed archive left its incoming directory');
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal((await versions(bed, 'web01')).length, 2, 'nothing adopted');
    assert.ok(await stat(leftover).catch(() => null), 'a client still writing (changed within the hour) is left alone');
    // As if it had been still for two hours: the next look removes it.
    const past = new Date(Date.now() - 2 * 3600_000);
    for (const name of await readdir(leftover, { recursive: true })) await utimes(join(leftover, name), past, past);
    await utimes(leftover, past, past);
    await waitFor('the leftover removed', async () => ((await stat(leftover).catch(() => null)) === null ? true : undefined), 90_000);
    const pruned = await eventsOf(bed, 'backup.pruned');
    assert.ok(pruned.some((e) => e.message.includes(incoming) && /did not finish/.test(e.message)), JSON.stringify(pruned));

    // ---- retention is the server's: a new full version retires the chain (--keep 1) ------------
    const third = await archiveAsClient(bed.storeDir, 'web01', src);
    assert.equal(third.exitCode, 0, third.stderr);
    const kept = await waitFor('retention applied after the third version', async () => {
      const vs = await versions(bed, 'web01');
      return vs.length === 1 && vs[0]!.version !== v1!.version ? vs : undefined;
    }, 60_000);
    assert.equal(kept[0]!.verification?.state, 'ok');

    // ---- the client's side: schedule install asks the server which export is its own ------------
    const clientRoot = join(world.dir, 'web01-root');
    await mkdir(join(clientRoot, 'etc/systemd/system'), { recursive: true });
    const install = await runInNamespace(web.ns, process.execPath, [LIFEBOAT_BIN, 'schedule', 'install', 'web01', '--server', bed.httpBase, '--root', clientRoot, '--init', 'systemd', '--', '--incremental']);
    assert.equal(install.exitCode, 0, String(install.stderr));
    assert.match(String(install.stdout), /keeps: what the server's retention keeps/);
    const service = await readFile(join(clientRoot, 'etc/systemd/system/lifeboat-web01.service'), 'utf8');
    const exportArg = `--export ${bed.serverAddress}:/backup/web01`;
    assert.ok(service.includes(`schedule run web01 --server ${bed.httpBase} ${exportArg} --store /run/lifeboat/backup/web01 --image web01`), service);
    assert.match(service, /After=network-online\.target/);
    const shown = await runInNamespace(web.ns, process.execPath, [LIFEBOAT_BIN, 'schedule', 'show', 'web01', '--root', clientRoot]);
    assert.match(String(shown.stdout), new RegExp(`archives  web01 into ${bed.serverAddress.replace(/\./g, '\\.')}:/backup/web01 \\(backup server http`));
    assert.match(String(shown.stdout), /keeps {5}the server's retention rules/);
    const notClient = await runInNamespace(outsider.ns, process.execPath, [LIFEBOAT_BIN, 'schedule', 'install', 'x', '--server', bed.httpBase, '--root', join(world.dir, 'x-root'), '--init', 'cron']);
    assert.notEqual(notClient.exitCode, 0);
    assert.match(String(notClient.stderr), new RegExp(`no backup export for this machine: ${outsider.address.replace(/\./g, '\\.')} is not a backup client`));
    assert.equal(String(notClient.stderr).trim().split('\n').length, 1, 'one line, no stack');
    const storeAndServer = await runInNamespace(web.ns, process.execPath, [LIFEBOAT_BIN, 'schedule', 'install', 'web01', '--server', bed.httpBase, '--store', '/srv', '--root', clientRoot]);
    assert.equal(storeAndServer.exitCode, 2);
    assert.match(String(storeAndServer.stderr), /--store and --server exclude each other/);
    // This host's kernel has no NFS client, so the mount fails as it would with the server away:
    // one line, before anything is written.
    const run = await runInNamespace(web.ns, process.execPath, [LIFEBOAT_BIN, 'schedule', 'run', 'web01', '--server', bed.httpBase, '--export', `${bed.serverAddress}:/backup/web01`, '--store', join(world.dir, 'client-mnt'), '--image', 'web01', '--', '--path', src]);
    assert.notEqual(run.exitCode, 0);
    assert.match(String(run.stderr), new RegExp(`cannot mount the backup export ${bed.serverAddress.replace(/\./g, '\\.')}:/backup/web01 on .*; nothing was archived, and the next run tries again`));
    const lines = String(run.stderr).trim().split('\n');
    assert.match(lines[0]!, /^» mounting /, 'the progress line says what it tries');
    assert.equal(lines.length, 2, `then one line for the failure, no stack: ${String(run.stderr)}`);
    assert.match(lines[1]!, /mount.*(nfs4|status 32)/, 'and it says what mount said');

    // ---- a restarted server serves the backup exports from its first config on --------------------
    await bed.restartLifeboat({ signal: 'SIGTERM' });
    const again = await nfs(web.ns, 'nfs-cp', [probe, url('/backup/web01/probe-again')]);
    assert.equal(again.exitCode, 0, `after a restart the client writes its export again: ${again.out}`);
    const stillClosed = await nfs(db.ns, 'nfs-ls', [url('/backup/web01')]);
    assert.notEqual(stillClosed.exitCode, 0, 'and it is still closed to the others');

    // ---- remove-backup: the export goes, the versions stay --------------------------------------
    const removed = await bed.lifeboat(['hosts', 'remove-backup', 'web01']);
    assert.equal(removed.exitCode, 0, removed.stderr);
    const after = await nfs(web.ns, 'nfs-ls', [url('/backup/web01')]);
    assert.notEqual(after.exitCode, 0, 'the export is withdrawn at once');
    assert.equal((await versions(bed, 'web01')).length, 1, 'its versions stay in the store');
    const gone = await bed.lifeboat(['hosts', 'remove-backup', 'web01']);
    assert.notEqual(gone.exitCode, 0);
    assert.match(gone.stderr, /no backup client is called web01/);
  });
});
