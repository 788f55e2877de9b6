import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { parseSize, formatBytes } from '../../core/sizes.js';
import { parseCompression, restoreByHandCommand } from '../../images/archive/tar-options.js';
import { renderSha256Sums, parseSha256Sums } from '../../images/store/checksums.js';
import { checkManifest } from '../../images/store/manifest.js';
import { compareVersions, formatVersion, checkImageName } from '../../images/store/image-store.js';
import { VolumeWriter } from '../../images/archive/volume-writer.js';
import { LifeboatError } from '../../core/errors.js';

test('sizes parse the way operators write them', () => {
  assert.equal(parseSize('4096'), 4096);
  assert.equal(parseSize('650M'), 650 * 1024 * 1024);
  assert.equal(parseSize('4GiB'), 4 * 1024 ** 3);
  assert.equal(parseSize('1.5G'), 1.5 * 1024 ** 3);
  assert.equal(parseSize('2GB'), 2e9);
  assert.throws(() => parseSize('lots'), /not a size/);
  assert.throws(() => parseSize('0'), /positive/);
  assert.equal(formatBytes(1536), '1.50 KiB');
});

test('compression choices and their errors', () => {
  assert.deepEqual(parseCompression('zstd'), { kind: 'zstd' });
  assert.deepEqual(parseCompression('zstd:19'), { kind: 'zstd', level: 19 });
  assert.deepEqual(parseCompression('gzip:1'), { kind: 'gzip', level: 1 });
  assert.deepEqual(parseCompression('none'), { kind: 'none' });
  assert.throws(() => parseCompression('zstd:30'), /outside/);
  assert.throws(() => parseCompression('xz'), /not one of/);
  assert.match(restoreByHandCommand({ kind: 'zstd' }, 'data/root.tar.zst*', '/mnt'), /^cat data\/root.tar.zst\* \| zstd -d \| tar -x .*--xattrs-include='\*'/);
});

test('SHA256SUMS round-trips in sha256sum -c format and rejects damage', () => {
  const text = renderSha256Sums([{ path: 'manifest.json', sha256: 'a'.repeat(64) }, { path: 'data/root.tar.zst', sha256: 'b'.repeat(64) }]);
  assert.equal(text, `${'b'.repeat(64)}  data/root.tar.zst\n${'a'.repeat(64)}  manifest.json\n`);
  assert.deepEqual([...parseSha256Sums(text, 'x')], [['data/root.tar.zst', 'b'.repeat(64)], ['manifest.json', 'a'.repeat(64)]]);
  assert.throws(() => parseSha256Sums('nonsense\n', 'SHA256SUMS'), /line 1/);
});

test('a manifest of another format or with a wrong field is refused with the reason', () => {
  assert.throws(() => checkManifest({ format: 'mondo/2' }, 'm.json'), (e: unknown) => e instanceof LifeboatError && e.code === 'LB_IMAGE_CORRUPT' && /not lifeboat-image\/1/.test(e.message));
  assert.throws(() => checkManifest({ format: 'lifeboat-image/1', image: 3 }, 'm.json'), /not a valid lifeboat-image\/1 manifest: /);
});

test('versions sort by time, then by same-second suffix', () => {
  assert.equal(formatVersion(new Date('2026-11-27T14:13:00.123Z')), '20261127T141300Z');
  const v = ['20261127T141300Z-10', '20261127T141300Z', '20261126T000000Z', '20261127T141300Z-2'];
  assert.deepEqual(v.sort(compareVersions), ['20261126T000000Z', '20261127T141300Z', '20261127T141300Z-2', '20261127T141300Z-10']);
  assert.throws(() => checkImageName('../etc'), /not allowed/);
  assert.throws(() => checkImageName('.incoming-x'), /not allowed/);
  assert.equal(checkImageName('web01.prod_2'), 'web01.prod_2');
});

test('the volume writer cuts a stream at exact sizes and hashes each volume', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'lb-vw-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const data = randomBytes(10_000);
  const w = new VolumeWriter(dir, 'fs.tar.zst', 4096);
  for (let i = 0; i < data.length; i += 777) w.write(data.subarray(i, i + 777));
  const volumes = w.finish();
  assert.deepEqual(volumes.map((v) => [v.path, v.bytes]), [['fs.tar.zst.000', 4096], ['fs.tar.zst.001', 4096], ['fs.tar.zst.002', 1808]]);
  const joined = Buffer.concat(await Promise.all(volumes.map((v) => readFile(join(dir, v.path)))));
  assert.ok(joined.equals(data));
  for (const v of volumes) assert.equal(v.sha256, createHash('sha256').update(await readFile(join(dir, v.path))).digest('hex'));

  const single = new VolumeWriter(dir, 'one.tar', null);
  single.write(data);
  assert.deepEqual(single.finish().map((v) => [v.path, v.bytes]), [['one.tar', 10_000]]);
  const empty = new VolumeWriter(dir, 'empty.tar.zst', 4096);
  assert.deepEqual(empty.finish().map((v) => [v.path, v.bytes]), [['empty.tar.zst.000', 0]]);
});
