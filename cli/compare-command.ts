import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { loadVersion } from '../images/store/image-store.js';
import { compareLive, DEFAULT_IGNORES } from '../images/compare/live-compare.js';
import { flag, listOption, stringOption, type CommandSpec } from './args.js';
import { parseOrHelp } from './command-group.js';
import { storeOpt } from './common-options.js';
import { createProgressSink } from './progress-display.js';
import { storeOption } from './store-option.js';

export const compareSpec: CommandSpec = {
  name: 'compare',
  summary: 'Compare a running system with an image version, no reboot: writes changed.txt; exit 0 same, 1 different.',
  usage: 'lifeboat compare NAME[@VERSION] --store DIR [--root /] [--ignore PATH]... [--no-default-ignores] [--output FILE] [--json]',
  description: [
    'Each archived filesystem is compared with the directory at its mountpoint under --root: content,',
    'type, mode, owner, mtime, link targets, device numbers and xattrs (ACLs, capabilities, SELinux labels),',
    'what is missing and what is new. An incremental version is compared as the tree of its whole chain.',
    'Paths a running system changes on its own are left out (--ignore adds more; * is one path component):',
    ...DEFAULT_IGNORES.map((i) => `  ${i.path.padEnd(30)} ${i.why}`),
    'changed.txt has one line per difference ("content /etc/hosts  (size 220 → 245)") and a summary line.',
  ].join('\n'),
  options: {
    store: storeOpt,
    root: { type: 'string', value: 'DIR', description: 'where the archived system\'s / is mounted now', default: '/' },
    ignore: { type: 'string', value: 'PATH', multiple: true, description: 'also leave out this absolute path (and what is under it); * matches one component' },
    'no-default-ignores': { type: 'boolean', description: 'compare the volatile paths too' },
    output: { type: 'string', value: 'FILE', description: 'where to write the list of differences; - for stdout', default: 'changed.txt' },
    json: { type: 'boolean', description: 'progress and the result (with every difference) as JSON lines on stdout' },
  },
  positionals: { min: 1, max: 1 },
  examples: [
    'lifeboat compare web01 --store /srv/lifeboat/store',
    'lifeboat compare web01@20261127T020000Z --store /srv/store --ignore /srv/uploads --output /root/changed.txt',
  ],
};

export async function runCompareCommand(argv: string[]): Promise<number> {
  const p = parseOrHelp(compareSpec, argv);
  if (!p) return 0;
  const store = storeOption(p, compareSpec);
  const json = flag(p, 'json');
  const root = resolve(stringOption(p, 'root') ?? '/');
  const ignores = [...(flag(p, 'no-default-ignores') ? [] : DEFAULT_IGNORES.map((i) => i.path)), ...listOption(p, 'ignore')];
  const output = stringOption(p, 'output') ?? 'changed.txt';
  const { info, manifest } = await loadVersion(store, p.positionals[0]!);
  const sink = createProgressSink({ json });
  let result;
  try {
    result = await compareLive({
      versionDir: info.dir,
      manifest,
      root,
      ignores,
      onProgress: (bytes, totalBytes, mountpoint) => sink.event({ type: 'progress', id: mountpoint, bytes, totalBytes }),
    });
  } finally {
    sink.stop();
  }
  const written = output === '-' ? null : resolve(output);
  if (written) await writeFile(written, result.text);
  const summary = `${result.counts.content} content, ${result.counts.metadata} metadata, ${result.counts.missing} missing, ${result.counts.new} new`;
  if (json) {
    process.stdout.write(`${JSON.stringify({
      type: 'compared', image: info.image, version: info.version, root, same: result.same, ...result.counts,
      changed: written, ignored: ignores, differences: result.results.flatMap((r) => r.differences),
    })}\n`);
  } else if (!written) {
    process.stdout.write(result.text);
  } else {
    process.stdout.write(`${result.same ? 'same' : 'different'}: ${info.image}@${info.version} vs ${root}: ${summary}; the list is in ${written}\n`);
  }
  return result.same ? 0 : 1;
}
