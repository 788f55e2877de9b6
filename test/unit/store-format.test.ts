import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { parseSize, formatBytes } from '../../core/sizes.js';
import { parseCompression, restoreByHandCommand } from '../../images/archive/tar-options.js';
import { renderSha256Sums, parseSha256Sums } from '../../images/store/checksums.js';
import { checkManifest } from '../../images/store/manifest.js';
import { compareVersions, formatVersion, checkImageName } from '../../images/store/image-store.js';
import { VolumeHasher, volumeName } from '../../images/archive/volume-hasher.js';
import { refuses } from '../support/unit-kit.js';

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
  refuses(() => checkManifest({ format: 'mondo/2' }, 'm.json'), 'LB_IMAGE_CORRUPT', /not lifeboat-image\/1/);
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

/** Writes `data` as split would, in pieces, letting the hasher catch up between them. */
async function writeLikeSplit(dir: string, base: string, volumeSize: number | null, data: Buffer, hasher: VolumeHasher): Promise<void> {
  for (let i = 0; i < data.length; i += 777) {
    const piece = data.subarray(i, Math.min(i + 777, data.length));
    for (let off = 0; off < piece.length; ) {
      const at = i + off;
      const index = volumeSize === null ? 0 : Math.floor(at / volumeSize);
      const end = volumeSize === null ? piece.length : Math.min(piece.length, (index + 1) * volumeSize - i);
      await appendFile(join(dir, volumeName(base, volumeSize, index)), piece.subarray(off, end));
      off = end;
    }
    hasher.catchUp();
    if (i % (3 * 777) === 0) await new Promise((r) => setImmediate(r));
  }
}

test('the volume hasher follows volumes as they are written and hashes each whole one', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'lb-vh-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const data = randomBytes(10_000);
  const split = new VolumeHasher(dir, 'fs.tar.zst', 4096);
  await writeLikeSplit(dir, 'fs.tar.zst', 4096, data, split);
  const volumes = await split.finish();
  assert.deepEqual(volumes.map((v) => [v.path, v.bytes]), [['fs.tar.zst.000', 4096], ['fs.tar.zst.001', 4096], ['fs.tar.zst.002', 1808]]);
  const joined = Buffer.concat(await Promise.all(volumes.map((v) => readFile(join(dir, v.path)))));
  assert.ok(joined.equals(data));
  for (const v of volumes) {
    assert.equal(v.sha256, createHash('sha256').update(await readFile(join(dir, v.path))).digest('hex'));
    assert.equal((await stat(join(dir, v.path))).mode & 0o777, 0o600, `${v.path} is private`);
  }
  assert.equal(split.bytes, 10_000);

  // A stream that ends exactly at a volume boundary has no empty volume after it.
  const exact = new VolumeHasher(dir, 'exact.tar', 4096);
  await writeLikeSplit(dir, 'exact.tar', 4096, data.subarray(0, 8192), exact);
  assert.deepEqual((await exact.finish()).map((v) => [v.path, v.bytes]), [['exact.tar.000', 4096], ['exact.tar.001', 4096]]);

  const single = new VolumeHasher(dir, 'one.tar', null);
  await writeLikeSplit(dir, 'one.tar', null, data, single);
  const [one] = await single.finish();
  assert.deepEqual([one!.path, one!.bytes, one!.sha256], ['one.tar', 10_000, createHash('sha256').update(data).digest('hex')]);

  // No file at all is not an empty archive: tar always writes something, so a tool failed.
  await assert.rejects(new VolumeHasher(dir, 'never.tar.zst', 4096).finish(), /never\.tar\.zst\.000 was never written/);
});
