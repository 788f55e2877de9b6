import type { FastifyReply, FastifyRequest } from 'fastify';
import Type from 'typebox';

/**
 * Paging of the list endpoints. The body stays the plain array it always was; a page that may not
 * be the last says where the next one is in a `Link: <…>; rel="next"` header (RFC 8288), the
 * request's own URL with the cursor moved on. Clients that want everything follow it until it is
 * absent (the CLI does).
 */
export const PAGE_DEFAULT = 200;

export function limitParam(max: number) {
  return Type.Optional(Type.Integer({ minimum: 1, maximum: max, description: `page size, at most ${max}; default ${PAGE_DEFAULT}` }));
}

/** Sets the Link header to this request's URL with `changes` applied to its query. */
export function linkNext(request: FastifyRequest, reply: FastifyReply, changes: Record<string, string | number | undefined>, rel = 'next'): void {
  const url = new URL(request.url, 'http://x');
  for (const [key, value] of Object.entries(changes)) {
    if (value === undefined) url.searchParams.delete(key);
    else url.searchParams.set(key, String(value));
  }
  reply.header('Link', `<${url.pathname}${url.search}>; rel="${rel}"`);
}

// The client's half lives apart, free of typebox and fastify: the CLI reads it on every list.
export { nextFromLink } from './link-header.js';
