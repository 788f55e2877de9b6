import type { FastifyInstance, FastifyRequest } from 'fastify';
import Type from 'typebox';
import { LifeboatError } from '../../core/errors.js';
import { TaskStateSchema, type TaskOptions } from '../../netboot/task-protocol.js';
import { checkCloneRequest, MAX_CLONE_MACHINES, MULTICAST_MODES, type MulticastMode } from '../clone-request.js';
import type { CloneState } from '../clone-decision.js';
import type { CloneSession } from '../state/clone-sessions.js';
import { ADMIN, ErrorReply, Mac, READ } from './api-routes.js';
import type { HttpContext } from './context.js';
import { parseImageRef, resolveUsableImage } from './image-ref.js';
import { limitParam, linkNext, PAGE_DEFAULT } from './paging.js';
import { requireAdmin, requireReader } from './request-auth.js';
import { MAC_PATTERN } from '../state/mac.js';
import { hostFitRefusal } from '../task-readiness.js';

/**
 * Clone sessions under /api/v1/clones: one image onto many machines, one nuke task each, each with
 * its own identity. Every refusal (machines, patterns, table, counts) comes before any task exists.
 */
const CLONE_STATES = ['pending', 'running', 'done', 'failed', 'cancelled'] as const;
const CloneStateSchema = Type.Unsafe<CloneState>({ type: 'string', enum: [...CLONE_STATES] });
const MulticastSchema = Type.Unsafe<MulticastMode>({ type: 'string', enum: [...MULTICAST_MODES] });
const Identity = Type.Object({ hostname: Type.Optional(Type.String({ maxLength: 100 })), ipv4: Type.Optional(Type.String({ maxLength: 100 })) }, { additionalProperties: false });
const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);

const CreateCloneBody = Type.Object(
  {
    image: Type.String({ minLength: 1, maxLength: 200, description: 'NAME or NAME@VERSION (newest by default)' }),
    hosts: Type.Optional(Type.Array(Mac, { maxItems: MAX_CLONE_MACHINES, description: 'these machines, machine n being the n-th' })),
    count: Type.Optional(Type.Integer({ description: `the next N machines (1…${MAX_CLONE_MACHINES}) that network-boot with no open task and in no open session` })),
    hostname: Type.Optional(Type.String({ minLength: 1, maxLength: 100, description: 'hostname pattern over n, e.g. lab-{n:02}' })),
    ipv4: Type.Optional(Type.String({ minLength: 1, maxLength: 100, description: 'address pattern over n, e.g. 10.77.0.{n+100}' })),
    identities: Type.Optional(Type.Record(Type.String({ pattern: MAC_PATTERN }), Identity, { description: 'per-MAC identities instead of the patterns' })),
    hook: Type.Optional(Type.String({ minLength: 1, maxLength: 65536, description: 'identity hook run in every restored system (see task options.identity.hook)' })),
    policy: Type.Optional(Type.Unsafe<'proportional' | 'grow-last'>({ type: 'string', enum: ['proportional', 'grow-last'] })),
    dryRun: Type.Optional(Type.Boolean()),
    reboot: Type.Optional(Type.Boolean()),
    multicast: Type.Optional(MulticastSchema),
    minReceivers: Type.Optional(Type.Integer({ minimum: 1 })),
    maxWait: Type.Optional(Type.Integer({ minimum: 0, maximum: 86_400, description: 'seconds' })),
  },
  { additionalProperties: false },
);
type CreateClone = Type.Static<typeof CreateCloneBody>;

const SessionSchema = Type.Object({
  id: Type.Integer(),
  image: Type.String(),
  version: Type.String(),
  state: CloneStateSchema,
  stateReason: Nullable(Type.String()),
  requested: Type.Integer(),
  selection: Type.String(),
  hostnamePattern: Nullable(Type.String()),
  ipv4Pattern: Nullable(Type.String()),
  identities: Nullable(Type.Record(Type.String(), Identity)),
  options: Type.Record(Type.String(), Type.Unknown()),
  multicast: MulticastSchema,
  minReceivers: Nullable(Type.Integer()),
  maxWait: Nullable(Type.Integer()),
  createdAt: Type.Integer(),
  startedAt: Nullable(Type.Integer()),
  endedAt: Nullable(Type.Integer()),
  /** How the data travels: the session's multicast and where it is, or unicast and why. */
  transport: Type.String(),
});

const MemberSchema = Type.Object({
  n: Type.Integer(),
  mac: Type.String(),
  taskId: Type.Integer(),
  taskState: TaskStateSchema,
  progress: Nullable(Type.Record(Type.String(), Type.Unknown())),
  error: Nullable(Type.String()),
  identity: Nullable(Identity),
  joinedAt: Nullable(Type.Integer()),
  droppedAt: Nullable(Type.Integer()),
});

const SessionWithMembers = Type.Intersect([SessionSchema, Type.Object({ members: Type.Array(MemberSchema) })]);
const Id = Type.Object({ id: Type.Integer({ minimum: 1 }) });

export async function cloneRoutes(app: FastifyInstance, ctx: HttpContext): Promise<void> {
  const admin = { onRequest: async (request: FastifyRequest) => requireAdmin(ctx, request) };
  const reader = { onRequest: async (request: FastifyRequest) => requireReader(ctx, request) };
  const view = (s: CloneSession) => ({ ...s, options: s.options as Record<string, unknown>, transport: ctx.transfers.describe(s.id) });
  const full = (s: CloneSession) => ({ ...view(s), members: ctx.clones.members(s.id).map((m) => ({ ...m, progress: m.progress as Record<string, unknown> | null })) });

  app.post<{ Body: CreateClone }>(
    '/api/v1/clones',
    { ...admin, schema: { security: ADMIN, tags: ['clones'], description: 'A clone session: one nuke task per machine (--hosts at once, --count as machines network-boot), each with its own identity.', body: CreateCloneBody, response: { 201: SessionWithMembers, 400: ErrorReply, 404: ErrorReply, 409: ErrorReply } } },
    async (request, reply) => {
      const b = request.body;
      parseImageRef(b.image, 'nuke');
      const checked = checkCloneRequest(
        { ...(b.hosts ? { hosts: b.hosts } : {}), ...(b.count !== undefined ? { count: b.count } : {}), ...(b.hostname !== undefined ? { hostname: b.hostname } : {}), ...(b.ipv4 !== undefined ? { ipv4: b.ipv4 } : {}), ...(b.identities ? { identities: b.identities } : {}), ...(b.minReceivers !== undefined ? { minReceivers: b.minReceivers } : {}) },
        ctx.testbedSubnet,
      );
      if (b.multicast === 'on' && ctx.testbedSubnet === null) {
        throw new LifeboatError('LB_INVALID', '--multicast on needs the server\'s test-bed interface (lifeboat serve --interface IFACE) to send on; give it, or use --multicast auto (unicast when multicast cannot run) or off');
      }
      const image = await resolveUsableImage(ctx, b.image);
      const options: TaskOptions = { policy: b.policy ?? 'proportional', ...(b.dryRun ? { dryRun: true } : {}), ...(b.reboot !== undefined ? { reboot: b.reboot } : {}), ...(b.hook ? { identity: { hook: b.hook } } : {}) };
      for (const host of (checked.macs ?? []).map((m) => ctx.hosts.get(m))) {
        const misfit = host?.inventory ? hostFitRefusal(host, image.manifest, options) : null;
        if (misfit) throw misfit;
      }
      const session = ctx.clones.create({
        image: image.name,
        version: image.version,
        macs: checked.macs,
        count: checked.count,
        hostnamePattern: b.hostname ?? null,
        ipv4Pattern: b.ipv4 ?? null,
        identities: checked.identities,
        options,
        multicast: b.multicast ?? 'auto',
        minReceivers: b.minReceivers ?? null,
        maxWait: b.maxWait ?? null,
      });
      return reply.code(201).send(full(session));
    },
  );

  app.get<{ Querystring: { state?: CloneState; limit?: number; before?: number } }>(
    '/api/v1/clones',
    {
      ...reader,
      schema: {
        security: READ,
        tags: ['clones'],
        description: 'Newest first; a Link rel="next" header names the next page (before=<last id>).',
        querystring: Type.Object({ state: Type.Optional(CloneStateSchema), limit: limitParam(1000), before: Type.Optional(Type.Integer({ minimum: 1 })) }, { additionalProperties: false }),
        response: { 200: Type.Array(SessionSchema) },
      },
    },
    async (request, reply) => {
      const q = request.query;
      const limit = q.limit ?? PAGE_DEFAULT;
      const sessions = ctx.clones.list({ ...(q.state ? { state: q.state } : {}), ...(q.before !== undefined ? { beforeId: q.before } : {}), limit: limit + 1 });
      const page = sessions.slice(0, limit);
      if (sessions.length > limit) linkNext(request, reply, { before: page.at(-1)!.id, limit });
      return page.map(view);
    },
  );

  app.get<{ Params: { id: number } }>('/api/v1/clones/:id', { ...reader, schema: { security: READ, tags: ['clones'], description: 'The session, its state and why, and each machine with its task state and progress.', params: Id, response: { 200: SessionWithMembers, 404: ErrorReply } } }, async (request) => full(ctx.clones.get(request.params.id)));

  app.post<{ Params: { id: number } }>(
    '/api/v1/clones/:id/cancel',
    { ...admin, schema: { security: ADMIN, tags: ['clones'], description: 'Cancels the open tasks of the session and gives up its unclaimed places.', params: Id, response: { 200: SessionWithMembers, 404: ErrorReply, 409: ErrorReply } } },
    async (request) => full(ctx.clones.cancel(request.params.id)),
  );
}
