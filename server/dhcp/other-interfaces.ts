import { createSocket, type Socket } from 'node:dgram';
import type { Logger } from '../../core/log.js';
import { LogLimiter } from '../log-limit.js';
import { bindToInterface, interfaceIndex, listInterfaces } from './interface-socket.js';
import { macOf, parsePacket } from './packet.js';

/**
 * One socket per other interface, only to say in the log that a request arrived where Lifeboat
 * does not serve. Interfaces that appear later are picked up on the next scan.
 */
export function watchOtherInterfaces(served: string, port: number, log: Logger): { stop(): void } {
  const open = new Map<string, Socket>();
  const lines = new LogLimiter({
    perWindow: 20,
    windowMs: 10_000,
    onDropped: (dropped, ms) => log.info({ dropped, seconds: Math.round(ms / 1000) }, `${dropped} more DHCP packets on other interfaces not logged in the last ${Math.round(ms / 1000)} s`),
  });
  const scan = () => {
    for (const name of listInterfaces()) {
      if (name === served || name === 'lo' || open.has(name)) continue;
      let ifindex: number;
      try {
        ifindex = interfaceIndex(name);
      } catch {
        continue;
      }
      const socket = createSocket({ type: 'udp4', reuseAddr: true });
      open.set(name, socket);
      socket.on('error', (e) => {
        log.debug({ err: e, other: name }, `not watching ${name}: ${e.message}`);
        socket.close();
        open.delete(name);
      });
      socket.bind({ port, address: '0.0.0.0' }, () => {
        try {
          bindToInterface(socket, ifindex);
        } catch (e) {
          log.debug({ err: e, other: name }, `not watching ${name}`);
          socket.close();
          return;
        }
        const since = Date.now() + 100;
        socket.on('message', (buf) => {
          if (Date.now() < since) return;
          let mac: string | null = null;
          try {
            mac = macOf(parsePacket(buf));
          } catch {
            // unparsable: still worth the line below
          }
          if (lines.admit()) log.info({ mac, receivedOn: name, reason: `arrived on interface ${name}` }, `ignored DHCP packet: arrived on interface ${name}; Lifeboat serves DHCP only on ${served}`);
        });
      });
    }
  };
  scan();
  const timer = setInterval(scan, 5000);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      lines.flush();
      for (const s of open.values()) {
        try {
          s.close();
        } catch {
          // already closed
        }
      }
    },
  };
}
