import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import { LIFEBOAT_VERSION } from '../../core/version.js';
import { agentRoutes } from './agent-routes.js';
import { apiRoutes } from './api-routes.js';
import { bootRoutes } from './boot-routes.js';
import { cloneRoutes } from './clone-routes.js';
import { healthRoutes } from './health-routes.js';
import { imageRoutes } from './image-routes.js';
import { backupRoutes } from './backup-routes.js';
import type { HttpContext } from './context.js';
import { replyError } from './errors.js';
import { partValidatorCompiler } from './validators.js';

/** The one HTTP server: boot files, the store read-only, the admin API and the agent endpoints. */
export async function buildHttpApp(ctx: HttpContext): Promise<FastifyInstance> {
  const app: FastifyInstance = Fastify({
    loggerInstance: ctx.log as unknown as FastifyBaseLogger,
    // Requests are logged once, at debug, by the onResponse hook below.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 1 << 20,
    // Errors fastify raises before a route runs (a path parameter over 100 characters: 414, a
    // malformed %-escape: 400) answer in the same shape as every other refusal.
    frameworkErrors: (error, request, reply) => void replyError(error, request, reply),
  });
  app.setValidatorCompiler(partValidatorCompiler());
  // Plain-text and binary uploads (changed.txt, captured files) arrive as Buffers.
  app.addContentTypeParser(['text/plain', 'application/octet-stream'], { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  app.setErrorHandler(replyError);
  app.setNotFoundHandler((request, reply) => reply.code(404).send({ error: { code: 'LB_NOT_FOUND', message: `${request.method} ${request.url} does not exist` } }));
  // Bytes served count bodies of responses that completed; file downloads write their own headers
  // (file-stream.ts), whose Content-Length fastify's reply still holds.
  app.addHook('onRequest', async (request, reply) => {
    if (request.method === 'HEAD') return;
    reply.raw.once('finish', () => {
      const length = Number(reply.getHeader('content-length'));
      if (Number.isFinite(length) && length > 0) ctx.metrics.served('http', length);
    });
  });
  app.addHook('onResponse', async (request, reply) => {
    request.log.debug({ method: request.method, url: request.url.replace(/token=[^&]+/, 'token=…'), status: reply.statusCode, ip: request.ip, ms: Math.round(reply.elapsedTime) }, 'http');
  });
  await app.register(swagger, {
    openapi: {
      info: { title: 'Lifeboat', version: LIFEBOAT_VERSION, description: 'Lifeboat restore server: admin API (/api/v1) and rescue agent API (/agent/v1)' },
      components: {
        securitySchemes: {
          admin: { type: 'http', scheme: 'bearer', description: "the admin token (the server's admin-token file): every call" },
          read: { type: 'http', scheme: 'bearer', description: "the read-only token (the read-token file beside admin-token): reads of /api/v1" },
          task: { type: 'http', scheme: 'bearer', description: 'a task token, minted into the boot script of that task\'s machine and bound to that boot\'s address' },
        },
      },
    },
  });
  await bootRoutes(app, ctx);
  await apiRoutes(app, ctx);
  await imageRoutes(app, ctx);
  await backupRoutes(app, ctx);
  await cloneRoutes(app, ctx);
  await agentRoutes(app, ctx);
  await healthRoutes(app, ctx);
  app.get('/api/v1/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  return app;
}
