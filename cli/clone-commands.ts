import { readFile } from 'node:fs/promises';
import { LifeboatError } from '../core/errors.js';
import { MULTICAST_MODES, parseIdentityTable } from '../server/clone-request.js';
import type { CloneMember, CloneSession } from '../server/state/clone-sessions.js';
import { checkMacArgument } from './address-args.js';
import { apiClient, serverOptions } from './api-client.js';
import { flag, stringOption, type CommandSpec, type Parsed } from './args.js';
import { parseOrHelp, parseSubcommand, type CommandGroup } from './command-group.js';
import { table } from './text-table.js';

/**
 * `lifeboat clone` starts a clone session (one nuke task per machine, each with its own identity);
 * `lifeboat clones list|show|cancel` follow it. Everything goes through /api/v1/clones.
 */
type SessionView = CloneSession & { transport: string; members?: CloneMember[] };

const when = (ms: number | null) => (ms ? new Date(ms).toISOString().replace('T', ' ').slice(0, 19) : '-');

function out(json: boolean, value: unknown, text: () => string): void {
  process.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : text());
}

const cloneSpec: CommandSpec = {
  name: 'clone',
  summary: 'Clone an image onto many machines: one nuke task per machine, each with its own hostname, address, machine-id and SSH host keys.',
  usage: 'lifeboat clone IMAGE[@VERSION] (--hosts MAC,MAC,… | --count N) [--hostname PATTERN] [--ip PATTERN] [--identity FILE] [--identity-hook FILE] [--policy P] [--dry-run] [--multicast auto|on|off] [--min-receivers N] [--max-wait S] [--server URL] [--json]',
  description: [
    '--hosts names the machines (machine n is the n-th); --count N takes the next N machines that network-boot with no open task and in no other open session, each registered and sent to the rescue system on that same boot.',
    'Patterns count n from 1: lab-{n:02} gives lab-01, lab-02…; 10.77.0.{n+100} gives 10.77.0.101…. --identity FILE is a JSON object {"MAC": {"hostname": "…", "ipv4": "…"}, …} instead of the patterns (with --count, only machines in it are claimed).',
    'Duplicate or invalid names and addresses, an address outside the test-bed network, a machine with an open task or in another open session are refused before any task exists.',
    'The data goes by multicast (udpcast on the server\'s --interface) once the server has verified the image: the machines that reach their data stage before the start receive one stream together; a machine that comes later, falls behind or stops answering reads over unicast (HTTP/NFS) and does not hold up the others. --multicast off sends all over unicast; auto (the default) falls back by itself.',
  ].join('\n'),
  options: {
    hosts: { type: 'string', value: 'MAC,MAC,…', description: 'the machines to clone onto, in order' },
    count: { type: 'string', value: 'N', description: 'the next N machines that network-boot with no task (1-256)' },
    hostname: { type: 'string', value: 'PATTERN', description: 'hostname of machine n, e.g. lab-{n:02}' },
    ip: { type: 'string', value: 'PATTERN', description: 'static IPv4 address of machine n, e.g. 10.77.0.{n+100} (DHCP stays DHCP when not given)' },
    identity: { type: 'string', value: 'FILE', description: 'per-MAC identities as JSON: {"52:54:00:12:34:56": {"hostname": "db-1", "ipv4": "10.77.0.11"}, …}' },
    'identity-hook': { type: 'string', value: 'FILE', description: 'a shell script run in every restored system (chroot) after its identity is applied (see lifeboat task --help)' },
    policy: { type: 'string', value: 'POLICY', description: 'size partitions for other disks: proportional or grow-last', default: 'proportional' },
    'dry-run': { type: 'boolean', description: 'each machine plans and reports, writes nothing' },
    multicast: { type: 'string', value: 'MODE', description: 'auto (multicast where it can run, else unicast), on (refused without the server\'s --interface) or off (unicast for all)', default: 'auto' },
    'min-receivers': { type: 'string', value: 'N', description: 'start the multicast when N machines joined (default: all of the session\'s machines)' },
    'max-wait': { type: 'string', value: 'S', description: 'start the multicast at most S seconds after the first machine joined (default 60)' },
    ...serverOptions,
  },
  positionals: { min: 1, max: 1 },
  examples: ['lifeboat clone golden --hosts 52:54:00:00:00:01,52:54:00:00:00:02 --hostname lab-{n:02} --ip 10.77.0.{n+100}', 'lifeboat clone golden@20261205T100000Z --count 8 --hostname lab-{n:02}'],
};

function positiveInt(p: Parsed, name: string, min: number): number | undefined {
  const v = stringOption(p, name);
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || Number(v) < min) throw new LifeboatError('LB_USAGE', `--${name} ${v}: give a whole number${min > 0 ? ` of at least ${min}` : ''}`);
  return Number(v);
}

async function readText(file: string, flagName: string): Promise<string> {
  return readFile(file, 'utf8').catch((e: NodeJS.ErrnoException) => {
    throw new LifeboatError('LB_USAGE', `--${flagName} ${file}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`);
  });
}

export async function runClone(argv: string[]): Promise<number> {
  const p = parseOrHelp(cloneSpec, argv);
  if (!p) return 0;
  const hosts = stringOption(p, 'hosts');
  const policy = stringOption(p, 'policy') ?? 'proportional';
  if (!['proportional', 'grow-last'].includes(policy)) throw new LifeboatError('LB_USAGE', `--policy ${policy}: use proportional or grow-last`);
  const multicast = stringOption(p, 'multicast') ?? 'auto';
  if (!(MULTICAST_MODES as readonly string[]).includes(multicast)) throw new LifeboatError('LB_USAGE', `--multicast ${multicast}: use auto, on or off`);
  const count = stringOption(p, 'count');
  // The server refuses --count 0 and --count with --hosts in its own words; only a non-number stops here.
  if (count !== undefined && !/^-?\d+$/.test(count)) throw new LifeboatError('LB_USAGE', `--count ${count}: give a whole number of machines`);
  const identityFile = stringOption(p, 'identity');
  const hookFile = stringOption(p, 'identity-hook');
  const minReceivers = positiveInt(p, 'min-receivers', 1);
  const maxWait = positiveInt(p, 'max-wait', 0);
  const body = {
    image: p.positionals[0]!,
    ...(hosts !== undefined ? { hosts: hosts.split(',').map((m) => m.trim()).filter(Boolean).map((m) => checkMacArgument(m, '--hosts')) } : {}),
    ...(count !== undefined ? { count: Number(count) } : {}),
    ...(stringOption(p, 'hostname') !== undefined ? { hostname: stringOption(p, 'hostname') } : {}),
    ...(stringOption(p, 'ip') !== undefined ? { ipv4: stringOption(p, 'ip') } : {}),
    ...(identityFile !== undefined ? { identities: parseIdentityTable(await readText(identityFile, 'identity'), identityFile) } : {}),
    ...(hookFile !== undefined ? { hook: await readText(hookFile, 'identity-hook') } : {}),
    policy,
    ...(flag(p, 'dry-run') ? { dryRun: true } : {}),
    multicast,
    ...(minReceivers !== undefined ? { minReceivers } : {}),
    ...(maxWait !== undefined ? { maxWait } : {}),
  };
  const api = await apiClient(p);
  const s = await api.send<SessionView>('POST', '/api/v1/clones', body);
  out(flag(p, 'json'), s, () => `clone session ${s.id} created: ${s.image}@${s.version} onto ${s.selection === 'hosts' ? `${s.requested} machines (tasks ${s.members!.map((m) => m.taskId).join(', ')})` : `the next ${s.requested} machines that network-boot with no task`}; lifeboat clones show ${s.id} follows it\n`);
  return 0;
}

const clonesSpecs: Record<string, CommandSpec> = {
  list: {
    name: 'clones list',
    summary: 'List clone sessions, newest first.',
    usage: 'lifeboat clones list [--state STATE] [--server URL] [--json]',
    options: { state: { type: 'string', value: 'STATE', description: 'pending, running, done, failed or cancelled' }, ...serverOptions },
  },
  show: { name: 'clones show', summary: 'Show a clone session: its state and why, and each machine with its identity, task state and progress.', usage: 'lifeboat clones show ID [--server URL] [--json]', options: serverOptions, positionals: { min: 1, max: 1 } },
  cancel: { name: 'clones cancel', summary: 'Cancel a clone session: its open tasks are cancelled and its unclaimed places given up.', usage: 'lifeboat clones cancel ID [--server URL] [--json]', options: serverOptions, positionals: { min: 1, max: 1 } },
};

const clonesGroup: CommandGroup = { name: 'clones', summary: 'Clone sessions the server holds (via the API).', specs: clonesSpecs };

function describeSession(s: SessionView): string {
  const identity = s.identities ? 'per-MAC table' : [s.hostnamePattern && `hostname ${s.hostnamePattern}`, s.ipv4Pattern && `address ${s.ipv4Pattern}`].filter(Boolean).join(', ') || 'the image\'s own';
  const lines = [
    `clone session ${s.id}: ${s.image}@${s.version} onto ${s.selection === 'hosts' ? `${s.requested} named machines` : `the next ${s.requested} machines that network-boot`}`,
    `  state      ${s.state}${s.stateReason ? ` (${s.stateReason})` : ''}`,
    `  identity   ${identity}`,
    `  data       ${s.transport}`,
    `  multicast  ${s.multicast} (min receivers ${s.minReceivers ?? '-'}, max wait ${s.maxWait !== null ? `${s.maxWait} s` : '-'})`,
    `  created    ${when(s.createdAt)}   started ${when(s.startedAt)}   ended ${when(s.endedAt)}`,
  ];
  const members = s.members ?? [];
  if (members.length) {
    lines.push('', table([['N', 'MAC', 'HOSTNAME', 'ADDRESS', 'TASK', 'STATE', 'PROGRESS'], ...members.map((m) => [String(m.n), m.mac, m.identity?.hostname ?? '-', m.identity?.ipv4 ?? '-', String(m.taskId), m.taskState, m.error ?? m.progress?.stage ?? '-'])]).trimEnd());
  }
  if (s.selection === 'count' && members.length < s.requested) lines.push(`  ${s.requested - members.length} places not yet claimed`);
  return `${lines.join('\n')}\n`;
}

export async function runClones(argv: string[]): Promise<number> {
  const p = parseSubcommand(clonesGroup, argv);
  if (typeof p === 'number') return p;
  const api = await apiClient(p);
  const json = flag(p, 'json');
  const id = p.positionals[0];
  if (id !== undefined && !/^\d+$/.test(id)) throw new LifeboatError('LB_USAGE', `"${id}" is not a clone session id`);
  if (p.sub === 'list') {
    const q = new URLSearchParams({ limit: '1000' });
    const state = stringOption(p, 'state');
    if (state) q.set('state', state);
    const sessions = await api.getAll<SessionView>(`/api/v1/clones?${q}`);
    out(json, sessions, () => (sessions.length ? table([['ID', 'IMAGE', 'MACHINES', 'STATE', 'CREATED', 'REASON'], ...sessions.map((s) => [String(s.id), `${s.image}@${s.version}`, `${s.selection === 'count' ? 'next ' : ''}${s.requested}`, s.state, when(s.createdAt), s.stateReason ?? '-'])]) : 'no clone sessions\n'));
  } else if (p.sub === 'show') {
    const s = await api.get<SessionView>(`/api/v1/clones/${id}`);
    out(json, s, () => describeSession(s));
  } else {
    const s = await api.send<SessionView>('POST', `/api/v1/clones/${id}/cancel`);
    out(json, s, () => `clone session ${s.id} cancelled; its machines boot their own disks again\n`);
  }
  return 0;
}
