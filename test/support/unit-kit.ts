import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { LifeboatError } from '../../core/errors.js';
import type { Disk, Partition, PartitionTable } from '../../images/layout/model.js';
import { planRestore, type PlanInput, type RestorePlan } from '../../images/restore/plan.js';
import type { CommandStep, RestoreStep } from '../../images/restore/render-plan.js';

/**
 * What the unit tests share, so that each states only what it checks: reading a fixture or a
 * captured tool output, expecting a refusal, comparing an object field by field, planning with the
 * common defaults, adding a disk to a source layout, and picking the command steps out of a rendered
 * plan.
 */

/** A file under test/fixtures/, as text (the tests run from dist/test/, the fixtures stay in the source tree). */
export const testFixture = (path: string): string => readFileSync(new URL(`../../../test/fixtures/${path}`, import.meta.url), 'utf8');

/** A tool output captured on a real machine, from test/fixtures/layout/. */
export const layoutFixture = (name: string): string => testFixture(`layout/${name}`);

/** Runs fn and asserts it throws a LifeboatError with this code whose message matches every pattern. */
export function refuses(fn: () => unknown, code: string, ...patterns: RegExp[]): LifeboatError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof LifeboatError, `expected a LifeboatError ${code}, got ${caught === undefined ? 'no error' : String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  for (const p of patterns) assert.match(caught.message, p);
  return caught;
}

/**
 * One deepEqual per expected field, each failure naming its field: the object may hold more fields
 * than these (what the test does not name, it does not check).
 */
export function assertFields<T extends object>(actual: T, expected: Partial<Record<keyof T, unknown>>, what = 'value'): void {
  for (const [key, value] of Object.entries(expected)) assert.deepEqual(actual[key as keyof T], value, `${what}.${key}`);
}

/** The planner with the policy and firmware most tests use (proportional, UEFI) unless the input names its own. */
export const plan = (input: Partial<PlanInput> & Pick<PlanInput, 'manifest' | 'targetDisks'>): RestorePlan =>
  planRestore({ policy: 'proportional', firmware: 'uefi', ...input });

/**
 * A source disk as the probe records it, with 512-byte sectors: its partitions numbered from 1 in
 * the order given, each path the disk's with that number (sdb1, sdb2, …).
 */
export function sourceDisk(name: string, size: number, table: Pick<PartitionTable, 'type' | 'id' | 'lastLba'>, partitions: Array<Omit<Partition, 'number' | 'path'>>): Disk {
  const path = `/dev/${name}`;
  return {
    name, path, size, logicalSectorSize: 512, physicalSectorSize: 512,
    table: { ...table, sectorSize: 512, partitions: partitions.map((p, i) => ({ number: i + 1, path: `${path}${i + 1}`, ...p })) },
  };
}

/** The steps that run a command (not the archive extractions), in order. */
export const commands = (steps: RestoreStep[]): CommandStep[] => steps.filter((s): s is CommandStep => s.kind === 'command');

/** The argument vectors of the command steps that run this program, in order. */
export const argv = (steps: RestoreStep[], program: string): string[][] => commands(steps).filter((s) => s.command[0] === program).map((s) => s.command);
