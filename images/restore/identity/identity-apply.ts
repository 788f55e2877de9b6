import { randomBytes } from 'node:crypto';
import { lstat, readdir, readFile, rename, rm, writeFile, chown, chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { runTool } from '../../../core/run-tool.js';
import { IDENTITY_DIRS, IDENTITY_FILES, planIdentity, type CloneIdentity, type IdentityPlan, type TreeFile } from './identity-plan.js';

/** Files larger than this are not configuration: read as opaque (a lease is deleted unread). */
const MAX_TEXT = 256 << 10;

/** The identity files of the tree at root, as planIdentity reads them. Symlinks are left alone (never written through). */
export async function snapshotTree(root: string): Promise<Map<string, TreeFile>> {
  const paths = [...IDENTITY_FILES];
  for (const dir of IDENTITY_DIRS) {
    const names = await readdir(join(root, dir)).catch(() => [] as string[]);
    paths.push(...names.sort().map((n) => `${dir}/${n}`));
  }
  const tree = new Map<string, TreeFile>();
  for (const path of new Set(paths)) {
    const st = await lstat(join(root, path)).catch(() => null);
    if (!st?.isFile()) continue;
    let text: string | null = null;
    if (st.size <= MAX_TEXT && !/\/ssh_host_/.test(path)) {
      const bytes = await readFile(join(root, path));
      text = bytes.includes(0) ? null : bytes.toString('utf8');
    }
    tree.set(path, { text, mode: st.mode & 0o7777 });
  }
  return tree;
}

export function newMachineId(): string {
  return randomBytes(16).toString('hex');
}

export interface AppliedIdentity {
  plan: IdentityPlan;
  machineId: string;
  /** `ssh-keygen -l` lines of the new host keys. */
  sshFingerprints: string[];
}

/**
 * Makes the restored tree at root its own machine. Files are replaced whole (a temporary file
 * renamed over the old one, owner and mode kept), so an interruption leaves each file old or new.
 */
export async function applyIdentity(root: string, wanted: Omit<CloneIdentity, 'machineId'> & { machineId?: string }): Promise<AppliedIdentity> {
  const identity: CloneIdentity = { ...wanted, machineId: wanted.machineId ?? newMachineId() };
  const plan = planIdentity(await snapshotTree(root), identity);
  let fingerprints: string[] = [];
  for (const change of plan.changes) {
    if (change.kind === 'delete') await rm(join(root, change.path), { force: true });
    else if (change.kind === 'write') await replaceFile(join(root, change.path), change.text, change.mode);
  }
  if (plan.changes.some((c) => c.kind === 'ssh-host-keys')) fingerprints = await newHostKeys(root);
  return { plan, machineId: identity.machineId, sshFingerprints: fingerprints };
}

async function replaceFile(path: string, text: string, mode: number): Promise<void> {
  const old = await lstat(path).catch(() => null);
  const tmp = `${path}.lifeboat-${process.pid}`;
  await writeFile(tmp, text, { mode });
  await chmod(tmp, mode);
  if (old) await chown(tmp, old.uid, old.gid);
  await rename(tmp, path);
}

/**
 * Every default key type, written under root/etc/ssh by our ssh-keygen (the rescue system carries
 * one): not the restored system's own through chroot, which would need its /dev and libraries.
 */
async function newHostKeys(root: string): Promise<string[]> {
  await runTool('ssh-keygen', ['-A', '-f', root], { purpose: 'generate SSH host keys for the restored system' });
  const names = (await readdir(join(root, 'etc/ssh'))).filter((n) => /^ssh_host_.*_key\.pub$/.test(n)).sort();
  const lines: string[] = [];
  for (const n of names) lines.push((await runTool('ssh-keygen', ['-l', '-f', join(root, 'etc/ssh', n)])).stdout.trim());
  return lines;
}

/** identity.txt: what was changed, file by file, and what was looked at and left. */
export function renderIdentityReport(applied: AppliedIdentity): string {
  const lines = [`machine-id ${applied.machineId}`];
  for (const c of applied.plan.changes) {
    if (c.kind === 'write') lines.push(`write  ${c.path}: ${c.why}`);
    else if (c.kind === 'delete') lines.push(`delete ${c.path}: ${c.why}`);
    else lines.push(`ssh    ${c.why}`);
  }
  for (const f of applied.sshFingerprints) lines.push(`ssh    ${f}`);
  for (const n of applied.plan.notes) lines.push(`note   ${n}`);
  return `${lines.join('\n')}\n`;
}
