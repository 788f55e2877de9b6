/**
 * The client's half of the list endpoints' paging (paging.ts writes the header): which URL a
 * `Link: <…>; rel="next"` header points to. Kept apart from paging.ts so that the CLI, which
 * follows it on every list, does not load the schema library to read one header.
 */
export function nextFromLink(header: string | null): string | null {
  if (!header) return null;
  for (const part of header.split(',')) {
    const m = /^\s*<([^>]*)>\s*;\s*rel="?next"?\s*$/.exec(part);
    if (m) return m[1]!;
  }
  return null;
}
