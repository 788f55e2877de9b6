import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { LifeboatError } from '../../core/errors.js';
import { planRestore, type PlanInput, type RestorePlan } from '../../images/restore/plan.js';
import type { CommandStep, RestoreStep } from '../../images/restore/render-plan.js';

/**
 * What the unit tests share, so that each states only what it checks: reading a captured tool
 * output, expecting a refusal, comparing an object field by field, planning with the common
 * defaults, and picking the command steps out of a rendered plan.
 */

/** A tool output captured on a real machine, from test/fixtures/layout/ (test files run from dist/test/unit). */
export const layoutFixture = (name: string): string => readFileSync(new URL(`../../../test/fixtures/layout/${name}`, import.meta.url), 'utf8');

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

/** The steps that run a command (not the archive extractions), in order. */
export const commands = (steps: RestoreStep[]): CommandStep[] => steps.filter((s): s is CommandStep => s.kind === 'command');

/** The argument vectors of the command steps that run this program, in order. */
export const argv = (steps: RestoreStep[], program: string): string[][] => commands(steps).filter((s) => s.command[0] === program).map((s) => s.command);
