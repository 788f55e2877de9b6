import { LifeboatError } from '../../core/errors.js';
import { IMAGE_NAME_RULE, isImageName, VERSION_PATTERN } from '../../images/store/image-store.js';
import type { TaskKind } from '../../netboot/task-protocol.js';
import { checkVersionShape } from '../../images/store/version-shape.js';
import type { Manifest } from '../../images/store/manifest.js';
import { imageRefusal } from '../task-readiness.js';
import type { HttpContext } from './context.js';

/**
 * The image a task names, checked where it enters: the name ends up in the iPXE script's echo
 * line, in store paths and in the agent's commands, so a name with a newline or a `..` is refused
 * when the task is created, with the store's own rule, not when the task finishes.
 */
export interface ImageRef {
  name: string;
  version: string | null;
}

export function parseImageRef(text: string, kind: TaskKind): ImageRef {
  const at = text.indexOf('@');
  const name = at < 0 ? text : text.slice(0, at);
  const version = at < 0 ? null : text.slice(at + 1);
  if (!isImageName(name)) {
    throw new LifeboatError('LB_INVALID', `body/image: image name ${JSON.stringify(name)} is not allowed: use ${IMAGE_NAME_RULE}`);
  }
  if (version !== null) {
    if (kind === 'capture') throw new LifeboatError('LB_INVALID', 'body/image: a capture names the image to publish, without @VERSION: the version is the time the capture finishes');
    if (!VERSION_PATTERN.test(version)) {
      throw new LifeboatError('LB_INVALID', `body/image: version ${JSON.stringify(version)} is not a version name: versions are UTC times such as 20261127T141300Z (lifeboat images list shows them)`);
    }
  }
  return { name, version };
}

/** The catalog entry a nuke or compare of `image` (NAME or NAME@VERSION) uses: present and readable, or refused. */
export async function resolveUsableImage(ctx: Pick<HttpContext, 'catalog' | 'store' | 'verifications'>, image: string): Promise<{ name: string; version: string; manifest: Manifest }> {
  await ctx.catalog.refresh();
  const entry = ctx.catalog.resolve(image);
  if (!entry) throw new LifeboatError('LB_NOT_FOUND', `image ${image} is not in the store ${ctx.store}: lifeboat images list shows what is`);
  if ('error' in entry.summary) throw new LifeboatError('LB_IMAGE_CORRUPT', `image ${entry.name}@${entry.version} cannot be used: ${entry.summary.error}`);
  if (entry.summary.tree !== undefined) {
    throw new LifeboatError('LB_INVALID', `image ${entry.name}@${entry.version} is a directory tree (${entry.summary.tree}, archived with --path), not a machine: it has no disks to put on one; get its files back with lifeboat restore ${entry.name}@${entry.version} --to DIR`);
  }
  const shape = await checkVersionShape(entry.dir);
  const refusal = imageRefusal(`${entry.name}@${entry.version}`, shape.problems, ctx.verifications.get(entry.name, entry.version));
  if (refusal) throw refusal;
  return { name: entry.name, version: entry.version, manifest: shape.manifest! };
}
