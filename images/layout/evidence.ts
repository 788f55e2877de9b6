import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isLifeboatError, LifeboatError } from '../../core/errors.js';

/**
 * What the probe saw, as kept in an image's layout/ folder: every tool's exact output under a
 * file name (lsblk.json, sfdisk-vda.json, …), plus probe-facts.json for what no tool printed:
 * the probe's options, how paths resolved, filesystem usage, which tools were installed, which
 * tools failed and why, the boot files it found. interpretLayout() turns exactly this into the
 * layout model, so a stored image's layout can be re-derived from its layout/ folder alone.
 */

export const FACTS_FILE = 'probe-facts.json';
export const FACTS_FORMAT = 'lifeboat-probe-facts/1';

export interface ProbeFacts {
  format: typeof FACTS_FORMAT;
  /** The probe's request: disks deduplicated in the order given. */
  options: { root?: string; disks?: string[]; mountpoints?: Record<string, string> };
  /** realpath of every path the probe compared or tested for existence; null where it does not resolve. */
  paths: Record<string, string | null>;
  /** Loop disk name → the file it is backed by. */
  loopBackingFiles: Record<string, string>;
  /** Exit code and stderr of the runs whose outcome is read, not only their output (sfdisk-<disk>.json, blkid.txt). */
  exits: Record<string, { exitCode: number; stderr: string }>;
  /** Evidence file name → why the tool that would have printed it failed, as one line. */
  failures: Record<string, string>;
  /** Directory a filesystem was read at → its size and used bytes (statfs). */
  usage: Record<string, { size: number; used: number }>;
  /** The source system's root directory the probe read /etc/fstab and boot files from; null for none. */
  root: string | null;
  tools: { mdadm: boolean; lvm: boolean };
  /** Only for the running machine: /sys/firmware/efi exists. */
  efiFirmware?: boolean;
  /** Loaders under the ESP's EFI/ folder (EFI/<vendor>/<file>.efi); absent when no ESP was readable. */
  efiLoaders?: string[];
  /** Which of /boot/grub{,2}/{i386-pc,x86_64-efi,i386-efi,arm64-efi} are directories in the source system. */
  grubPlatformDirs: string[];
  /** Disks whose first sector holds GRUB's boot code. */
  grubInSector0: string[];
  /** Names in the source system's /boot (kernels), when it is not the running machine. */
  bootFiles?: string[];
  /** The ELF machine of the source system's /bin/sh (or the like), when it is not the running machine. */
  elfArch?: string;
  /** The running machine's own word: hostname, kernel release, architecture. */
  live?: { hostname: string; kernel: string; arch: string };
}

export interface Evidence {
  /** Evidence file name → exact tool output or file text. */
  raw: Record<string, string>;
  facts: ProbeFacts;
}

/** The name an evidence file is stored under in layout/. */
export function storedName(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]/g, '_');
}

/** Evidence looked up by the name the probe gave it, whether or not storing changed the name. */
export function rawOf(ev: Evidence, name: string): string | undefined {
  return ev.raw[name] ?? ev.raw[storedName(name)];
}

/** A path as the probe resolved it (realpath), or itself where it did not resolve. */
export function canon(facts: ProbeFacts, path: string): string {
  return facts.paths[path] ?? path;
}

export function exists(facts: ProbeFacts, path: string): boolean {
  return typeof facts.paths[path] === 'string';
}

/** An error as one line for a note: the tool's message lines joined, kept short. */
export function errorText(e: unknown): string {
  const text = isLifeboatError(e) || e instanceof Error ? e.message : String(e);
  const line = text.split('\n').map((l) => l.trim()).filter((l) => l !== '').join(' ').replace(/:\s*$/, '');
  return line.length > 300 ? `${line.slice(0, 297)}...` : line;
}

/** A stored image's layout/ folder read back as the evidence the probe kept. */
export async function readLayoutEvidence(dir: string): Promise<Evidence> {
  const raw: Record<string, string> = {};
  for (const name of (await readdir(dir)).sort()) raw[name] = await readFile(join(dir, name), 'utf8');
  const text = raw[FACTS_FILE];
  if (text === undefined) throw new LifeboatError('LB_NOT_FOUND', `${dir} has no ${FACTS_FILE}: the layout was probed before the probe kept its facts and cannot be re-derived`, { dir });
  return { raw, facts: parseFacts(text, dir) };
}

export function parseFacts(text: string, where: string): ProbeFacts {
  let facts: unknown;
  try {
    facts = JSON.parse(text);
  } catch (e) {
    throw new LifeboatError('LB_INVALID', `${where}: ${FACTS_FILE} is not JSON (${errorText(e)})`, { where });
  }
  if (typeof facts !== 'object' || facts === null || (facts as { format?: unknown }).format !== FACTS_FORMAT) {
    throw new LifeboatError('LB_INVALID', `${where}: ${FACTS_FILE} is not in the format ${FACTS_FORMAT}`, { where });
  }
  return facts as ProbeFacts;
}
