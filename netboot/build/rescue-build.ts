import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { copyFile, lstat, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { LifeboatError } from '../../core/errors.js';
import { checkFinished, runTool, startTool } from '../../core/run-tool.js';
import { LIFEBOAT_VERSION } from '../../core/version.js';
import { agentBundle, PROJECT_ROOT } from './agent-bundle.js';
import type { BuildRecord } from './build-record.js';
import { writeNewc } from './cpio-newc.js';
import { chooseKernel, selectModules, stageModules } from './kernel-modules.js';
import { isElf, libraryClosure } from './library-closure.js';
import { MODULE_DIRS, MODULE_NAMES, RESCUE_TOOLS, RESCUE_TREES, TOOL_DIRS } from './rescue-contents.js';
import { RescueTree } from './rescue-tree.js';
import { makeDirs } from '../../core/make-dirs.js';

/**
 * `lifeboat netboot build`: the rescue kernel and initramfs (mindi's job). Reads the build host's
 * Debian files (kernel, tools, their libraries, modules), writes vmlinuz, initrd.img and build.json
 * into the output directory. The same inputs give the same bytes: sorted entries, one mtime, owner
 * root, compression without timestamps.
 */
export interface BuildOptions {
  /** Output directory, e.g. <data>/netboot/rescue (the server's --rescue-dir). */
  outDir: string;
  /** vmlinuz path, kernel version, or kind (full, cloud); default the newest full kernel in /boot (chooseKernel). */
  kernel?: string;
  /** The agent's single JS file; default: bundle netboot/agent/main.ts when it exists. */
  agentFile?: string;
  compression?: 'zstd' | 'gzip';
  /** Timestamp for every file; default $SOURCE_DATE_EPOCH, else the newest input's mtime. */
  sourceDateEpoch?: number;
  onProgress?: (event: BuildProgress) => void;
}

export interface BuildProgress {
  stage: 'kernel' | 'tools' | 'libraries' | 'modules' | 'agent' | 'initramfs' | 'done';
  message: string;
  data?: Record<string, unknown>;
}

export const RESCUE_SOURCE_DIR = join(PROJECT_ROOT, 'netboot', 'rescue');

const ZSTD_LEVEL = 12;

async function findTool(name: string): Promise<string | null> {
  for (const dir of TOOL_DIRS) {
    const p = posix.join(dir, name);
    if (await lstat(p).catch(() => null)) return p;
  }
  return null;
}

async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}

/** Debian path aliases under merged /usr: dpkg may know /sbin/mke2fs while PATH finds /usr/sbin/mke2fs. */
function dpkgAliases(path: string): string[] {
  const m = /^\/usr\/(bin|sbin|lib|lib64)(\/.*)$/.exec(path);
  if (m) return [path, `/${m[1]}${m[2]}`];
  const n = /^\/(bin|sbin|lib|lib64)(\/.*)$/.exec(path);
  return n ? [path, `/usr/${n[1]}${n[2]}`] : [path];
}

/** Which package owns each path (dpkg -S), and the versions of those packages. */
async function packagesOf(paths: string[]): Promise<{ packages: Array<{ name: string; version: string }>; owners: Map<string, string>; unpackaged: string[] }> {
  const owners = new Map<string, string>();
  const queries = [...new Set(paths.flatMap(dpkgAliases))];
  for (let i = 0; i < queries.length; i += 500) {
    const r = await runTool('dpkg-query', ['-S', ...queries.slice(i, i + 500)], { okExitCodes: [0, 1], purpose: 'find the Debian packages of the rescue system\'s files' });
    for (const line of r.stdout.split('\n')) {
      const m = /^(.+?): (\/.*)$/.exec(line);
      if (!m || m[1]!.startsWith('diversion by')) continue;
      owners.set(m[2]!, m[1]!.split(', ')[0]!.replace(/:.*$/, ''));
    }
  }
  const ownerOf = (p: string) => dpkgAliases(p).map((a) => owners.get(a)).find(Boolean);
  const byPath = new Map<string, string>();
  const unpackaged: string[] = [];
  for (const p of paths) {
    const o = ownerOf(p);
    if (o) byPath.set(p, o);
    else unpackaged.push(p);
  }
  const names = [...new Set(byPath.values())].sort();
  const packages: Array<{ name: string; version: string }> = [];
  if (names.length) {
    const r = await runTool('dpkg-query', ['-W', '-f=${Package}\\t${Version}\\n', ...names], { okExitCodes: [0, 1], purpose: 'read the versions of the rescue system\'s packages' });
    const seen = new Set<string>();
    for (const line of r.stdout.split('\n')) {
      const [name, version] = line.split('\t');
      if (name && version && !seen.has(name)) {
        seen.add(name);
        packages.push({ name, version });
      }
    }
  }
  return { packages: packages.sort((a, b) => a.name.localeCompare(b.name)), owners: byPath, unpackaged: unpackaged.sort() };
}

/** The small files of the rescue root that come from no package. */
function addBaseFiles(tree: RescueTree, kernelVersion: string): void {
  for (const d of ['proc', 'sys', 'dev', 'run', 'tmp', 'mnt', 'root', 'etc', 'var', 'var/tmp', 'var/log', 'lifeboat']) tree.addDir(d, d === 'tmp' || d === 'var/tmp' ? 0o1777 : d === 'root' ? 0o700 : 0o755);
  // The kernel opens /dev/console for /init before /init can mount devtmpfs.
  tree.addCharDevice('dev/console', 5, 1, 0o600);
  tree.addCharDevice('dev/null', 1, 3, 0o666);
  tree.addText('etc/passwd', 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n');
  tree.addText('etc/group', 'root:x:0:\ntty:x:5:\ndisk:x:6:\nnogroup:x:65534:\n');
  tree.addText('etc/shadow', 'root::0:0:99999:7:::\n', 0o600);
  tree.addText('etc/shells', '/bin/sh\n');
  tree.addText('etc/fstab', '# the rescue system mounts what the agent or the operator asks for\n');
  tree.addText('etc/hosts', '127.0.0.1 localhost\n::1 localhost\n');
  tree.addText('etc/nsswitch.conf', 'passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n');
  tree.addSymlink('etc/mtab', '/proc/self/mounts');
  tree.addText('etc/lifeboat-release', `Lifeboat ${LIFEBOAT_VERSION} (kernel ${kernelVersion})\n`);
  tree.addText(
    'etc/profile',
    [
      'export PATH=/usr/sbin:/usr/bin:/sbin:/bin',
      "export PS1='lifeboat:\\w# '",
      'export LVM_SUPPRESS_FD_WARNINGS=1',
      '[ -f /run/lifeboat/net.env ] && . /run/lifeboat/net.env',
      '',
    ].join('\n'),
  );
}

export async function buildRescue(options: BuildOptions): Promise<BuildRecord> {
  const progress = options.onProgress ?? (() => {});
  const compression = options.compression ?? 'zstd';
  const kernel = await chooseKernel(options.kernel);
  progress({ stage: 'kernel', message: `kernel ${kernel.version} (${kernel.vmlinuz})`, data: { ...kernel } });
  // Read (or bundle) the agent before the long part, so a wrong --agent fails in a second.
  const agent = await agentBundle(options.agentFile);

  const tree = new RescueTree();
  // Debian's merged /usr: the top-level links first, so every path added later resolves through them.
  for (const top of ['bin', 'sbin', 'lib', 'lib64']) {
    const st = await lstat(`/${top}`).catch(() => null);
    if (st?.isSymbolicLink()) await tree.addHostPath(`/${top}`);
  }

  const missing: string[] = [];
  const toolPaths: string[] = [];
  for (const group of RESCUE_TOOLS) {
    for (const tool of group.tools) {
      const path = await findTool(tool);
      if (path) toolPaths.push(path);
      else missing.push(`${tool} (${group.package})`);
    }
  }
  if (missing.length) {
    const pkgs = [...new Set(missing.map((m) => /\((.+)\)$/.exec(m)![1]!))];
    throw new LifeboatError('LB_TOOL_MISSING', `the rescue system needs tools this host lacks: ${missing.join(', ')}: apt-get install ${pkgs.join(' ')} (npm run setup does)`);
  }
  const realTools: string[] = [];
  for (const p of toolPaths) realTools.push(await tree.addHostPath(p));
  for (const t of RESCUE_TREES) {
    if (!(await lstat(t.path).catch(() => null))) throw new LifeboatError('LB_TOOL_MISSING', `the rescue system needs ${t.path}: apt-get install ${t.package} (npm run setup does)`);
    await tree.addHostTree(t.path);
  }
  progress({ stage: 'tools', message: `${toolPaths.length} tools`, data: { tools: toolPaths.length } });

  // Shared libraries, a few ldd calls at a time.
  const libraries = new Set<string>();
  const elfTools = [];
  for (const f of [...new Set(realTools)]) if (await isElf(f)) elfTools.push(f);
  for (let i = 0; i < elfTools.length; i += 8) {
    const batch = await Promise.all(elfTools.slice(i, i + 8).map((f) => libraryClosure(f)));
    for (const libs of batch) for (const l of libs) libraries.add(l);
  }
  for (const lib of [...libraries].sort()) await tree.addHostPath(lib);
  progress({ stage: 'libraries', message: `${libraries.size} shared libraries`, data: { libraries: libraries.size } });

  // busybox applets, where no real tool of the same name is already there.
  const busybox = toolPaths.find((p) => p.endsWith('/busybox'))!;
  const applets = (await runTool(busybox, ['--list-full'], { purpose: 'list the busybox applets' })).stdout.split('\n').filter(Boolean);
  let links = 0;
  for (const applet of applets) {
    const at = tree.resolve(applet);
    if (tree.has(at)) continue;
    tree.addSymlink(at, '/usr/bin/busybox');
    links++;
  }
  if (!tree.has(tree.resolve('usr/bin/busybox'))) throw new LifeboatError('LB_INTERNAL', `busybox was expected at /usr/bin/busybox, found ${busybox}`);

  const stage = await mkdtemp(join(tmpdir(), 'lifeboat-rescue-'));
  try {
    const selection = await selectModules(kernel, MODULE_DIRS, MODULE_NAMES);
    for (const f of selection.files) tree.noteMtime((await stat(f)).mtimeMs);
    const staged = await stageModules(kernel, selection, stage);
    const moduleRoot = tree.resolve(`lib/modules/${kernel.version}`);
    await addStagedTree(tree, staged, moduleRoot);
    progress({
      stage: 'modules',
      message: `${selection.files.length} kernel modules${selection.absent.length ? ` (not in this kernel: ${selection.absent.join(', ')})` : ''}`,
      data: { count: selection.files.length, builtin: selection.builtin, absent: selection.absent },
    });

    if (agent) {
      tree.addText('lifeboat/agent.js', agent.bytes, 0o644);
      // node reads a .js file's module format from the nearest package.json.
      tree.addText('lifeboat/package.json', `{ "type": "${agent.format === 'esm' ? 'module' : 'commonjs'}" }\n`);
    }
    progress({ stage: 'agent', message: agent ? `agent ${agent.bundled ? 'bundled from' : 'taken from'} ${agent.source} (${agent.bytes.length} bytes)` : 'no agent: the rescue system opens a root shell' });

    await tree.addHostFileAs('init', join(RESCUE_SOURCE_DIR, 'init'), 0o755);
    await tree.addHostFileAs('lifeboat/udhcpc.script', join(RESCUE_SOURCE_DIR, 'udhcpc.script'), 0o755);
    addBaseFiles(tree, kernel.version);

    const envEpoch = process.env.SOURCE_DATE_EPOCH;
    const kernelMtime = Math.floor((await stat(kernel.vmlinuz)).mtimeMs / 1000);
    const epoch = options.sourceDateEpoch ?? (envEpoch && /^\d+$/.test(envEpoch) ? Number(envEpoch) : Math.max(tree.newestInput, kernelMtime));

    await makeDirs(options.outDir);
    const entries = tree.list();
    const uncompressed = tree.totalBytes();
    progress({ stage: 'initramfs', message: `writing ${entries.length} entries, ${Math.round(uncompressed / 1048576)} MiB before ${compression}` });
    const initrdTmp = join(options.outDir, '.initrd.img.tmp');
    const kernelTmp = join(options.outDir, '.vmlinuz.tmp');
    await writeCompressed(writeNewc(entries, epoch), compression, initrdTmp);
    await copyFile(kernel.vmlinuz, kernelTmp);

    const pkgs = await packagesOf([kernel.vmlinuz, ...toolPaths, ...[...libraries]]);
    const kernelPackage = pkgs.owners.get(kernel.vmlinuz) ?? null;
    const record: BuildRecord = {
      format: 'lifeboat-rescue/1',
      lifeboatVersion: LIFEBOAT_VERSION,
      sourceDateEpoch: epoch,
      kernel: { version: kernel.version, source: kernel.vmlinuz, package: kernelPackage, packageVersion: pkgs.packages.find((p) => p.name === kernelPackage)?.version ?? null },
      vmlinuz: { file: 'vmlinuz', bytes: (await stat(kernelTmp)).size, sha256: await sha256File(kernelTmp) },
      initrd: { file: 'initrd.img', bytes: (await stat(initrdTmp)).size, sha256: await sha256File(initrdTmp), compression, uncompressedBytes: uncompressed, entries: entries.length },
      agent: agent ? { source: agent.source, bundled: agent.bundled, bytes: agent.bytes.length, sha256: createHash('sha256').update(agent.bytes).digest('hex') } : null,
      modules: { count: selection.files.length, builtin: selection.builtin, absent: selection.absent },
      packages: pkgs.packages,
      unpackaged: pkgs.unpackaged,
    };
    // Kernel first, build.json last: a reader that sees the new build.json sees the new files.
    await rename(kernelTmp, join(options.outDir, 'vmlinuz'));
    await rename(initrdTmp, join(options.outDir, 'initrd.img'));
    const recordTmp = join(options.outDir, '.build.json.tmp');
    await writeFile(recordTmp, `${JSON.stringify(record, null, 2)}\n`);
    await rename(recordTmp, join(options.outDir, 'build.json'));
    progress({ stage: 'done', message: `vmlinuz ${record.vmlinuz.bytes} bytes, initrd.img ${record.initrd.bytes} bytes (${links} busybox links)`, data: { outDir: options.outDir } });
    return record;
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
}

/** Adds a staged directory (depmod's output) to the tree under `at`. */
async function addStagedTree(tree: RescueTree, dir: string, at: string): Promise<void> {
  tree.addDir(at);
  for (const e of (await readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const src = join(dir, e.name);
    const dst = posix.join(at, e.name);
    if (e.isDirectory()) await addStagedTree(tree, src, dst);
    else await tree.addHostFileAs(dst, src, 0o644, false);
  }
}

/** Streams the archive through the compressor into `file`; any stage failing fails the whole. */
async function writeCompressed(archive: AsyncGenerator<Buffer>, compression: 'zstd' | 'gzip', file: string): Promise<void> {
  const source = Readable.from(archive, { objectMode: false });
  if (compression === 'gzip') {
    // zlib writes MTIME 0 and no file name into the gzip header.
    await pipeline(source, createGzip({ level: 9 }), createWriteStream(file));
    return;
  }
  // A fixed worker count: zstd's multi-threaded output is the same from run to run at a given count.
  const args = ['-q', '-c', `-${ZSTD_LEVEL}`, '-T2'];
  const child = startTool('zstd', args, { stdin: 'pipe', stdout: 'pipe', stderr: 'pipe' });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const results = await Promise.allSettled([pipeline(source, child.stdin!), pipeline(child.stdout!, createWriteStream(file)), child]);
  const done = results[2].status === 'fulfilled' ? results[2].value : (results[2].reason as { exitCode?: number; signal?: string; code?: string });
  checkFinished('zstd', args, done as { exitCode?: number; signal?: string; code?: string }, stderr, { purpose: 'compress the initramfs' });
  for (const r of results) if (r.status === 'rejected') throw r.reason;
}

/** Reads build.json of an output directory, or null when none is there. */
export async function readBuildRecord(outDir: string): Promise<BuildRecord | null> {
  try {
    return JSON.parse(await readFile(join(outDir, 'build.json'), 'utf8')) as BuildRecord;
  } catch {
    return null;
  }
}
