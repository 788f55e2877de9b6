import type { FastifyInstance, FastifyRequest } from 'fastify';
import Type from 'typebox';
import { READ } from './api-routes.js';
import type { HttpContext } from './context.js';
import { requireReader } from './request-auth.js';

const HealthReply = Type.Object({ status: Type.String(), store: Type.String(), database: Type.String(), reason: Type.Optional(Type.String()) });

/**
 * /healthz, open to anyone (it says only "serving" or why not, and a health checker has no token),
 * and /metrics, for the read-only token: the counters name no machine, but the server listens on
 * every address by default and every other read of its state needs a token, so this one does too
 * (Prometheus sends it with `authorization: { credentials_file: … }`).
 */
export async function healthRoutes(app: FastifyInstance, ctx: HttpContext): Promise<void> {
  app.get('/healthz', { schema: { security: [], tags: ['health'], description: '200 while the server serves (database open, store readable), 503 with the reason otherwise. No token.', response: { 200: HealthReply, 503: HealthReply } } }, async (_request, reply) => {
    const health = await ctx.health();
    const body = { status: health.ok ? 'ok' : 'unavailable', store: health.store, database: health.database, ...(health.reason ? { reason: health.reason } : {}) };
    return reply.code(health.ok ? 200 : 503).header('Cache-Control', 'no-store').send(body);
  });
  app.get(
    '/metrics',
    { onRequest: async (request: FastifyRequest) => requireReader(ctx, request), schema: { security: READ, tags: ['health'], description: "Prometheus' text format: tasks by state, restores and their durations, DHCP packets and leases, bytes served by protocol, rescue boots." } },
    async (_request, reply) => reply.type(ctx.metrics.contentType).header('Cache-Control', 'no-store').send(await ctx.metrics.text()),
  );
}
