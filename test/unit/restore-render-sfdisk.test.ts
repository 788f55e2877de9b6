import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseSfdisk } from '../../images/layout/parse-sfdisk.js';
import { planRestore, type PlannedDisk, type PlanInput } from '../../images/restore/plan.js';
import { renderPlan, type CommandStep } from '../../images/restore/render-plan.js';
import { makeWorld, sh } from '../support/world.js';
import { GiB, debianVm, debianVmWithData, disk, mbrServer } from '../support/restore-layouts.js';

/**
 * The rendered wipe and sfdisk steps run against a sparse file of the target disk's size (sfdisk
 * and wipefs treat a regular file as a 512-byte-sector disk: no loop device, no root), and what
 * sfdisk then reports is compared with the plan.
 */
async function writeTables(t: TestContext, input: Omit<PlanInput, 'firmware' | 'policy'> & Partial<PlanInput>): Promise<Array<{ planned: PlannedDisk; file: string }>> {
  const w = await makeWorld(t, 'lb-sfdisk');
  const plan = planRestore({ policy: 'proportional', firmware: 'uefi', ...input });
  const files = new Map<string, string>();
  for (const d of plan.disks) {
    const file = join(w.dir, `${d.target.replaceAll('/', '_')}.img`);
    await writeFile(file, '');
    await truncate(file, d.targetBytes);
    files.set(d.target, file);
  }
  const steps = renderPlan(plan).steps.filter((s): s is CommandStep => s.kind === 'command' && (s.stage === 'wipe' || s.stage === 'partition'));
  for (const s of steps) {
    const argv = s.command.map((a) => files.get(a) ?? a);
    await sh(argv[0]!, argv.slice(1), s.input !== undefined ? { input: s.input } : {});
  }
  return plan.disks.map((planned) => ({ planned, file: files.get(planned.target)! }));
}

async function tableOn(file: string) {
  return parseSfdisk(await sh('sfdisk', ['--json', file]));
}

function expectSame(actual: Awaited<ReturnType<typeof tableOn>>, planned: PlannedDisk): void {
  const table = planned.table!;
  assert.equal(actual.type, table.type);
  assert.equal(actual.id, table.id);
  assert.equal(actual.firstLba, table.firstLba);
  assert.equal(actual.lastLba, table.lastLba);
  assert.deepEqual(
    actual.partitions.map((p) => ({ number: p.number, start: p.start, size: p.size, type: p.type, uuid: p.uuid, name: p.name, attrs: p.attrs, bootable: p.bootable })),
    table.partitions.map((p) => ({
      number: p.number, start: p.start, size: p.size, type: p.type, uuid: p.uuid, name: p.name, attrs: p.attrs, bootable: table.type === 'dos' ? p.bootable : undefined,
    })),
  );
}

test('GPT round trip: the Debian VM on a 40 GiB disk reads back as planned (GUIDs, names, attributes, usable LBAs)', async (t) => {
  const [{ planned, file }] = await writeTables(t, { manifest: debianVm(), targetDisks: [disk('/dev/vda', 40 * GiB)] }) as [{ planned: PlannedDisk; file: string }];
  expectSame(await tableOn(file), planned);
});

test('GPT round trip on a smaller disk with grow-last, and a second disk', async (t) => {
  const disks = await writeTables(t, { manifest: debianVmWithData(), targetDisks: [disk('/dev/vda', 10 * GiB), disk('/dev/vdb', 12 * GiB)], policy: 'grow-last' });
  assert.equal(disks.length, 2);
  for (const { planned, file } of disks) expectSame(await tableOn(file), planned);
});

test('MBR round trip: disk id, bootable flag, extended and logical partitions where the plan put them', async (t) => {
  for (const policy of ['proportional', 'grow-last'] as const) {
    const [{ planned, file }] = await writeTables(t, { manifest: mbrServer(), targetDisks: [disk('/dev/sdc', 100 * GiB)], firmware: 'bios', policy }) as [{ planned: PlannedDisk; file: string }];
    const actual = await tableOn(file);
    expectSame(actual, planned);
    assert.deepEqual(actual.partitions.map((p) => p.kind), ['primary', 'primary', 'extended', 'logical', 'logical']);
  }
});

test('GPT names with quotes, backslashes and spaces survive sfdisk; partition number gaps are kept', async (t) => {
  const m = debianVm();
  const parts = m.layout.disks[0]!.table!.partitions;
  parts[2]!.name = 'root "main" \\ disk';
  parts[3]!.number = 7;
  parts[3]!.path = '/dev/sda7';
  m.layout.swaps[0]!.device = '/dev/sda7';
  const [{ planned, file }] = await writeTables(t, { manifest: m, targetDisks: [disk('/dev/vda', 30 * GiB)] }) as [{ planned: PlannedDisk; file: string }];
  const actual = await tableOn(file);
  expectSame(actual, planned);
  assert.equal(actual.partitions[2]!.name, 'root "main" \\ disk');
  assert.deepEqual(actual.partitions.map((p) => p.number), [1, 2, 3, 7]);
});
