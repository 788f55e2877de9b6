import { join } from 'node:path';
import { FACTS_FILE, parseFacts, readLayoutEvidence } from '../../images/layout/evidence.js';
import { interpretLayout } from '../../images/layout/interpret.js';
import type { Layout } from '../../images/layout/model.js';

/** The layout derived again from a probe's raw evidence, as JSON would carry it (no undefined keys). */
export function rederive(raw: Record<string, string>): Layout {
  return JSON.parse(JSON.stringify(interpretLayout({ raw, facts: parseFacts(raw[FACTS_FILE] ?? '', 'the probe\'s raw evidence') }))) as Layout;
}

/** The layout derived again from a stored image version's layout/ folder alone. */
export async function rederiveStored(versionDir: string): Promise<Layout> {
  return JSON.parse(JSON.stringify(interpretLayout(await readLayoutEvidence(join(versionDir, 'layout'))))) as Layout;
}

/** A layout as JSON carries it, to compare with a derived one. */
export function asStored(layout: Layout): Layout {
  return JSON.parse(JSON.stringify(layout)) as Layout;
}
