import assert from 'node:assert/strict';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { makeDirs, makeDirsSync } from '../../core/make-dirs.js';
import { describeFailure } from '../../cli/failure-line.js';

test('makeDirs makes every missing directory, again without complaint, and names a file in the way', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'lb-dirs-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  await makeDirs(join(root, 'a/b/c'));
  await makeDirs(join(root, 'a/b/c'));
  makeDirsSync(join(root, 'a/x/y'));
  assert.ok((await stat(join(root, 'a/b/c'))).isDirectory());
  assert.ok((await stat(join(root, 'a/x/y'))).isDirectory());
  await writeFile(join(root, 'file'), '');
  await assert.rejects(makeDirs(join(root, 'file/d')), { code: 'ENOTDIR' });
  assert.throws(() => makeDirsSync(join(root, 'file/d')), { code: 'ENOTDIR' });
});

// Node 20's recursive mkdir never returns for these (it retries /proc, which exists, then the child).
test('a directory under /proc is refused at once with one line, where recursive mkdir would spin forever', async () => {
  const refused = await makeDirs('/proc/lifeboat-no-such/x').then(() => null, (e: unknown) => e);
  assert.ok(refused, 'refused');
  assert.equal((refused as NodeJS.ErrnoException).code, 'ENOENT');
  assert.equal(describeFailure(refused).line, 'cannot mkdir /proc/lifeboat-no-such: no such file or directory: check the path');
  assert.throws(() => makeDirsSync('/proc/lifeboat-no-such/x'), { code: 'ENOENT' });
});
