import { join } from 'node:path';
import { readFile } from 'node:fs/promises';
import { BACKUP_CLIENT_FILE, type BackupClientNote } from '../images/store/backup-note.js';
import { LifeboatError } from '../core/errors.js';
import { formatBytes } from '../core/sizes.js';
import { listImages, listVersions, loadVersion, resolveVersion, type VersionInfo } from '../images/store/image-store.js';
import { pruneStore } from '../images/retention/prune-store.js';
import { verifyVersion } from '../images/store/verify.js';
import { restoreByHandCommand } from '../images/archive/tar-options.js';
import { chainLayers } from '../images/archive/archive-chain.js';
import { readManifest, type Manifest } from '../images/store/manifest.js';
import { flag, stringOption, type CommandSpec, type Parsed } from './args.js';
import { parseSubcommand, type CommandGroup } from './command-group.js';
import { jsonOpt, keepOptions, storeOpt } from './common-options.js';
import { table } from './text-table.js';
import { checkRetentionPolicy, type RetentionPolicy } from '../images/retention/retention-plan.js';
import { createProgressSink } from './progress-display.js';
import { storeOption } from './store-option.js';


/** A subcommand that reads the store and takes one image argument. */
function storeCommand(sub: string, summary: string, argument: string, positionals: CommandSpec['positionals']): CommandSpec {
  return { name: `images ${sub}`, summary, usage: `lifeboat images ${sub} ${argument} --store DIR [--json]`, options: { store: storeOpt, json: jsonOpt }, positionals };
}

export const imagesSpecs: Record<string, CommandSpec> = {
  list: storeCommand('list', 'List the published versions of every image (or one image) with size and age.', '[NAME]', { min: 0, max: 1 }),
  show: storeCommand('show', 'Show one version readably: source machine, disks, filesystems, volumes, and how to restore by hand.', 'NAME[@VERSION]', { min: 1, max: 1 }),
  verify: {
    name: 'images verify',
    summary: 'Verify checksums, zstd integrity and tar listings; exits non-zero naming the exact broken file.',
    usage: 'lifeboat images verify NAME[@VERSION] | --all --store DIR [--json]',
    options: { store: storeOpt, all: { type: 'boolean', description: 'verify every version of every image' }, json: jsonOpt },
    positionals: { min: 0, max: 1 },
  },
  prune: {
    name: 'images prune',
    summary: 'Remove incomplete versions left by interrupted archives, and the versions retention rules do not keep.',
    usage: 'lifeboat images prune [NAME] --store DIR [--keep N] [--keep-daily N] [--keep-weekly N] [--keep-monthly N] [--dry-run] [--json]',
    description: [
      'Retention keeps the union of the rules, counted back from the newest version: --keep N the newest N;',
      '--keep-daily N the newest version of each of the last N days that have one; --keep-weekly N per ISO',
      'week; --keep-monthly N per month (UTC, as version names are). Whatever the rules say, the newest',
      'version that verifies (with the chain it builds on) is kept, and so is every version a kept',
      'incremental version builds on. Without rules, only incomplete versions are removed.',
    ].join('\n'),
    options: {
      store: storeOpt,
      ...keepOptions(' of each image'),
      'dry-run': { type: 'boolean', description: 'say what would be removed, remove nothing' },
      json: jsonOpt,
    },
    positionals: { min: 0, max: 1 },
  },
};

const imagesGroup: CommandGroup = { name: 'images', summary: 'Manage the image store.', specs: imagesSpecs };

function age(d: Date): string {
  const s = (Date.now() - d.getTime()) / 1000;
  if (s < 120) return `${Math.round(s)}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86400)}d`;
}

export async function runImages(argv: string[]): Promise<number> {
  const p = parseSubcommand(imagesGroup, argv);
  if (typeof p === 'number') return p;
  const { sub, spec } = p;
  const store = storeOption(p, spec);
  const json = flag(p, 'json');
  switch (sub) {
    case 'list':
      return listCommand(store, p.positionals[0], json);
    case 'show':
      return showCommand(store, p.positionals[0]!, json);
    case 'verify':
      return verifyCommand(store, p.positionals[0], flag(p, 'all'), json);
    default:
      return pruneCommand(store, p.positionals[0], retentionOptions(p), flag(p, 'dry-run'), json);
  }
}

/** The server's note on an image a backup client sends; null for every other image. */
async function backupNote(store: string, image: string): Promise<BackupClientNote | null> {
  try {
    return JSON.parse(await readFile(join(store, image, BACKUP_CLIENT_FILE), 'utf8')) as BackupClientNote;
  } catch {
    return null;
  }
}

async function listCommand(store: string, image: string | undefined, json: boolean): Promise<number> {
  const images = image ? [{ image, versions: await listVersions(store, image) }] : await listImages(store);
  const notes = new Map<string, BackupClientNote & { usedBytes: number }>();
  for (const i of images) {
    const note = await backupNote(store, i.image);
    if (note) notes.set(i.image, { ...note, usedBytes: i.versions.reduce((n, v) => n + v.bytes, 0) });
  }
  if (json) {
    const out = images.map((i) => ({
      image: i.image,
      versions: i.versions.map((v) => ({ version: v.version, bytes: v.bytes, createdAt: v.createdAt.toISOString(), dir: v.dir })),
      ...(notes.has(i.image) ? { backup: notes.get(i.image) } : {}),
    }));
    process.stdout.write(`${JSON.stringify(out)}\n`);
    return 0;
  }
  const rows = [['IMAGE', 'VERSION', 'SIZE', 'AGE']];
  for (const i of images) for (const v of i.versions) rows.push([i.image, v.version, formatBytes(v.bytes), age(v.createdAt)]);
  if (rows.length === 1) process.stdout.write(`no published image versions in ${store}\n`);
  else process.stdout.write(table(rows));
  for (const [image, note] of notes) {
    const quota = note.quotaBytes === null ? `${formatBytes(note.usedBytes)}, no quota` : `${formatBytes(note.usedBytes)} of its ${formatBytes(note.quotaBytes)} quota`;
    process.stdout.write(`${image}: sent by backup client ${note.client} (${note.address}), ${quota}\n`);
  }
  return 0;
}

export function renderManifest(m: Manifest, dir: string): string {
  const out: string[] = [];
  out.push(`${m.image}@${m.version}  (${m.format})`);
  out.push(`  created   ${m.createdAt} → ${m.completedAt} by lifeboat ${m.creator.version} on ${m.creator.hostname}`);
  out.push(`  source    ${m.source.mode}${m.source.root ? ` ${m.source.root}` : ''}${m.source.disks ? ` ${m.source.disks.join(', ')}` : ''}${m.source.path ? ` ${m.source.path} (a directory tree: restore its files with lifeboat restore; not nukeable)` : ''}`);
  const h = m.layout.host;
  out.push(`  host      ${h.hostname ?? '?'} — ${h.osRelease.PRETTY_NAME ?? 'unknown OS'}${h.kernel ? `, kernel ${h.kernel}` : ''}${h.arch ? `, ${h.arch}` : ''}`);
  out.push(`  boot      ${m.layout.bootloader.firmware}, ${m.layout.bootloader.kind}`);
  out.push('', 'Disks:');
  for (const d of m.layout.disks) {
    out.push(`  ${d.path}  ${formatBytes(d.size)}  ${d.table ? `${d.table.type} ${d.table.id}` : 'no partition table'}${d.model ? `  ${d.model}` : ''}`);
    for (const part of d.table?.partitions ?? []) {
      out.push(`    ${String(part.number).padStart(2)}  ${part.path.padEnd(16)} start ${String(part.start).padStart(10)}  ${formatBytes(part.size * d.table!.sectorSize).padStart(10)}  type ${part.type}${part.name ? `  "${part.name}"` : ''}`);
    }
  }
  out.push('', 'Filesystems:');
  const rows = [['MOUNT', 'TYPE', 'DEVICE', 'UUID', 'LABEL', 'USED', 'STORED', 'VOLUMES']];
  for (const a of m.archives) {
    const stored = a.volumes.reduce((s, v) => s + v.bytes, 0);
    rows.push([a.mountpoint || `(${a.subvolume ?? a.id})`, a.fstype, a.device, a.uuid ?? '-', a.label ?? '-', formatBytes(a.usedBytes), formatBytes(stored), String(a.volumes.length)]);
  }
  out.push(...table(rows).trimEnd().split('\n').map((l) => `  ${l}`));
  if (m.layout.swaps.length) out.push('', `Swap: ${m.layout.swaps.map((s) => `${s.device} ${formatBytes(s.size)}${s.uuid ? ` UUID=${s.uuid}` : ''}`).join(', ')}`);
  if (m.warnings.length) out.push('', `Warnings (${m.warnings.length}):`, ...m.warnings.slice(0, 20).map((w) => `  ${w}`));
  if (m.incremental) {
    out.push('', `Incremental: level ${m.incremental.level}${m.incremental.chain.length ? `, built on ${m.incremental.chain.join(' → ')}` : ' (a full version that starts a chain)'}; a new full every ${m.incremental.fullEvery} versions`);
  }
  const how = m.source.mode === 'path' ? 'the tree by hand (into an empty directory /mnt/target' : 'a filesystem by hand (mkfs it, mount it at /mnt/target, then';
  out.push('', `Restore ${how}${m.incremental?.chain.length ? ', oldest level first' : ''}):`);
  for (const a of m.archives) {
    // A btrfs subvolume goes into its own subvolume under the volume's top (mount -o subvolid=5).
    const into = a.subvolume ? `/mnt/target/${a.subvolume.replace(/^\/+/, '')}` : '/mnt/target';
    out.push(`  # ${a.mountpoint || '(not mounted on the source)'}${a.subvolume ? `: btrfs subvolume ${a.subvolume}` : ''}`);
    if (a.subvolume) out.push(`  btrfs subvolume create ${into}`);
    for (const layer of chainLayers(a)) {
      const vdir = layer.version ? join(dir, '..', layer.version) : dir;
      const glob = layer.volumes.length > 1 ? `${join(vdir, 'data', layer.volumes[0]!.path.split('/').pop()!.replace(/\.\d{3}$/, ''))}.*` : join(vdir, layer.volumes[0]!.path);
      out.push(`  ${restoreByHandCommand(layer.compression, glob, into, layer.incremental)}`);
    }
  }
  return `${out.join('\n')}\n`;
}

async function showCommand(store: string, ref: string, json: boolean): Promise<number> {
  const { info, manifest } = await loadVersion(store, ref);
  process.stdout.write(json ? `${JSON.stringify(manifest, null, 2)}\n` : renderManifest(manifest, info.dir));
  return 0;
}

async function verifyCommand(store: string, ref: string | undefined, all: boolean, json: boolean): Promise<number> {
  if (!ref && !all) throw new LifeboatError('LB_USAGE', `images verify: name an image (NAME[@VERSION]) or pass --all; usage: ${imagesSpecs.verify!.usage}`);
  const targets = all ? (await listImages(store)).flatMap((i) => i.versions) : await withChain(store, await resolveVersion(store, ref!));
  const sink = createProgressSink({ json });
  let failed = 0;
  const broken = new Set<string>();
  const chains = new Map<string, string[]>();
  for (const v of targets) {
    const report = await verifyVersion(v.dir, { onEvent: (e) => sink.event({ ...e, id: `${v.image}@${v.version}` }) });
    if (!report.ok) broken.add(`${v.image}@${v.version}`);
    if (report.manifest?.incremental?.chain.length) chains.set(`${v.image}@${v.version}`, report.manifest.incremental.chain.map((c) => `${v.image}@${c}`));
    sink.stop();
    if (json) {
      process.stdout.write(`${JSON.stringify({ type: 'verified', image: v.image, version: v.version, ok: report.ok, problems: report.problems, archives: report.archives })}\n`);
    } else if (report.ok) {
      process.stdout.write(`OK      ${v.image}@${v.version}  ${report.archives.map((a) => `${a.id}: ${a.members} entries`).join(', ')}\n`);
    } else {
      process.stdout.write(`BROKEN  ${v.image}@${v.version}\n`);
      for (const pr of report.problems) process.stdout.write(`  ${join(v.dir, pr.path)}: ${pr.problem}\n`);
    }
    if (!report.ok) failed++;
  }
  // An incremental version restores only with its whole chain: a damaged base breaks it too.
  for (const [version, chain] of chains) {
    const bad = chain.find((c) => broken.has(c));
    if (!bad || broken.has(version)) continue;
    failed++;
    if (json) process.stdout.write(`${JSON.stringify({ type: 'chain-broken', version, base: bad })}\n`);
    else process.stdout.write(`BROKEN  ${version} builds on ${bad}, which does not verify: it cannot be restored\n`);
  }
  if (targets.length === 0) process.stdout.write(`no published image versions in ${store}\n`);
  return failed > 0 ? 5 : 0;
}

/** A version and, when it is incremental, every version it builds on (oldest first), for verify. */
async function withChain(store: string, v: VersionInfo): Promise<VersionInfo[]> {
  const chain = (await readManifest(v.dir).catch(() => null))?.incremental?.chain ?? [];
  if (chain.length === 0) return [v];
  const versions = await listVersions(store, v.image);
  // A missing base is reported by the version's own verify (its chain links).
  return [...chain.flatMap((c) => versions.filter((x) => x.version === c)), v];
}

/** --keep, --keep-daily, --keep-weekly, --keep-monthly as numbers; shared with schedule. */
export function retentionOptions(p: Parsed): RetentionPolicy {
  const policy: RetentionPolicy = {};
  const names = [['keep', 'keepLast'], ['keep-daily', 'keepDaily'], ['keep-weekly', 'keepWeekly'], ['keep-monthly', 'keepMonthly']] as const;
  for (const [option, key] of names) {
    const text = stringOption(p, option);
    if (text === undefined) continue;
    if (!/^\d+$/.test(text)) throw new LifeboatError('LB_USAGE', `--${option} "${text}" is not a whole number`);
    policy[key] = Number(text);
  }
  return checkRetentionPolicy(policy);
}

async function pruneCommand(store: string, image: string | undefined, policy: RetentionPolicy, dryRun: boolean, json: boolean): Promise<number> {
  const kept: Array<{ image: string; version: string; reasons: string[] }> = [];
  const actions = await pruneStore(store, {
    ...(image ? { image } : {}),
    ...policy,
    dryRun,
    onPlan: (name, outcome) => {
      for (const d of outcome.decisions) if (d.keep) kept.push({ image: name, version: d.version, reasons: d.reasons });
    },
  });
  if (json) {
    process.stdout.write(`${JSON.stringify({ dryRun, removed: actions, kept })}\n`);
    return 0;
  }
  for (const k of kept.reverse()) process.stdout.write(`keep ${k.image}@${k.version}: ${k.reasons.join(', ')}\n`);
  if (actions.length === 0) process.stdout.write('nothing to prune\n');
  else for (const a of actions) process.stdout.write(`${dryRun ? 'would remove' : 'removed'} ${a.path}: ${a.reason}\n`);
  return 0;
}
