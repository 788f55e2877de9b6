import { test } from 'node:test';
import assert from 'node:assert/strict';
import { taskRefusal, type TaskReadinessFacts } from '../../server/task-readiness.js';

const DIR = '/var/lib/lifeboat/netboot/rescue';
const ready: TaskReadinessFacts = {
  kind: 'nuke',
  rescue: { dir: DIR, kernel: { file: `${DIR}/vmlinuz`, present: true }, initrd: { file: `${DIR}/initrd.img`, present: true } },
  capturesShare: true,
};

test('a task that could run is not refused, whatever its kind', () => {
  for (const kind of ['nuke', 'capture', 'compare'] as const) assert.equal(taskRefusal({ ...ready, kind }), null);
  assert.equal(taskRefusal({ ...ready, capturesShare: false }), null, 'a nuke needs no capture share');
});

test('no rescue system: every kind is refused with what is missing and how to build it', () => {
  const none = { ...ready.rescue, kernel: { ...ready.rescue.kernel, present: false }, initrd: { ...ready.rescue.initrd, present: false } };
  for (const kind of ['nuke', 'capture', 'compare'] as const) {
    const e = taskRefusal({ ...ready, kind, rescue: none });
    assert.ok(e);
    assert.equal(e.code, 'LB_CONFLICT');
    assert.equal(e.httpStatus, 409);
    assert.equal(
      e.message,
      `the ${kind} task cannot run: no rescue system to boot (${DIR}/vmlinuz and ${DIR}/initrd.img are missing): build it with lifeboat netboot build --out ${DIR} (npm start does), or start lifeboat serve with --rescue-dir DIR of a built one`,
    );
  }
  const noInitrd = taskRefusal({ ...ready, rescue: { ...ready.rescue, initrd: { ...ready.rescue.initrd, present: false } } });
  assert.match(noInitrd?.message ?? '', new RegExp(`\\(${DIR}/initrd\\.img is missing\\)`));
});

test('a capture with no writable share is refused with the way to get one; the rescue system is named first', () => {
  const e = taskRefusal({ ...ready, kind: 'capture', capturesShare: false });
  assert.equal(e?.code, 'LB_CONFLICT');
  assert.match(e?.message ?? '', /^the capture task cannot run: a capture writes into the server's NFS capture share and this server exports none: start lifeboat serve with --nfs auto/);
  const both = taskRefusal({ ...ready, kind: 'capture', capturesShare: false, rescue: { ...ready.rescue, kernel: { ...ready.rescue.kernel, present: false } } });
  assert.match(both?.message ?? '', /no rescue system to boot/);
});
