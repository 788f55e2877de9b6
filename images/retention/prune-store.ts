import { lstat, readdir, readFile, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { LifeboatError, hasErrno } from '../../core/errors.js';
import { INCOMING_PREFIX, bootId, checkImageName, listImages, listVersions } from '../store/image-store.js';
import { checkRetentionPolicy, describePolicy, hasRetentionRules, type RetentionPolicy } from './retention-plan.js';
import { planVersionRemovals, type RetentionOutcome } from './prune-versions.js';

// Retention uses the store; the store knows nothing of retention.

export interface PruneAction {
  path: string;
  reason: string;
}

/** The latest modification time in a tree (ms), without following links; null when it is gone. */
async function newestChange(path: string): Promise<number | null> {
  const st = await lstat(path).catch(() => null);
  if (!st) return null;
  let newest = st.mtimeMs;
  if (st.isDirectory()) {
    for (const name of await readdir(path).catch(() => [])) {
      const t = await newestChange(join(path, name));
      if (t !== null && t > newest) newest = t;
    }
  }
  return newest;
}

/**
 * Whether the archive writing an incoming directory still runs. One of this machine is asked by
 * its PID; one of another machine (a backup client writing over NFS) cannot be, so it counts as
 * running while anything in its directory changed within `remoteStaleMs`.
 */
async function writerAlive(ownerFile: string, incomingDir: string, remoteStaleMs: number): Promise<boolean> {
  try {
    const owner = JSON.parse(await readFile(ownerFile, 'utf8')) as { pid: number; host: string; bootId: string };
    if (owner.host !== hostname()) {
      const newest = await newestChange(incomingDir);
      return newest !== null && Date.now() - newest < remoteStaleMs;
    }
    if (owner.bootId !== (await bootId())) return false;
    process.kill(owner.pid, 0);
    return true;
  } catch {
    return false;
  }
}

export interface PruneOptions extends RetentionPolicy {
  image?: string;
  dryRun?: boolean;
  /** An incoming directory another machine writes is abandoned once nothing in it changed for this long (default an hour). */
  remoteStaleMs?: number;
  /** Each image's retention decisions, for callers that show what is kept and why. */
  onPlan?: (image: string, outcome: RetentionOutcome) => void;
}

/**
 * Removes incoming directories whose writer is gone, and versions the retention rules (--keep,
 * --keep-daily/weekly/monthly) do not keep — never the newest version that verifies, nor a version
 * a kept incremental version builds on (images/retention/). With dryRun it only says what it would remove.
 */
export async function pruneStore(store: string, options: PruneOptions): Promise<PruneAction[]> {
  const policy = checkRetentionPolicy({
    ...(options.keepLast !== undefined ? { keepLast: options.keepLast } : {}),
    ...(options.keepDaily !== undefined ? { keepDaily: options.keepDaily } : {}),
    ...(options.keepWeekly !== undefined ? { keepWeekly: options.keepWeekly } : {}),
    ...(options.keepMonthly !== undefined ? { keepMonthly: options.keepMonthly } : {}),
  });
  const remoteStaleMs = options.remoteStaleMs ?? 3_600_000;
  const images = options.image ? [checkImageName(options.image)] : (await listImages(store)).map((i) => i.image);
  const actions: PruneAction[] = [];
  for (const image of images) {
    const imageDir = join(store, image);
    let names: string[] = [];
    try {
      names = await readdir(imageDir);
    } catch (e) {
      if (hasErrno(e, 'ENOENT')) throw new LifeboatError('LB_NOT_FOUND', `image ${image} does not exist in ${store}`);
      throw e;
    }
    for (const n of names) {
      if (n.startsWith(INCOMING_PREFIX) && !n.endsWith('.owner')) {
        const path = join(imageDir, n);
        if (await writerAlive(`${path}.owner`, path, remoteStaleMs)) continue;
        actions.push({ path, reason: 'incomplete version left by an archive that did not finish' });
      } else if (n.startsWith(INCOMING_PREFIX) && n.endsWith('.owner') && !names.includes(n.slice(0, -'.owner'.length))) {
        if (!(await writerAlive(join(imageDir, n), join(imageDir, n.slice(0, -'.owner'.length)), remoteStaleMs))) actions.push({ path: join(imageDir, n), reason: 'owner file of a removed incoming version' });
      }
    }
    if (hasRetentionRules(policy)) {
      const outcome = await planVersionRemovals(image, await listVersions(store, image), policy);
      options.onPlan?.(image, outcome);
      for (const v of outcome.remove) actions.push({ path: v.dir, reason: `not kept by ${describePolicy(policy)}` });
    }
  }
  if (!options.dryRun) {
    for (const a of actions) {
      await rm(a.path, { recursive: true, force: true });
      if (a.path.includes(INCOMING_PREFIX) && !a.path.endsWith('.owner')) await rm(`${a.path}.owner`, { force: true });
    }
  }
  return actions;
}
