import type { FastifyRequest } from 'fastify';
import { createHash, timingSafeEqual } from 'node:crypto';
import { LifeboatError } from '../../core/errors.js';
import type { HttpContext } from './context.js';

/**
 * Who is asking: the bearer token of a request and the address it came from. Checked in onRequest
 * hooks, before fastify reads a body, so a refused call costs no more than its headers.
 */
export function bearer(request: FastifyRequest): string | undefined {
  return /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? '')?.[1];
}

/** The peer's address as DHCP knows it: an IPv4 peer of a dual-stack socket shows as ::ffff:a.b.c.d. */
export function clientAddress(request: FastifyRequest): string {
  return request.ip.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/, '');
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Constant-time: both sides are hashed to the same length first. */
function matches(given: string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected));
}

export function requireAdmin(ctx: HttpContext, request: FastifyRequest): void {
  const token = bearer(request);
  if (!token) throw new LifeboatError('LB_UNAUTHORIZED', "this call changes state and needs the admin token: Authorization: Bearer <token> (the token is in the server's admin-token file)");
  if (matches(token, ctx.adminToken)) return;
  if (matches(token, ctx.readToken)) throw new LifeboatError('LB_FORBIDDEN', 'the read-only token cannot change anything: this call needs the admin token (admin-token file)');
  throw new LifeboatError('LB_UNAUTHORIZED', 'the admin token is wrong');
}

/** Reads of hosts, tasks, their files, leases and events: the admin token or the read-only token. */
export function requireReader(ctx: HttpContext, request: FastifyRequest): void {
  const token = bearer(request);
  if (!token) throw new LifeboatError('LB_UNAUTHORIZED', "this call reads server state and needs a token: Authorization: Bearer <token>, the read-only token (read-token file) or the admin token (admin-token file)");
  if (!matches(token, ctx.readToken) && !matches(token, ctx.adminToken)) throw new LifeboatError('LB_UNAUTHORIZED', 'the token is neither the read-only token nor the admin token');
}
