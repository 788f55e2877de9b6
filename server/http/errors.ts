import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { LifeboatError, isLifeboatError } from '../../core/errors.js';

/**
 * One mapping from errors to HTTP: LifeboatErrors carry their status; schema failures are 400 with
 * the field that is wrong; anything else is a 500 that is logged and not explained to the client.
 */
/** A refusal's reason as logged: a request may carry a path of many kilobytes, the log line stays short. */
const brief = (text: string) => (text.length > 300 ? `${text.slice(0, 300)}… (${text.length} characters)` : text);

export function replyError(error: FastifyError | LifeboatError | Error, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (isLifeboatError(error)) {
    if (error.httpStatus >= 500) request.log.error({ err: error }, error.message);
    else request.log.info({ code: error.code, reason: brief(error.message) }, 'request refused');
    return reply.code(error.httpStatus).send({ error: { code: error.code, message: error.message } });
  }
  const fe = error as FastifyError;
  if (fe.validation) {
    const details = fe.validation.map((v) => {
      const allowed = (v.params as { allowedValues?: unknown[] }).allowedValues;
      return allowed ? `${v.instancePath || fe.validationContext} must be one of ${allowed.join(', ')}` : null;
    });
    const message = `${fe.validationContext ?? 'request'} is invalid: ${details.find(Boolean) ?? fe.message}`;
    request.log.info({ reason: brief(message) }, 'request refused');
    return reply.code(400).send({ error: { code: 'LB_INVALID', message } });
  }
  if (fe.statusCode && fe.statusCode < 500) {
    request.log.info({ reason: brief(fe.message) }, 'request refused');
    return reply.code(fe.statusCode).send({ error: { code: fe.code ?? 'LB_INVALID', message: fe.message } });
  }
  request.log.error({ err: error }, 'request failed');
  return reply.code(500).send({ error: { code: 'LB_INTERNAL', message: 'internal error; the server log has the details' } });
}
