import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isoWeek, planRetention, type RetentionCandidate } from '../../images/retention/retention-plan.js';

// 60 days of nightly versions, 2026-09-29 to 2026-11-27 (a Friday), at 02:00 UTC, plus a manual
// archive in the afternoon of 25 November and an incremental chain 6 → 7 → 8 November.

const name = (d: Date) => d.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z');
function history(): RetentionCandidate[] {
  const out: RetentionCandidate[] = [];
  for (let day = 0; day < 60; day++) {
    const d = new Date(Date.UTC(2026, 8, 29 + day, 2, 0, 0));
    out.push({ version: name(d), createdAt: d, dependsOn: [] });
  }
  const afternoon = new Date(Date.UTC(2026, 10, 25, 14, 30, 0));
  out.push({ version: name(afternoon), createdAt: afternoon, dependsOn: [] });
  const v = (day: number) => out.find((c) => c.version === `202611${String(day).padStart(2, '0')}T020000Z`)!;
  v(7).dependsOn = [v(6).version];
  v(8).dependsOn = [v(6).version, v(7).version];
  return out;
}
const kept = (decisions: ReturnType<typeof planRetention>) => decisions.filter((d) => d.keep).map((d) => d.version).reverse();

test('the synthetic history has the shape the expectations below assume', () => {
  const h = history();
  assert.equal(h.length, 61);
  assert.equal(h[0]!.version, '20260929T020000Z');
  assert.equal(h[59]!.version, '20261127T020000Z');
  assert.equal(new Date(Date.UTC(2026, 10, 27)).getUTCDay(), 5, '27 November 2026 is a Friday');
  assert.equal(isoWeek(new Date(Date.UTC(2026, 10, 27))), '2026-W48');
  assert.equal(isoWeek(new Date(Date.UTC(2026, 10, 23))), '2026-W48', 'Monday opens the week');
  assert.equal(isoWeek(new Date(Date.UTC(2026, 10, 22))), '2026-W47', 'Sunday closes the one before');
  assert.equal(isoWeek(new Date(Date.UTC(2027, 0, 1))), '2026-W53', '1 January 2027 belongs to 2026\'s last week');
  assert.equal(isoWeek(new Date(Date.UTC(2024, 11, 30))), '2025-W01', '30 December 2024 belongs to 2025\'s first week');
});

test('daily 7, weekly 4, monthly 3 over 60 days keeps exactly these 13 versions', () => {
  const decisions = planRetention(history(), { keepDaily: 7, keepWeekly: 4, keepMonthly: 3 });
  assert.deepEqual(kept(decisions), [
    '20260930T020000Z', // monthly: September's newest
    '20261031T020000Z', // monthly: October's newest
    '20261106T020000Z', // base of 8 November (level 0 of its chain)
    '20261107T020000Z', // base of 8 November (level 1)
    '20261108T020000Z', // weekly: Sunday of week 45
    '20261115T020000Z', // weekly: Sunday of week 46
    '20261121T020000Z', // daily 7
    '20261122T020000Z', // daily 6, and Sunday of week 47
    '20261123T020000Z',
    '20261124T020000Z',
    '20261125T143000Z', // the afternoon version is 25 November's newest; its 02:00 one goes
    '20261126T020000Z',
    '20261127T020000Z', // daily 1, weekly 1, monthly 1
  ]);
  const reasons = Object.fromEntries(decisions.map((d) => [d.version, d.reasons.join(', ')]));
  assert.equal(reasons['20261127T020000Z'], 'daily 1/7 (2026-11-27), weekly 1/4 (2026-W48), monthly 1/3 (2026-11)');
  assert.equal(reasons['20261106T020000Z'], 'base of 20261108T020000Z, base of 20261107T020000Z');
  assert.equal(reasons['20261125T020000Z'], '');
  assert.equal(decisions.length, 61);
});

test('each rule alone', () => {
  const h = history();
  assert.deepEqual(kept(planRetention(h, { keepLast: 3 })), ['20261125T143000Z', '20261126T020000Z', '20261127T020000Z']);
  assert.deepEqual(kept(planRetention(h, { keepWeekly: 2 })), ['20261122T020000Z', '20261127T020000Z']);
  assert.deepEqual(kept(planRetention(h, { keepMonthly: 12 })), ['20260930T020000Z', '20261031T020000Z', '20261127T020000Z']);
  // A rule asking for more than the history has keeps one per bucket that exists.
  assert.equal(kept(planRetention(h, { keepDaily: 100 })).length, 60);
});

test('the protected version is kept with its chain, whatever the rules say', () => {
  const h = history();
  const decisions = planRetention(h, { keepLast: 1 }, { protect: '20261108T020000Z' });
  assert.deepEqual(kept(decisions), ['20261106T020000Z', '20261107T020000Z', '20261108T020000Z', '20261127T020000Z']);
  assert.deepEqual(decisions.find((d) => d.version === '20261108T020000Z')!.reasons, ['newest version that verifies']);
});

test('a kept version whose manifest cannot be read keeps everything older, in case it builds on it', () => {
  const h = history().slice(50); // 18 to 27 November, and the afternoon of the 25th
  h.find((c) => c.version === '20261126T020000Z')!.dependsOn = null;
  assert.deepEqual(kept(planRetention(h, { keepDaily: 1 })), ['20261127T020000Z'], 'not kept, it protects nothing');
  const k = kept(planRetention(h, { keepDaily: 2 }));
  assert.deepEqual(k, h.map((c) => c.version).sort(), 'every version older than the unreadable one is kept');
});

test('zero or fractional counts are refused with the option named', () => {
  assert.throws(() => planRetention(history(), { keepDaily: 0 }), /--keep-daily 0 must be a whole number of 1 or more/);
  assert.throws(() => planRetention(history(), { keepLast: 1.5 }), /--keep 1.5 must be/);
});
