import type { FastifyInstance, FastifyRequest } from 'fastify';
import Type from 'typebox';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { LifeboatError } from '../../core/errors.js';
import { isIpxeBinary } from '../boot-files.js';
import { normalizeMac } from '../state/mac.js';
import type { HttpContext } from './context.js';
import { resolveInside, sendFile } from './file-stream.js';
import { resolvePublishedFile } from './store-files.js';
import { clientAddress } from './request-auth.js';

/**
 * Boot over HTTP: the per-machine iPXE script (decided by the BootPlanner), the rescue kernel and
 * initrd, the iPXE binaries for UEFI HTTP Boot, and the store's published files read-only.
 */
export async function bootRoutes(app: FastifyInstance, ctx: HttpContext): Promise<void> {
  // Only iPXE fetches a script; what it carries depends on who fetches it (see decideScript).
  const script = (mac: string, request: FastifyRequest) => {
    const leasedAddress = ctx.leasedAddress(normalizeMac(mac));
    return ctx.planner.ipxeScript({ mac, address: clientAddress(request), ...(leasedAddress !== undefined ? { leasedAddress } : {}) }, { httpBase: ctx.httpBase() }, ctx.rescue);
  };
  // Boot files are fetched by firmware, which carries no credentials.
  const schema = { tags: ['boot'], security: [] as Array<Record<string, string[]>> };

  app.get<{ Params: { file: string } }>('/boot/:file', { schema }, async (request, reply) => {
    const file = request.params.file;
    const m = /^([0-9A-Fa-f:-]{12,17})\.ipxe$/.exec(file);
    if (m) return reply.type('text/plain; charset=utf-8').header('Cache-Control', 'no-store').send(script(m[1]!, request));
    if (isIpxeBinary(file)) {
      return sendFile(reply, await resolveInside(ctx.netbootRoot, file), request.headers.range, 'application/efi');
    }
    throw new LifeboatError('LB_NOT_FOUND', `/boot/${file} is not a boot file: use /boot/<mac>.ipxe`);
  });

  // A repeated ?mac= arrives as an array: the schema turns that into a 400 instead of a crash in the MAC parser.
  const IpxeQuery = Type.Object({ mac: Type.Optional(Type.String({ maxLength: 64 })) });
  app.get<{ Querystring: { mac?: string } }>('/boot/ipxe', { schema: { ...schema, querystring: IpxeQuery } }, async (request, reply) => {
    if (!request.query.mac) throw new LifeboatError('LB_INVALID', 'mac is required: /boot/ipxe?mac=${net0/mac}');
    return reply.type('text/plain; charset=utf-8').header('Cache-Control', 'no-store').send(script(request.query.mac, request));
  });

  app.get<{ Params: { file: string } }>('/boot/rescue/:file', { schema }, async (request, reply) => {
    const { file } = request.params;
    const path = file === basename(ctx.rescue.kernelPath) ? ctx.rescue.kernelFile : file === basename(ctx.rescue.initrdPath) ? ctx.rescue.initrdFile : null;
    if (!path) throw new LifeboatError('LB_NOT_FOUND', `the rescue system has no file ${file}`);
    // Not built yet is the operator's to fix, not a server error: say so with a 404.
    if (!(await stat(path).catch(() => null))) throw new LifeboatError('LB_NOT_FOUND', `the rescue system is not built: ${path} is missing; run lifeboat netboot build (it writes into the server's --rescue-dir)`);
    return sendFile(reply, path, request.headers.range);
  });

  app.get<{ Params: { '*': string } }>('/store/*', { schema }, async (request, reply) => {
    const rel = request.params['*'];
    return sendFile(reply, await resolvePublishedFile(ctx.store, rel), request.headers.range, rel.endsWith('.json') ? 'application/json' : 'application/octet-stream');
  });
}
