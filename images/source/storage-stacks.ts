import { existsSync } from 'node:fs';
import { readdir, readFile, realpath } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { isLifeboatError } from '../../core/errors.js';
import { componentLogger } from '../../core/log.js';
import { hasTool, runTool } from '../../core/run-tool.js';
import { parseBlkidExport } from '../layout/parse-blkid.js';
import { parseMdstat } from '../layout/parse-mdstat.js';

/**
 * Disk mode (archive --disk, the capture task) on disks that carry md RAID or LVM: nothing on them
 * is assembled when the rescue system starts (no udev, no mdadm.conf), so the filesystems inside
 * could be neither probed nor archived. This starts what the disks hold, read-only, and stops it
 * afterwards:
 * - md arrays: `mdadm --assemble --readonly --run`, named as the source named them where that name
 *   is free (0.90 preferred minor, a 1.x name "host:N"); a read-only array writes no superblock
 *   and starts no resync.
 * - LVM: `vgchange -ay` with `metadata_read_only` (nothing on disk is changed, not even a repair),
 *   the VG in `read_only_volume_list` (its LVs are read-only devices) and backups off (nothing is
 *   written to /etc/lvm), then `vgmknodes`.
 * Arrays and VGs already running on this machine are left as they are. What cannot be started is
 * said, not fatal: the archive goes on with what it can read.
 */
const log = componentLogger('stacks');

// backup/archive off: vgchange otherwise writes the VG's metadata into /etc/lvm when it finds no
// backup there (measured: even with metadata_read_only).
const LVM_READ_ONLY = (vg: string) =>
  `global { metadata_read_only = 1 } activation { read_only_volume_list = [ "${vg}" ] } devices { hints = "none" use_devicesfile = 0 } backup { backup = 0 archive = 0 }`;
const NODE_WAIT_MS = 10_000;

export interface StartedStacks {
  arrays: string[];
  vgs: string[];
  notes: string[];
  /** Deactivates the VGs and stops the arrays it started; safe to call twice. */
  release(): Promise<void>;
}

function errorLine(e: unknown): string {
  const text = isLifeboatError(e) || e instanceof Error ? e.message : String(e);
  return text.split('\n').map((l) => l.trim()).filter(Boolean).slice(-2).join(' ');
}

/** A disk and every partition of it, from sysfs. */
async function withPartitions(disk: string): Promise<string[]> {
  const name = basename(await realpath(disk));
  const entries = await readdir(join('/sys/class/block', name)).catch(() => [] as string[]);
  const parts = entries.filter((e) => e.startsWith(name) && existsSync(join('/sys/class/block', name, e, 'partition'))).map((e) => `/dev/${e}`);
  return [disk, ...parts];
}

async function hasHolders(device: string): Promise<boolean> {
  const name = basename(await realpath(device).catch(() => device));
  return (await readdir(join('/sys/class/block', name, 'holders')).catch(() => [] as string[])).length > 0;
}

async function waitFor(paths: string[]): Promise<boolean> {
  const until = Date.now() + NODE_WAIT_MS;
  while (Date.now() < until) {
    if (paths.every((p) => existsSync(p))) return true;
    await sleep(100);
  }
  return false;
}

/** The md device to assemble a set as: the source's own number when free, else one mdadm picks. */
async function arrayName(examine: string, uuid: string): Promise<string> {
  const minor = /Preferred Minor\s*:\s*(\d+)/.exec(examine)?.[1];
  const name = /^\s*Name\s*:\s*(\S+)/m.exec(examine)?.[1];
  const number = minor ?? (name && /^(?:[^:]*:)?(\d+)$/.exec(name)?.[1]);
  if (number !== undefined && !existsSync(`/sys/block/md${number}`)) return `/dev/md${number}`;
  return `/dev/md/lifeboat-${uuid.replace(/[^0-9a-f]/gi, '').slice(0, 8).toLowerCase()}`;
}

async function activeMdNames(): Promise<Set<string>> {
  const text = await readFile('/proc/mdstat', 'utf8').catch(() => '');
  return new Set(parseMdstat(text).map((a) => a.name));
}

export async function startStacksReadOnly(disks: string[]): Promise<StartedStacks> {
  const arrays: string[] = [];
  const vgs: string[] = [];
  const notes: string[] = [];
  const note = (text: string) => {
    notes.push(text);
    log.info({ note: text }, 'storage stack note');
  };
  let released = false;
  const release = async () => {
    if (released) return;
    released = true;
    for (const vg of [...vgs].reverse()) {
      await runTool('vgchange', ['-an', '--config', LVM_READ_ONLY(vg), vg], { env: { LVM_SUPPRESS_FD_WARNINGS: '1' } }).catch((e) => log.warn({ vg, err: errorLine(e) }, 'could not deactivate volume group'));
    }
    for (const md of [...arrays].reverse()) {
      await runTool('mdadm', ['--stop', md]).catch((e) => log.warn({ md, err: errorLine(e) }, 'could not stop array'));
    }
  };

  const devices = (await Promise.all(disks.map(withPartitions))).flat();
  if (devices.length === 0) return { arrays, vgs, notes, release };
  const probe = await runTool('blkid', ['-p', '-o', 'export', ...devices], { okExitCodes: [0, 2, 8] });
  const members = parseBlkidExport(probe.stdout).filter((b) => b.type === 'linux_raid_member' && b.uuid);
  const pvs = new Set(parseBlkidExport(probe.stdout).filter((b) => b.type === 'LVM2_member').map((b) => b.device));

  if (members.length > 0 && !(await hasTool('mdadm'))) {
    note(`${members.map((m) => m.device).join(', ')} hold md RAID members but mdadm is not installed: the arrays are not archived; install the Debian package mdadm`);
  } else if (members.length > 0) {
    const sets = new Map<string, string[]>();
    for (const m of members) sets.set(m.uuid!, [...(sets.get(m.uuid!) ?? []), m.device]);
    for (const [uuid, list] of sets) {
      const busy = [];
      for (const d of list) if (await hasHolders(d)) busy.push(d);
      if (busy.length > 0) {
        log.debug({ uuid, busy }, 'array already running here');
        continue;
      }
      try {
        const examine = (await runTool('mdadm', ['--examine', list[0]!])).stdout;
        const device = await arrayName(examine, uuid);
        const before = await activeMdNames();
        await runTool('mdadm', ['--assemble', '--readonly', '--run', device, `--uuid=${uuid}`, ...list], { purpose: `start md array ${uuid} read-only from ${list.join(', ')}` });
        const started = [...(await activeMdNames())].find((n) => !before.has(n));
        const node = started ? `/dev/${started}` : device;
        arrays.push(node);
        if (!(await waitFor([node]))) note(`md array ${uuid} was started but ${node} did not appear`);
        for (const d of [node]) pvs.add(d);
      } catch (e) {
        note(`md array ${uuid} on ${list.join(', ')} could not be started read-only (${errorLine(e)}): the filesystems on it are not archived`);
      }
    }
  }

  // LVM PVs on the disks or on the arrays just started.
  if (arrays.length > 0) {
    const more = await runTool('blkid', ['-p', '-o', 'export', ...arrays], { okExitCodes: [0, 2, 8] }).catch(() => undefined);
    for (const b of parseBlkidExport(more?.stdout ?? '')) if (b.type === 'LVM2_member') pvs.add(b.device);
  }
  if (pvs.size === 0) return { arrays, vgs, notes, release };
  if (!(await hasTool('lvm'))) {
    note(`${[...pvs].join(', ')} are LVM PVs but lvm2 is not installed: their volume groups are not archived; install the Debian package lvm2`);
    return { arrays, vgs, notes, release };
  }
  try {
    const r = await runTool('lvm', ['pvs', '--readonly', '--config', 'devices { hints = "none" use_devicesfile = 0 }', '--reportformat', 'json', '-o', 'pv_name,vg_name'], { env: { LVM_SUPPRESS_FD_WARNINGS: '1' } });
    const start = r.stdout.indexOf('{');
    const report = JSON.parse(start >= 0 ? r.stdout.slice(start) : '{}') as { report?: Array<{ pv?: Array<{ pv_name: string; vg_name: string }> }> };
    const ours = new Set<string>();
    for (const p of await Promise.all([...pvs].map((d) => realpath(d).catch(() => d)))) ours.add(p);
    const wanted = new Set<string>();
    for (const row of report.report?.[0]?.pv ?? []) {
      if (!row.vg_name) continue;
      if (ours.has(await realpath(row.pv_name).catch(() => row.pv_name))) wanted.add(row.vg_name);
    }
    for (const vg of wanted) {
      if ((await readdir('/dev/mapper').catch(() => [] as string[])).some((n) => n.startsWith(`${vg.replaceAll('-', '--')}-`))) {
        log.debug({ vg }, 'volume group already active here');
        continue;
      }
      try {
        await runTool('vgchange', ['-ay', '--sysinit', '--config', LVM_READ_ONLY(vg), vg], { env: { LVM_SUPPRESS_FD_WARNINGS: '1' }, purpose: `activate volume group ${vg} read-only` });
        vgs.push(vg);
        await runTool('vgmknodes', ['--config', LVM_READ_ONLY(vg), vg], { env: { LVM_SUPPRESS_FD_WARNINGS: '1' } }).catch(() => undefined);
      } catch (e) {
        note(`volume group ${vg} could not be activated read-only (${errorLine(e)}): the filesystems on its LVs are not archived`);
      }
    }
  } catch (e) {
    note(`LVM on ${[...pvs].join(', ')} could not be read (${errorLine(e)}): its volume groups are not archived`);
  }
  return { arrays, vgs, notes, release };
}
