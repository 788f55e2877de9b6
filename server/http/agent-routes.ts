import type { FastifyInstance, FastifyRequest } from 'fastify';
import Type from 'typebox';
import { LifeboatError } from '../../core/errors.js';
import { AgentTaskSchema, FinishReportSchema, InventorySchema, ProgressReportSchema, type AgentTask, type FinishReport, type Inventory, type ProgressReport } from '../../netboot/task-protocol.js';
import type { HttpContext } from './context.js';
import { bearer, clientAddress } from './request-auth.js';
import type { Task } from '../state/tasks.js';
import { checkFileFits } from '../state/tasks.js';
import { adoptVersion } from '../../images/store/adopt-version.js';

/**
 * The rescue agent's endpoints. Each call carries the task's own token (minted into the kernel
 * command line of the boot that runs it) from that boot's address, and a token opens only its own
 * task. The token is checked in onRequest, before any body is read: a refused upload is not buffered.
 */
const IdParams = Type.Object({ id: Type.Integer({ minimum: 1 }) });
const security: Array<Record<string, string[]>> = [{ task: [] }];

/** A finished capture is verified and moved from the capture share into the store; if that fails, so does the task. */
async function adoptCapture(ctx: HttpContext, image: string, report: FinishReport): Promise<FinishReport> {
  const version = String(report.result?.version ?? '');
  try {
    const adopted = await adoptVersion(ctx.capturesDir, ctx.store, image, version);
    await ctx.catalog.refresh();
    return { ok: true, result: { ...report.result, image: adopted.image, version: adopted.version, bytes: adopted.bytes, store: adopted.dir } };
  } catch (e) {
    const err = e as LifeboatError;
    ctx.log.error({ err, image, version }, 'captured version could not be adopted into the store');
    return { ok: false, error: { code: err.code ?? 'LB_INTERNAL', message: `the capture finished but could not be added to the store: ${err.message}` } };
  }
}

export async function agentRoutes(app: FastifyInstance, ctx: HttpContext): Promise<void> {
  // The task each authenticated request opened; set by the hook, read by the handler.
  const authenticated = new WeakMap<FastifyRequest, Task>();
  const taskOf = (request: FastifyRequest) => authenticated.get(request)!;
  // Params are not validated yet in onRequest: the id is checked here, as the schema would.
  const authenticate = async (request: FastifyRequest) => {
    const raw = (request.params as { id?: string }).id ?? '';
    if (!/^[1-9]\d{0,15}$/.test(raw)) throw new LifeboatError('LB_INVALID', `params/id must be a task id (a positive integer), not "${raw.slice(0, 40)}"`);
    authenticated.set(request, ctx.tasks.authenticate(Number(raw), bearer(request), clientAddress(request)));
  };
  // A capture's finish moves the image (seconds): a second finish meanwhile is refused, not queued.
  const finishing = new Set<number>();

  app.get<{ Params: { id: number } }>('/agent/v1/tasks/:id', { onRequest: authenticate, schema: { tags: ['agent'], security, params: IdParams, response: { 200: AgentTaskSchema } } }, async (request) => {
    const task = ctx.tasks.start(taskOf(request).id);
    const base = ctx.httpBase();
    const nfs = ctx.nfs();
    const view: AgentTask = { id: task.id, kind: task.kind, mac: task.mac, state: task.state, options: task.options };
    if (task.kind !== 'capture' && task.image && task.version) {
      view.image = {
        name: task.image,
        version: task.version,
        httpUrl: `${base}/store/${task.image}/${task.version}/`,
        ...(nfs ? { nfs: { server: nfs.server, export: nfs.storeExport, path: `${task.image}/${task.version}` } } : {}),
      };
    }
    const captures = ctx.capturesShare();
    const clone = task.options.clone;
    if (task.kind === 'nuke' && clone) {
      const multicast = ctx.transfers.receiveFor(clone.session, task.id);
      if (multicast) view.multicast = multicast;
    }
    if (task.kind === 'capture' && task.image) view.upload = { image: task.image, ...(captures ? { nfs: captures } : {}) };
    return view;
  });

  app.post<{ Params: { id: number }; Body: ProgressReport }>('/agent/v1/tasks/:id/progress', { onRequest: authenticate, schema: { tags: ['agent'], security, params: IdParams, body: ProgressReportSchema } }, async (request, reply) => {
    const task = taskOf(request);
    if (task.state === 'pending') ctx.tasks.start(task.id);
    ctx.tasks.progress(task.id, request.body);
    return reply.code(204).send();
  });

  app.post<{ Params: { id: number }; Body: Inventory }>('/agent/v1/tasks/:id/inventory', { onRequest: authenticate, schema: { tags: ['agent'], security, params: IdParams, body: InventorySchema } }, async (request, reply) => {
    const task = taskOf(request);
    ctx.hosts.recordInventory(task.mac, request.body);
    ctx.events.record('host.inventory', `host ${task.mac} reported ${request.body.disks.length} disk(s), ${request.body.firmware}`, { mac: task.mac, taskId: task.id });
    return reply.code(204).send();
  });

  app.post<{ Params: { id: number }; Body: FinishReport }>('/agent/v1/tasks/:id/finish', { onRequest: authenticate, schema: { tags: ['agent'], security, params: IdParams, body: FinishReportSchema } }, async (request) => {
    const task = taskOf(request);
    if (!request.body.ok && !request.body.error) throw new LifeboatError('LB_INVALID', 'a failed task must say why: error.code and error.message');
    if (finishing.has(task.id)) throw new LifeboatError('LB_CONFLICT', `task ${task.id} is being finished by another call`);
    finishing.add(task.id);
    try {
      let report = request.body;
      if (task.kind === 'capture' && report.ok) report = await adoptCapture(ctx, task.image ?? '', report);
      const t = ctx.tasks.finish(task.id, report);
      return { id: t.id, state: t.state };
    } finally {
      finishing.delete(task.id);
    }
  });

  app.put<{ Params: { id: number; name: string }; Body: Buffer }>(
    '/agent/v1/tasks/:id/files/:name',
    {
      bodyLimit: 64 << 20,
      // An announced length that cannot fit is refused before the body is read.
      onRequest: [
        authenticate,
        async (request) => {
          const length = Number(request.headers['content-length']);
          const name = (request.params as { name: string }).name;
          if (Number.isFinite(length)) checkFileFits(taskOf(request).id, name, length, ctx.tasks.fileBudget(taskOf(request).id, name));
        },
      ],
      schema: { tags: ['agent'], security, params: Type.Object({ id: Type.Integer({ minimum: 1 }), name: Type.String({ pattern: '^[A-Za-z0-9._-]{1,100}$' }) }) },
    },
    async (request, reply) => {
      ctx.tasks.storeFile(taskOf(request).id, request.params.name, Buffer.isBuffer(request.body) ? request.body : Buffer.from(String(request.body ?? '')));
      return reply.code(204).send();
    },
  );
}
