import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testDatabase } from '../support/state-world.js';
import { EventLog } from '../../server/state/events.js';

function log(t: { after: (fn: () => void) => void }) {
  const db = testDatabase(t);
  return { db, events: new EventLog(db) };
}

test('after pages forward from the oldest; without it the newest page, before pages back; both in the order events happened', (t) => {
  const { events } = log(t);
  for (let i = 1; i <= 25; i++) events.record('test', `event ${i}`, { mac: i % 2 ? '52:54:00:00:00:01' : null });
  const ids = (list: Array<{ id: number }>) => list.map((e) => e.id);
  assert.deepEqual(ids(events.list({ afterId: 0, limit: 10 })), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  assert.deepEqual(ids(events.list({ afterId: 20, limit: 10 })), [21, 22, 23, 24, 25]);
  assert.deepEqual(ids(events.list({ limit: 10 })), [16, 17, 18, 19, 20, 21, 22, 23, 24, 25]);
  assert.deepEqual(ids(events.list({ beforeId: 16, limit: 10 })), [6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
  assert.deepEqual(ids(events.list({ afterId: 0, limit: 3, mac: '52:54:00:00:00:01' })), [1, 3, 5]);
});

test('prune keeps the newest keepRows and nothing older than keepDays', (t) => {
  const { db, events } = log(t);
  const day = 86_400_000;
  const now = Date.now();
  const insert = db.prepare('INSERT INTO events (time, kind, message) VALUES (?, ?, ?)');
  for (let i = 0; i < 50; i++) insert.run(now - 10 * day + i, 'old', `old ${i}`);
  for (let i = 0; i < 300; i++) insert.run(now - day + i, 'recent', `recent ${i}`);
  assert.equal(events.prune({ keepDays: 5, keepRows: 1000 }, now), 50, 'older than 5 days');
  assert.equal(events.prune({ keepDays: 5, keepRows: 120 }, now), 180, 'beyond 120 rows');
  const left = events.list({ afterId: 0, limit: 1000 });
  assert.equal(left.length, 120);
  assert.equal(left.at(-1)!.message, 'recent 299', 'the newest are kept');
  assert.equal(left[0]!.message, 'recent 180');
  assert.equal(events.prune({ keepDays: 5, keepRows: 120 }, now), 0, 'nothing more to prune');
});
