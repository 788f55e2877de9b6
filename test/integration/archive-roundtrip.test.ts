import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readdir } from 'node:fs/promises';
import { makeWorld, sh } from '../support/world.js';
import { scratchFilesystem, type FsType } from '../support/loop-devices.js';
import { buildRichTree } from '../support/tree-fixture.js';
import { snapshotTree, diffSnapshots } from '../support/tree-snapshot.js';
import { lifeboat, jsonLines } from '../support/cli.js';

// Round trip: a tree with every kind of file → lifeboat archive → the README's restore by hand
// (cat | zstd -d | tar -x, no Lifeboat involved) → every byte and attribute identical.
for (const fstype of ['ext4', 'xfs', 'btrfs'] as FsType[]) {
  test(`archive and restore by hand keep everything on ${fstype}`, async (t) => {
    const world = await makeWorld(t, 'lb-rt');
    const size = 700 * 1024 * 1024;
    const src = await scratchFilesystem(world, `src-${fstype}`, fstype, size);
    await buildRichTree(src.mountpoint);
    const store = join(world.dir, 'store');

    const r = await lifeboat(['archive', '--store', store, '--image', `rt-${fstype}`, '--root', src.mountpoint, '--json']);
    assert.equal(r.exitCode, 0, r.stderr);
    const events = jsonLines(r.stdout);
    const published = events.find((e) => e.type === 'published');
    assert.ok(published, `no published event in ${r.stdout}`);
    const versionDir = String(published.dir);
    assert.ok(events.some((e) => e.type === 'progress' || e.type === 'filesystem'), 'progress was reported');

    const data = await readdir(join(versionDir, 'data'));
    assert.deepEqual(data, ['root.tar.zst']);
    // Checksums can be checked with coreutils alone.
    await sh('sha256sum', ['-c', '--quiet', 'SHA256SUMS'], { cwd: versionDir });

    const dst = await scratchFilesystem(world, `dst-${fstype}`, fstype, size);
    // The exact line the README gives for restoring by hand.
    await sh('bash', ['-o', 'pipefail', '-c', `cat ${versionDir}/data/root.tar.zst* | zstd -d | tar -x -f - -C ${dst.mountpoint} --numeric-owner --xattrs --xattrs-include='*' --acls --selinux -p --same-owner`]);

    const before = await snapshotTree(src.mountpoint);
    const after = await snapshotTree(dst.mountpoint);
    assert.ok(before.size > 40, `the fixture tree has ${before.size} entries`);
    assert.deepEqual(diffSnapshots(before, after), []);
    // The facts the comparison rests on are really there.
    assert.match(before.get('capable')!.xattrs['security.capability'] ?? '', /^0x/);
    assert.ok(before.get('acl-file')!.xattrs['system.posix_acl_access']);
    assert.equal(before.get('sub/hard-c')!.hardlinkGroup, 'hard-a');
    assert.ok(before.get('sparse.img')!.allocatedBytes! < 16 << 20, 'the source sparse file is sparse');
  });
}
