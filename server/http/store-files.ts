import { realpath } from 'node:fs/promises';
import { relative as relativePath, sep } from 'node:path';
import { LifeboatError, isLifeboatError } from '../../core/errors.js';
import { isImageName, VERSION_PATTERN } from '../../images/store/image-store.js';
import { pathError, resolveInside } from './file-stream.js';

/**
 * The store over HTTP serves files of published versions and nothing else: a path must name a file
 * under `<image>/<version>/`, where the version is a published one (only published versions have a
 * version name; a version being written is `.incoming-*`). The rule is checked twice: on the path
 * as sent, and on the real path after symlinks, so that a link inside a version leading into an
 * incoming directory, another image's tree or out of the store is refused all the same. Every
 * refusal is a 404: to a client, a file that is not published does not exist.
 */
function publishedParts(parts: string[]): boolean {
  return parts.length >= 3 && isImageName(parts[0]!) && VERSION_PATTERN.test(parts[1]!) && !parts.some((p) => p.startsWith('.'));
}

export async function resolvePublishedFile(store: string, relative: string): Promise<string> {
  const notPublished = () => new LifeboatError('LB_NOT_FOUND', `${relative.length > 120 ? `${relative.slice(0, 120)}…` : relative} is not a file of a published image version`);
  if (!publishedParts(relative.split('/').filter((p) => p !== ''))) throw notPublished();
  let real: string;
  try {
    real = await resolveInside(store, relative);
  } catch (e) {
    // Leading out of the store is, to the client, a file that does not exist.
    if (isLifeboatError(e) && e.code === 'LB_FORBIDDEN') throw notPublished();
    throw e;
  }
  const realStore = await realpath(store).catch((e: unknown) => {
    throw pathError(e, '/');
  });
  if (!publishedParts(relativePath(realStore, real).split(sep))) throw notPublished();
  return real;
}
