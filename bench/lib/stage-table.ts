/** A stage table of docs/benchmarks.md as it stood, for a before/after comparison. */
export interface PreviousStages {
  date: string;
  /** By stage label (up to its first parenthesis), then by firmware (BIOS, UEFI): the cell as written. */
  cells: Map<string, Map<string, string>>;
}

/**
 * The stage table of the run before this one (from docs/benchmarks.md), by row label up to its
 * first parenthesis and by firmware, so each stage is shown before and after a change.
 */
export function previousStages(text: string | null): PreviousStages | null {
  if (!text) return null;
  const lines = text.split('\n');
  const header = lines.findIndex((l) => l.startsWith('| stage |'));
  if (header === -1) return null;
  const firmwares = [...new Set(lines[header]!.split('|').slice(2, -1).map((c) => c.trim().split(' ')[0]!))];
  const cells = new Map<string, Map<string, string>>();
  for (const line of lines.slice(header + 2)) {
    if (!line.startsWith('|')) break;
    const parts = line.split(/(?<!\\)\|/).slice(1, -1).map((c) => c.trim());
    const byFirmware = new Map<string, string>();
    // Only "now" columns of a previous before/after table: every other column after the label.
    const now = parts.length - 1 === firmwares.length ? parts.slice(1) : parts.slice(1).filter((_, i) => i % 2 === 1);
    firmwares.forEach((f, i) => byFirmware.set(f, now[i] ?? ''));
    cells.set(stageKey(parts[0]!), byFirmware);
  }
  return { date: /^(\d{4}-\d{2}-\d{2})/m.exec(text)?.[1] ?? 'the previous run', cells };
}

export const stageKey = (label: string) => label.replace(/\*/g, '').split('(')[0]!.trim();

