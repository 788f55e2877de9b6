import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DEFAULT_DATA_DIR, readSettings } from '../server/config-file.js';
import { LifeboatError } from '../core/errors.js';
import { formatBytes } from '../core/sizes.js';
import { buildRescue } from '../netboot/build/rescue-build.js';
import { flag, stringOption, type CommandSpec } from './args.js';
import { parseSubcommand } from './command-group.js';

export const netbootBuildSpec: CommandSpec = {
  name: 'netboot build',
  summary: 'Build the rescue system machines PXE-boot into: a kernel and an initramfs with the restore tools and the agent.',
  usage: 'lifeboat netboot build [--kernel full|cloud|PATH|VERSION] [--out DIR] [--data DIR] [--agent FILE] [--compression zstd|gzip] [--if-missing] [--json]',
  description: [
    'Writes vmlinuz, initrd.img and build.json into --out, by default the config file\'s rescueDir or',
    '<data>/netboot/rescue, where lifeboat serve looks for them. The kernel is Debian\'s full kernel',
    '(linux-image-amd64), which has the disk and network drivers of real PCs; --kernel cloud takes',
    'the smaller cloud kernel (linux-image-cloud-amd64), for virtual machines only. The same inputs',
    'give byte-identical files ($SOURCE_DATE_EPOCH fixes the time stamped on them; by default the',
    'newest input\'s).',
  ].join('\n'),
  options: {
    kernel: { type: 'string', value: 'KERNEL', description: 'kernel to boot: full (newest /boot/vmlinuz-*-amd64), cloud (newest *-cloud-amd64), a vmlinuz path or an installed version', default: 'full' },
    out: { type: 'string', value: 'DIR', description: 'output directory', default: 'config rescueDir, else <data>/netboot/rescue' },
    data: { type: 'string', value: 'DIR', description: 'the server\'s state directory (or $LIFEBOAT_DATA, or the config file\'s data)', default: '/var/lib/lifeboat' },
    'if-missing': { type: 'boolean', description: 'do nothing when --out already holds a rescue system (npm start uses it)' },
    agent: { type: 'string', value: 'FILE', description: 'the agent as one JavaScript file', default: 'netboot/agent/agent-entry.ts bundled, if present' },
    compression: { type: 'string', value: 'zstd|gzip', description: 'initramfs compression', default: 'zstd' },
    json: { type: 'boolean', description: 'progress and the build record as JSON lines on stdout' },
  },
  examples: ['lifeboat netboot build', 'lifeboat netboot build --kernel 6.1.0-56-amd64 --out /srv/lifeboat/rescue-hw', 'SOURCE_DATE_EPOCH=1700000000 lifeboat netboot build --json'],
};

export async function runNetboot(argv: string[]): Promise<number> {
  const p = parseSubcommand({ name: 'netboot', summary: 'The rescue system machines PXE-boot into.', specs: { build: netbootBuildSpec } }, argv);
  if (typeof p === 'number') return p;
  const rest = argv.slice(1);
  const json = flag(p, 'json');
  const given = (name: string) => rest.some((a) => a === `--${name}` || a.startsWith(`--${name}=`));
  // flag > environment > config file > default, as for serve: the directory serve will look in.
  const { file } = await readSettings(undefined);
  const dataDir = resolve(given('data') ? stringOption(p, 'data')! : (file.data ?? DEFAULT_DATA_DIR));
  const outDir = resolve(given('out') ? stringOption(p, 'out')! : given('data') ? join(dataDir, 'netboot', 'rescue') : (file.rescueDir ?? join(dataDir, 'netboot', 'rescue')));
  if (flag(p, 'if-missing') && existsSync(join(outDir, 'vmlinuz')) && existsSync(join(outDir, 'initrd.img'))) {
    process.stdout.write(`rescue system present in ${outDir}: not rebuilt (lifeboat netboot build without --if-missing rebuilds it)\n`);
    return 0;
  }
  const compression = stringOption(p, 'compression') ?? 'zstd';
  if (compression !== 'zstd' && compression !== 'gzip') throw new LifeboatError('LB_USAGE', `--compression ${compression}: use zstd or gzip`);
  const started = Date.now();
  const record = await buildRescue({
    outDir,
    kernel: stringOption(p, 'kernel') ?? 'full',
    ...(given('agent') ? { agentFile: resolve(stringOption(p, 'agent')!) } : {}),
    compression,
    onProgress: (e) => {
      if (json) process.stdout.write(`${JSON.stringify({ type: 'progress', stage: e.stage, message: e.message })}\n`);
      else process.stderr.write(`${e.stage.padEnd(9)} ${e.message}\n`);
    },
  });
  const seconds = (Date.now() - started) / 1000;
  if (json) {
    process.stdout.write(`${JSON.stringify({ type: 'done', outDir, seconds, record })}\n`);
  } else {
    process.stdout.write(
      [
        `rescue system built in ${seconds.toFixed(1)} s: ${outDir}`,
        `  vmlinuz     ${formatBytes(record.vmlinuz.bytes).padStart(10)}  kernel ${record.kernel.version}`,
        `  initrd.img  ${formatBytes(record.initrd.bytes).padStart(10)}  ${record.initrd.compression}, ${formatBytes(record.initrd.uncompressedBytes)} unpacked, ${record.initrd.entries} entries, ${record.modules.count} modules`,
        `  agent       ${record.agent ? `${record.agent.source}${record.agent.bundled ? ' (bundled)' : ''}` : 'none: machines get a root shell instead'}`,
        `  build.json  sha256 of initrd.img ${record.initrd.sha256}`,
        '',
      ].join('\n'),
    );
  }
  return 0;
}
