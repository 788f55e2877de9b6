import { join } from 'node:path';
import { mkdir } from 'node:fs/promises';
import { oneLineMessage } from '../../core/errors.js';
import { extractArchive } from '../../images/restore/extract-archive.js';
import { verifyForRestore } from '../../images/store/verify.js';
import { httpSource } from '../../netboot/agent/image-source.js';
import { MulticastVolumeError, multicastSource } from '../../netboot/agent/multicast-source.js';
import type { MulticastReceive } from '../../netboot/task-protocol.js';

/**
 * One clone's data stage inside a test namespace (`ip netns exec NS node this.js JSON`), as the
 * agent's nuke runs it: the manifest checked over HTTP, each archive extracted into
 * <target>/<archive id> from the multicast opener, and an archive whose multicast volume failed
 * extracted again from its start over HTTP through extractArchive's reopen. Prints one JSON line:
 * the receipts (where each volume's bytes came from, their sha256), the notes, and the result.
 * With `multicast` null, every volume is read over HTTP (the unicast side of the benchmark).
 */
const { httpUrl, multicast, iface, target } = JSON.parse(process.argv[2]!) as { httpUrl: string; multicast: MulticastReceive | null; iface: string; target: string };
const notes: string[] = [];
const note = (m: string) => {
  notes.push(m);
  process.stderr.write(`${new Date().toISOString()} ${m}\n`);
};
const started = Date.now();
const http = httpSource(httpUrl, note);
const manifest = await verifyForRestore(http.readText, http.open, { readVolumes: false });
// No multicast plan: the unicast clone, every volume over HTTP as a nuke without a session reads it.
const group = multicast ? multicastSource({ multicast, manifest, unicast: http.open, iface, note }) : null;
let error: string | null = null;
try {
  for (const entry of manifest.archives) {
    const dir = join(target, entry.id);
    await mkdir(dir, { recursive: true });
    await extractArchive(entry, {
      open: group ? group.open : http.open,
      target: dir,
      reopen: (_id, e) => (group && e instanceof MulticastVolumeError ? group.open : null),
      onNote: note,
    });
  }
} catch (e) {
  error = oneLineMessage((e as Error).message);
}
process.stdout.write(`${JSON.stringify({ ok: error === null, error, left: group?.left ?? null, receipts: group?.receipts ?? [], notes, seconds: (Date.now() - started) / 1000 })}\n`);
process.exit(error === null ? 0 : 1);
