import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LifeboatError } from '../../core/errors.js';
import { FACTS_FILE, parseFacts, readLayoutEvidence, storedName } from '../../images/layout/evidence.js';
import { interpretLayout } from '../../images/layout/interpret.js';
import type { Layout } from '../../images/layout/model.js';

// Every fixture folder under test/fixtures/layout/ holds tool outputs captured on a real machine,
// replay.json (which capture stands for which layout/ evidence file), the probe's facts from
// replaying it (probe-facts.json) and layout.json: the layout the probe built from those outputs
// before collection and interpretation were split (replay-probe.sh). Interpreting the evidence
// alone must give exactly that layout.

const root = fileURLToPath(new URL('../../../test/fixtures/layout/', import.meta.url));
const folders = readdirSync(root).filter((n) => statSync(join(root, n)).isDirectory()).sort();

interface Replay { evidence: Array<{ stored: string; file: string }> }

function evidenceFiles(folder: string): Record<string, string> {
  const dir = join(root, folder);
  const replay = JSON.parse(readFileSync(join(dir, 'replay.json'), 'utf8')) as Replay;
  const raw: Record<string, string> = {};
  for (const e of replay.evidence) raw[e.stored] = readFileSync(join(dir, e.file), 'utf8');
  raw[FACTS_FILE] = readFileSync(join(dir, FACTS_FILE), 'utf8');
  return raw;
}

const expected = (folder: string) => JSON.parse(readFileSync(join(root, folder, 'layout.json'), 'utf8')) as Layout;
const asJson = (layout: Layout) => JSON.parse(JSON.stringify(layout)) as Layout;

test('the fixture folders are the three captured machines, each with its replay, facts and layout', () => {
  assert.deepEqual(folders, ['multidisk-mbr-logical', 'multidisk-raid-lvm', 'multidisk-raid5-stripe']);
});

for (const folder of folders) {
  test(`${folder}: the layout interpreted from the captured evidence is the one the probe built`, async () => {
    const raw = evidenceFiles(folder);
    const layout = asJson(interpretLayout({ raw, facts: parseFacts(raw[FACTS_FILE]!, folder) }));
    assert.deepEqual(layout, expected(folder));
    // Stored as an image's layout/ folder and read back from there: the same layout.
    const dir = await mkdtemp(join(tmpdir(), 'lb-rederive-'));
    try {
      for (const [name, text] of Object.entries(raw)) await writeFile(join(dir, storedName(name)), text);
      assert.deepEqual(asJson(interpretLayout(await readLayoutEvidence(dir))), layout);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
}

test('the fixtures pin real content: md, LVM, btrfs subvolumes and the notes on what was not captured', () => {
  const raid = expected('multidisk-raid-lvm');
  assert.deepEqual(raid.md.map((m) => [m.device, m.level, m.members.map((x) => x.device)]), [['/dev/md0', 'raid1', ['/dev/vda2', '/dev/vdb1']]]);
  assert.deepEqual(raid.lvm.lvs.map((l) => l.name).sort(), ['home', 'root']);
  assert.deepEqual(raid.filesystems.find((f) => f.type === 'btrfs')?.mounts?.map((m) => m.subvolume), ['@srv', '@logs']);
  assert.ok(raid.notes?.some((n) => /ext feature list of \/dev\/mapper\/fxvg-root not read/.test(n)));
  const stripe = expected('multidisk-raid5-stripe');
  assert.deepEqual(stripe.lvm.lvs.find((l) => l.name === 'srv')?.stripes, 2);
  assert.deepEqual(expected('multidisk-mbr-logical').disks[0]!.table!.partitions.map((p) => p.kind), ['primary', 'extended', 'logical', 'logical', 'logical']);
});

test('a layout/ folder without probe-facts.json is refused with the reason, not guessed at', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'lb-rederive-'));
  try {
    await writeFile(join(dir, 'lsblk.json'), '{"blockdevices": []}');
    await assert.rejects(readLayoutEvidence(dir), (e: unknown) => e instanceof LifeboatError && /has no probe-facts\.json/.test(e.message));
    await writeFile(join(dir, FACTS_FILE), '{"format": "something-else"}');
    await assert.rejects(readLayoutEvidence(dir), (e: unknown) => e instanceof LifeboatError && /not in the format lifeboat-probe-facts\/1/.test(e.message));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
