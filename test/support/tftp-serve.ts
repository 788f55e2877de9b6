import type { TestContext } from 'node:test';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { makeWorld, type World } from './world.js';
import { startTftpServer, type TftpServerOptions } from '../../server/tftp/tftp-server.js';

/** One log line of the server, as JSON. */
export type LogLine = Record<string, unknown>;

/**
 * A real TFTP server on a free loopback port for one test, stopped after it; its log lines are
 * collected as JSON, and every request the wiring hears of (onRequest) is recorded in order.
 */
export async function serveTftp(t: TestContext, root: string, extra: Partial<TftpServerOptions> = {}, level: 'debug' | 'info' = 'debug') {
  const lines: LogLine[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line) as LogLine);
      done();
    },
  });
  const requests: Array<{ remoteAddress: string; file: string }> = [];
  const server = await startTftpServer({
    root,
    host: '127.0.0.1',
    port: 0,
    logger: pino({ level }, sink),
    onRequest: (r) => void requests.push({ remoteAddress: r.remoteAddress, file: r.file }),
    ...extra,
  });
  t.after(() => server.close());
  return { server, port: server.address.port, lines, requests };
}

/** A world for the test and, in it, the TFTP root `root` holding `files` (name → bytes). */
export async function tftpRoot(t: TestContext, files: Record<string, Buffer | string>, prefix = 'lb-tftp'): Promise<{ world: World; root: string }> {
  const world = await makeWorld(t, prefix);
  const root = join(world.dir, 'root');
  await mkdir(root);
  for (const [name, bytes] of Object.entries(files)) await writeFile(join(root, name), bytes);
  return { world, root };
}
