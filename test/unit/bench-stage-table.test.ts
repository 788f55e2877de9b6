import { test } from 'node:test';
import assert from 'node:assert/strict';
import { previousStages } from '../../bench/lib/stage-table.js';

// bench/restore shows each stage before and after a change by reading the table it wrote last time,
// whether that table had one column per firmware or a before/now pair.

test('a one-column-per-firmware stage table is read by stage and firmware', () => {
  const p = previousStages([
    '2026-11-27 — 2 × AMD EPYC',
    '| stage | BIOS | UEFI |',
    '| --- | --- | --- |',
    '| agent start: node and the bundled agent start, first report | 11.9 | 6.6 |',
    '| restored system: power-on → its kernel\'s first console line (firmware, PXE: no task so no boot file) | 19.1 | 151.0 |',
    '| **power-on to the restored system\'s marker** | **148.1** | **236.3** |',
    '',
    'Target: under 60 s',
  ].join('\n'));
  assert.ok(p);
  assert.equal(p.date, '2026-11-27');
  assert.equal(p.cells.get('agent start: node and the bundled agent start, first report')?.get('UEFI'), '6.6');
  assert.equal(p.cells.get('restored system: power-on → its kernel\'s first console line')?.get('UEFI'), '151.0', 'matched by the label before its parenthesis');
  assert.equal(p.cells.get('power-on to the restored system\'s marker')?.get('BIOS'), '**148.1**');
});

test('a before/now table gives its "now" columns; no table gives nothing', () => {
  const p = previousStages([
    '2026-12-04 — 2 × AMD EPYC',
    '| stage | BIOS before | BIOS now | UEFI before | UEFI now |',
    '| --- | --- | --- | --- | --- |',
    '| wipe | 0.4 | 0.3 | 0.4 | 0.2 |',
  ].join('\n'));
  assert.deepEqual([...p!.cells.get('wipe')!.entries()], [['BIOS', '0.3'], ['UEFI', '0.2']]);
  assert.equal(previousStages('no table here'), null);
  assert.equal(previousStages(null), null);
});
