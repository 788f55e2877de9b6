import { rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { LifeboatError, hasErrno } from '../../core/errors.js';
import { runTool } from '../../core/run-tool.js';
import { checkImageName, listVersions, VERSION_PATTERN, type VersionInfo } from './image-store.js';
import { verifyVersion } from './verify.js';
import { makeDirs } from '../../core/make-dirs.js';

/**
 * Moves a version published elsewhere (the capture share) into the store: verified first, then
 * renamed (same filesystem) or copied into an incoming directory and renamed, so the store only
 * ever shows it whole. Keeps its version name, adding -2, -3… if the store already has that name.
 */
export async function adoptVersion(fromStore: string, store: string, image: string, version: string): Promise<VersionInfo> {
  checkImageName(image);
  if (!VERSION_PATTERN.test(version)) throw new LifeboatError('LB_INVALID', `"${version}" is not a version name`);
  const source = join(fromStore, image, version);
  const report = await verifyVersion(source);
  if (!report.ok) {
    const first = report.problems[0]!;
    throw new LifeboatError('LB_IMAGE_CORRUPT', `the captured version ${image}@${version} does not verify: ${first.path} ${first.problem}`, { problems: report.problems });
  }
  const imageDir = join(store, image);
  await makeDirs(imageDir);
  const incoming = join(imageDir, `.incoming-adopt-${randomBytes(4).toString('hex')}`);
  const sameDevice = (await stat(source)).dev === (await stat(imageDir)).dev;
  if (sameDevice) {
    await rename(source, incoming);
  } else {
    await runTool('cp', ['-a', '--', source, incoming], { purpose: `copy ${image}@${version} into the store` });
    await runTool('sync', ['-f', incoming]);
  }
  for (let n = 1; ; n++) {
    const name = n === 1 ? version : `${version}-${n}`;
    try {
      await rename(incoming, join(imageDir, name));
      if (!sameDevice) await rm(source, { recursive: true, force: true });
      const found = (await listVersions(store, image)).find((v) => v.version === name);
      if (!found) throw new LifeboatError('LB_INTERNAL', `${image}@${name} vanished after it was adopted`);
      return found;
    } catch (e) {
      if (hasErrno(e, 'EEXIST') || hasErrno(e, 'ENOTEMPTY')) continue;
      throw e;
    }
  }
}
