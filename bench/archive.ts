/**
 * bench/archive: `lifeboat archive` (one file, and cut into volumes) against the raw
 * `tar | zstd -T0` pipeline on the same tree,
 * and Lifeboat's extraction (hash-checked streaming into tar) against raw `zstd -d | tar -x`,
 * alternating runs, median of N. Run: node dist/bench/archive.js [--runs 5] [--mb 600]
 */
import { mkdir, mkdtemp, readdir, rm, writeFile, readFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { execa } from 'execa';
import { archiveImage } from '../images/archive/archive-image.js';
import { readArchive } from '../images/archive/tar-read.js';
import { TAR_CREATE_OPTIONS } from '../images/archive/tar-options.js';
import type { Manifest } from '../images/store/manifest.js';
import { median, machineLine, timed, writeBenchSection } from './report.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' }, mb: { type: 'string', default: '600' } } });
const runs = Number(values.runs);
const targetMb = Number(values.mb);

async function sh(cmd: string): Promise<string> {
  return (await execa('bash', ['-o', 'pipefail', '-c', cmd])).stdout;
}

async function main(): Promise<void> {
  const loadStart = loadavg()[0]!;
  const work = await mkdtemp(join(tmpdir(), 'lb-bench-archive-'));
  const loops: string[] = [];
  const mounts: string[] = [];
  try {
    const mkfs = async (name: string, mb: number) => {
      const file = join(work, `${name}.img`);
      await sh(`truncate -s ${mb}M ${file}`);
      const dev = (await sh(`losetup --find --show ${file}`)).trim();
      loops.push(dev);
      await sh(`mkfs.ext4 -q -F ${dev}`);
      const mnt = join(work, name);
      await mkdir(mnt);
      await sh(`mount ${dev} ${mnt}`);
      mounts.push(mnt);
      return mnt;
    };
    const src = await mkfs('src', targetMb * 2 + 400);
    // Many small files (system libraries and docs) plus some incompressible data.
    for (const d of ['/usr/lib/python3', '/usr/share/doc', '/usr/share/locale', '/usr/include', '/usr/share/perl', '/usr/lib/x86_64-linux-gnu/perl']) {
      await sh(`[ -d ${d} ] && cp -a --parents ${d} ${src} || true`);
    }
    let mb = Number((await sh(`du -sm ${src}`)).split('\t')[0]);
    await mkdir(join(src, 'random'));
    for (let i = 0; mb < targetMb; i++, mb += 4) await writeFile(join(src, 'random', `r${i}`), randomBytes(4 << 20));
    const files = Number(await sh(`find ${src} | wc -l`));
    const bytes = Number((await sh(`du -sb ${src}`)).split('\t')[0]);

    const out = await mkfs('out', targetMb * 2 + 400);
    const store = join(out, 'store');
    const storeSplit = join(out, 'store-volumes');
    const ours: number[] = [];
    const oursSplit: number[] = [];
    const raw: number[] = [];
    const rawSynced: number[] = [];
    const oursX: number[] = [];
    const oursStreamX: number[] = [];
    const rawX: number[] = [];
    const rawPipeline = `tar -c -f - -C ${src} ${TAR_CREATE_OPTIONS.map((o) => `'${o}'`).join(' ')} . | zstd -T0 -3 -q > ${out}/raw.tar.zst`;
    for (let i = 0; i < runs; i++) {
      // Alternate which side goes first, so a change in the machine's load does not favour one.
      const sides: Array<[number[], () => Promise<unknown>]> = [
        [ours, async () => {
          await rm(store, { recursive: true, force: true });
          await sh('sync');
          return timed(() => archiveImage({ store, image: 'bench', root: src, compression: { kind: 'zstd', level: 3 } }));
        }],
        // The same cut into 64 MiB volumes (tar | zstd | split), in a store of its own removed after,
        // since the extract runs below read the one-file version.
        [oursSplit, async () => {
          await sh('sync');
          const seconds = await timed(() => archiveImage({ store: storeSplit, image: 'bench', root: src, compression: { kind: 'zstd', level: 3 }, volumeSize: 64 << 20 }));
          await rm(storeSplit, { recursive: true, force: true });
          return seconds;
        }],
        [raw, async () => {
          await sh('sync');
          return timed(() => sh(rawPipeline));
        }],
        // The same pipeline made as durable as Lifeboat's archive, which fsyncs every volume.
        [rawSynced, async () => {
          await sh('sync');
          return timed(() => sh(`${rawPipeline} && sync ${out}/raw.tar.zst`));
        }],
      ];
      for (const [list, run] of i % 2 ? sides.reverse() : sides) list.push((await run()) as number);

      const versionDir = join(store, 'bench', (await readdir(join(store, 'bench'))).find((n) => /^\d/.test(n))!);
      const manifest = JSON.parse(await readFile(join(versionDir, 'manifest.json'), 'utf8')) as Manifest;
      const extractors = [
        // What a restore runs: volumes verified first, then tar reads the volume itself.
        [oursX, (t: string) => readArchive(versionDir, manifest.archives[0]!, { mode: 'extract', target: t, verified: true })],
        // What a reader without a verify pass runs: node streams and hashes the volume into tar.
        [oursStreamX, (t: string) => readArchive(versionDir, manifest.archives[0]!, { mode: 'extract', target: t })],
        [rawX, (t: string) => sh(`zstd -d -q < ${out}/raw.tar.zst | tar -x -f - -C ${t} --numeric-owner --xattrs --xattrs-include='*' --acls --selinux -p`)],
      ] as const;
      for (const [list, fn] of i % 2 ? [...extractors].reverse() : extractors) {
        const t = join(out, 'x');
        await rm(t, { recursive: true, force: true });
        await mkdir(t);
        await sh('sync');
        list.push(await timed(() => fn(t)));
      }
      await rm(join(out, 'x'), { recursive: true, force: true });
      process.stderr.write(`run ${i + 1}: archive ${ours.at(-1)!.toFixed(2)} s (volumes ${oursSplit.at(-1)!.toFixed(2)} s) vs raw ${raw.at(-1)!.toFixed(2)} s (synced ${rawSynced.at(-1)!.toFixed(2)} s); extract ${oursX.at(-1)!.toFixed(2)} s (streamed ${oursStreamX.at(-1)!.toFixed(2)} s) vs raw ${rawX.at(-1)!.toFixed(2)} s\n`);
    }
    const result = {
      tree: { bytes, files },
      archive: {
        lifeboat: median(ours), raw: median(raw), ratio: median(raw) / median(ours), rawSynced: median(rawSynced), ratioSynced: median(rawSynced) / median(ours),
        volumes: median(oursSplit), ratioVolumes: median(rawSynced) / median(oursSplit),
      },
      extract: { lifeboat: median(oursX), raw: median(rawX), ratio: median(rawX) / median(oursX), streamed: median(oursStreamX), ratioStreamed: median(rawX) / median(oursStreamX) },
      load: { start: loadStart, end: loadavg()[0]! },
    };
    console.log(JSON.stringify(result));
    await writeBenchSection('archive', `## Archive and extract (bench/archive.ts)

${new Date().toISOString().slice(0, 10)} — ${machineLine()}. Tree: ${(bytes / 2 ** 20).toFixed(0)} MiB in ${files} files (system libraries and docs plus random data) on ext4 over a loop device, written to another. Median of ${runs} alternating runs.

| work | Lifeboat | peer | peer command | ratio (peer time / Lifeboat time) | target |
| --- | --- | --- | --- | --- | --- |
| archive | ${result.archive.lifeboat.toFixed(2)} s (\`lifeboat archive\`: probe beside the first tar, tar \\| zstd into the volume file, sha256 following the file, fsync, manifest, SHA256SUMS) | ${result.archive.raw.toFixed(2)} s | \`tar -c (same flags) \\| zstd -T0 -3 > file\` | **${result.archive.ratio.toFixed(2)}×** | ≥ 0.95× |
| archive, equally durable | same | ${result.archive.rawSynced.toFixed(2)} s | the same, then \`sync file\` (Lifeboat fsyncs every volume before it publishes) | **${result.archive.ratioSynced.toFixed(2)}×** | ≥ 0.95× |
| archive in 64 MiB volumes | ${result.archive.volumes.toFixed(2)} s (the same with \`--volume-size 64M\`: tar \\| zstd \\| split) | ${result.archive.rawSynced.toFixed(2)} s | the durable one-file pipeline above | ${result.archive.ratioVolumes.toFixed(2)}× | — |
| extract (restore) | ${result.extract.lifeboat.toFixed(2)} s (volumes verified beforehand; tar reads the volume itself) | ${result.extract.raw.toFixed(2)} s | \`zstd -d \\| tar -x\` | **${result.extract.ratio.toFixed(2)}×** | ≥ 0.95× |
| extract, streamed | ${result.extract.streamed.toFixed(2)} s (node reads, hashes and pipes the volume into tar) | ${result.extract.raw.toFixed(2)} s | \`zstd -d \\| tar -x\` | ${result.extract.ratioStreamed.toFixed(2)}× | — |

1-minute load average ${result.load.start.toFixed(2)} at the start, ${result.load.end.toFixed(2)} at the end (2 cores shared with other work); the sides alternate order run by run.

The archive's data path: tar, zstd and (with \`--volume-size\`) split are separate processes, each handed the pipe
before it, the last writing the volume file itself; node never reads or writes the archive's bytes. Node follows each
volume a few MiB behind the writer and hashes it while it is still in the page cache (a 241 MiB archive: 0.18 s of
OpenSSL sha256 beside the compression, against 0.7–1.3 s for coreutils \`sha256sum\`, which has no SHA-NI, if run after),
starts each volume's writeback every 32 MiB and fsyncs it as soon as it is whole, and starts the first filesystem's
tar while the probe (0.1–0.4 s) still runs. Under the other engineers' load (1-minute load 4–8, 2026-12-04) the same
bench gave 0.86–1.07× against the durable pipeline, single runs differing by several seconds. Before (2026-11-27, 0.64×): tar -I zstd wrote into a pipe that node read, hashed and wrote into the volumes; that
stream cost 0.3–0.5 s over the raw pipeline, its fsync 0.3 s, and about 1 s more went to the node process's extra
CPU (pipe copies, context switches) that perf saw but that never showed on node's main thread.`);
  } finally {
    for (const m of mounts.reverse()) await execa('umount', [m], { reject: false });
    for (const l of loops) await execa('losetup', ['-d', l], { reject: false });
    await rm(work, { recursive: true, force: true });
  }
}

await main();
