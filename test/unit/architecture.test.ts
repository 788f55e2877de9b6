import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import madge from 'madge';

/**
 * The layers of DESIGN.md, read off the compiled modules by madge: imports point one way,
 * cli → server → netboot → images → core, and no module reaches itself through others.
 */
const LAYERS = ['core', 'images', 'netboot', 'server', 'cli'];
const dist = fileURLToPath(new URL('../../', import.meta.url));

test('no import cycle, and no import from a lower layer up to a higher one', async () => {
  const graph = await madge(LAYERS.map((l) => `${dist}${l}`), { fileExtensions: ['js'], baseDir: dist });
  assert.ok(Object.keys(graph.obj()).length > 100, 'madge found the modules');
  assert.deepEqual(graph.circular(), []);
  const upward: string[] = [];
  for (const [file, deps] of Object.entries(graph.obj())) {
    const layer = LAYERS.indexOf(file.split('/')[0]!);
    for (const d of deps) if (LAYERS.indexOf(d.split('/')[0]!) > layer) upward.push(`${file} → ${d}`);
  }
  assert.deepEqual(upward, []);
});
