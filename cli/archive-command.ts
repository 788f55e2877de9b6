import { archiveImage, type ArchiveRequest } from '../images/archive/archive-image.js';
import { parseCompression } from '../images/archive/tar-options.js';
import { LifeboatError } from '../core/errors.js';
import { parseSize } from '../core/sizes.js';
import { flag, listOption, parseCommand, requiredString, stringOption, type CommandSpec, type Parsed } from './args.js';
import { parseOrHelp } from './command-group.js';
import { storeOpt } from './common-options.js';
import { untilInterrupted } from './interrupt.js';
import { createProgressSink } from './progress-display.js';
import { storeOption } from './store-option.js';

/** A week of daily increments per full version. */
export const DEFAULT_FULL_EVERY = 7;

export const archiveSpec: CommandSpec = {
  name: 'archive',
  summary: 'Archive a whole Linux system (layout + every filesystem), or one directory tree, as a new image version in a store.',
  usage: 'lifeboat archive --store DIR --image NAME [--root / | --disk PATH... | --path DIR] [--exclude PATH]... [--scratch DIR] [--volume-size SIZE] [--compress zstd[:LEVEL]|gzip|none] [--incremental [--full-every N]] [--json]',
  description: [
    'Live mode (no --disk) archives the local filesystems mounted at or under --root; network, pseudo',
    'and FUSE filesystems, the store and the scratch directory are left out automatically. --disk archives',
    'an unmounted block device or raw disk image file: attached and mounted read-only, never written.',
    '--path archives one directory tree that need not be a filesystem of its own (a share, a backup target):',
    'files with every attribute, no disk layout; it is restored with lifeboat restore or by hand, never nuked onto a machine.',
    'The version appears in the store only when it is complete; an interrupted archive leaves nothing listed.',
    '--incremental builds on the image\'s newest version with GNU tar --listed-incremental: only what changed,',
    'with deletions and renames recorded; a restore applies the chain and yields exactly the tree of that moment.',
  ].join('\n'),
  options: {
    store: storeOpt,
    image: { type: 'string', value: 'NAME', description: 'image name: letters, digits, . _ -' },
    root: { type: 'string', value: 'DIR', description: 'root of the mounted system to archive', default: '/' },
    disk: { type: 'string', value: 'PATH', multiple: true, description: 'unmounted disk or raw disk image to archive instead of the live system' },
    path: { type: 'string', value: 'DIR', description: 'archive this directory tree only (files, not a machine: restorable, not nukeable)' },
    exclude: { type: 'string', value: 'PATH', multiple: true, description: 'absolute path on the archived system to leave out (with --path: a path under DIR)' },
    scratch: { type: 'string', value: 'DIR', description: 'working directory for mounts (left out of the archive)' },
    'volume-size': { type: 'string', value: 'SIZE', description: 'split each filesystem archive into volumes of SIZE (e.g. 4G); default: one file' },
    compress: { type: 'string', value: 'ALGO', description: 'zstd[:LEVEL], gzip[:LEVEL] or none', default: 'zstd:3' },
    incremental: { type: 'boolean', description: 'archive only what changed since the newest version (a full one when there is none to build on)' },
    'full-every': { type: 'string', value: 'N', description: 'with --incremental: every Nth version of a chain is a full one (1 = always full)', default: String(DEFAULT_FULL_EVERY) },
    json: { type: 'boolean', description: 'progress and result as JSON lines on stdout' },
  },
  examples: [
    'lifeboat archive --store /srv/lifeboat/store --image web01',
    'lifeboat archive --store /srv/store --image golden --disk /var/lib/vm/golden.img --json',
    'lifeboat archive --store /srv/store --image web01 --incremental --full-every 7',
    'lifeboat archive --store /srv/store --image exports --path /srv/nfs/exports --incremental',
  ],
};

export async function runArchive(argv: string[]): Promise<number> {
  const p = parseOrHelp(archiveSpec, argv);
  if (!p) return 0;
  const store = storeOption(p, archiveSpec);
  const image = requiredString(p, archiveSpec, 'image');
  const options = archiveOptionsFrom(p, argv);
  const json = flag(p, 'json');
  const sink = createProgressSink({ json });
  try {
    const version = await untilInterrupted((signal) => archiveImage({ ...options, store, image, onEvent: (e) => sink.event(e), signal }));
    sink.stop();
    if (!json) process.stdout.write(`${version.image}@${version.version}\n`);
    return 0;
  } finally {
    sink.stop();
  }
}

/** What is archived and how, from the parsed options; store and image are the caller's. */
export type ArchiveOptions = Omit<ArchiveRequest, 'store' | 'image' | 'onEvent' | 'signal'>;

export function archiveOptionsFrom(p: Parsed, argv: string[]): ArchiveOptions {
  let compression;
  try {
    compression = parseCompression(stringOption(p, 'compress') ?? 'zstd:3');
  } catch (e) {
    throw new LifeboatError('LB_USAGE', (e as Error).message);
  }
  const volumeSizeText = stringOption(p, 'volume-size');
  const volumeSize = volumeSizeText ? parseSize(volumeSizeText, '--volume-size') : null;
  const excludes = listOption(p, 'exclude');
  for (const e of excludes) if (!e.startsWith('/')) throw new LifeboatError('LB_USAGE', `--exclude ${e} must be an absolute path on the archived system`);
  const fullEveryText = stringOption(p, 'full-every') ?? String(DEFAULT_FULL_EVERY);
  if (!/^[1-9]\d*$/.test(fullEveryText)) throw new LifeboatError('LB_USAGE', `--full-every "${fullEveryText}" must be a whole number of 1 or more`);
  if (argv.some((a) => a === '--full-every' || a.startsWith('--full-every=')) && !flag(p, 'incremental')) {
    throw new LifeboatError('LB_USAGE', '--full-every applies to --incremental archives; add --incremental');
  }
  const scratch = stringOption(p, 'scratch');
  const path = stringOption(p, 'path');
  return {
    ...(path !== undefined ? { path } : {}),
    root: stringOption(p, 'root') ?? '/',
    disks: listOption(p, 'disk'),
    excludes,
    ...(scratch ? { scratch } : {}),
    volumeSize,
    compression,
    ...(flag(p, 'incremental') ? { incremental: { fullEvery: Number(fullEveryText) } } : {}),
  };
}

/** The archive options a schedule passes on after --: everything but what the schedule itself sets. */
export const scheduledArchiveSpec: CommandSpec = {
  ...archiveSpec,
  name: 'schedule (archive options after --)',
  usage: 'lifeboat schedule install NAME … -- [--root / | --disk PATH... | --path DIR] [--exclude PATH]... [--scratch DIR] [--volume-size SIZE] [--compress ALGO] [--incremental [--full-every N]]',
  options: Object.fromEntries(Object.entries(archiveSpec.options).filter(([name]) => !['store', 'image', 'json'].includes(name))),
};

export function parseScheduledArchiveArgs(args: string[]): ArchiveOptions {
  const p = parseCommand(scheduledArchiveSpec, args);
  if (p.help) throw new LifeboatError('LB_USAGE', `--help after --: see lifeboat archive --help for the archive options`);
  return archiveOptionsFrom(p, args);
}
