import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseRequest, serializeError, serializeOack } from '../../server/tftp/request-packet.js';
import { negotiateOptions, receiveCost, windowThatFits } from '../../server/tftp/transfer-options.js';

function rrq(...fields: string[]): Buffer {
  return Buffer.concat([Buffer.from([0, 1]), Buffer.from(fields.map((f) => `${f}\0`).join(''), 'latin1')]);
}

test('a read request with options is parsed; option names are case-insensitive', () => {
  const r = parseRequest(rrq('/undionly.kpxe', 'OCTET', 'BlkSize', '1432', 'tsize', '0'));
  assert.deepEqual(r, {
    ok: true,
    request: { kind: 'read', file: '/undionly.kpxe', mode: 'octet', options: new Map([['blksize', '1432'], ['tsize', '0']]) },
  });
});

test('a write request is recognised as such', () => {
  const r = parseRequest(Buffer.concat([Buffer.from([0, 2]), Buffer.from('upload.bin\0octet\0')]));
  assert.equal(r.ok && r.request.kind, 'write');
});

test('malformed requests are refused with the reason', () => {
  assert.match((parseRequest(Buffer.from([0, 1])) as { reason: string }).reason, /too short/);
  assert.match((parseRequest(Buffer.from([0, 4, 0, 1])) as { reason: string }).reason, /opcode 4/);
  assert.match((parseRequest(Buffer.from('\0\x01file-without-end')) as { reason: string }).reason, /file name is not NUL-terminated/);
  assert.match((parseRequest(Buffer.from('\0\x01file\0octet')) as { reason: string }).reason, /transfer mode/);
  assert.match((parseRequest(Buffer.from('\0\x01file\0octet\0blksize\0')) as { reason: string }).reason, /"blksize" has no/);
});

test('a NUL embedded in the name ends the name: the rest is read as the mode', () => {
  const r = parseRequest(rrq('undionly.kpxe', '../../etc/passwd'));
  assert.equal(r.ok, true);
  if (r.ok) {
    assert.equal(r.request.file, 'undionly.kpxe');
    assert.equal(r.request.mode, '../../etc/passwd');
  }
});

test('option acknowledgements and errors are serialized as RFC 2347 and RFC 1350 lay them out', () => {
  const oack = serializeOack({ blksize: 1432, tsize: 70_144, windowsize: 4 });
  assert.equal(oack.toString('latin1'), '\0\x06blksize\x001432\0tsize\x0070144\0windowsize\x004\0');
  const err = serializeError(2, 'Access violation: naïve');
  assert.deepEqual([...err.subarray(0, 4)], [0, 5, 0, 2]);
  assert.equal(err.toString('latin1', 4), 'Access violation: na?ve\0');
});

test('receive cost matches what Linux loopback charges per datagram', () => {
  // Measured: 516-, 1436-, 4100- and 8196-byte datagrams take 1280, 2304, 8448 and 16640 bytes.
  assert.deepEqual([512, 1432, 4096, 8192].map(receiveCost), [1280, 2304, 8448, 16640]);
  assert.equal(windowThatFits(8192, 212_992), 12);
  assert.equal(windowThatFits(1432, 212_992), 92);
  assert.equal(windowThatFits(65464, 100_000), 1);
});

const limits = { maxBlksize: 65464, maxWindowsize: 64, clientReceiveBuffer: 212_992 };

test('options the client did not send are not acknowledged', () => {
  assert.deepEqual(negotiateOptions(new Map(), limits), { options: {}, blksize: 512, windowsize: 1, notes: [] });
});

test('iPXE: blksize 1432 and tsize are granted', () => {
  const n = negotiateOptions(new Map([['blksize', '1432'], ['tsize', '0']]), limits);
  assert.deepEqual(n.options, { blksize: 1432, tsize: 0 });
});

test('blksize above the server maximum is lowered; out-of-range values are ignored with a note', () => {
  assert.deepEqual(negotiateOptions(new Map([['blksize', '8192']]), { ...limits, maxBlksize: 1468 }).options, { blksize: 1468 });
  const bad = negotiateOptions(new Map([['blksize', '70000'], ['timeout', '5']]), limits);
  assert.deepEqual(bad.options, {});
  assert.deepEqual(bad.notes, ['blksize "70000" ignored: RFC 2348 allows 8 to 65464', 'option "timeout" not supported, ignored']);
});

test('windowsize 16 x 8192 is lowered to the 12 blocks a default receive buffer holds', () => {
  const n = negotiateOptions(new Map([['blksize', '8192'], ['windowsize', '16']]), limits);
  assert.deepEqual(n.options, { blksize: 8192, windowsize: 12 });
  assert.match(n.notes[0] ?? '', /windowsize 16 lowered to 12: 16 blocks of 8192 bytes would overflow a 212992-byte receive buffer/);
});

test('windowsize that fits is granted; the server maximum still applies', () => {
  assert.deepEqual(negotiateOptions(new Map([['blksize', '1432'], ['windowsize', '16']]), limits).options, { blksize: 1432, windowsize: 16 });
  const capped = negotiateOptions(new Map([['windowsize', '100']]), { ...limits, maxWindowsize: 4 });
  assert.deepEqual(capped.options, { windowsize: 4 });
  assert.deepEqual(capped.notes, ['windowsize 100 lowered to 4 (server maximum)']);
});
