import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { makeWorld, type World } from '../support/world.js';
import { startLocalServer, type LocalServer } from '../support/local-server.js';
import { lifeboat } from '../support/cli.js';
import { attachLoop, mountFs, scratchFilesystem, sparseFile } from '../support/loop-devices.js';
import { buildFixtureDisk } from '../support/fixture-disk.js';
import { runAgent } from '../support/agent.js';
import { runInNamespace, serverClientLink } from '../support/netns.js';
import { rawExchange, serveFullDhcp } from '../support/dhcp-lab.js';
import { BOOTREQUEST, MessageType, Option, encode, encodePacket, macToBytes } from '../../server/dhcp/packet.js';

// Clone sessions against a real `lifeboat serve`: tasks and identities of a --hosts session, a
// --count session claiming machines as they fetch their boot script, the refusals, cancel, the CLI,
// a --count session's machines restored by the rescue agent onto loop devices, and claims over real
// DHCP in a test namespace.

interface Member { n: number; mac: string; taskId: number; taskState: string; identity: { hostname?: string; ipv4?: string } | null }
interface Session { id: number; state: string; stateReason: string | null; requested: number; selection: string; transport: string; members: Member[] }
interface Task { id: number; mac: string; state: string; image: string; version: string; options: Record<string, unknown> }
type Refusal = { error: { code: string; message: string } };

const mac = (i: number) => `52:54:00:00:0d:${i.toString(16).padStart(2, '0')}`;

async function serverWithImage(t: Parameters<typeof makeWorld>[0]): Promise<{ world: World; server: LocalServer }> {
  const world = await makeWorld(t, 'lb-clone');
  const src = await scratchFilesystem(world, 'src', 'ext4', 64 << 20);
  await writeFile(join(src.mountpoint, 'etc-hostname'), 'golden\n');
  const server = await startLocalServer(world);
  const r = await lifeboat(['archive', '--store', server.store, '--image', 'golden', '--root', src.mountpoint]);
  assert.equal(r.exitCode, 0, r.stderr);
  await server.api('POST', '/api/v1/images/rescan');
  return { world, server };
}

/**
 * Mounts a partition the agent has just restored: right after the agent exits the kernel may still
 * hold the filesystem it unmounted (mount says "already mounted or mount point busy") for a moment.
 */
async function mountWhenReleased(world: World, dev: string, at: string): Promise<string> {
  for (let i = 0; ; i++) {
    try {
      return await mountFs(world, dev, at, 'ro,noload');
    } catch (e) {
      if (i >= 20 || !/already mounted or mount point busy/.test((e as Error).message)) throw e;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

/** A machine network-boots: iPXE fetches its script, as the firmware would after DHCP. */
async function boot(server: LocalServer, m: string): Promise<string> {
  return (await fetch(`${server.url}/boot/${m}.ipxe`)).text();
}

test('clone sessions over the API: --hosts tasks with their identities, --count claims the first two boots, refusals write nothing, cancel', async (t) => {
  const { server } = await serverWithImage(t);

  // --hosts: every task at once, machine n the n-th MAC, its identity from the patterns and the session's marker.
  const hosts = [mac(3), mac(1), mac(2)];
  const created = await server.api<Session>('POST', '/api/v1/clones', { image: 'golden', hosts: hosts.map((m) => m.toUpperCase()), hostname: 'lab-{n:02}', ipv4: '10.77.0.{n+100}/24', policy: 'grow-last', multicast: 'off' });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const s1 = created.body;
  assert.equal(s1.state, 'pending');
  assert.match(s1.transport, /^unicast/);
  assert.deepEqual(s1.members.map((m) => [m.n, m.mac, m.identity, m.taskState]), [
    [1, mac(3), { hostname: 'lab-01', ipv4: '10.77.0.101/24' }, 'pending'],
    [2, mac(1), { hostname: 'lab-02', ipv4: '10.77.0.102/24' }, 'pending'],
    [3, mac(2), { hostname: 'lab-03', ipv4: '10.77.0.103/24' }, 'pending'],
  ]);
  for (const m of s1.members) {
    const task = (await server.api<Task>('GET', `/api/v1/tasks/${m.taskId}`)).body;
    assert.equal(task.mac, m.mac);
    assert.equal(task.image, 'golden');
    assert.deepEqual(task.options, { policy: 'grow-last', identity: m.identity, clone: { session: s1.id, n: m.n } });
  }
  assert.match(await boot(server, mac(1)), /lifeboat\.token=\S+/, 'a --hosts machine boots the rescue system with its token');

  // Refusals: each a 4xx with its reason, before any task or session exists.
  const before = (await server.api<Task[]>('GET', '/api/v1/tasks')).body.length;
  const refusals: Array<[unknown, number, RegExp]> = [
    [{ image: 'golden', hosts: [mac(9)], count: 1 }, 400, /--hosts or --count, not both/],
    [{ image: 'golden' }, 400, /give --hosts MAC,MAC,… \(these machines\) or --count N/],
    [{ image: 'golden', count: 0 }, 400, /1 to 256 machines, not 0/],
    [{ image: 'golden', count: 1000 }, 400, /1 to 256 machines, not 1000/],
    [{ image: 'golden', count: 3, hostname: 'lab' }, 400, /machine 1 and machine 2 would both get hostname lab/],
    [{ image: 'golden', hosts: [mac(9), mac(10)], ipv4: '10.77.0.{n:02}' }, 400, /machine 1 \(52:54:00:00:0d:09\) and machine 2 .* both get address|"10\.77\.0\.01" is not/],
    [{ image: 'golden', count: 2, hostname: 'bad_{n}' }, 400, /machine 1: hostname "bad_1" is not a valid host name/],
    [{ image: 'golden', hosts: [mac(9), mac(10)], identities: { [mac(9)]: { hostname: 'x' } } }, 400, /identity table has no entry for 52:54:00:00:0d:0a/],
    [{ image: 'golden', count: 2, minReceivers: 3 }, 400, /--min-receivers 3 is more than the 2 machines/],
    [{ image: 'golden', hosts: [mac(9), mac(2)] }, 409, /52:54:00:00:0d:02 already has open task \d+/],
    [{ image: 'golden', hosts: ['52:54:00:00:0d'] }, 400, /hosts\/0/],
    [{ image: 'nope', count: 1 }, 404, /image nope is not in the store/],
    [{ image: 'golden', count: 1, multicast: 'sometimes' }, 400, /multicast must be one of auto, on, off/],
  ];
  for (const [body, status, message] of refusals) {
    const r = await server.api<Refusal>('POST', '/api/v1/clones', body);
    assert.equal(r.status, status, JSON.stringify(body));
    assert.match(r.body.error.message, message, JSON.stringify(body));
  }
  assert.equal((await server.api<Task[]>('GET', '/api/v1/tasks')).body.length, before, 'no refusal created a task');
  assert.equal((await server.api<Session[]>('GET', '/api/v1/clones')).body.length, 1, 'nor a session');

  // A MAC in an open session is refused even once its own task ended.
  await server.api('POST', `/api/v1/tasks/${s1.members[2]!.taskId}/cancel`);
  const inSession = await server.api<Refusal>('POST', '/api/v1/clones', { image: 'golden', hosts: [mac(2)] });
  assert.equal(inSession.status, 409);
  assert.match(inSession.body.error.message, new RegExp(`52:54:00:00:0d:02 is already in open clone session ${s1.id}`));

  // --count 2: three machines boot; the first two are claimed in order, the third boots its disk.
  const counted = await server.api<Session>('POST', '/api/v1/clones', { image: 'golden', count: 2, hostname: 'cnt-{n:02}' });
  assert.equal(counted.status, 201, JSON.stringify(counted.body));
  const s2 = counted.body;
  assert.deepEqual(s2.members, []);
  assert.match(await boot(server, mac(1)), /lifeboat\.token=/, 'a machine of another session is not claimed (its own task stands)');
  const scripts = [];
  for (const m of [mac(20), mac(21), mac(22)]) scripts.push(await boot(server, m));
  assert.match(scripts[0]!, /lifeboat\.task=\d+ lifeboat\.token=\S+/);
  assert.match(scripts[1]!, /lifeboat\.task=\d+ lifeboat\.token=\S+/);
  assert.match(scripts[2]!, /52:54:00:00:0d:16 has no task pending: booting the local disk/);
  const shown = (await server.api<Session>('GET', `/api/v1/clones/${s2.id}`)).body;
  assert.deepEqual(shown.members.map((m) => [m.n, m.mac, m.identity?.hostname]), [[1, mac(20), 'cnt-01'], [2, mac(21), 'cnt-02']]);
  for (const [i, m] of shown.members.entries()) assert.match(scripts[i]!, new RegExp(`lifeboat\\.task=${m.taskId} `));
  assert.equal((await server.api<Task[]>(`GET`, `/api/v1/tasks?mac=${mac(22)}`)).body.length, 0, 'the third machine got no task');
  assert.ok((await server.api('GET', `/api/v1/hosts/${mac(20)}`)).status === 200, 'a claimed machine is registered');

  // Cancel: open tasks cancelled, the session says so, and a second cancel is a conflict.
  const cancelled = await server.api<Session>('POST', `/api/v1/clones/${s1.id}/cancel`);
  assert.equal(cancelled.status, 200);
  assert.equal(cancelled.body.state, 'cancelled');
  assert.deepEqual(cancelled.body.members.map((m) => m.taskState), ['cancelled', 'cancelled', 'cancelled']);
  assert.match(await boot(server, mac(3)), /has no task pending/);
  assert.equal((await server.api<Refusal>('POST', `/api/v1/clones/${s1.id}/cancel`)).status, 409);
  assert.equal((await server.api<Refusal>('GET', '/api/v1/clones/999')).status, 404);

  // Paging like tasks, and the events of both sessions.
  const page = await fetch(`${server.url}/api/v1/clones?limit=1`, { headers: { authorization: `Bearer ${server.readToken}` } });
  assert.equal(page.status, 200);
  assert.deepEqual(((await page.json()) as Session[]).map((s) => s.id), [s2.id]);
  assert.equal(page.headers.get('link'), `</api/v1/clones?limit=1&before=${s2.id}>; rel="next"`);
  const kinds = (await server.api<Array<{ kind: string }>>('GET', '/api/v1/events?limit=1000')).body.map((e) => e.kind).filter((k) => k.startsWith('clone.'));
  assert.deepEqual(kinds, ['clone.created', 'clone.dropped', 'clone.created', 'clone.joined', 'clone.joined', 'clone.dropped', 'clone.dropped', 'clone.cancelled']);
  const openapi = (await (await fetch(`${server.url}/api/v1/openapi.json`)).json()) as { paths: Record<string, Record<string, { security: unknown }>> };
  assert.deepEqual(openapi.paths['/api/v1/clones']!.post!.security, [{ admin: [] }]);
  assert.deepEqual(openapi.paths['/api/v1/clones']!.get!.security, [{ read: [] }, { admin: [] }]);
  const readerPost = await fetch(`${server.url}/api/v1/clones`, { method: 'POST', headers: { authorization: `Bearer ${server.readToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ image: 'golden', count: 1 }) });
  assert.equal(readerPost.status, 403, 'the read-only token cannot create a session');
});

test('the clone and clones commands: create with --hosts and an identity table, list, show, cancel, refusals with their exit codes', async (t) => {
  const { world, server } = await serverWithImage(t);
  const common = ['--server', server.url, '--token-file', join(server.dataDir, 'admin-token')];
  const table = join(world.dir, 'ids.json');
  await writeFile(table, JSON.stringify({ [mac(40)]: { hostname: 'db-a', ipv4: '10.77.0.40' }, [mac(41).replaceAll(':', '-')]: { hostname: 'db-b' } }));

  const made = await lifeboat(['clone', 'golden', '--hosts', `${mac(41)},${mac(40)}`, '--identity', table, '--multicast', 'off', '--min-receivers', '2', '--max-wait', '60', '--json', ...common]);
  assert.equal(made.exitCode, 0, made.stderr);
  const s = JSON.parse(made.stdout) as Session & { multicast: string; minReceivers: number; maxWait: number };
  assert.deepEqual(s.members.map((m) => [m.n, m.mac, m.identity]), [[1, mac(41), { hostname: 'db-b' }], [2, mac(40), { hostname: 'db-a', ipv4: '10.77.0.40' }]]);
  assert.deepEqual([s.multicast, s.minReceivers, s.maxWait], ['off', 2, 60]);

  const list = await lifeboat(['clones', 'list', ...common]);
  assert.equal(list.exitCode, 0, list.stderr);
  assert.match(list.stdout, new RegExp(`^${s.id} +golden@\\d{8}T\\d{6}Z +2 +pending`, 'm'));
  const show = await lifeboat(['clones', 'show', String(s.id), ...common]);
  assert.equal(show.exitCode, 0, show.stderr);
  assert.match(show.stdout, /state +pending \(0 of 2 done; 2 open\)/);
  assert.match(show.stdout, /data +unicast \(HTTP\/NFS per machine\): --multicast off/);
  assert.match(show.stdout, new RegExp(`^2 +${mac(40)} +db-a +10\\.77\\.0\\.40 +\\d+ +pending`, 'm'));

  const task = await lifeboat(['tasks', 'show', String(s.members[1]!.taskId), ...common]);
  assert.equal(task.exitCode, 0, task.stderr);
  assert.match(task.stdout, new RegExp(`^  clone +session ${s.id}, machine 2 \\(lifeboat clones show ${s.id}\\)$`, 'm'));
  assert.match(task.stdout, /^ {2}identity +db-a 10\.77\.0\.40$/m);

  const count = await lifeboat(['clone', 'golden', '--count', '3', '--hostname', 'lab-{n}', ...common]);
  assert.equal(count.exitCode, 0, count.stderr);
  assert.match(count.stdout, /clone session \d+ created: golden@\S+ onto the next 3 machines that network-boot with no task/);

  const refusals: Array<[string[], number, RegExp]> = [
    [['clone', 'golden', '--hosts', mac(40), ...common], 4, /52:54:00:00:0d:28 already has open task/],
    [['clone', 'golden', '--hosts', mac(50), '--count', '1', ...common], 2, /--hosts or --count, not both/],
    [['clone', 'golden', ...common], 2, /give --hosts MAC,MAC,…/],
    [['clone', 'golden', '--count', 'many', ...common], 2, /--count many: give a whole number/],
    [['clone', 'golden', '--count', '2', '--hostname', 'same', ...common], 2, /would both get hostname same/],
    [['clone', 'golden', '--count', '1', '--identity', join(world.dir, 'missing.json'), ...common], 2, /--identity .*missing\.json: no such file/],
    [['clone', 'golden', '--count', '1', '--multicast', 'maybe', ...common], 2, /--multicast maybe: use auto, on or off/],
    // This server was started without --interface: it has nowhere to send multicast.
    [['clone', 'golden', '--count', '1', '--multicast', 'on', ...common], 2, /--multicast on needs the server's test-bed interface \(lifeboat serve --interface IFACE\)/],
    [['clones', 'show', 'x', ...common], 2, /"x" is not a clone session id/],
  ];
  for (const [argv, code, message] of refusals) {
    const r = await lifeboat(argv);
    assert.match(r.stderr, message, argv.join(' '));
    assert.equal(r.exitCode, code, `${argv.join(' ')}: ${r.stderr}`);
  }

  const cancel = await lifeboat(['clones', 'cancel', String(s.id), ...common]);
  assert.equal(cancel.exitCode, 0, cancel.stderr);
  assert.match(cancel.stdout, new RegExp(`clone session ${s.id} cancelled`));
  const again = await lifeboat(['clones', 'cancel', String(s.id), ...common]);
  assert.equal(again.exitCode, 4);
  assert.match(again.stderr, new RegExp(`clone session ${s.id} is already cancelled`));
  const json = JSON.parse((await lifeboat(['clones', 'show', String(s.id), '--json', ...common])).stdout) as Session;
  assert.equal(json.state, 'cancelled');
});

test('a --count session restores each claimed machine with its own identity (the agent here, onto loop devices), and ends done', async (t) => {
  const world = await makeWorld(t, 'lb-clone-nuke');
  const fixture = await buildFixtureDisk({ dir: world.dir, firmware: 'bios', table: 'gpt', name: 'fixture-bios-gpt' });
  const server = await startLocalServer(world);
  const r = await lifeboat(['archive', '--store', server.store, '--image', 'golden', '--disk', fixture.path]);
  assert.equal(r.exitCode, 0, r.stderr);
  const created = await server.api<Session>('POST', '/api/v1/clones', { image: 'golden', count: 2, hostname: 'lab-{n:02}' });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const rootPart = fixture.partitions.find((p) => p.role === 'root')!.number;
  const machineIds: string[] = [];
  for (const [i, m] of [mac(60), mac(61)].entries()) {
    // The machine boots: its script claims it and carries its task and token, as iPXE would read them.
    const script = await boot(server, m);
    const id = Number(/lifeboat\.task=(\d+)/.exec(script)?.[1]);
    const token = /lifeboat\.token=(\S+)/.exec(script)?.[1];
    assert.ok(id && token, script);
    const dev = await attachLoop(world, await sparseFile(join(world.dir, `clone-${i}.img`), 1536 << 20), { partitions: true });
    const agent = await runAgent({ server: server.url, task: id, token, disks: [dev], targetRoot: join(world.dir, `target-${i}`) });
    assert.equal(agent.exitCode, 0, agent.output);
    const task = (await server.api<Task & { result: { identity?: { machineId: string } }; error: string | null }>('GET', `/api/v1/tasks/${id}`)).body;
    assert.equal(task.state, 'done', `${task.error}\n${agent.output}`);
    const root = await mountWhenReleased(world, `${dev}p${rootPart}`, join(world.dir, `root-${i}`));
    assert.equal(await readFile(join(root, 'etc/hostname'), 'utf8'), `lab-0${i + 1}\n`);
    machineIds.push((await readFile(join(root, 'etc/machine-id'), 'utf8')).trim());
    assert.equal(machineIds[i], task.result.identity?.machineId);
  }
  assert.notEqual(machineIds[0], machineIds[1], 'each clone has its own machine-id');
  const done = (await server.api<Session>('GET', `/api/v1/clones/${created.body.id}`)).body;
  assert.equal(done.state, 'done', done.stateReason ?? '');
  assert.deepEqual(done.members.map((m) => [m.mac, m.taskState]), [[mac(60), 'done'], [mac(61), 'done']]);
  const kinds = (await server.api<Array<{ kind: string }>>('GET', '/api/v1/events?limit=1000')).body.map((e) => e.kind).filter((k) => k.startsWith('clone.'));
  assert.deepEqual(kinds, ['clone.created', 'clone.joined', 'clone.started', 'clone.joined', 'clone.started', 'clone.done']);
});

test('over real DHCP (full mode): a --count 1 session claims the first PXE DISCOVER, which is offered the rescue boot file; a non-PXE client and a later PXE machine are not claimed; addresses outside the test-bed network are refused', async (t) => {
  const link = await serverClientLink(t, 'lb-clone-dhcp', { address: '10.75.0.1/24' });
  const { world, s, c, cIf } = link;
  const store = join(world.dir, 'store');
  const src = await scratchFilesystem(world, 'src', 'ext4', 64 << 20);
  const archived = await lifeboat(['archive', '--store', store, '--image', 'golden', '--root', src.mountpoint]);
  assert.equal(archived.exitCode, 0, archived.stderr);
  const { dataDir } = await serveFullDhcp(link, ['--range', '10.75.0.100-10.75.0.199', '--store', store]);
  const token = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
  const call = async <T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> => {
    const args = ['-sS', '--max-time', '10', '-o', '-', '-w', '\n%{http_code}', '-X', method, '-H', `authorization: Bearer ${token}`, ...(body ? ['-H', 'content-type: application/json', '--data', JSON.stringify(body)] : []), `http://10.75.0.1:8080${path}`];
    const r = await runInNamespace(s, 'curl', args);
    assert.equal(r.exitCode, 0, r.stderr);
    const [text, status] = [String(r.stdout).slice(0, String(r.stdout).lastIndexOf('\n')), String(r.stdout).slice(String(r.stdout).lastIndexOf('\n') + 1)];
    return { status: Number(status), body: JSON.parse(text) as T };
  };

  const outside = await call<Refusal>('POST', '/api/v1/clones', { image: 'golden', count: 2, ipv4: '10.76.0.{n}' });
  assert.equal(outside.status, 400);
  assert.match(outside.body.error.message, /machine 1: address 10\.76\.0\.1 is outside the test-bed network 10\.75\.0\.0\/24/);
  const created = await call<Session>('POST', '/api/v1/clones', { image: 'golden', count: 1, hostname: 'lab-{n:02}', ipv4: '10.75.0.{n+10}' });
  assert.equal(created.status, 201, JSON.stringify(created.body));

  const [plain, first, late] = [mac(70), mac(71), mac(72)];
  const discover = (m: string, i: number, pxe: boolean) => ({
    to: '255.255.255.255',
    port: 67,
    hex: encodePacket({ op: BOOTREQUEST, xid: 0x7500 + i, flags: 0x8000, chaddr: macToBytes(m), options: [[Option.MESSAGE_TYPE, encode.u8(MessageType.DISCOVER)], ...(pxe ? ([[Option.VENDOR_CLASS, encode.text('PXEClient:Arch:00000:UNDI:002001')], [Option.CLIENT_ARCH, Buffer.from([0, 0])]] as Array<[number, Buffer]>) : [])] }).toString('hex'),
  });
  // In the order they boot: a running system's DHCP (no PXE), then two PXE machines.
  const replies = await rawExchange(world, c, { interface: cIf, bindPort: 68, listenMs: 2000, gapMs: 300, sends: [discover(plain, 0, false), discover(first, 1, true), discover(late, 2, true)] });
  const offer = (m: string) => replies.find((r) => r.type === 'OFFER' && r.mac === m);
  assert.equal(offer(first)?.file, 'undionly.kpxe', 'the claimed machine is sent to iPXE and the rescue system on this boot');
  assert.notEqual(offer(late)?.file, 'undionly.kpxe', 'the machine after the session is full boots its disk');
  assert.ok(offer(late), 'and is answered all the same');

  const shown = (await call<Session>('GET', `/api/v1/clones/${created.body.id}`)).body;
  assert.deepEqual(shown.members.map((m) => [m.n, m.mac, m.identity]), [[1, first, { hostname: 'lab-01', ipv4: '10.75.0.11' }]]);
  assert.equal(shown.state, 'pending');
  const tasks = (await call<Task[]>('GET', '/api/v1/tasks')).body;
  assert.deepEqual(tasks.map((x) => x.mac), [first], 'only the claimed machine has a task');
});
