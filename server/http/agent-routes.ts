import type { FastifyInstance, FastifyRequest } from 'fastify';
import Type from 'typebox';
import { LifeboatError } from '../../core/errors.js';
import { AgentTaskSchema, FinishReportSchema, ProgressReportSchema, type AgentTask, type FinishReport, type ProgressReport } from '../../netboot/task-protocol.js';
import type { HttpContext } from './context.js';
import { adoptVersion } from '../../images/store/adopt-version.js';

/**
 * The rescue agent's endpoints. Each call carries the task's own token (minted into the kernel
 * command line of the boot that runs it), and a token opens only its own task.
 */
const IdParams = Type.Object({ id: Type.Integer({ minimum: 1 }) });

function bearer(request: FastifyRequest): string | undefined {
  return /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? '')?.[1];
}

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
  app.get<{ Params: { id: number } }>('/agent/v1/tasks/:id', { schema: { tags: ['agent'], params: IdParams, response: { 200: AgentTaskSchema } } }, async (request) => {
    ctx.tasks.authenticate(request.params.id, bearer(request));
    const task = ctx.tasks.start(request.params.id);
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
    if (task.kind === 'capture' && task.image) view.upload = { image: task.image, ...(nfs ? { nfs: { server: nfs.server, export: nfs.capturesExport } } : {}) };
    return view;
  });

  app.post<{ Params: { id: number }; Body: ProgressReport }>('/agent/v1/tasks/:id/progress', { schema: { tags: ['agent'], params: IdParams, body: ProgressReportSchema } }, async (request, reply) => {
    const task = ctx.tasks.authenticate(request.params.id, bearer(request));
    if (task.state === 'pending') ctx.tasks.start(task.id);
    ctx.tasks.progress(task.id, request.body);
    return reply.code(204).send();
  });

  app.post<{ Params: { id: number }; Body: FinishReport }>('/agent/v1/tasks/:id/finish', { schema: { tags: ['agent'], params: IdParams, body: FinishReportSchema } }, async (request) => {
    const task = ctx.tasks.authenticate(request.params.id, bearer(request));
    if (!request.body.ok && !request.body.error) throw new LifeboatError('LB_INVALID', 'a failed task must say why: error.code and error.message');
    let report = request.body;
    if (task.kind === 'capture' && report.ok) report = await adoptCapture(ctx, task.image ?? '', report);
    const t = ctx.tasks.finish(request.params.id, report);
    return { id: t.id, state: t.state };
  });

  app.put<{ Params: { id: number; name: string }; Body: Buffer }>(
    '/agent/v1/tasks/:id/files/:name',
    { bodyLimit: 64 << 20, schema: { tags: ['agent'], params: Type.Object({ id: Type.Integer({ minimum: 1 }), name: Type.String({ pattern: '^[A-Za-z0-9._-]{1,100}$' }) }) } },
    async (request, reply) => {
      ctx.tasks.authenticate(request.params.id, bearer(request));
      ctx.tasks.storeFile(request.params.id, request.params.name, Buffer.isBuffer(request.body) ? request.body : Buffer.from(String(request.body ?? '')));
      return reply.code(204).send();
    },
  );
}
