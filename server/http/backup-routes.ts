import type { FastifyInstance, FastifyRequest } from 'fastify';
import Type from 'typebox';
import { LifeboatError } from '../../core/errors.js';
import type { HttpContext } from './context.js';
import { ADMIN, ErrorReply, READ } from './api-routes.js';
import { clientAddress, requireAdmin, requireReader } from './request-auth.js';

/**
 * Backup clients: an admin allows a machine to send its own archives (one writable NFS export of
 * its image, for its address alone) or takes that away; a reader lists them with what they use.
 * A machine asks which export is its own by address only, as the NFS server itself decides.
 */
const ClientName = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$', description: 'backup client name, e.g. web01' });
const Keep = Type.Integer({ minimum: 1, maximum: 10_000 });
const AllowBody = Type.Object(
  {
    address: Type.String({ maxLength: 18, description: 'the IPv4 address (or CIDR) the machine mounts from' }),
    image: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$', description: 'image its archives go into (default: the client name)' })),
    quotaBytes: Type.Optional(Type.Union([Type.Integer({ minimum: 1 }), Type.Null()], { description: 'most bytes its versions may take; null: no limit' })),
    retention: Type.Optional(
      Type.Object({ keepLast: Type.Optional(Keep), keepDaily: Type.Optional(Keep), keepWeekly: Type.Optional(Keep), keepMonthly: Type.Optional(Keep) }, { additionalProperties: false }),
    ),
  },
  { additionalProperties: false },
);

export async function backupRoutes(app: FastifyInstance, ctx: HttpContext): Promise<void> {
  const admin = { onRequest: async (request: FastifyRequest) => requireAdmin(ctx, request) };
  const reader = { onRequest: async (request: FastifyRequest) => requireReader(ctx, request) };
  const params = Type.Object({ name: ClientName });

  app.get('/api/v1/backup-clients', { ...reader, schema: { security: READ, tags: ['backup'] } }, async () => ctx.backup.list());

  app.put<{ Params: { name: string }; Body: Type.Static<typeof AllowBody> }>(
    '/api/v1/backup-clients/:name',
    { ...admin, schema: { security: ADMIN, tags: ['backup'], description: 'Allows the machine at `address` to write its archives into its own NFS export (created, or changed when it exists).', params, body: AllowBody, response: { 404: ErrorReply, 409: ErrorReply } } },
    async (request, reply) => {
      const { client, created } = await ctx.backup.allow({ name: request.params.name, ...request.body });
      ctx.events.record('backup.allowed', `backup client ${client.name} at ${client.address} may write image ${client.image} (export ${ctx.backup.exportOf(client)})`, { data: { client: client.name, address: client.address, image: client.image } });
      return reply.code(created ? 201 : 200).send({ ...client, usage: await ctx.backup.usage(client), export: ctx.backup.exportOf(client) });
    },
  );

  app.delete<{ Params: { name: string } }>(
    '/api/v1/backup-clients/:name',
    { ...admin, schema: { security: ADMIN, tags: ['backup'], description: "Withdraws the client's export; the versions it sent stay in the store.", params, response: { 404: ErrorReply } } },
    async (request) => {
      const client = await ctx.backup.remove(request.params.name);
      ctx.events.record('backup.removed', `backup client ${client.name} may no longer write image ${client.image}; its versions stay`, { data: { client: client.name, image: client.image } });
      return client;
    },
  );

  app.get('/backup/v1/export', { schema: { security: [], tags: ['backup'], description: 'The NFS export of the backup client asking, found by its address; 404 for any other address.', response: { 404: ErrorReply } } }, async (request) => {
    const address = clientAddress(request);
    const client = ctx.backup.clientAt(address);
    const exported = client ? ctx.backup.exportOf(client) : null;
    if (!client || !exported) throw new LifeboatError('LB_NOT_FOUND', `${address} is not a backup client of this server: an admin allows it with lifeboat hosts allow-backup NAME --address ${address}`);
    return { name: client.name, image: client.image, export: exported };
  });
}
