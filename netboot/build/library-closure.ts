import { open } from 'node:fs/promises';
import { LifeboatError } from '../../core/errors.js';
import { runTool } from '../../core/run-tool.js';

/**
 * The shared libraries a binary needs, as the dynamic loader resolves them on the build host.
 * `ldd` already walks the whole closure (DT_NEEDED of DT_NEEDED…), so one call per binary is enough.
 */
export interface LddResult {
  /** Absolute paths of the libraries and the loader, in ldd's order. */
  libraries: string[];
  /** Sonames the loader could not find. */
  missing: string[];
}

/** Parses `ldd FILE` output. The vDSO has no file and is skipped. */
export function parseLdd(text: string): LddResult {
  const libraries: string[] = [];
  const missing: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('linux-vdso') || line.startsWith('linux-gate')) continue;
    let m = /^(\S+) => not found$/.exec(line);
    if (m) {
      missing.push(m[1]!);
      continue;
    }
    m = /^\S+ => (\/\S+) \(0x[0-9a-f]+\)$/.exec(line) ?? /^(\/\S+) \(0x[0-9a-f]+\)$/.exec(line);
    if (m) libraries.push(m[1]!);
  }
  return { libraries, missing };
}

/** Whether a file starts with the ELF magic (scripts such as xfs_info are taken as they are). */
export async function isElf(file: string): Promise<boolean> {
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.alloc(4);
    const { bytesRead } = await fh.read(buf, 0, 4, 0);
    return bytesRead === 4 && buf.equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]));
  } finally {
    await fh.close();
  }
}

/** The libraries of one ELF file; a static binary has none. Missing libraries fail the build. */
export async function libraryClosure(file: string): Promise<string[]> {
  if (!(await isElf(file))) return [];
  // ldd exits 1 for a static binary ("not a dynamic executable").
  const r = await runTool('ldd', [file], { okExitCodes: [0, 1], purpose: `find the shared libraries of ${file}` });
  const parsed = parseLdd(r.stdout);
  if (parsed.missing.length) {
    throw new LifeboatError('LB_TOOL_MISSING', `${file} needs ${parsed.missing.join(', ')}, which the build host does not have: reinstall the package that provides ${file}`);
  }
  return parsed.libraries;
}
