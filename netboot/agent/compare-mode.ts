import { rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { LifeboatError } from '../../core/errors.js';
import { compareArchive, renderChanged, type Difference } from '../../images/compare/compare-archive.js';
import { verifyForRestore } from '../../images/store/verify.js';
import { mountReadOnly } from '../../images/source/mount-readonly.js';
import type { AgentTask } from '../task-protocol.js';
import { say } from './console.js';
import { openImageSource } from './image-source.js';
import { filesystemsByUuid } from './local-disks.js';
import type { AgentClient } from './server-client.js';
import { makeDirs } from '../../core/make-dirs.js';

/**
 * Rewritten by grub-install whenever a restore reinstalls the bootloader, so a restored machine
 * would always differ there; grub.cfg and grubenv, which grub-install leaves alone, are compared.
 */
export const BOOTLOADER_MANAGED = ['/boot/grub/i386-pc', '/boot/grub/x86_64-efi', '/boot/grub/i386-efi', '/boot/grub/fonts', '/boot/grub/locale'];

const bootloaderManaged = (path: string) => BOOTLOADER_MANAGED.some((p) => path === p || path.startsWith(`${p}/`));

/**
 * compare: each archived filesystem is found on this machine by its UUID, mounted read-only, and
 * compared with the image; changed.txt goes to the server, which keeps it with the task.
 */
export async function runCompare(task: AgentTask, client: AgentClient): Promise<Record<string, unknown>> {
  if (!task.image) throw new LifeboatError('LB_INVALID', `task ${task.id} names no image to compare with`);
  const source = await openImageSource(task.image, (m) => say(m));
  try {
    await client.progress({ stage: 'verify', message: `verifying ${task.image.name}@${task.image.version} (${source.kind})` }, true);
    const manifest = await verifyForRestore(source.readText, source.open, {
      onProgress: (bytes, totalBytes) => void client.progress({ stage: 'verify', bytes, totalBytes }),
    });
    const local = await filesystemsByUuid();
    const results: Array<{ mountpoint: string; differences: Difference[]; entries: number }> = [];
    for (const archived of manifest.archives) {
      // A btrfs subvolume the source mounted nowhere is named by its subvolume in changed.txt.
      const entry = archived.mountpoint ? archived : { ...archived, mountpoint: `btrfs:${archived.subvolume ?? archived.id}` };
      const found = entry.uuid ? local.get(entry.uuid.toLowerCase()) : undefined;
      if (!found) {
        results.push({ mountpoint: entry.mountpoint, entries: 0, differences: [{ path: entry.mountpoint, kind: 'missing', details: [`no filesystem with UUID ${entry.uuid ?? '(none recorded)'} on this machine`] }] });
        continue;
      }
      const target = join('/run/lifeboat/compare', entry.id);
      await makeDirs(target);
      const unmount = await mountReadOnly(found.device, found.type, target, entry.subvolume ? [`subvol=${entry.subvolume}`] : []);
      try {
        say(`comparing ${entry.mountpoint} (${found.device}) with the image`);
        await client.progress({ stage: 'compare', message: `${entry.mountpoint} on ${found.device}` }, true);
        const r = await compareArchive({ open: source.open, entry, root: target, ignore: bootloaderManaged });
        results.push({ mountpoint: entry.mountpoint, ...r });
      } finally {
        await unmount();
        await rmdir(target).catch(() => undefined);
      }
    }
    const text = renderChanged([`lifeboat compare of ${task.mac} with ${task.image.name}@${task.image.version}`, `at ${new Date().toISOString()}`, `not compared (rewritten by every bootloader reinstall): ${BOOTLOADER_MANAGED.join(' ')}`], results);
    await client.putFile('changed.txt', text);
    const all = results.flatMap((r) => r.differences);
    const summary = { content: 0, metadata: 0, missing: 0, new: 0 } as Record<string, number>;
    for (const d of all) summary[d.kind] = (summary[d.kind] ?? 0) + 1;
    say(`compare done: ${all.length} difference(s); changed.txt sent to the server`);
    return { differences: all.length, ...summary };
  } finally {
    await source.close();
  }
}
