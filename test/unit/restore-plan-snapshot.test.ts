import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planRestore } from '../../images/restore/plan.js';
import { renderPlan } from '../../images/restore/render-plan.js';
import { readCompressedJson, snapshotCases, type Outcome, type SnapshotInputs } from '../support/plan-snapshot-cases.js';

/**
 * Characterization: the planner and renderer give, for each of ~1,000 inputs, exactly the plan
 * (every field, in order, notes included), steps and script, or exactly the error, that they gave
 * before the planner was split into stages. See test/support/plan-snapshot-cases.ts for the inputs.
 */

function outcomeOf(input: Parameters<typeof planRestore>[0]): Outcome {
  try {
    const plan = planRestore(input);
    const rendered = renderPlan(plan);
    return JSON.parse(JSON.stringify({ plan, rendered })) as Outcome;
  } catch (e) {
    const err = e as Error & { code?: string; details?: unknown };
    return JSON.parse(JSON.stringify({ error: { name: err.name, code: err.code, message: err.message, details: err.details } })) as Outcome;
  }
}

test('every recorded and derived planner input gives the same plan, script or error as before', () => {
  const inputs = readCompressedJson<SnapshotInputs>('inputs.json.br');
  const expected = readCompressedJson<Record<string, Outcome>>('expected.json.br');
  const cases = snapshotCases(inputs);
  assert.equal(cases.length, Object.keys(expected).length, 'one expected outcome per case');
  let plans = 0;
  let errors = 0;
  for (const c of cases) {
    const want = expected[c.key];
    assert.ok(want, `${c.key} has an expected outcome`);
    const got = outcomeOf(structuredClone(c.input));
    // Byte for byte: key order too, as the plan is shown and stored as JSON.
    if (JSON.stringify(got) !== JSON.stringify(want)) assert.deepEqual(got, want, c.key);
    assert.equal(JSON.stringify(got), JSON.stringify(want), c.key);
    if (got.error) errors++;
    else plans++;
  }
  // Both sides are exercised: plans made and refusals given.
  assert.ok(plans > 300 && errors > 100, `${plans} plans, ${errors} errors`);
});
