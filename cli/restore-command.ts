import { loadVersion } from '../images/store/image-store.js';
import { restoreFiles } from '../images/restore/restore-files.js';
import { flag, requiredString, type CommandSpec } from './args.js';
import { parseOrHelp } from './command-group.js';
import { storeOpt } from './common-options.js';
import { untilInterrupted } from './interrupt.js';
import { createProgressSink } from './progress-display.js';
import { storeOption } from './store-option.js';

export const restoreSpec: CommandSpec = {
  name: 'restore',
  summary: 'Get files back: extract chosen paths, or the whole tree, of an image version into a directory.',
  usage: 'lifeboat restore NAME[@VERSION] [PATH]... --to DIR --store DIR [--force] [--json]',
  description: [
    'Each PATH is a file or directory as it was on the archived system: /etc/hosts, or for an',
    'archive --path tree, /srv/exports/alice/notes.txt (a relative PATH is taken from the tree\'s root).',
    'Without PATH the whole tree is restored (a machine\'s filesystems nested at their mountpoints).',
    'Files land under --to at their path from that root (/etc/hosts → DIR/etc/hosts), with owners, modes,',
    'times, xattrs, ACLs, hard links and sparse files as archived. An incremental version is its whole',
    'chain, each layer applied in order, deletions honoured. Without @VERSION, the newest version.',
    'A PATH the version does not hold is refused before anything is written; so is a --to that holds files.',
  ].join('\n'),
  options: {
    store: storeOpt,
    to: { type: 'string', value: 'DIR', description: 'directory to restore into (made if missing; must be empty unless --force)' },
    force: { type: 'boolean', description: 'restore into a --to that already holds files, replacing those the version has' },
    json: { type: 'boolean', description: 'progress and the result as JSON lines on stdout' },
  },
  positionals: { min: 1, max: 10_000 },
  examples: [
    'lifeboat restore web01 /etc/nginx/nginx.conf --to /tmp/back --store /srv/lifeboat/store',
    'lifeboat restore exports@20261127T020000Z /srv/nfs/exports/alice --to /root/alice --store /srv/store',
    'lifeboat restore web01 --to /mnt/web01-tree --store /srv/store',
  ],
};

export async function runRestoreCommand(argv: string[]): Promise<number> {
  const p = parseOrHelp(restoreSpec, argv);
  if (!p) return 0;
  const store = storeOption(p, restoreSpec);
  const to = requiredString(p, restoreSpec, 'to');
  const json = flag(p, 'json');
  const [ref, ...paths] = p.positionals as [string, ...string[]];
  const { info, manifest } = await loadVersion(store, ref);
  const sink = createProgressSink({ json });
  let result;
  try {
    result = await untilInterrupted((signal) =>
      restoreFiles({
        versionDir: info.dir,
        manifest,
        paths,
        to,
        force: flag(p, 'force'),
        signal,
        onProgress: (bytes, totalBytes, what) => sink.event({ type: 'progress', id: what, bytes, totalBytes }),
        onNote: (message) => sink.event({ type: 'warning', message }),
        onStart: (message) => sink.event({ type: 'stage', stage: 'restore', message }),
      }),
    );
  } finally {
    sink.stop();
  }
  if (json) process.stdout.write(`${JSON.stringify({ type: 'restored', image: info.image, version: info.version, to: result.to, paths: result.restored, archives: result.archives })}\n`);
  else process.stdout.write(`restored ${result.restored.join(', ')} of ${info.image}@${info.version} into ${result.to}\n`);
  return 0;
}
