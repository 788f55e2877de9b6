import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { hasErrno } from '../../core/errors.js';
import { chainLayers, layerVolumePath } from '../archive/archive-chain.js';
import { parseSha256Sums } from './checksums.js';
import { checkManifest, type Manifest } from './manifest.js';
import type { VerifyProblem } from './verify.js';

/**
 * What can be known of a version without reading its volumes: the manifest is valid and matches
 * SHA256SUMS, and every volume a restore reads (its incremental chain's too) is there with the size
 * the manifest recorded. A server checks this when a task is created, in milliseconds for any
 * image; the volumes' hashes are proven by a full verify and by the agent before it writes.
 * Returns the manifest it parsed, for the checks that follow (null when it could not).
 */
export async function checkVersionShape(dir: string): Promise<{ problems: VerifyProblem[]; manifest: Manifest | null }> {
  const problems: VerifyProblem[] = [];
  let manifestText: string;
  let sums: Map<string, string>;
  try {
    manifestText = await readFile(join(dir, 'manifest.json'), 'utf8');
    sums = parseSha256Sums(await readFile(join(dir, 'SHA256SUMS'), 'utf8'), 'SHA256SUMS');
  } catch (e) {
    const path = (e as { path?: string }).path?.endsWith('manifest.json') ? 'manifest.json' : 'SHA256SUMS';
    return { problems: [{ path, problem: hasErrno(e, 'ENOENT') ? 'is missing: the version was never completed' : (e as Error).message }], manifest: null };
  }
  const hash = createHash('sha256').update(manifestText).digest('hex');
  if (sums.get('manifest.json') !== hash) problems.push({ path: 'manifest.json', problem: 'does not match its SHA256SUMS line: one of them was altered' });
  let manifest: Manifest;
  try {
    manifest = checkManifest(JSON.parse(manifestText), 'manifest.json');
  } catch (e) {
    return { problems: [...problems, { path: 'manifest.json', problem: (e as Error).message }], manifest: null };
  }
  const seen = new Set<string>();
  for (const entry of manifest.archives) {
    for (const layer of chainLayers(entry)) {
      for (const v of layer.volumes) {
        const path = layerVolumePath(layer, v.path);
        if (seen.has(path)) continue;
        seen.add(path);
        if (!layer.version && sums.has(v.path) && sums.get(v.path) !== v.sha256) {
          problems.push({ path, problem: 'has a different sha256 in manifest.json and SHA256SUMS: one of them was altered' });
        }
        const size = await stat(join(dir, path)).then((s) => s.size, (e: unknown) => (hasErrno(e, 'ENOENT') ? null : Promise.reject(e)));
        if (size === null) problems.push({ path, problem: layer.version ? `is missing: ${manifest.version} is an incremental version built on ${layer.version}` : 'is missing' });
        else if (size !== v.bytes) problems.push({ path, problem: `is ${size} bytes, not the ${v.bytes} its manifest recorded: the image is damaged; restore another version` });
      }
    }
  }
  return { problems, manifest };
}
