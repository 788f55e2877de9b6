import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { execa } from 'execa';
import { makeWorld, sh, type World } from '../support/world.js';
import { createNamespace, runInNamespace, waitFor } from '../support/netns.js';
import { placeholderRescueSystem } from '../support/local-server.js';
import { lifeboat } from '../support/cli.js';

// docker/Dockerfile built with Debian's podman and started once, as a user would run it. No
// registry is reachable here, so `node:20-bookworm` is stood in for by what it is: Debian 12
// (debootstrap from the Debian mirror, with the compiler and CA certificates that image carries)
// and this machine's Node 20 with its headers (better-sqlite3 compiles against them) and its
// certificate bundle (npm ci reaches the registry through this network's TLS proxy). The stand-in
// and the Dockerfile's layers are kept between runs, so only what changed is rebuilt.
//
// This machine lacks CAP_SYS_RESOURCE, so OCI runtimes cannot raise rlimits and crun refuses its
// hybrid cgroups: RUN steps use --isolation chroot, and the container runs under runc with limits
// below the machine's own. The container joins a namespace of this test's (its ports are nobody
// else's) and starts with the Dockerfile's own CMD.

const REPO = fileURLToPath(new URL('../../..', import.meta.url));
const IMAGE = 'localhost/lifeboat:ci-test';
const RUNTIME = ['--runtime', 'runc'];
const LIMITS = ['--ulimit', 'nofile=16384:16384', '--ulimit', 'nproc=4096:4096'];

const podman = (args: string[]) => execa('podman', args, { reject: false, all: true });

/** The stand-in for node:20-bookworm, named by what went into it; built only when missing. */
async function baseImage(world: World): Promise<string> {
  const node = (await sh('node', ['-v'])).trim();
  const bundle = await readFile('/etc/ssl/certs/ca-certificates.crt');
  const tag = `localhost/lifeboat-base:bookworm-node${node.slice(1)}-${createHash('sha256').update(bundle).digest('hex').slice(0, 12)}`;
  if ((await podman(['image', 'exists', tag])).exitCode === 0) return tag;
  const rootfs = join(world.dir, 'rootfs');
  await sh('debootstrap', ['--variant=minbase', '--include=build-essential,python3,ca-certificates', 'bookworm', rootfs, 'http://deb.debian.org/debian']);
  await sh('bash', ['-c', `tar -C / -cf - usr/bin/node usr/bin/npm usr/bin/npx usr/include/node usr/lib/node_modules | tar -C ${rootfs} -xf -`]);
  await writeFile(join(rootfs, 'etc/ssl/certs/ca-certificates.crt'), bundle);
  await sh('mkdir', ['-p', join(rootfs, 'usr/etc')]);
  await writeFile(join(rootfs, 'usr/etc/npmrc'), 'cafile=/etc/ssl/certs/ca-certificates.crt\nnodedir=/usr\n');
  await sh('bash', ['-c', `rm -rf ${rootfs}/var/cache/apt/archives/*.deb && tar -C ${rootfs} -c . | podman import --change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' - ${tag}`]);
  return tag;
}

test('docker/Dockerfile builds with podman; the container starts with its CMD, answers /healthz and its HEALTHCHECK, writes its token into the volume and stops cleanly', async (t) => {
  const world = await makeWorld(t, 'lb-ctr');
  const base = await baseImage(world);
  const before = (await podman(['image', 'inspect', '--format', '{{.Id}}', IMAGE])).stdout.trim();
  const build = await podman(['build', '--isolation', 'chroot', '--network', 'host', '--format', 'docker', '--build-arg', `BASE=${base}`, '-f', 'docker/Dockerfile', '-t', IMAGE, REPO]);
  assert.equal(build.exitCode, 0, build.all.slice(-4000));
  const built = (await podman(['image', 'inspect', '--format', '{{.Id}}', IMAGE])).stdout.trim();
  if (before && before !== built) {
    // The last run's image and the layers only it used: dangling now, and this test's own.
    await podman(['rmi', before]);
    await podman(['image', 'prune', '-f']);
  }

  const [config] = JSON.parse((await podman(['image', 'inspect', IMAGE])).stdout) as Array<{ Healthcheck?: { Test: string[] }; Config: { Env: string[]; Cmd: string[]; ExposedPorts: Record<string, unknown>; Volumes: Record<string, unknown> } }>;
  assert.ok(config!.Config.Env.includes('LIFEBOAT_CONFIG=/etc/lifeboat/config.json'), config!.Config.Env.join(' '));
  assert.deepEqual(config!.Healthcheck?.Test, ['CMD', 'node', '/opt/lifeboat/docker/healthcheck.js']);
  assert.deepEqual(Object.keys(config!.Config.Volumes), ['/var/lib/lifeboat']);
  assert.ok('8080/tcp' in config!.Config.ExposedPorts && '69/udp' in config!.Config.ExposedPorts);
  const listed = await podman(['run', '--rm', ...RUNTIME, ...LIMITS, '--network', 'none', '--entrypoint', 'sh', IMAGE, '-c', 'ls /opt/lifeboat; test ! -e /opt/lifeboat/.git && test -f /opt/lifeboat/dist/cli/main.js && lifeboat --version']);
  assert.equal(listed.exitCode, 0, listed.all);
  assert.doesNotMatch(listed.stdout, /^\.cache$/m, 'the host\'s .cache stays out of the build context');

  // The volume holds a rescue system already, so the CMD's `netboot build --if-missing` passes on
  // (the build itself is npm-start's test); the configuration is the compose file's, on loopback.
  const volume = join(world.dir, 'volume');
  await placeholderRescueSystem(join(volume, 'netboot', 'rescue'));
  const configFile = join(world.dir, 'config.json');
  await writeFile(configFile, JSON.stringify({ data: '/var/lib/lifeboat', http: '127.0.0.1:8080', tftp: '127.0.0.1:69', dhcp: { mode: 'off' }, nfs: { mode: 'off' } }));
  const ns = await createNamespace(world, 'k');
  const name = `lb-ctr-${world.id}`;
  world.defer(() => podman(['rm', '-f', '-t', '0', name]));
  const run = await podman(['run', '-d', '--name', name, ...RUNTIME, ...LIMITS, '--network', `ns:/run/netns/${ns}`, '-v', `${volume}:/var/lib/lifeboat`, '-v', `${configFile}:/etc/lifeboat/config.json:ro`, IMAGE]);
  assert.equal(run.exitCode, 0, run.all);
  const healthz = await waitFor('the container to serve /healthz', async () => {
    const r = await runInNamespace(ns, 'curl', ['-s', '--max-time', '2', 'http://127.0.0.1:8080/healthz']);
    return r.exitCode === 0 && String(r.stdout).includes('"ok"') ? String(r.stdout) : undefined;
  }, 60_000).catch(async (e: Error) => assert.fail(`${e.message}\n${(await podman(['logs', name])).all}`));
  assert.match(healthz, /"status":"ok"/);
  const health = await podman(['healthcheck', 'run', name]);
  assert.equal(health.exitCode, 0, `HEALTHCHECK: ${health.all}`);
  const logs = (await podman(['logs', name])).all;
  assert.match(logs, /rescue system present in \/var\/lib\/lifeboat\/netboot\/rescue: not rebuilt/, logs);
  // iPXE from Debian's package, served over TFTP from the image.
  const ipxe = await runInNamespace(ns, 'curl', ['-s', '--max-time', '10', '-o', join(world.dir, 'undionly.kpxe'), 'tftp://127.0.0.1/undionly.kpxe']);
  assert.equal(ipxe.exitCode, 0, String(ipxe.stderr));
  assert.ok((await readFile(join(world.dir, 'undionly.kpxe'))).length > 10_000);

  // The admin token the first start wrote into the volume opens the API to the host's CLI.
  const hosts = await runInNamespace(ns, process.execPath, [join(REPO, 'bin/lifeboat.js'), 'hosts', 'list', '--json', '--server', 'http://127.0.0.1:8080', '--data', volume]);
  assert.equal(hosts.exitCode, 0, String(hosts.stderr));
  assert.equal(String(hosts.stdout).trim(), '[]');
  assert.equal((await lifeboat(['hosts', 'list', '--server', 'http://127.0.0.1:1', '--data', volume])).exitCode, 10, 'and only that server');

  const stop = await podman(['stop', '-t', '20', name]);
  assert.equal(stop.exitCode, 0, stop.all);
  const state = JSON.parse((await podman(['inspect', '--format', '{{json .State}}', name])).stdout) as { ExitCode: number };
  assert.equal(state.ExitCode, 0, `lifeboat serve ends cleanly on SIGTERM:\n${(await podman(['logs', name])).all.slice(-2000)}`);
});
