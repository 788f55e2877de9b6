import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { World } from '../../test/support/world.js';
import { LIFEBOAT_BIN } from '../../test/support/cli.js';
import { startInNamespace, waitFor, type Background } from '../../test/support/netns.js';

/**
 * `lifeboat serve` exactly as an operator starts it, inside a benchmark's namespace, with its
 * state and store in the world's directory. `args` adds or overrides flags (--http, --dhcp, …).
 * Resolves once the server logs that it serves; fails with its log if it exits first.
 */
export async function startLifeboatServe(world: World, ns: string, args: string[], name = 'lifeboat-serve'): Promise<Background & { dataDir: string }> {
  const dataDir = join(world.dir, `${name}-data`);
  mkdirSync(dataDir, { recursive: true });
  const bg = startInNamespace(world, ns, process.execPath, [LIFEBOAT_BIN, 'serve', '--data', dataDir, '--tftp', 'off', ...args], join(world.dir, `${name}.log`));
  await waitFor('lifeboat serve to answer', async () => {
    if (bg.log().includes('"lifeboat serving"')) return true;
    const code = await Promise.race([bg.exited, new Promise<'running'>((r) => setTimeout(() => r('running'), 10))]);
    if (code !== 'running') throw new Error(`lifeboat serve exited (${code}) before serving:\n${bg.log()}`);
    return undefined;
  }, 30_000);
  return { ...bg, dataDir };
}
