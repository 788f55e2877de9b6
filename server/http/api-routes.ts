import type { FastifyInstance, FastifyRequest } from 'fastify';
import { stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import Type from 'typebox';
import { LifeboatError } from '../../core/errors.js';
import { InventorySchema, TaskKindSchema, TaskOptionsSchema, TaskStateSchema, type TaskState } from '../../netboot/task-protocol.js';
import { MAC_PATTERN, normalizeMac } from '../state/mac.js';
import type { Task } from '../state/tasks.js';
import type { HttpContext } from './context.js';
import { parseImageRef, resolveUsableImage } from './image-ref.js';
import { limitParam, linkNext, PAGE_DEFAULT } from './paging.js';
import { requireAdmin, requireReader } from './request-auth.js';
import { TOKEN_PLACEHOLDER } from '../boot-planner.js';
import { checkTaskIdentities } from '../task-identity.js';
import { hostFitRefusal, taskRefusal, type TaskReadinessFacts } from '../task-readiness.js';
import type { Manifest } from '../../images/store/manifest.js';

/**
 * The admin API under /api/v1. Every change needs the admin token (Authorization: Bearer …); every
 * read needs the read-only token or the admin token, since tasks carry options, results, plans and
 * store paths. Both are checked in onRequest, before a body is read. Bodies, params, replies and
 * the security of each route are declared schemas, which also give the OpenAPI document at
 * /api/v1/openapi.json.
 */
type Security = Array<Record<string, string[]>>;
export const ADMIN: Security = [{ admin: [] }];
export const READ: Security = [{ read: [] }, { admin: [] }];
export const Mac = Type.String({ pattern: MAC_PATTERN, description: 'MAC address, e.g. 52:54:00:12:34:56 (also 52-54-00-12-34-56, 525400123456, 5254.0012.3456)' });
/** A name for people to read: no control characters (it is shown in logs, the CLI and scripts). */
const HostName = Type.String({ maxLength: 100, pattern: '^[^\\u0000-\\u001f\\u007f]*$', description: 'host name, printable characters only' });
export const ErrorReply = Type.Object({ error: Type.Object({ code: Type.String(), message: Type.String() }) });

const HostSchema = Type.Object({
  mac: Type.String(),
  name: Type.Union([Type.String(), Type.Null()]),
  firmware: Type.String(),
  arch: Type.Union([Type.Integer(), Type.Null()]),
  firstSeen: Type.Integer(),
  lastSeen: Type.Integer(),
  lastSeenVia: Type.Union([Type.String(), Type.Null()]),
  lastAddress: Type.Union([Type.String(), Type.Null()]),
  inventory: Type.Union([Type.Object({ ...InventorySchema.properties, reportedAt: Type.Integer() }), Type.Null()]),
});

const TaskSchema = Type.Object({
  id: Type.Integer(),
  kind: TaskKindSchema,
  mac: Type.String(),
  image: Type.Union([Type.String(), Type.Null()]),
  version: Type.Union([Type.String(), Type.Null()]),
  options: Type.Record(Type.String(), Type.Unknown()),
  state: TaskStateSchema,
  createdAt: Type.Integer(),
  startedAt: Type.Union([Type.Integer(), Type.Null()]),
  endedAt: Type.Union([Type.Integer(), Type.Null()]),
  progress: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()]),
  result: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()]),
  errorCode: Type.Union([Type.String(), Type.Null()]),
  error: Type.Union([Type.String(), Type.Null()]),
  files: Type.Array(Type.String()),
});

const CreateTaskBody = Type.Object(
  {
    kind: TaskKindSchema,
    mac: Mac,
    /** nuke/compare: NAME or NAME@VERSION; capture: the image name to publish under. */
    image: Type.String({ minLength: 1, maxLength: 200 }),
    options: Type.Optional(TaskOptionsSchema),
  },
  { additionalProperties: false },
);

const nonEmptyFile = (file: string) => stat(file).then((st) => st.isFile() && st.size > 0, () => false);

async function rescueFacts(rescue: HttpContext['rescue']): Promise<TaskReadinessFacts['rescue']> {
  return { dir: dirname(rescue.kernelFile), kernel: { file: rescue.kernelFile, present: await nonEmptyFile(rescue.kernelFile) }, initrd: { file: rescue.initrdFile, present: await nonEmptyFile(rescue.initrdFile) } };
}

export async function apiRoutes(app: FastifyInstance, ctx: HttpContext): Promise<void> {
  const view = (t: Task) => ({ ...t, options: t.options as Record<string, unknown>, progress: t.progress as Record<string, unknown> | null, files: ctx.tasks.files(t.id) });
  const admin = { onRequest: async (request: FastifyRequest) => requireAdmin(ctx, request) };
  const reader = { onRequest: async (request: FastifyRequest) => requireReader(ctx, request) };

  app.get<{ Querystring: { limit?: number; offset?: number } }>(
    '/api/v1/hosts',
    { ...reader, schema: { security: READ, tags: ['hosts'], description: 'Most recently seen first; a Link rel="next" header names the next page.', querystring: Type.Object({ limit: limitParam(1000), offset: Type.Optional(Type.Integer({ minimum: 0 })) }, { additionalProperties: false }), response: { 200: Type.Array(HostSchema) } } },
    async (request, reply) => {
      const limit = request.query.limit ?? PAGE_DEFAULT;
      const offset = request.query.offset ?? 0;
      const hosts = ctx.hosts.list({ limit: limit + 1, offset });
      if (hosts.length > limit) linkNext(request, reply, { offset: offset + limit, limit });
      return hosts.slice(0, limit);
    },
  );

  app.get<{ Params: { mac: string } }>('/api/v1/hosts/:mac', { ...reader, schema: { security: READ, tags: ['hosts'], params: Type.Object({ mac: Mac }), response: { 200: Type.Object({ host: HostSchema, tasks: Type.Array(TaskSchema) }), 404: ErrorReply } } }, async (request) => {
    const host = ctx.hosts.get(request.params.mac);
    if (!host) throw new LifeboatError('LB_NOT_FOUND', `no host ${normalizeMac(request.params.mac)} has been seen or added`);
    return { host, tasks: ctx.tasks.list({ mac: host.mac, limit: 50 }).map(view) };
  });

  app.put<{ Params: { mac: string }; Body: { name?: string } }>(
    '/api/v1/hosts/:mac',
    { ...admin, schema: { security: ADMIN, tags: ['hosts'], params: Type.Object({ mac: Mac }), body: Type.Object({ name: Type.Optional(HostName) }, { additionalProperties: false }), response: { 200: HostSchema } } },
    async (request) => {
      const host = ctx.hosts.ensure(request.params.mac, request.body.name);
      ctx.events.record('host.updated', `host ${host.mac} added or renamed${request.body.name ? ` to ${request.body.name}` : ''}`, { mac: host.mac });
      return host;
    },
  );

  app.get<{ Querystring: { mac?: string; state?: TaskState; limit?: number; before?: number } }>(
    '/api/v1/tasks',
    {
      ...reader,
      schema: {
        security: READ,
        tags: ['tasks'],
        description: 'Newest first; a Link rel="next" header names the next page (before=<last id>).',
        querystring: Type.Object({ mac: Type.Optional(Mac), state: Type.Optional(TaskStateSchema), limit: limitParam(1000), before: Type.Optional(Type.Integer({ minimum: 1 })) }, { additionalProperties: false }),
        response: { 200: Type.Array(TaskSchema) },
      },
    },
    async (request, reply) => {
      const q = request.query;
      const limit = q.limit ?? PAGE_DEFAULT;
      const tasks = ctx.tasks.list({ ...(q.mac ? { mac: q.mac } : {}), ...(q.state ? { state: q.state } : {}), ...(q.before !== undefined ? { beforeId: q.before } : {}), limit: limit + 1 });
      const page = tasks.slice(0, limit);
      if (tasks.length > limit) linkNext(request, reply, { before: page.at(-1)!.id, limit });
      return page.map(view);
    },
  );

  app.get<{ Params: { id: number } }>('/api/v1/tasks/:id', { ...reader, schema: { security: READ, tags: ['tasks'], params: Type.Object({ id: Type.Integer({ minimum: 1 }) }), response: { 200: TaskSchema, 404: ErrorReply } } }, async (request) => view(ctx.tasks.get(request.params.id)));

  app.post<{ Body: { kind: 'nuke' | 'capture' | 'compare'; mac: string; image: string; options?: Record<string, unknown> } }>(
    '/api/v1/tasks',
    { ...admin, schema: { security: ADMIN, tags: ['tasks'], body: CreateTaskBody, response: { 201: TaskSchema, 400: ErrorReply, 401: ErrorReply, 404: ErrorReply, 409: ErrorReply } } },
    async (request, reply) => {
      const { kind, mac, image } = request.body;
      const ref = parseImageRef(image, kind);
      const identity = request.body.options?.identity;
      if (identity && kind !== 'nuke') throw new LifeboatError('LB_INVALID', `options.identity (hostname, address) is for nuke tasks, not ${kind}`);
      if (identity) checkTaskIdentities([identity], () => 'options.identity', ctx.testbedSubnet);
      let name = ref.name;
      let version: string | null = null;
      let manifest: Manifest | null = null;
      if (kind !== 'capture') ({ name, version, manifest } = await resolveUsableImage(ctx, image));
      const refusal = taskRefusal({ kind, rescue: await rescueFacts(ctx.rescue), capturesShare: ctx.capturesShare() !== null });
      if (refusal) throw refusal;
      const host = ctx.hosts.get(mac);
      if (kind === 'nuke' && manifest && host?.inventory) {
        const misfit = hostFitRefusal(host, manifest, request.body.options ?? {});
        if (misfit) throw misfit;
      }
      ctx.hosts.ensure(mac);
      const task = ctx.tasks.create({ kind, mac, image: name, version, options: request.body.options ?? {} });
      return reply.code(201).send(view(task));
    },
  );

  app.post<{ Params: { id: number } }>('/api/v1/tasks/:id/cancel', { ...admin, schema: { security: ADMIN, tags: ['tasks'], params: Type.Object({ id: Type.Integer({ minimum: 1 }) }), response: { 200: TaskSchema } } }, async (request) => view(ctx.tasks.cancel(request.params.id)));

  app.post<{ Params: { id: number } }>(
    '/api/v1/tasks/:id/rearm',
    { ...admin, schema: { security: ADMIN, tags: ['tasks'], description: 'A failed task (e.g. LB_INTERRUPTED) runs again, or a pending task is freed from the boot its token was bound to: back to pending, no token, nothing of the last run; the next boot mints a token.', params: Type.Object({ id: Type.Integer({ minimum: 1 }) }), response: { 200: TaskSchema, 409: ErrorReply } } },
    async (request) => view(ctx.tasks.rearm(request.params.id)),
  );

  // What the machine's next boot script would be, for an admin: nothing minted, nothing recorded.
  app.get<{ Params: { mac: string } }>(
    '/api/v1/hosts/:mac/boot-script',
    { ...admin, schema: { security: ADMIN, tags: ['hosts'], description: `The iPXE script the machine would get now, with the token replaced by ${TOKEN_PLACEHOLDER}: mints no token and changes no task.`, params: Type.Object({ mac: Mac }) } },
    async (request, reply) => reply.type('text/plain; charset=utf-8').header('Cache-Control', 'no-store').send(ctx.planner.previewScript(request.params.mac, { httpBase: ctx.httpBase() }, ctx.rescue)),
  );

  app.get<{ Params: { id: number; name: string } }>('/api/v1/tasks/:id/files/:name', { ...reader, schema: { security: READ, tags: ['tasks'], params: Type.Object({ id: Type.Integer({ minimum: 1 }), name: Type.String({ pattern: '^[A-Za-z0-9._-]{1,100}$' }) }) } }, async (request, reply) => {
    const content = ctx.tasks.file(request.params.id, request.params.name);
    if (!content) throw new LifeboatError('LB_NOT_FOUND', `task ${request.params.id} has no file ${request.params.name}`);
    return reply.type('text/plain; charset=utf-8').send(content);
  });

  app.get('/api/v1/leases', { ...reader, schema: { security: READ, tags: ['leases'] } }, async () => ctx.leases());

  app.get<{ Querystring: { mac?: string; task?: number; after?: number; before?: number; limit?: number } }>(
    '/api/v1/events',
    {
      ...reader,
      schema: {
        security: READ,
        tags: ['events'],
        description: 'In the order they happened. after=ID pages forward (Link rel="next": after=<last id>); without it, the newest page, or the one before=ID, and Link rel="next" names the older page (before=<first id>).',
        querystring: Type.Object(
          { mac: Type.Optional(Mac), task: Type.Optional(Type.Integer()), after: Type.Optional(Type.Integer({ minimum: 0 })), before: Type.Optional(Type.Integer({ minimum: 1 })), limit: limitParam(5000) },
          { additionalProperties: false },
        ),
      },
    },
    async (request, reply) => {
      const q = request.query;
      if (q.after !== undefined && q.before !== undefined) throw new LifeboatError('LB_INVALID', 'give after or before, not both: after pages forward, before pages back');
      const limit = q.limit ?? PAGE_DEFAULT;
      const events = ctx.events.list({ ...(q.mac ? { mac: normalizeMac(q.mac) } : {}), ...(q.task !== undefined ? { taskId: q.task } : {}), ...(q.after !== undefined ? { afterId: q.after } : {}), ...(q.before !== undefined ? { beforeId: q.before } : {}), limit: limit + 1 });
      if (q.after !== undefined) {
        const page = events.slice(0, limit);
        if (events.length > limit) linkNext(request, reply, { after: page.at(-1)!.id, limit });
        return page;
      }
      const page = events.slice(-limit);
      if (events.length > limit) linkNext(request, reply, { before: page[0]!.id, limit });
      return page;
    },
  );

  // Server-sent events: the live feed, after replaying what the client missed (Last-Event-ID).
  app.get<{ Querystring: { mac?: string } }>('/api/v1/events/stream', { ...reader, schema: { security: READ, tags: ['events'], querystring: Type.Object({ mac: Type.Optional(Mac) }) } }, (request, reply) => {
    const mac = request.query.mac ? normalizeMac(request.query.mac) : undefined;
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-store', Connection: 'keep-alive' });
    const send = (e: { id: number; kind: string; mac: string | null }) => {
      if (mac && e.mac !== mac) return;
      res.write(`id: ${e.id}\nevent: ${e.kind}\ndata: ${JSON.stringify(e)}\n\n`);
    };
    const last = Number(request.headers['last-event-id']);
    if (Number.isInteger(last)) for (const e of ctx.events.list({ afterId: last, ...(mac ? { mac } : {}), limit: 1000 })) send(e);
    res.write(': connected\n\n');
    const unsubscribe = ctx.events.subscribe(send);
    const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
    request.raw.on('close', () => {
      clearInterval(keepAlive);
      unsubscribe();
    });
  });
}
