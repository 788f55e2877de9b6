import { readFile } from 'node:fs/promises';
import { LifeboatError } from '../core/errors.js';
import type { Host } from '../server/state/hosts.js';
import type { Task } from '../server/state/tasks.js';
import { apiClient, serverOptions } from './api-client.js';
import { checkIpv4Argument, checkMacArgument } from './address-args.js';
import { flag, listOption, requiredString, stringOption, type CommandSpec, type Parsed } from './args.js';
import { parseOrHelp, parseSubcommand, type CommandGroup } from './command-group.js';
import { table } from './text-table.js';
import { keepOptions } from './common-options.js';
import { retentionOptions } from './images-command.js';
import { formatBytes, parseSize } from '../core/sizes.js';
import { describePolicy, type RetentionPolicy } from '../images/retention/retention-plan.js';

const when = (ms: number | null) => (ms ? new Date(ms).toISOString().replace('T', ' ').slice(0, 19) : '-');

/** A subcommand of a group that talks to the API: parsed, with its client and --json. */
async function apiSubcommand(group: CommandGroup, argv: string[], check: (p: Parsed & { sub: string }) => void = () => undefined) {
  const p = parseSubcommand(group, argv);
  if (typeof p === 'number') return p;
  check(p); // before the token is read or the server asked
  return { p, sub: p.sub, api: await apiClient(p), json: flag(p, 'json') };
}

function out(json: boolean, value: unknown, text: () => string): void {
  process.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : text());
}

function describeTask(t: Task & { files?: string[] }): string {
  const lines = [
    `task ${t.id}: ${t.kind} ${t.image ? `${t.image}${t.version ? `@${t.version}` : ''}` : ''} for ${t.mac}`,
    `  state     ${t.state}`,
    `  created   ${when(t.createdAt)}   started ${when(t.startedAt)}   ended ${when(t.endedAt)}`,
  ];
  if (t.options.clone) lines.push(`  clone     session ${t.options.clone.session}, machine ${t.options.clone.n} (lifeboat clones show ${t.options.clone.session})`);
  if (t.options.identity?.hostname || t.options.identity?.ipv4) lines.push(`  identity  ${[t.options.identity.hostname, t.options.identity.ipv4].filter(Boolean).join(' ')}`);
  if (t.progress) lines.push(`  progress  ${t.progress.stage}${t.progress.message ? `: ${t.progress.message}` : ''}${t.progress.bytes !== undefined ? ` (${t.progress.bytes}${t.progress.totalBytes ? `/${t.progress.totalBytes}` : ''} bytes)` : ''}`);
  if (t.error) lines.push(`  error     ${t.errorCode ?? ''} ${t.error}`);
  if (t.result) lines.push(`  result    ${JSON.stringify(t.result)}`);
  if (t.files?.length) lines.push(`  files     ${t.files.join(', ')} (lifeboat tasks show ${t.id} --file NAME)`);
  return `${lines.join('\n')}\n`;
}

// ---- hosts ------------------------------------------------------------------------------------

const hostsSpecs: Record<string, CommandSpec> = {
  list: { name: 'hosts list', summary: 'List the machines the server has seen or been told about.', usage: 'lifeboat hosts list [--server URL] [--json]', options: serverOptions },
  show: { name: 'hosts show', summary: 'Show one machine and its tasks.', usage: 'lifeboat hosts show MAC [--server URL] [--json]', options: serverOptions, positionals: { min: 1, max: 1 } },
  'boot-script': {
    name: 'hosts boot-script',
    summary: 'Print the iPXE script the machine would boot now, without minting its task token (shown as MINTED-AT-BOOT).',
    usage: 'lifeboat hosts boot-script MAC [--server URL]',
    description: 'Unlike fetching /boot/MAC.ipxe, this changes nothing: no token is minted, a running task is left alone. Needs the admin token.',
    options: serverOptions,
    positionals: { min: 1, max: 1 },
  },
  'allow-backup': {
    name: 'hosts allow-backup',
    summary: "Let a machine send its own archives to this server: one writable NFS export of its image, for its address alone.",
    usage: 'lifeboat hosts allow-backup NAME --address IP|CIDR [--image NAME] [--quota SIZE|none] [--keep N] [--keep-daily N] [--keep-weekly N] [--keep-monthly N] [--server URL] [--json]',
    description:
      "The export is the image's directory in the store; every request from the machine runs as the backup uid (nfs.backupUid), which may add versions but not remove the server's. " +
      'The server verifies each new version, keeps it or quarantines it, and applies the retention rules itself (default --keep-daily 7 --keep-weekly 4). ' +
      'Given again, changes the address, quota or retention. On the machine: lifeboat schedule install NAME --server URL.',
    options: {
      ...serverOptions,
      address: { type: 'string', value: 'IP|CIDR', description: 'the address the machine mounts from (required)' },
      image: { type: 'string', value: 'NAME', description: 'the image its archives go into (default: NAME)' },
      quota: { type: 'string', value: 'SIZE|none', description: 'most its versions may take (e.g. 200G); a version past it is quarantined' },
      ...keepOptions(),
    },
    positionals: { min: 1, max: 1 },
  },
  'remove-backup': {
    name: 'hosts remove-backup',
    summary: "Withdraw a backup client's export; the versions it sent stay in the store.",
    usage: 'lifeboat hosts remove-backup NAME [--server URL]',
    options: serverOptions,
    positionals: { min: 1, max: 1 },
  },
  backups: {
    name: 'hosts backups',
    summary: 'List the backup clients: address, image, export, space used against the quota.',
    usage: 'lifeboat hosts backups [--server URL] [--json]',
    options: serverOptions,
  },
};

const MAC_SUBCOMMANDS = new Set(['show', 'boot-script']);

interface BackupClientView {
  name: string;
  address: string;
  image: string;
  quotaBytes: number | null;
  retention: RetentionPolicy;
  export: string | null;
  usage: { versions: number; bytes: number; quarantined: number };
}

function describeBackup(c: BackupClientView): string {
  const quota = c.quotaBytes === null ? 'no quota' : `quota ${formatBytes(c.quotaBytes)}`;
  return `${c.name} at ${c.address}: image ${c.image}, export ${c.export ?? '(no NFS share)'}, ${c.usage.versions} versions ${formatBytes(c.usage.bytes)} (${quota})${c.usage.quarantined ? `, ${c.usage.quarantined} quarantined` : ''}, keeps ${describePolicy(c.retention)}\n`;
}

async function allowBackup(p: Parsed, api: Awaited<ReturnType<typeof apiClient>>, json: boolean): Promise<void> {
  const address = requiredString(p, hostsSpecs['allow-backup']!, 'address');
  const quotaText = stringOption(p, 'quota');
  const image = stringOption(p, 'image');
  const retention = retentionOptions(p);
  const body = {
    address,
    ...(image ? { image } : {}),
    ...(quotaText ? { quotaBytes: quotaText === 'none' ? null : parseSize(quotaText, '--quota') } : {}),
    ...(Object.keys(retention).length ? { retention } : {}),
  };
  const c = await api.send<BackupClientView>('PUT', `/api/v1/backup-clients/${encodeURIComponent(p.positionals[0]!)}`, body);
  out(json, c, () => `${describeBackup(c)}on ${c.name}: lifeboat schedule install ${c.name} --server ${api.base}\n`);
}

const hostsGroup: CommandGroup = { name: 'hosts', summary: 'The machines the server knows (via the API).', specs: hostsSpecs };

export async function runHosts(argv: string[]): Promise<number> {
  const cmd = await apiSubcommand(hostsGroup, argv, (p) => MAC_SUBCOMMANDS.has(p.sub) && checkMacArgument(p.positionals[0]!, `hosts ${p.sub}`));
  if (typeof cmd === 'number') return cmd;
  const { p, sub, api, json } = cmd;
  if (sub === 'list') {
    const hosts = await api.getAll<Host>('/api/v1/hosts?limit=1000');
    out(json, hosts, () => (hosts.length ? table([['MAC', 'NAME', 'FIRMWARE', 'LAST SEEN', 'VIA', 'ADDRESS'], ...hosts.map((h) => [h.mac, h.name ?? '-', h.firmware, when(h.lastSeen), h.lastSeenVia ?? '-', h.lastAddress ?? '-'])]) : 'no hosts yet\n'));
  } else if (sub === 'allow-backup') {
    await allowBackup(p, api, json);
  } else if (sub === 'remove-backup') {
    const c = await api.send<BackupClientView>('DELETE', `/api/v1/backup-clients/${encodeURIComponent(p.positionals[0]!)}`);
    out(json, c, () => `${c.name} may no longer write image ${c.image}; its versions stay in the store\n`);
  } else if (sub === 'backups') {
    const list = await api.get<BackupClientView[]>('/api/v1/backup-clients');
    out(json, list, () => (list.length ? list.map(describeBackup).join('') : 'no backup clients: lifeboat hosts allow-backup NAME --address IP adds one\n'));
  } else if (sub === 'boot-script') {
    process.stdout.write(await api.getText(`/api/v1/hosts/${encodeURIComponent(p.positionals[0]!)}/boot-script`));
  } else {
    const r = await api.get<{ host: Host; tasks: Task[] }>(`/api/v1/hosts/${encodeURIComponent(p.positionals[0]!)}`);
    out(json, r, () => `${r.host.mac}${r.host.name ? ` (${r.host.name})` : ''}: ${r.host.firmware}, first seen ${when(r.host.firstSeen)}, last seen ${when(r.host.lastSeen)} via ${r.host.lastSeenVia ?? '-'}\n${r.tasks.map(describeTask).join('')}`);
  }
  return 0;
}

// ---- task (create) ------------------------------------------------------------------------------

const taskSpec: CommandSpec = {
  name: 'task',
  summary: 'Give a machine a one-shot task: it runs at its next PXE boot; afterwards the machine boots its own disk again.',
  usage: 'lifeboat task nuke|capture|compare --host MAC --image NAME[@VERSION] [--policy proportional|grow-last] [--map SRC=DST]… [--drop-disk SRC]… [--size WHAT=SIZE]… [--edits FILE] [--hostname NAME] [--ip ADDR] [--identity-hook FILE] [--dry-run] [--server URL]',
  description: 'nuke restores IMAGE onto the machine\'s disks; capture archives the machine as IMAGE; compare writes changed.txt.',
  options: {
    host: { type: 'string', value: 'MAC', description: 'the machine, by MAC address' },
    image: { type: 'string', value: 'NAME[@VERSION]', description: 'image to restore or compare against (newest version by default), or the name to capture as' },
    policy: { type: 'string', value: 'POLICY', description: 'nuke: size partitions for other disks: proportional or grow-last', default: 'proportional' },
    map: { type: 'string', value: 'SRC=DST', multiple: true, description: 'nuke: restore the image\'s disk SRC onto this machine\'s disk DST (e.g. /dev/sda=/dev/vdb); unmapped disks take the rest in order' },
    'drop-disk': { type: 'string', value: 'SRC', multiple: true, description: 'nuke: leave the image\'s disk SRC out (a RAID1 mirror becomes a one-disk array; what lives only there is refused)' },
    size: { type: 'string', value: 'WHAT=SIZE', multiple: true, description: 'nuke: give a source partition (/dev/sda2=20G) or logical volume (vg0/home=50G) this size instead of the policy\'s' },
    edits: { type: 'string', value: 'FILE', description: 'nuke: the same edits as JSON ({"diskMap":…, "dropDisks":…, "partitionSizes":…, "lvSizes":…}); the flags above add to it' },
    'dry-run': { type: 'boolean', description: 'nuke: plan and report the commands, write nothing' },
    hostname: { type: 'string', value: 'NAME', description: 'nuke: the restored machine\'s own hostname (a clone); it also gets a new machine-id and SSH host keys' },
    'identity-hook': { type: 'string', value: 'FILE', description: 'nuke: a shell script run in the restored system (chroot) after --hostname/--ip, with LIFEBOAT_HOSTNAME, LIFEBOAT_IPV4, LIFEBOAT_MAC, LIFEBOAT_MACHINE_ID, LIFEBOAT_IMAGE, LIFEBOAT_TASK_ID set' },
    ip: { type: 'string', value: 'ADDR[/PREFIX]', description: 'nuke: replace the image\'s static IPv4 address (ifupdown, netplan, NetworkManager, networkd, ifcfg); DHCP stays DHCP' },
    ...serverOptions,
  },
  positionals: { min: 1, max: 1 },
};

export async function runTask(argv: string[]): Promise<number> {
  const p = parseOrHelp(taskSpec, argv);
  if (!p) return 0;
  const kind = p.positionals[0]!;
  if (!['nuke', 'capture', 'compare'].includes(kind)) throw new LifeboatError('LB_USAGE', `task: "${kind}" is not a task kind: use nuke, capture or compare`);
  const policy = stringOption(p, 'policy') ?? 'proportional';
  if (!['proportional', 'grow-last'].includes(policy)) throw new LifeboatError('LB_USAGE', `--policy ${policy}: use proportional or grow-last`);
  const options: Record<string, unknown> = {};
  if (kind === 'nuke') {
    options.policy = policy;
    if (flag(p, 'dry-run')) options.dryRun = true;
    const editsFile = stringOption(p, 'edits');
    // The edits' schema library costs a tenth of a second to load: only when edits are given.
    const anyEdits = editsFile !== undefined || ['map', 'drop-disk', 'size'].some((o) => listOption(p, o).length > 0);
    const edits = anyEdits ? (await import('./plan-edit-options.js')).planEditsFromFlags({ ...(editsFile ? { editsFile } : {}), map: listOption(p, 'map'), dropDisks: listOption(p, 'drop-disk'), sizes: listOption(p, 'size') }) : undefined;
    if (edits) options.edits = edits;
    const hostname = stringOption(p, 'hostname');
    const ipGiven = stringOption(p, 'ip');
    const ip = ipGiven === undefined ? undefined : checkIpv4Argument(ipGiven, '--ip');
    const hookFile = stringOption(p, 'identity-hook');
    const hook = hookFile === undefined ? undefined : await readFile(hookFile, 'utf8').catch((e: NodeJS.ErrnoException) => {
      throw new LifeboatError('LB_USAGE', `--identity-hook ${hookFile}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`);
    });
    if (hostname !== undefined || ip !== undefined || hook !== undefined) {
      options.identity = { ...(hostname !== undefined ? { hostname } : {}), ...(ip !== undefined ? { ipv4: ip } : {}), ...(hook !== undefined ? { hook } : {}) };
    }
  } else if (['map', 'drop-disk', 'size', 'edits', 'dry-run', 'hostname', 'ip', 'identity-hook'].some((o) => p.values[o] !== undefined)) {
    throw new LifeboatError('LB_USAGE', `task ${kind}: --map, --drop-disk, --size, --edits, --hostname, --ip, --identity-hook and --dry-run are for nuke only`);
  }
  const mac = checkMacArgument(requiredString(p, taskSpec, 'host'), '--host');
  const image = requiredString(p, taskSpec, 'image');
  const api = await apiClient(p);
  const task = await api.send<Task>('POST', '/api/v1/tasks', { kind, mac, image, options });
  out(flag(p, 'json'), task, () => `task ${task.id} created: ${task.kind} ${task.image}${task.version ? `@${task.version}` : ''} for ${task.mac}; it runs when the machine PXE-boots\n`);
  return 0;
}

// ---- tasks ----------------------------------------------------------------------------------------

const tasksSpecs: Record<string, CommandSpec> = {
  list: {
    name: 'tasks list',
    summary: 'List tasks, newest first.',
    usage: 'lifeboat tasks list [--host MAC] [--state STATE] [--server URL] [--json]',
    options: { host: { type: 'string', value: 'MAC', description: 'only this machine\'s tasks' }, state: { type: 'string', value: 'STATE', description: 'pending, running, done, failed or cancelled' }, ...serverOptions },
  },
  show: {
    name: 'tasks show',
    summary: 'Show one task: state, progress, result or error, and its files.',
    usage: 'lifeboat tasks show ID [--file NAME] [--server URL] [--json]',
    options: { file: { type: 'string', value: 'NAME', description: 'print a file the task stored (e.g. changed.txt)' }, ...serverOptions },
    positionals: { min: 1, max: 1 },
  },
  cancel: { name: 'tasks cancel', summary: 'Cancel an open task; the machine boots its own disk again.', usage: 'lifeboat tasks cancel ID [--server URL]', options: serverOptions, positionals: { min: 1, max: 1 } },
  rearm: {
    name: 'tasks rearm',
    summary: 'Run a failed task again (e.g. one that failed LB_INTERRUPTED because its machine booted again mid-task), or free a pending task from the boot its token was bound to.',
    usage: 'lifeboat tasks rearm ID [--server URL]',
    description: 'The task goes back to pending with no token and nothing of its last run (result, error, progress, files; the events keep what happened). It runs at the machine\'s next network boot, which mints a new token. Needs the admin token.',
    options: serverOptions,
    positionals: { min: 1, max: 1 },
  },
};

const tasksGroup: CommandGroup = { name: 'tasks', summary: 'Tasks the server holds (via the API).', specs: tasksSpecs };

export async function runTasks(argv: string[]): Promise<number> {
  const cmd = await apiSubcommand(tasksGroup, argv, (p) => {
    const given = p.positionals[0];
    if (given !== undefined && !/^\d+$/.test(given)) throw new LifeboatError('LB_USAGE', `"${given}" is not a task id: task ids are whole numbers (lifeboat tasks list shows them)`);
    const host = stringOption(p, 'host');
    if (host !== undefined) checkMacArgument(host, '--host');
  });
  if (typeof cmd === 'number') return cmd;
  const { p, sub, api, json } = cmd;
  const id = p.positionals[0];
  if (sub === 'list') {
    const q = new URLSearchParams();
    const host = stringOption(p, 'host');
    const state = stringOption(p, 'state');
    if (host) q.set('mac', host);
    if (state) q.set('state', state);
    q.set('limit', '1000');
    const tasks = await api.getAll<Task>(`/api/v1/tasks?${q}`);
    out(json, tasks, () => (tasks.length ? table([['ID', 'KIND', 'HOST', 'IMAGE', 'STATE', 'CREATED', 'PROGRESS'], ...tasks.map((t) => [String(t.id), t.kind, t.mac, `${t.image ?? '-'}${t.version ? `@${t.version}` : ''}`, t.state, when(t.createdAt), t.progress?.stage ?? '-'])]) : 'no tasks\n'));
  } else if (sub === 'show') {
    const file = stringOption(p, 'file');
    if (file) {
      process.stdout.write(await api.getText(`/api/v1/tasks/${id}/files/${encodeURIComponent(file)}`));
    } else {
      const t = await api.get<Task>(`/api/v1/tasks/${id}`);
      out(json, t, () => describeTask(t));
    }
  } else if (sub === 'rearm') {
    const t = await api.send<Task>('POST', `/api/v1/tasks/${id}/rearm`);
    out(json, t, () => `task ${t.id} re-armed: ${t.kind} for ${t.mac} runs at its next network boot\n`);
  } else {
    const t = await api.send<Task>('POST', `/api/v1/tasks/${id}/cancel`);
    out(json, t, () => `task ${t.id} cancelled; ${t.mac} boots its own disk again\n`);
  }
  return 0;
}
