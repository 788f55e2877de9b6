import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { BOOTREQUEST, MessageType, Option, encode, encodePacket, macOf, macToBytes, messageTypeOf, optionIp, optionText, parsePacket } from '../../server/dhcp/packet.js';
import { isLifeboatError } from '../../core/errors.js';
import { refuses } from '../support/unit-kit.js';

const mac = '52:54:00:12:34:56';

function discover(extra: Array<[number, Buffer]> = []): Buffer {
  return encodePacket({
    op: BOOTREQUEST,
    xid: 0xdeadbeef,
    flags: 0x8000,
    chaddr: macToBytes(mac),
    options: [[Option.MESSAGE_TYPE, encode.u8(MessageType.DISCOVER)], ...extra],
  });
}

/** A valid header followed by hand-written option bytes. */
function withOptionBytes(bytes: number[]): Buffer {
  const head = discover().subarray(0, 240);
  return Buffer.concat([head, Buffer.from(bytes)]);
}

function expectDropped(buf: Buffer, reason: RegExp): void {
  refuses(() => parsePacket(buf), 'LB_INVALID', reason);
}

test('a packet round-trips through encode and parse with its fields and options', () => {
  const buf = encodePacket({
    op: BOOTREQUEST,
    xid: 0x01020304,
    secs: 7,
    flags: 0x8000,
    ciaddr: '10.1.2.3',
    giaddr: '10.1.2.254',
    chaddr: macToBytes(mac),
    file: 'undionly.kpxe',
    options: [
      [Option.MESSAGE_TYPE, encode.u8(MessageType.REQUEST)],
      [Option.REQUESTED_ADDRESS, encode.ip('10.1.2.50')],
      [Option.VENDOR_CLASS, encode.text('PXEClient:Arch:00007:UNDI:003016')],
      [Option.CLIENT_MACHINE_ID, Buffer.from([0, ...randomBytes(16)])],
    ],
  });
  const p = parsePacket(buf);
  assert.equal(p.op, BOOTREQUEST);
  assert.equal(p.xid, 0x01020304);
  assert.equal(p.secs, 7);
  assert.equal(p.flags, 0x8000);
  assert.equal(p.ciaddr, '10.1.2.3');
  assert.equal(p.giaddr, '10.1.2.254');
  assert.equal(macOf(p), mac);
  assert.equal(p.file, 'undionly.kpxe');
  assert.equal(messageTypeOf(p), MessageType.REQUEST);
  assert.equal(optionIp(p, Option.REQUESTED_ADDRESS), '10.1.2.50');
  assert.equal(optionText(p, Option.VENDOR_CLASS), 'PXEClient:Arch:00007:UNDI:003016');
  assert.equal(p.options.get(Option.CLIENT_MACHINE_ID)!.length, 17);
});

test('replies are padded to 300 bytes, the minimum old PXE ROMs accept', () => {
  assert.ok(discover().length >= 300);
});

test('a value longer than 255 bytes is split on encode and joined on parse (RFC 3396)', () => {
  const url = `http://10.0.0.1/${'x'.repeat(400)}`;
  const p = parsePacket(discover([[Option.BOOTFILE, encode.text(url)]]));
  assert.equal(optionText(p, Option.BOOTFILE), url);
});

test('pad bytes between options are skipped, binary values keep their bytes', () => {
  const p = parsePacket(withOptionBytes([53, 1, 1, 0, 0, 93, 2, 0, 7, 0, 61, 7, 1, 0x52, 0x54, 0, 0, 0, 1, 255]));
  assert.equal(messageTypeOf(p), MessageType.DISCOVER);
  assert.deepEqual([...p.options.get(Option.CLIENT_ARCH)!], [0, 7]);
  assert.deepEqual([...p.options.get(Option.CLIENT_ID)!], [1, 0x52, 0x54, 0, 0, 0, 1]);
});

test('option overload (52) reads options carried in the file field', () => {
  const buf = withOptionBytes([53, 1, 1, 52, 1, 1, 255]);
  Buffer.from([60, 9, ...Buffer.from('PXEClient'), 255]).copy(buf, 108);
  const p = parsePacket(buf);
  assert.equal(optionText(p, Option.VENDOR_CLASS), 'PXEClient');
  assert.equal(p.file, '');
});

test('malformed packets are refused with the reason', () => {
  expectDropped(Buffer.alloc(0), /shorter than the 240-byte/);
  expectDropped(discover().subarray(0, 239), /shorter than the 240-byte/);
  const badOp = discover();
  badOp[0] = 3;
  expectDropped(badOp, /op 3/);
  const badCookie = discover();
  badCookie.writeUInt32BE(0xdeadbeef, 236);
  expectDropped(badCookie, /magic cookie/);
  const longHlen = discover();
  longHlen[2] = 17;
  expectDropped(longHlen, /hardware address length/);
  expectDropped(withOptionBytes([53, 1, 1, 60, 50, 65, 66]), /claims 50 bytes but only 2 remain/);
  expectDropped(withOptionBytes([53, 1, 1, 60]), /no length byte/);
  expectDropped(withOptionBytes([53, 1, 1]), /no END option/);
  expectDropped(withOptionBytes([53, 1, 1, 52, 1, 9, 255]), /overload/);
});

test('a message type of the wrong size reads as absent rather than as a guess', () => {
  const p = parsePacket(withOptionBytes([53, 4, 1, 2, 3, 4, 255]));
  assert.equal(messageTypeOf(p), null);
});

test('random and mutated packets either parse or are refused with LB_INVALID, never anything else', () => {
  const valid = discover([[Option.VENDOR_CLASS, encode.text('PXEClient')], [Option.CLIENT_ARCH, Buffer.from([0, 7])]]);
  let refused = 0;
  for (let i = 0; i < 20000; i++) {
    let buf: Buffer;
    if (i % 3 === 0) buf = randomBytes(Math.floor(Math.random() * 600));
    else if (i % 3 === 1) buf = valid.subarray(0, Math.floor(Math.random() * valid.length));
    else {
      buf = Buffer.from(valid);
      for (let k = 0; k < 1 + (i % 8); k++) buf[240 + Math.floor(Math.random() * (buf.length - 240))] = Math.floor(Math.random() * 256);
    }
    try {
      parsePacket(buf);
    } catch (e) {
      assert.ok(isLifeboatError(e) && e.code === 'LB_INVALID', `unexpected ${String(e)}`);
      refused++;
    }
  }
  assert.ok(refused > 10000);
});

test('encode refuses what the wire cannot carry', () => {
  assert.throws(() => encodePacket({ op: 2, xid: 1, chaddr: macToBytes(mac), file: 'f'.repeat(128), options: [] }), /boot file name/);
  assert.throws(() => encodePacket({ op: 2, xid: 1, chaddr: macToBytes(mac), yiaddr: '10.0.0.256', options: [] }), /not an IPv4 address/);
  assert.throws(() => encodePacket({ op: 2, xid: 1, chaddr: macToBytes(mac), options: [[255, Buffer.alloc(1)]] }), /outside 1-254/);
});

// Why server/dhcp does not parse with the npm `dhcp` package (see server/dhcp/README.md): these
// are the packets above that our codec reads correctly. If the package is fixed, this test says so.
