import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { fileURLToPath } from 'node:url';
import Value from 'typebox/value';
import { LifeboatError } from '../core/errors.js';
import { resolveConfig } from '../server/config.js';
import { DEFAULT_CONFIG_FILE, DEFAULT_DATA_DIR, ServerConfigSchema, type ServerConfigFile } from '../server/config-file.js';
import { renderProxyNote, renderSiteDhcpSnippets } from '../server/dhcp/site-dhcp-snippets.js';
import { flag, stringOption, type CommandSpec, type Parsed } from './args.js';
import { parseOrHelp } from './command-group.js';
import { checkPorts, renderPortReport } from './port-holders.js';
import { installServeUnit, renderServeUnit } from './serve-unit.js';
import { makeDirs } from '../core/make-dirs.js';

export const initSpec: CommandSpec = {
  name: 'init',
  summary: 'Write the configuration file (test-bed interface, DHCP, store, NFS), check the ports, print DHCP settings; --systemd installs the service.',
  usage: 'lifeboat init [--interface IFACE] [--dhcp off|proxy|full] [--range FIRST-LAST] [--store DIR] [--data DIR] [--nfs off|auto|ganesha|kernel] [--http ADDR:PORT] [--config FILE] [--root DIR] [--systemd] [--force] [--yes]',
  description: [
    'On a terminal it asks for what the flags do not give; with --yes (or no terminal) it takes the',
    'defaults. The file goes to --config, else $LIFEBOAT_CONFIG, else /etc/lifeboat/config.json, under',
    '--root. It then lists who holds the ports Lifeboat needs (67, 69, 4011, HTTP, 2049) and, for',
    '--dhcp off, prints what to add to the site\'s own DHCP server (dnsmasq, ISC dhcpd, Kea).',
  ].join('\n'),
  options: {
    interface: { type: 'string', value: 'IFACE', description: 'the test-bed interface (DHCP, TFTP and NFS serve its machines)' },
    dhcp: { type: 'string', value: 'MODE', description: 'off (the site\'s DHCP server points machines here), proxy (boot info beside it) or full (Lifeboat hands out addresses); default proxy with --interface, else off' },
    range: { type: 'string', value: 'FIRST-LAST', description: 'full DHCP: the addresses it may hand out' },
    store: { type: 'string', value: 'DIR', description: 'image store; default <data>/store' },
    data: { type: 'string', value: 'DIR', description: `state directory; default ${DEFAULT_DATA_DIR}` },
    nfs: { type: 'string', value: 'MODE', description: 'NFS share of the store (capture tasks need it): off, auto, ganesha or kernel; default auto with --interface, else off' },
    http: { type: 'string', value: 'ADDR:PORT', description: "HTTP listen address; default port 8080 on the interface's address" },
    config: { type: 'string', value: 'FILE', description: `where to write the file; default $LIFEBOAT_CONFIG, else ${DEFAULT_CONFIG_FILE}` },
    root: { type: 'string', value: 'DIR', description: 'write the file and the unit under this directory (another system\'s root, or a test\'s)', default: '/' },
    systemd: { type: 'boolean', description: 'install and enable lifeboat.service, which runs lifeboat serve --config FILE' },
    force: { type: 'boolean', description: 'replace an existing configuration file' },
    yes: { type: 'boolean', short: 'y', description: 'ask nothing: flags and defaults only' },
  },
  // No `default:` but --root's: a default fills the parsed values, which would look like flags and skip the questions.
  examples: [
    'lifeboat init',
    'lifeboat init --yes --interface br-testbed --dhcp full --range 10.77.0.100-10.77.0.199 --nfs auto --systemd',
    'lifeboat init --yes --dhcp off --http 10.0.0.5:8080',
  ],
};

type Ask = (question: string, fallback: string) => Promise<string>;

/** The answers: a flag when given, else the terminal's answer, else the default. */
async function gather(p: Parsed, ask: Ask): Promise<ServerConfigFile> {
  const pick = async (name: string, question: string, fallback: string) => stringOption(p, name) ?? (await ask(question, fallback));
  const iface = await pick('interface', 'Test-bed interface (empty: none, DHCP off)', '');
  const dhcp = await pick('dhcp', 'DHCP: off, proxy or full', iface ? 'proxy' : 'off');
  if (!['off', 'proxy', 'full'].includes(dhcp)) throw new LifeboatError('LB_USAGE', `--dhcp ${dhcp}: use off, proxy or full`);
  const range = dhcp === 'full' ? await pick('range', 'Address range FIRST-LAST', '') : stringOption(p, 'range');
  const data = await pick('data', 'State directory', DEFAULT_DATA_DIR);
  const store = await pick('store', 'Image store', join(data, 'store'));
  const nfs = await pick('nfs', 'NFS share: off, auto, ganesha or kernel', iface ? 'auto' : 'off');
  if (!['off', 'auto', 'ganesha', 'kernel'].includes(nfs)) throw new LifeboatError('LB_USAGE', `--nfs ${nfs}: use off, auto, ganesha or kernel`);
  const http = stringOption(p, 'http');
  return {
    data,
    store,
    ...(http ? { http } : {}),
    dhcp: { mode: dhcp as 'off', ...(iface ? { interface: iface } : {}), ...(range ? { range } : {}) },
    nfs: { mode: nfs as 'off' },
  };
}

/**
 * Questions on the terminal. Lines are read through the interface's iterator, which keeps lines
 * typed (or pasted) ahead of their question; rl.question would drop them. Input that ends (^D) or
 * ^C before every question is answered writes nothing.
 */
async function terminalAsk(): Promise<{ ask: Ask; close(): void }> {
  const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: true });
  let interrupted = false;
  rl.on('SIGINT', () => {
    interrupted = true;
    rl.close();
  });
  const lines = rl[Symbol.asyncIterator]();
  return {
    ask: async (question, fallback) => {
      process.stdout.write(`${question} [${fallback}]: `);
      const next = await lines.next();
      if (interrupted) throw new LifeboatError('LB_INTERRUPTED', 'interrupted: nothing written');
      if (next.done) throw new LifeboatError('LB_USAGE', `the input ended before "${question}" was answered: nothing written; give it as a flag, or --yes for the defaults`);
      return String(next.value).trim() || fallback;
    },
    close: () => rl.close(),
  };
}

export async function runInit(argv: string[]): Promise<number> {
  const p = parseOrHelp(initSpec, argv);
  if (!p) return 0;
  const root = resolve(stringOption(p, 'root') ?? '/');
  const configOnSystem = stringOption(p, 'config') ?? process.env.LIFEBOAT_CONFIG ?? DEFAULT_CONFIG_FILE;
  const target = join(root, configOnSystem);
  if (existsSync(target) && !flag(p, 'force')) {
    throw new LifeboatError('LB_CONFLICT', `${target} exists already: edit it, or run lifeboat init --force to replace it`);
  }
  const interactive = !flag(p, 'yes') && Boolean(process.stdin.isTTY);
  const terminal = interactive ? await terminalAsk() : null;
  let file: ServerConfigFile;
  try {
    file = await gather(p, terminal?.ask ?? (async (_q, fallback) => fallback));
  } finally {
    terminal?.close();
  }
  if (!Value.Check(ServerConfigSchema, file)) {
    throw new LifeboatError('LB_USAGE', `these settings do not make a valid file: ${[...Value.Errors(ServerConfigSchema, file)].map((e) => `${e.instancePath} ${e.message}`).join('; ')}`);
  }
  // What serve would make of it: the same checks (interface exists, range for full DHCP), before anything is written.
  const resolved = resolveConfig(file);
  await makeDirs(dirname(target));
  await writeFile(target, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o644 });
  process.stdout.write(`wrote ${target}\n\nPorts:\n`);
  const ports = await checkPorts([
    { port: 67, proto: 'udp', purpose: 'DHCP (proxy and full)' },
    { port: 69, proto: 'udp', purpose: 'TFTP' },
    { port: 4011, proto: 'udp', purpose: 'proxy DHCP (PXE)' },
    { port: resolved.http.port, proto: 'tcp', purpose: 'HTTP (API, boot files)' },
    { port: 2049, proto: 'tcp', purpose: 'NFS' },
  ]);
  process.stdout.write(`${renderPortReport(ports)}\n\n`);
  const at = { server: resolved.publicAddress, httpPort: resolved.http.port };
  if (resolved.dhcp.mode === 'off') process.stdout.write(`For the site's own DHCP server (Lifeboat's DHCP is off):\n\n${renderSiteDhcpSnippets(at)}\n`);
  else if (resolved.dhcp.mode === 'proxy') process.stdout.write(renderProxyNote({ ...at, interface: resolved.dhcp.interface! }));
  else process.stdout.write(`Lifeboat is the DHCP server on ${resolved.dhcp.interface}: no other DHCP server may answer there.\n`);
  if (flag(p, 'systemd')) {
    const script = fileURLToPath(new URL('../../bin/lifeboat.js', import.meta.url));
    const unit = await installServeUnit(root, renderServeUnit({ node: process.execPath, script, configPath: configOnSystem }));
    process.stdout.write(`\ninstalled and enabled ${unit.path}${unit.live ? ': start it with systemctl start lifeboat' : ` (under ${root}: nothing started)`}\n`);
  } else {
    process.stdout.write(`\nStart the server: lifeboat serve${configOnSystem === DEFAULT_CONFIG_FILE ? '' : ` --config ${configOnSystem}`} (or lifeboat init --systemd for a service)\n`);
  }
  return 0;
}
