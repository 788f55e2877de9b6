import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { World } from '../../test/support/world.js';
import { runInNamespace, startInNamespace, waitFor, type Background } from '../../test/support/netns.js';

/**
 * nginx as the peer HTTP server: in the foreground (`daemon off`), one worker, `sendfile on`, no
 * access log, serving `root` read-only on `listen`, with every path it writes (pid, temp dirs,
 * error log) under its own prefix in the world's directory. Runs as root so it reads what the
 * benchmark wrote without changing modes. Started with `ip netns exec` in the benchmark's own
 * namespace, so its port cannot clash with anything else on the machine.
 */
export async function startNginx(world: World, options: { root: string; listen: string; ns: string }): Promise<Background> {
  const prefix = join(world.dir, 'nginx');
  mkdirSync(join(prefix, 'logs'), { recursive: true });
  const conf = join(prefix, 'nginx.conf');
  writeFileSync(
    conf,
    [
      'daemon off;',
      'master_process on;',
      'worker_processes 1;',
      'user root root;',
      `pid ${join(prefix, 'nginx.pid')};`,
      `error_log ${join(prefix, 'logs', 'error.log')} warn;`,
      'events { worker_connections 1024; }',
      'http {',
      '  sendfile on;',
      '  tcp_nopush on;',
      '  access_log off;',
      '  keepalive_requests 1000000;',
      '  default_type application/octet-stream;',
      `  client_body_temp_path ${join(prefix, 'client-body')};`,
      `  proxy_temp_path ${join(prefix, 'proxy')};`,
      `  fastcgi_temp_path ${join(prefix, 'fastcgi')};`,
      `  uwsgi_temp_path ${join(prefix, 'uwsgi')};`,
      `  scgi_temp_path ${join(prefix, 'scgi')};`,
      `  server { listen ${options.listen}; root ${options.root}; }`,
      '}',
      '',
    ].join('\n'),
  );
  const log = join(world.dir, 'nginx.log');
  const args = ['-c', conf, '-p', prefix, '-e', join(prefix, 'logs', 'error.log')];
  const bg = startInNamespace(world, options.ns, 'nginx', args, log);
  await waitFor('nginx to listen', async () => {
    const code = await Promise.race([bg.exited, new Promise<'running'>((r) => setTimeout(() => r('running'), 10))]);
    if (code !== 'running') throw new Error(`nginx exited (${code}) before serving: ${bg.log()}`);
    const r = await runInNamespace(options.ns, 'curl', ['-s', '-o', '/dev/null', '--max-time', '1', `http://${options.listen}/`]);
    return r.exitCode === 0 ? true : undefined;
  }, 15_000);
  return bg;
}

