import { LifeboatError } from '../../core/errors.js';
import { archiveLayers, parseDumpdir } from '../archive/archive-chain.js';
import type { TarEntry } from '../archive/tar-parse.js';
import type { VolumeOpener } from '../archive/tar-read.js';
import type { ArchiveEntry } from '../store/manifest.js';

/**
 * The tree an incremental chain stands for, computed from the archives alone the way
 * `tar --listed-incremental=/dev/null` extraction builds it on disk: layer by layer, each
 * directory's listing (GNU.dumpdir) first applies the renames it records, then drops every entry
 * the directory no longer holds, then the layer's own entries replace the older ones. Keys are
 * paths relative to the filesystem root ("" is the root, "etc/hosts").
 */
export class ChainTree<F extends Pick<TarEntry, 'type' | 'dumpdir'>> {
  readonly facts = new Map<string, F>();
  private readonly children = new Map<string, Set<string>>();
  /** What a rename parked in tar's temporary directory (cyclic renames: a→tmp, c→a, tmp→c). */
  private parked: Array<[string, F]> | null = null;

  private static parent(rel: string): [string, string] {
    const slash = rel.lastIndexOf('/');
    return slash === -1 ? ['', rel] : [rel.slice(0, slash), rel.slice(slash + 1)];
  }

  private set(rel: string, f: F): void {
    this.facts.set(rel, f);
    if (rel === '') return;
    const [dir, name] = ChainTree.parent(rel);
    let set = this.children.get(dir);
    if (!set) this.children.set(dir, (set = new Set()));
    set.add(name);
  }

  /** Removes rel and everything under it; returns what was removed, relative to rel, parents first. */
  private take(rel: string): Array<[string, F]> {
    const out: Array<[string, F]> = [];
    const walk = (path: string, suffix: string) => {
      const f = this.facts.get(path);
      if (f !== undefined) out.push([suffix, f]);
      this.facts.delete(path);
      const kids = this.children.get(path);
      this.children.delete(path);
      for (const k of kids ?? []) walk(path === '' ? k : `${path}/${k}`, suffix === '' ? k : `${suffix}/${k}`);
    };
    walk(rel, '');
    if (rel !== '') {
      const [dir, name] = ChainTree.parent(rel);
      this.children.get(dir)?.delete(name);
    }
    return out;
  }

  private put(rel: string, subtree: Array<[string, F]>): void {
    for (const [suffix, f] of subtree) this.set(suffix === '' ? rel : rel === '' ? suffix : `${rel}/${suffix}`, f);
  }

  /** Applies one archive's entries, in archive order. */
  apply(layer: Map<string, F>): void {
    for (const [rel, f] of layer) {
      if (f.type === 'dir' && f.dumpdir) this.applyListing(rel, f.dumpdir);
      this.set(rel, f);
    }
  }

  private applyListing(dir: string, raw: Buffer): void {
    const records = parseDumpdir(raw);
    const names = new Set<string>();
    let from: string | null = null;
    const relOf = (p: string) => p.replace(/^\.\/?/, '').replace(/\/+$/, '');
    for (const r of records) {
      if (r.code === 'Y' || r.code === 'N' || r.code === 'D') names.add(r.name);
      else if (r.code === 'R') from = r.name;
      else if (r.code === 'T') {
        if (from === null) throw new LifeboatError('LB_IMAGE_CORRUPT', `a directory listing in an incremental archive renames to ${r.name} without a source`);
        // '' is tar's temporary directory, used to break rename cycles.
        const moved = from === '' ? (this.parked ?? []) : this.take(relOf(from));
        if (from === '') this.parked = null;
        if (r.name === '') this.parked = moved;
        else this.put(relOf(r.name), moved);
        from = null;
      }
    }
    for (const name of [...(this.children.get(dir) ?? [])]) {
      if (!names.has(name)) this.take(dir === '' ? name : `${dir}/${name}`);
    }
  }
}

/** Layers in order, each read by `read` into a map keyed by relative path, merged into one tree. */
export async function mergeChain<F extends Pick<TarEntry, 'type' | 'dumpdir'>>(
  entry: ArchiveEntry,
  open: VolumeOpener,
  read: (open: VolumeOpener, layer: ReturnType<typeof archiveLayers>[number]) => Promise<Map<string, F>>,
): Promise<Map<string, F>> {
  const layers = archiveLayers(entry, open);
  if (layers.length === 1 && !layers[0]!.incremental) return read(open, layers[0]!);
  const tree = new ChainTree<F>();
  for (const layer of layers) tree.apply(await read(layer.open, layer));
  return tree.facts;
}
