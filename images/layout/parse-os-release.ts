/**
 * os-release(5) → record. The file is a list of shell-compatible assignments: values may be
 * unquoted, "double quoted" (with \" \\ \$ \` escapes) or 'single quoted'; "#" lines are comments.
 * Lines that are not assignments are ignored, as systemd does.
 */
export function parseOsRelease(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(trimmed);
    if (!m) continue;
    const raw = m[2]!;
    let value: string;
    if (raw.startsWith('"') && raw.endsWith('"') && raw.length >= 2) {
      value = raw.slice(1, -1).replace(/\\(["\\$`])/g, '$1');
    } else if (raw.startsWith("'") && raw.endsWith("'") && raw.length >= 2) {
      value = raw.slice(1, -1);
    } else {
      value = raw.replace(/\\(.)/g, '$1');
    }
    out[m[1]!] = value;
  }
  return out;
}
