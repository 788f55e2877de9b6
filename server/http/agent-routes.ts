import type { FastifyInstance, FastifyRequest } from 'fastify';
import Type from 'typebox';
import { LifeboatError } from '../../core/errors.js';
import { AgentTaskSchema, FinishReportSchema, ProgressReportSchema, type AgentTask, type FinishReport, type ProgressReport } from '../../netboot/task-protocol.js';
import type { HttpContext } from './context.js';

/**
 * The rescue agent's endpoints. Each call carries the task's own token (minted into the kernel
 * command line of the boot that runs it), and a token opens only its own task.
 */
const IdParams = Type.Object({ id: Type.Integer({ minimum: 1 }) });

function bearer(request: FastifyRequest): string | undefined {
  return /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? '')?.[1];
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
        ...(nfs ? { nfs: { server: nfs.server, export: nfs.export, path: `${task.image}/${task.version}` } } : {}),
      };
    }
    if (task.kind === 'capture' && task.image) view.upload = { httpUrl: `${base}/agent/v1/tasks/${task.id}/upload/` };
    return view;
  });

  app.post<{ Params: { id: number }; Body: ProgressReport }>('/agent/v1/tasks/:id/progress', { schema: { tags: ['agent'], params: IdParams, body: ProgressReportSchema } }, async (request, reply) => {
    const task = ctx.tasks.authenticate(request.params.id, bearer(request));
    if (task.state === 'pending') ctx.tasks.start(task.id);
    ctx.tasks.progress(task.id, request.body);
    return reply.code(204).send();
  });

  app.post<{ Params: { id: number }; Body: FinishReport }>('/agent/v1/tasks/:id/finish', { schema: { tags: ['agent'], params: IdParams, body: FinishReportSchema } }, async (request) => {
    ctx.tasks.authenticate(request.params.id, bearer(request));
    if (!request.body.ok && !request.body.error) throw new LifeboatError('LB_INVALID', 'a failed task must say why: error.code and error.message');
    const t = ctx.tasks.finish(request.params.id, request.body);
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
