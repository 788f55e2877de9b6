import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { mkdir } from 'node:fs/promises';
import { makeWorld } from '../support/world.js';
import { buildRichTree } from '../support/tree-fixture.js';
import { snapshotTree, diffSnapshots } from '../support/tree-snapshot.js';
import { createTarArchive } from '../../images/archive/tar-stream.js';
import { fileVolumes, readArchive } from '../../images/archive/tar-read.js';
import type { ArchiveEntry } from '../../images/store/manifest.js';

test('a verified one-volume archive is read by tar from its file, with the same result as the streamed path', async (t) => {
  const world = await makeWorld(t, 'lb-tarread');
  const src = join(world.dir, 'src');
  await mkdir(src);
  await buildRichTree(src, { largeBytes: 4 << 20 });
  const made = await createTarArchive({ directory: src, excludes: [], compression: { kind: 'zstd', level: 3 }, output: { dir: world.dir, baseName: 'root.tar.zst', volumeSize: null }, live: false });
  const entry: ArchiveEntry = { id: 'root', mountpoint: '/', device: '/dev/x', fstype: 'ext4', format: 'gnu-tar-posix', compression: { kind: 'zstd', level: 3 }, tarBytes: made.tarBytes, usedBytes: 0, excludes: [], volumes: made.volumes, warnings: [] };
  const source = fileVolumes(world.dir);
  const expected = await snapshotTree(src);

  for (const verified of [true, false]) {
    const target = join(world.dir, `out-${verified}`);
    await mkdir(target);
    const progress: number[] = [];
    const r = await readArchive(source, entry, { mode: 'extract', target, verified, onProgress: (b) => progress.push(b) });
    assert.equal(r.streamError, null);
    assert.deepEqual(r.damaged, []);
    assert.deepEqual(diffSnapshots(expected, await snapshotTree(target)), [], `verified=${verified}`);
    assert.equal(progress.at(-1), entry.volumes[0]!.bytes, 'progress ends at the volume size');
  }
  // A verified read of a damaged file still fails: tar and zstd see it, and the error says so.
  const broken = { ...entry, volumes: [{ ...entry.volumes[0]!, path: 'missing.tar.zst' }] };
  const r = await readArchive(source, broken, { mode: 'extract', target: join(world.dir, 'out-true'), verified: true });
  assert.match(r.streamError?.message ?? '', /missing\.tar\.zst/);
});
