import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { pino } from 'pino';
import { makeWorld, sh, type World } from '../support/world.js';
import { startNfsShare, type NfsShare, type StartNfsShareOptions } from '../../server/nfs/nfs-share.js';
import type { NfsExport } from '../../server/nfs/share-spec.js';
import { isLifeboatError } from '../../core/errors.js';
import { nfsdRegistered } from '../../server/nfs/kernel-nfs.js';
import { startTestbed } from '../support/testbed.js';
import { readFileSync } from 'node:fs';

/**
 * The share as a rescue agent sees it: ganesha runs in a server namespace; a client namespace on
 * the test-bed subnet and an outsider namespace on another subnet reach it over veth links, and
 * read or write with libnfs (nfs-ls, nfs-cp), a userspace client, since this host has no kernel
 * NFS client.
 */

const SERVER = '10.213.0.1';
const CLIENT = '10.213.0.2';
const TESTBED = '10.213.0.0/24';
const OUTSIDER_GW = '10.214.0.1';
const OUTSIDER = '10.214.0.2';

interface Bed {
  server: string;
  client: string;
  outsider: string;
}

/** Three namespaces and two veth links, each registered for removal before it is made. */
async function makeBed(world: World): Promise<Bed> {
  const bed = { server: `lbnfs-${world.id}-srv`, client: `lbnfs-${world.id}-cli`, outsider: `lbnfs-${world.id}-out` };
  for (const ns of Object.values(bed)) {
    world.defer(() => execa('ip', ['netns', 'del', ns], { reject: false }));
    await sh('ip', ['netns', 'add', ns]);
    await sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  }
  // Links are made inside the namespaces, so their names cannot clash with anyone else's.
  await sh('ip', ['-n', bed.server, 'link', 'add', 'tb0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', bed.client]);
  await sh('ip', ['-n', bed.server, 'link', 'add', 'ob0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', bed.outsider]);
  const addrs: Array<[string, string, string]> = [
    [bed.server, 'tb0', `${SERVER}/24`],
    [bed.server, 'ob0', `${OUTSIDER_GW}/24`],
    [bed.client, 'eth0', `${CLIENT}/24`],
    [bed.outsider, 'eth0', `${OUTSIDER}/24`],
  ];
  for (const [ns, dev, addr] of addrs) {
    await sh('ip', ['-n', ns, 'addr', 'add', addr, 'dev', dev]);
    await sh('ip', ['-n', ns, 'link', 'set', dev, 'up']);
  }
  await sh('ip', ['-n', bed.outsider, 'route', 'add', TESTBED, 'via', OUTSIDER_GW]);
  return bed;
}

/** An image version as the store lays it out: root-owned, the manifest and data mode 0600. */
async function makeStore(world: World): Promise<{ store: string; captures: string; version: string; data: Buffer; manifest: string }> {
  const store = join(world.dir, 'store');
  const captures = join(world.dir, 'incoming-captures');
  const version = join(store, 'web01', '20261127T141300Z');
  await mkdir(join(version, 'data'), { recursive: true });
  await mkdir(captures, { recursive: true });
  const data = randomBytes(5 * 1024 * 1024 + 123);
  const manifest = JSON.stringify({ format: 'lifeboat-image/1', host: 'web01' });
  await writeFile(join(version, 'data', 'root.tar.zst'), data, { mode: 0o600 });
  await writeFile(join(version, 'manifest.json'), manifest, { mode: 0o600 });
  await writeFile(join(version, 'SHA256SUMS'), `${sha256(data)}  data/root.tar.zst\n`);
  await chmod(join(version, 'manifest.json'), 0o600);
  return { store, captures, version, data, manifest };
}

function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

/** nfs-ls / nfs-cp from inside a namespace; the outcome is returned, not thrown, to assert on. */
async function nfs(ns: string, tool: 'nfs-ls' | 'nfs-cp', args: string[]): Promise<{ exitCode: number; out: string }> {
  const r = await execa('ip', ['netns', 'exec', ns, tool, ...args], { reject: false, all: true, timeout: 60_000 });
  return { exitCode: r.exitCode ?? -1, out: String(r.all ?? '') };
}

function url(path: string): string {
  return `nfs://${SERVER}${path}?version=4`;
}

/** Collects the pino events the share logs, as the operator's log would show them. */
function captureLog(): { logger: pino.Logger; events: Array<Record<string, unknown>> } {
  const events: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) events.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), events };
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, limitMs = 60_000): Promise<T> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) assert.fail(`gave up waiting for ${what}`);
    await sleep(200);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Processes whose command line names this file: ganesha started for this test and nothing else. */
async function processesNaming(file: string): Promise<number[]> {
  const found: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const cmdline = await readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.split('\0').includes(file)) found.push(Number(name));
  }
  return found;
}

/** A test's world, its namespaces and an image store; ganesha's state goes in `state`. */
async function setUp(t: TestContext) {
  const world = await makeWorld(t, 'lbnfs');
  const bed = await makeBed(world);
  const img = await makeStore(world);
  return { world, bed, img, stateDir: join(world.dir, 'state') };
}

/** Ganesha in the server namespace on SERVER, sharing `exports` with the test-bed subnet. */
function ganeshaShare(bed: Bed, stateDir: string, exports: NfsExport[], more: Partial<StartNfsShareOptions> = {}): StartNfsShareOptions {
  return { kind: 'ganesha', netns: bed.server, bindAddress: SERVER, clients: [TESTBED], exports, stateDir, ...more };
}

/** Starts the share and closes it after the test, whatever happens. */
async function startShare(world: World, options: StartNfsShareOptions): Promise<NfsShare> {
  let share: NfsShare | undefined;
  world.defer(() => share?.close());
  share = await startNfsShare(options);
  return share;
}

test('ganesha serves the store read-only and captures writable to the test-bed subnet, and no one else', async (t) => {
  const { world, bed, img, stateDir } = await setUp(t);
  const exports: NfsExport[] = [
    { path: img.store, pseudo: '/store', access: 'ro' },
    { path: img.captures, pseudo: '/captures', access: 'rw' },
  ];
  const share = await startShare(world, ganeshaShare(bed, stateDir, exports, { kind: 'auto' }));
  assert.equal(share.kind, 'ganesha', 'no kernel NFS server here, and a namespace asks for ganesha');
  assert.deepEqual(share.urls, [url('/store'), url('/captures')]);

  const listing = await nfs(bed.client, 'nfs-ls', ['-R', url('/store')]);
  assert.equal(listing.exitCode, 0, listing.out);
  for (const name of ['web01', '20261127T141300Z', 'manifest.json', 'SHA256SUMS', 'root.tar.zst']) assert.match(listing.out, new RegExp(name));
  assert.match(listing.out, new RegExp(`-rw-------\\s+1\\s+0\\s+0\\s+${img.data.length} \\S*root\\.tar\\.zst`), 'owners travel as numbers: root is 0');

  const back = join(world.dir, 'root.tar.zst.back');
  const copy = await nfs(bed.client, 'nfs-cp', [url('/store/web01/20261127T141300Z/data/root.tar.zst'), back]);
  assert.equal(copy.exitCode, 0, copy.out);
  assert.equal(sha256(await readFile(back)), sha256(img.data), 'the image bytes read back identical');

  // Root-owned and 0600: readable only because root is not squashed on the store.
  const manifestBack = join(world.dir, 'manifest.back');
  const m = await nfs(bed.client, 'nfs-cp', [url('/store/web01/20261127T141300Z/manifest.json'), manifestBack]);
  assert.equal(m.exitCode, 0, m.out);
  assert.equal(await readFile(manifestBack, 'utf8'), img.manifest);

  // libnfs 4.0 (Debian 12) cannot send an NFSv4 WRITE of 4 KiB or more: it fails before anything
  // reaches the server. Large capture writes need a kernel client (a QEMU guest); 3 KiB proves the
  // export's access here.
  const upload = join(world.dir, 'capture-part.tar.zst');
  await writeFile(upload, randomBytes(3 * 1024));
  const intoStore = await nfs(bed.client, 'nfs-cp', [upload, url('/store/web01/planted.tar.zst')]);
  assert.notEqual(intoStore.exitCode, 0, 'a write to the store export must fail');
  assert.match(intoStore.out, /NFS4ERR_ROFS/);
  assert.deepEqual((await readdir(join(img.store, 'web01'))).sort(), ['20261127T141300Z']);

  const intoCaptures = await nfs(bed.client, 'nfs-cp', [upload, url('/captures/capture-part.tar.zst')]);
  assert.equal(intoCaptures.exitCode, 0, intoCaptures.out);
  assert.equal(sha256(await readFile(join(img.captures, 'capture-part.tar.zst'))), sha256(await readFile(upload)));

  // A machine outside the test-bed subnet reaches the address but is refused at the NFSv4 root.
  const outsiderList = await nfs(bed.outsider, 'nfs-ls', [url('/store')]);
  assert.notEqual(outsiderList.exitCode, 0, `outsider listed the store:\n${outsiderList.out}`);
  assert.match(outsiderList.out, /NFS4ERR_ACCESS/);
  const outsiderRoot = await nfs(bed.outsider, 'nfs-ls', [url('/')]);
  assert.notEqual(outsiderRoot.exitCode, 0, `outsider listed the NFSv4 root:\n${outsiderRoot.out}`);
  const outsiderWrite = await nfs(bed.outsider, 'nfs-cp', [upload, url('/captures/outsider.tar.zst')]);
  assert.notEqual(outsiderWrite.exitCode, 0);
  assert.deepEqual(await readdir(img.captures), ['capture-part.tar.zst']);

  const pid = share.pid;
  assert.ok(pid && alive(pid));
  await share.close();
  assert.ok(!alive(pid), `ganesha pid ${pid} still runs after close()`);
});

test('a ganesha killed with SIGKILL is restarted and serves again; close() leaves no ganesha behind', async (t) => {
  const { world, bed, img, stateDir } = await setUp(t);
  const { logger, events } = captureLog();
  const options = ganeshaShare(bed, stateDir, [{ path: img.store, pseudo: '/store', access: 'ro' }], { logger });
  const share = await startShare(world, options);
  const first = share.pid;
  assert.ok(first);
  assert.equal(Number(await readFile(join(stateDir, 'ganesha.pid'), 'utf8')), first, "ganesha's own PID file names the process we supervise");

  await assert.rejects(startNfsShare(options), (e: unknown) => {
    assert.ok(isLifeboatError(e) && e.code === 'LB_CONFLICT', String(e));
    assert.match(e.message, new RegExp(`nfs-ganesha pid ${first} from an earlier run still serves`));
    return true;
  });

  process.kill(first, 'SIGKILL');
  await until('a restarted ganesha', async () => (share.restarts > 0 ? true : undefined));
  assert.equal(share.restarts, 1);
  const second = share.pid;
  assert.ok(second && second !== first && alive(second));
  const listing = await until('the share to list again', async () => {
    const r = await nfs(bed.client, 'nfs-ls', [url('/store/web01')]);
    return r.exitCode === 0 ? r.out : undefined;
  });
  assert.match(listing, /20261127T141300Z/);
  const died = events.find((e) => e.component === 'nfs' && /nfs-ganesha died \(SIGKILL\); restarting in \d+ ms/.test(String(e.msg)));
  assert.ok(died, 'the death is logged for the operator');
  assert.equal(died.level, 50, 'at error level');
  assert.ok(events.some((e) => e.component === 'nfs' && e.msg === 'nfs-ganesha restarted and listening' && e.ganeshaPid === second));

  await share.close();
  assert.ok(!alive(second), `ganesha pid ${second} still runs after close()`);
  assert.deepEqual(await processesNaming(join(stateDir, 'ganesha.conf')), [], 'no ganesha process is left with our config');
  assert.ok(events.some((e) => e.component === 'nfs' && e.msg === 'NFS share closed'));
});

test("with root squashed, root's 0600 image files are unreadable: why the store export does not squash", async (t) => {
  const { world, bed, img, stateDir } = await setUp(t);
  const share = await startShare(world, ganeshaShare(bed, stateDir, [{ path: img.store, pseudo: '/store', access: 'ro', squash: 'root' }]));
  const sums = await nfs(bed.client, 'nfs-cp', [url('/store/web01/20261127T141300Z/SHA256SUMS'), join(world.dir, 'sums')]);
  assert.equal(sums.exitCode, 0, `a 0644 file stays readable: ${sums.out}`);
  const manifest = await nfs(bed.client, 'nfs-cp', [url('/store/web01/20261127T141300Z/manifest.json'), join(world.dir, 'manifest')]);
  assert.notEqual(manifest.exitCode, 0, 'root squashed to nobody read a 0600 root file');
  assert.match(manifest.out, /NFS4ERR_ACCESS/);
  await share.close();
});

test('a bind address that is on no interface is refused before ganesha starts, naming what is there', async (t) => {
  const { bed, img, stateDir } = await setUp(t);
  await assert.rejects(
    startNfsShare(ganeshaShare(bed, stateDir, [{ path: img.store, pseudo: '/store', access: 'ro' }], { bindAddress: '10.213.0.99' })),
    (e: unknown) => {
      assert.ok(isLifeboatError(e) && e.code === 'LB_INVALID', String(e));
      assert.match(e.message, new RegExp(`NFS bind address 10\\.213\\.0\\.99 is not on any interface of network namespace ${bed.server}`));
      assert.match(e.message, /10\.213\.0\.1\/24 on tb0/);
      assert.match(e.message, /ip addr add 10\.213\.0\.99\/24 dev IF/);
      return true;
    },
  );
  assert.deepEqual(await processesNaming(join(stateDir, 'ganesha.conf')), []);
});

test('an export ganesha cannot serve fails the start with its reason instead of serving without it', async (t) => {
  const { bed, img, stateDir } = await setUp(t);
  // Ganesha 4.3 logs a refused EXPORT at CRIT and goes on serving the others; procfs is a
  // filesystem FSAL VFS cannot export, so the store here would silently be missing.
  await assert.rejects(
    startNfsShare(ganeshaShare(bed, stateDir, [
      { path: img.store, pseudo: '/store', access: 'ro' },
      { path: '/proc/sys', pseudo: '/captures', access: 'rw' },
    ])),
    (e: unknown) => {
      assert.ok(isLifeboatError(e) && e.code === 'LB_TOOL_FAILED', String(e));
      assert.match(e.message, /rejected part of its configuration and would serve without it/);
      assert.match(e.message, /Could not create export for \(\/captures\) to \(\/proc\/sys\)/);
      assert.match(e.message, /keep exports on ext4, xfs or btrfs/);
      return true;
    },
  );
  assert.deepEqual(await processesNaming(join(stateDir, 'ganesha.conf')), [], 'the half-configured ganesha was stopped');
});

test('serve --nfs auto on a kernel without nfsd starts nfs-ganesha, says why in its start-up line, and the store lists over NFS', async (t) => {
  // The README's first example: an empty /proc/fs/nfsd must not pass for a kernel server here.
  const kernelHasNfsd = nfsdRegistered(await readFile('/proc/filesystems', 'utf8'));
  assert.equal(kernelHasNfsd, false, 'this test is about a kernel without nfsd, as on this machine');
  const world = await makeWorld(t, 'lbnfsauto');
  const bed = await startTestbed(world, { nfs: 'auto', routerAdvertisement: false });
  await mkdir(join(bed.storeDir, 'web01'), { recursive: true });
  const log = readFileSync(join(world.dir, 'lifeboat-serve.log'), 'utf8');
  assert.match(log, /NFS +ganesha \(auto: the kernel has no NFS server \(nfsd is not in \/proc\/filesystems/, 'the banner says which and why');
  const serving = log
    .split('\n')
    .filter((l) => l.includes('"lifeboat serving"'))
    .map((l) => JSON.parse(l) as { nfsServer?: string; nfsReason?: string; nfs?: string[] })[0];
  assert.ok(serving, bed.logs());
  assert.equal(serving.nfsServer, 'ganesha', bed.logs());
  assert.equal(serving.nfsReason, 'auto: the kernel has no NFS server (nfsd is not in /proc/filesystems; modprobe nfsd where it is a module)');
  assert.deepEqual(serving.nfs, [`nfs://${bed.serverAddress}/store?version=4`, `nfs://${bed.serverAddress}/captures?version=4`]);
  const listing = await execa('ip', ['netns', 'exec', bed.ns, 'nfs-ls', `nfs://${bed.serverAddress}/store?version=4`], { reject: false, all: true, timeout: 60_000 });
  assert.equal(listing.exitCode, 0, String(listing.all));
  assert.match(String(listing.all), /web01/);
});
