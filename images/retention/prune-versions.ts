import { LifeboatError } from '../../core/errors.js';
import { componentLogger } from '../../core/log.js';
import { readManifest } from '../store/manifest.js';
import { verifyVersion } from '../store/verify.js';
import type { VersionInfo } from '../store/image-store.js';
import { hasRetentionRules, planRetention, type RetentionCandidate, type RetentionDecision, type RetentionPolicy } from './retention-plan.js';

/**
 * Retention applied to one image's published versions: read each version's dependencies from its
 * manifest, plan, and — only when the plan removes something — find the newest version that is
 * restorable (it and every version it builds on verify) and keep it whatever the rules say. A
 * scheduled archive that went wrong can then never cost the last good version.
 */
const log = componentLogger('retention');

export interface RetentionOutcome {
  decisions: RetentionDecision[];
  /** Versions to remove, newest first: an interrupted prune never leaves an increment without its base. */
  remove: VersionInfo[];
  /** The newest version proven restorable, when the plan removed anything. */
  verified: string | null;
}

export type RestorableCheck = (version: VersionInfo, chain: VersionInfo[]) => Promise<boolean>;

/** A version is restorable when it and each version of its chain verify; results are remembered per prune. */
function verifyingCheck(): RestorableCheck {
  const seen = new Map<string, Promise<boolean>>();
  const ok = (v: VersionInfo) => {
    if (!seen.has(v.dir)) seen.set(v.dir, verifyVersion(v.dir).then((r) => r.ok));
    return seen.get(v.dir)!;
  };
  return async (version, chain) => {
    for (const v of [...chain, version]) if (!(await ok(v))) return false;
    return true;
  };
}

export async function planVersionRemovals(image: string, versions: VersionInfo[], policy: RetentionPolicy, options: { restorable?: RestorableCheck } = {}): Promise<RetentionOutcome> {
  if (!hasRetentionRules(policy) || versions.length === 0) return { decisions: versions.map((v) => ({ version: v.version, keep: true, reasons: ['no retention rule'] })), remove: [], verified: null };
  const candidates: RetentionCandidate[] = [];
  for (const v of versions) {
    const manifest = await readManifest(v.dir).catch(() => null);
    candidates.push({ version: v.version, createdAt: v.createdAt, dependsOn: manifest ? (manifest.incremental?.chain ?? []) : null });
  }
  let decisions = planRetention(candidates, policy);
  if (decisions.every((d) => d.keep)) return { decisions, remove: [], verified: null };

  const restorable = options.restorable ?? verifyingCheck();
  const byName = new Map(versions.map((v) => [v.version, v]));
  let verified: string | null = null;
  for (const d of decisions) {
    const v = byName.get(d.version)!;
    const chain = (candidates.find((c) => c.version === d.version)!.dependsOn ?? []).map((c) => byName.get(c)).filter((x): x is VersionInfo => x !== undefined);
    if (await restorable(v, chain)) {
      verified = d.version;
      break;
    }
    log.warn({ image, version: d.version }, 'version does not verify; looking at an older one to protect');
  }
  if (!verified) {
    throw new LifeboatError('LB_IMAGE_CORRUPT', `no version of ${image} verifies, so prune removed nothing: run lifeboat images verify ${image} --store … to see what is damaged, and archive a new version`);
  }
  decisions = planRetention(candidates, policy, { protect: verified });
  const remove = decisions.filter((d) => !d.keep).map((d) => byName.get(d.version)!);
  return { decisions, remove, verified };
}
