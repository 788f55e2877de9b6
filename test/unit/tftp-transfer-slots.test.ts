import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TransferSlots, type SlotAnswer } from '../../server/tftp/transfer-slots.js';

const taken = (a: SlotAnswer) => (a.ok ? a : assert.fail(`refused: ${a.reason}`));

test('caps transfers per address and in all, and frees a slot once per release', () => {
  const slots = new TransferSlots({ total: 5, perAddress: 2 });
  const a1 = taken(slots.take('10.0.0.1'));
  taken(slots.take('10.0.0.1'));
  const third = slots.take('10.0.0.1');
  assert.equal(third.ok, false);
  assert.match(!third.ok ? third.reason : '', /^server busy: 10\.0\.0\.1 already has 2 transfers in progress \(at most 2 per address\)/);
  taken(slots.take('10.0.0.2'));
  taken(slots.take('10.0.0.2'));
  taken(slots.take('10.0.0.3'));
  const full = slots.take('10.0.0.4');
  assert.equal(full.ok, false);
  assert.match(!full.ok ? full.reason : '', /^server busy: 5 transfers in progress \(at most 5\)/);
  assert.equal(slots.count, 5);
  a1.release();
  a1.release();
  assert.equal(slots.count, 4, 'a second release of the same slot frees nothing');
  taken(slots.take('10.0.0.1'));
  assert.equal(slots.take('10.0.0.1').ok, false, 'the address is at its cap again');
});
