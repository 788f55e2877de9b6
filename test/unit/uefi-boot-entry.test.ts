import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { uefiBootEntryStep } from '../../images/restore/uefi-boot-entry.js';

/**
 * The boot-entry script run by busybox sh, as in the rescue system, against a stand-in for
 * efibootmgr that keeps NVRAM in a JSON file (this host has no EFI variables; the real efibootmgr
 * runs in the UEFI nuke of test/e2e/nuke-restore.test.ts). The stand-in prints what efibootmgr
 * 17 prints: BootCurrent, BootOrder, then "BootXXXX* label<TAB>device path" lines.
 */
interface Nvram {
  current?: string;
  order: string[];
  next?: string;
  entries: Record<string, string>;
  failCreate?: boolean;
}

const STAND_IN = `#!/usr/bin/env node
const fs = require('node:fs');
const file = process.env.NVRAM;
const s = JSON.parse(fs.readFileSync(file, 'utf8'));
const a = process.argv.slice(2).filter((x) => x !== '-q');
const val = (flag) => a[a.indexOf(flag) + 1];
if (a.includes('-B')) { delete s.entries[val('-b')]; s.order = s.order.filter((n) => n !== val('-b')); }
else if (a.includes('--create-only')) {
  if (s.failCreate) { console.error('Could not prepare Boot variable: No such file or directory'); process.exit(5); }
  let n = 0; while (s.entries[n.toString(16).toUpperCase().padStart(4, '0')]) n++;
  s.entries[n.toString(16).toUpperCase().padStart(4, '0')] = val('--label') + '\\tHD(' + val('--part') + ',GPT,...)/File(' + val('--loader') + ')';
}
else if (a.includes('--bootorder')) s.order = val('--bootorder').split(',');
else if (a.includes('--bootnext')) s.next = val('--bootnext');
else if (a.length) { console.error('unexpected arguments: ' + a.join(' ')); process.exit(2); }
fs.writeFileSync(file, JSON.stringify(s));
if (!a.length) {
  if (s.current) console.log('BootCurrent: ' + s.current);
  console.log('Timeout: 0 seconds');
  console.log('BootOrder: ' + s.order.join(','));
  for (const [n, l] of Object.entries(s.entries)) console.log('Boot' + n + '* ' + l);
}
`;

async function runScript(nvram: Nvram): Promise<{ exitCode: number; stderr: string; nvram: Nvram }> {
  const dir = mkdtempSync(join(tmpdir(), 'lb-bootentry-'));
  try {
    writeFileSync(join(dir, 'efibootmgr'), STAND_IN);
    chmodSync(join(dir, 'efibootmgr'), 0o755);
    writeFileSync(join(dir, 'nvram.json'), JSON.stringify(nvram));
    const step = uefiBootEntryStep('debian', '/dev/vda', 1, '\\EFI\\debian\\grubx64.efi');
    const r = await execa('busybox', step.command, { input: step.input, reject: false, env: { PATH: `${dir}:${process.env.PATH}`, NVRAM: join(dir, 'nvram.json') } });
    return { exitCode: r.exitCode ?? -1, stderr: r.stderr, nvram: JSON.parse(readFileSync(join(dir, 'nvram.json'), 'utf8')) as Nvram };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const booted: Nvram = {
  current: '0001',
  order: ['0001', '0002', '0000', '0003'],
  entries: { '0000': 'UiApp\tFvVol(7cb8bdc9)/FvFile(462caa21)', '0001': 'UEFI PXEv4 (MAC:525400123456)\tPciRoot(0x0)/Pci(0x2,0x0)/MAC(525400123456,0x1)/IPv4(0.0.0.0)', '0002': 'UEFI HTTPv4 (MAC:525400123456)\tPciRoot(0x0)/Pci(0x2,0x0)/MAC(525400123456,0x1)/IPv4(0.0.0.0)/Uri()', '0003': 'debian\tHD(1,GPT,dead...)/File(\\EFI\\debian\\grubx64.efi)' },
};

test('the new entry goes right after the network entry that booted the rescue system, and is booted next; the stale one of the same label is gone', async () => {
  const r = await runScript(booted);
  assert.equal(r.exitCode, 0, r.stderr);
  const labels = Object.values(r.nvram.entries).map((l) => l.split('\t')[0]);
  assert.equal(labels.filter((l) => l === 'debian').length, 1, 'one entry for debian, not a second one');
  const fresh = Object.entries(r.nvram.entries).find(([, l]) => l.startsWith('debian'))![0];
  assert.match(r.nvram.entries[fresh]!, /HD\(1,GPT/);
  assert.deepEqual(r.nvram.order, ['0001', fresh, '0002', '0000']);
  assert.equal(r.nvram.next, fresh);
});

test('booted through no listed entry: the network order stays first and the new entry goes last', async () => {
  const { current: _, ...noCurrent } = booted;
  const r = await runScript({ ...noCurrent, order: ['0001', '0002', '0000'], entries: { ...booted.entries, '0003': 'other\tHD(9)' } });
  assert.equal(r.exitCode, 0, r.stderr);
  assert.deepEqual(r.nvram.order, ['0001', '0002', '0000', '0004']);
  assert.equal(r.nvram.next, '0004');
  assert.equal(r.nvram.entries['0003'], 'other\tHD(9)', 'an entry with another label is left alone');
});

test('an empty BootOrder gets just the new entry', async () => {
  const r = await runScript({ order: [], entries: {} });
  assert.equal(r.exitCode, 0, r.stderr);
  assert.deepEqual(r.nvram.order, ['0000']);
  assert.equal(r.nvram.next, '0000');
});

test('efibootmgr failing to create the entry fails the step with its message; the order is not touched', async () => {
  const r = await runScript({ ...booted, failCreate: true });
  assert.notEqual(r.exitCode, 0);
  assert.match(r.stderr, /Could not prepare Boot variable/);
  assert.deepEqual(r.nvram.order, ['0001', '0002', '0000']);
  assert.equal(r.nvram.next, undefined);
});
