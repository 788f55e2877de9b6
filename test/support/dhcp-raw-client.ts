// A minimal DHCP client for tests, run inside a namespace as its own process: sends the given
// datagrams (hex) from port `bindPort` on `interface`, then prints every reply that arrives within
// `listenMs` as one JSON line, decoded with Lifeboat's codec. Tests build the packets (foreign
// REQUESTs, PXE exchanges, malformed bytes) with server/dhcp/packet.ts and assert on the lines.
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { openInterfaceSocket } from '../../server/dhcp/interface-socket.js';
import { ipv4FromBytes } from '../../server/ipv4.js';
import { macOf, messageTypeName, messageTypeOf, optionText, parsePacket } from '../../server/dhcp/packet.js';

export interface RawClientConfig {
  interface: string;
  bindPort: number;
  sends: Array<{ to: string; port: number; hex: string }>;
  listenMs: number;
  /** Gap between sends, so a burst of garbage does not overrun the server's socket buffer. */
  gapMs?: number;
}

export interface RawReply {
  from: string;
  type: string;
  xid: number;
  mac: string | null;
  yiaddr: string;
  siaddr: string;
  ciaddr: string;
  file: string;
  sname: string;
  flags: number;
  /** option code → hex */
  options: Record<string, string>;
  serverId: string | null;
  message: string | null;
  bootfile: string | null;
  vendorClass: string | null;
}

async function main(): Promise<void> {
  const config = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as RawClientConfig;
  const { socket } = await openInterfaceSocket({ interface: config.interface, port: config.bindPort });
  socket.on('message', (buf, from) => {
    try {
      const p = parsePacket(buf);
      const sid = p.options.get(54);
      const reply: RawReply = {
        from: `${from.address}:${from.port}`,
        type: messageTypeName(messageTypeOf(p)),
        xid: p.xid,
        mac: macOf(p),
        yiaddr: p.yiaddr,
        siaddr: p.siaddr,
        ciaddr: p.ciaddr,
        file: p.file,
        sname: p.sname,
        flags: p.flags,
        options: Object.fromEntries([...p.options].map(([k, v]) => [String(k), v.toString('hex')])),
        serverId: sid && sid.length === 4 ? ipv4FromBytes(sid) : null,
        message: optionText(p, 56),
        bootfile: optionText(p, 67),
        vendorClass: optionText(p, 60),
      };
      process.stdout.write(`${JSON.stringify(reply)}\n`);
    } catch (e) {
      process.stdout.write(`${JSON.stringify({ unparsable: (e as Error).message, from: from.address })}\n`);
    }
  });
  for (const s of config.sends) {
    await new Promise<void>((resolve, reject) => socket.send(Buffer.from(s.hex, 'hex'), s.port, s.to, (e) => (e ? reject(e) : resolve())));
    if (config.gapMs) await sleep(config.gapMs);
  }
  await sleep(config.listenMs);
  socket.close();
}

main().catch((e) => {
  process.stderr.write(`raw DHCP client failed: ${(e as Error).message}\n`);
  process.exit(1);
});
