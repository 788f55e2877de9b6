import type { FastifyInstance, FastifyRequest } from 'fastify';
import Type from 'typebox';
import { LifeboatError } from '../../core/errors.js';
import { IMAGE_NAME_RULE, isImageName } from '../../images/store/image-store.js';
import type { CatalogEntry } from '../state/image-catalog.js';
import type { HttpContext } from './context.js';
import { ADMIN, ErrorReply, READ } from './api-routes.js';
import { requireAdmin, requireReader } from './request-auth.js';

/**
 * The images in the store, as the catalog mirrors them, with the last full verification the server
 * ran of each version; an admin starts one (verify now), a reader follows its progress.
 */
const ImageName = Type.String({ maxLength: 64, description: 'image name' });
const Version = Type.String({ pattern: '^[0-9]{8}T[0-9]{6}Z(-[0-9]+)?$', description: 'version, e.g. 20261127T141300Z' });
const VersionParams = Type.Object({ name: ImageName, version: Version });

export async function imageRoutes(app: FastifyInstance, ctx: HttpContext): Promise<void> {
  const admin = { onRequest: async (request: FastifyRequest) => requireAdmin(ctx, request) };
  const reader = { onRequest: async (request: FastifyRequest) => requireReader(ctx, request) };
  const withVerification = (entries: CatalogEntry[]) => {
    const recorded = ctx.verifications.all();
    return entries.map((e) => ({ ...e, verification: recorded.get(`${e.name}@${e.version}`) ?? null }));
  };
  const checkName = (name: string) => {
    if (!isImageName(name)) throw new LifeboatError('LB_INVALID', `image name ${JSON.stringify(name)} is not allowed: use ${IMAGE_NAME_RULE}`);
  };
  const entryOf = (name: string, version: string): CatalogEntry => {
    checkName(name);
    const entry = ctx.catalog.resolve(`${name}@${version}`);
    if (!entry) throw new LifeboatError('LB_NOT_FOUND', `image ${name}@${version} is not in the store ${ctx.store}: lifeboat images list shows what is`);
    return entry;
  };

  app.get('/api/v1/images', { ...reader, schema: { security: READ, tags: ['images'] } }, async () => withVerification(ctx.catalog.list()));
  app.get<{ Params: { name: string } }>('/api/v1/images/:name', { ...reader, schema: { security: READ, tags: ['images'], params: Type.Object({ name: ImageName }) } }, async (request) => {
    checkName(request.params.name);
    const versions = ctx.catalog.list(request.params.name);
    if (versions.length === 0) throw new LifeboatError('LB_NOT_FOUND', `image ${request.params.name} has no published version`);
    return withVerification(versions);
  });
  app.post('/api/v1/images/rescan', { ...admin, schema: { security: ADMIN, tags: ['images'] } }, async () => {
    await ctx.catalog.refresh();
    return withVerification(ctx.catalog.list());
  });

  app.post<{ Params: { name: string; version: string } }>(
    '/api/v1/images/:name/:version/verify',
    { ...admin, schema: { security: ADMIN, tags: ['images'], description: 'Starts a full verification in the background (every volume hashed, every archive listed) and answers 202 at once; while the last one stands failed, nuke and compare tasks of the version are refused.', params: VersionParams, response: { 404: ErrorReply } } },
    async (request, reply) => {
      await ctx.catalog.refresh();
      const entry = entryOf(request.params.name, request.params.version);
      void ctx.verifier.verify(entry);
      return reply.code(202).send({ verification: ctx.verifications.get(entry.name, entry.version), progress: ctx.verifier.progress(entry.name, entry.version) });
    },
  );

  app.get<{ Params: { name: string; version: string } }>(
    '/api/v1/images/:name/:version/verification',
    { ...reader, schema: { security: READ, tags: ['images'], description: 'The last verification the server ran of the version (null: never), and the bytes hashed so far while one runs.', params: VersionParams, response: { 404: ErrorReply } } },
    async (request) => {
      const entry = entryOf(request.params.name, request.params.version);
      return { verification: ctx.verifications.get(entry.name, entry.version) ?? null, progress: ctx.verifier.progress(entry.name, entry.version) };
    },
  );
}
