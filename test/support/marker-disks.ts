import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { sh } from './world.js';
import { LOCAL_DISK_MARKER, markerBootSector } from './qemu.js';

/**
 * Disk images whose only job is to prove that a machine booted its local disk: they print
 * LOCAL-DISK-BOOTED on the serial console and stop. BIOS: a hand-written boot sector. UEFI: a
 * GPT disk whose EFI system partition holds a GRUB image with an embedded script that echoes the
 * marker and halts (built with grub-mkimage, written with mtools: the host kernel has no vfat).
 */

export async function biosMarkerDisk(file: string, sizeMiB = 4): Promise<string> {
  const fh = await open(file, 'w');
  try {
    await fh.truncate(sizeMiB * 1024 * 1024);
    await fh.write(markerBootSector(), 0, 512, 0);
  } finally {
    await fh.close();
  }
  return file;
}

const ESP_TYPE = 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B';

export async function uefiMarkerDisk(file: string, scratchDir: string, sizeMiB = 16): Promise<string> {
  const cfg = join(scratchDir, 'marker-early.cfg');
  const efi = join(scratchDir, 'marker-BOOTX64.EFI');
  await writeFile(cfg, `echo ${LOCAL_DISK_MARKER}\nhalt\n`);
  await sh('grub-mkimage', ['-O', 'x86_64-efi', '-p', '/EFI/BOOT', '-c', cfg, '-o', efi, 'echo', 'halt']);
  const fh = await open(file, 'w');
  await fh.truncate(sizeMiB * 1024 * 1024);
  await fh.close();
  const espSectors = (sizeMiB - 2) * 2048;
  await sh('sfdisk', ['-q', file], { input: `label: gpt\nstart=2048, size=${espSectors}, type=${ESP_TYPE}\n` });
  await sh('mkfs.fat', ['--offset', '2048', '-n', 'ESP', file, String(espSectors / 2)]);
  const at = `${file}@@1M`;
  await sh('mmd', ['-i', at, '::/EFI', '::/EFI/BOOT']);
  await sh('mcopy', ['-i', at, efi, '::/EFI/BOOT/BOOTX64.EFI']);
  return file;
}

export async function sha256Of(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}
