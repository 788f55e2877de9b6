import { createSocket, type Socket } from 'node:dgram';
import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { setTimeout as sleep } from 'node:timers/promises';
import { LifeboatError, hasErrno } from '../../core/errors.js';

/**
 * UDP sockets tied to one network interface. Node's dgram has no SO_BINDTODEVICE; Linux ≥ 5.0 has
 * SO_BINDTOIFINDEX, which takes a plain integer and so fits the integer-only `sockopt` binding. With
 * it the kernel delivers to this socket only what arrived on that interface, and sends go out of it.
 */

const SOL_SOCKET = 1;
const SETTLE_MS = 100;
const RECEIVE_BUFFER_BYTES = 4 * 1024 * 1024;
const SO_BINDTOIFINDEX = 62;

const require = createRequire(import.meta.url);
const sockopt = require('sockopt') as { setsockopt(socket: { _handle: { fd: number } }, level: number, name: number, value: number): void };

export function interfaceIndex(name: string): number {
  try {
    return Number(readFileSync(`/sys/class/net/${name}/ifindex`, 'utf8').trim());
  } catch (e) {
    if (!hasErrno(e, 'ENOENT')) throw e;
    const known = listInterfaces().join(', ');
    throw new LifeboatError('LB_USAGE', `network interface "${name}" does not exist here: give one of ${known || '(none found)'}`, { interface: name });
  }
}

export function listInterfaces(): string[] {
  try {
    return readdirSync('/sys/class/net');
  } catch {
    return [];
  }
}

/**
 * The fd behind a dgram socket. `socket._handle` works but prints a deprecation warning on every
 * use, so read the handle from dgram's internal state symbol and fall back to `_handle`.
 */
function socketFd(socket: Socket): number {
  for (const sym of Object.getOwnPropertySymbols(socket)) {
    const state = (socket as unknown as Record<symbol, { handle?: { fd?: number } }>)[sym];
    if (state && typeof state === 'object' && state.handle && typeof state.handle.fd === 'number') return state.handle.fd;
  }
  return (socket as unknown as { _handle: { fd: number } })._handle.fd;
}

export function bindToInterface(socket: Socket, ifindex: number): void {
  sockopt.setsockopt({ _handle: { fd: socketFd(socket) } }, SOL_SOCKET, SO_BINDTOIFINDEX, ifindex);
}

export interface InterfaceSocket {
  socket: Socket;
  /** Time (ms since epoch) from which received packets are known to have arrived on the interface. */
  boundSince: number;
}

/**
 * Binds 0.0.0.0:port and ties the socket to the interface. The option can only be set once the fd
 * exists, i.e. after bind(): a datagram that reached the socket in between may have come from any
 * interface. So this waits a moment before returning, and the caller drops anything it still reads
 * from before `boundSince`.
 */
export async function openInterfaceSocket(options: { interface: string; port: number; reuseAddr?: boolean }): Promise<InterfaceSocket> {
  const ifindex = interfaceIndex(options.interface);
  const socket = createSocket({ type: 'udp4', reuseAddr: options.reuseAddr ?? false });
  await new Promise<void>((resolve, reject) => {
    const onError = (e: Error) => {
      socket.close();
      reject(
        hasErrno(e, 'EADDRINUSE')
          ? new LifeboatError('LB_CONFLICT', `UDP port ${options.port} is already in use on ${options.interface} (another DHCP server on this host?): stop it, or run Lifeboat on a host without one`, { port: options.port }, { cause: e })
          : hasErrno(e, 'EACCES')
            ? new LifeboatError('LB_FORBIDDEN', `binding UDP port ${options.port} needs root or CAP_NET_BIND_SERVICE: run the server as root or grant the capability`, { port: options.port }, { cause: e })
            : e,
      );
    };
    socket.once('error', onError);
    socket.bind({ port: options.port, address: '0.0.0.0' }, () => {
      socket.off('error', onError);
      resolve();
    });
  });
  try {
    bindToInterface(socket, ifindex);
    socket.setBroadcast(true);
    // A room full of machines powered on together sends its DISCOVERs in one burst; the default
    // 208 KiB buffer holds about 500 of them. Linux caps this at net.core.rmem_max.
    socket.setRecvBufferSize(RECEIVE_BUFFER_BYTES);
  } catch (e) {
    socket.close();
    throw new LifeboatError('LB_INTERNAL', `cannot tie the UDP socket on port ${options.port} to ${options.interface} (SO_BINDTOIFINDEX needs Linux 5.0 or later): ${(e as Error).message}`, {}, { cause: e });
  }
  // Let whatever slipped in before the option took effect arrive now, while nobody listens.
  const boundSince = Date.now() + SETTLE_MS;
  await sleep(SETTLE_MS);
  return { socket, boundSince };
}
