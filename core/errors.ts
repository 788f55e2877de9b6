/**
 * Errors with a stable code. The CLI maps codes to exit statuses and the API maps them to HTTP
 * statuses in one place each, so a message never has to be parsed to decide what happened.
 */
export const errorCodes = {
  LB_USAGE: { exit: 2, http: 400 },
  LB_INVALID: { exit: 2, http: 400 },
  LB_NOT_FOUND: { exit: 3, http: 404 },
  LB_CONFLICT: { exit: 4, http: 409 },
  LB_IMAGE_CORRUPT: { exit: 5, http: 422 },
  LB_IMAGE_INCOMPLETE: { exit: 5, http: 422 },
  LB_STORE_FULL: { exit: 6, http: 507 },
  LB_TOOL_FAILED: { exit: 7, http: 500 },
  LB_TOOL_MISSING: { exit: 7, http: 500 },
  LB_DOES_NOT_FIT: { exit: 8, http: 422 },
  LB_UNAUTHORIZED: { exit: 9, http: 401 },
  LB_FORBIDDEN: { exit: 9, http: 403 },
  /** The server or share did not answer within the agent's retry budget. */
  LB_UNREACHABLE: { exit: 10, http: 502 },
  LB_TOO_LARGE: { exit: 2, http: 413 },
  /** The operating system refused this user a file or directory (EACCES, EPERM, a read-only filesystem). */
  LB_PERMISSION: { exit: 11, http: 500 },
  LB_INTERRUPTED: { exit: 130, http: 500 },
  LB_INTERNAL: { exit: 70, http: 500 },
} as const;

export type ErrorCode = keyof typeof errorCodes;

export class LifeboatError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown>;
  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LifeboatError';
    this.code = code;
    this.details = details;
  }
  get exitCode(): number {
    return errorCodes[this.code].exit;
  }
  get httpStatus(): number {
    return errorCodes[this.code].http;
  }
}

export function isLifeboatError(e: unknown): e is LifeboatError {
  return e instanceof LifeboatError;
}

/** Node's system errors carry `code`; this keeps the check in one spelling. */
export function hasErrno(e: unknown, code: string): boolean {
  return typeof e === 'object' && e !== null && (e as { code?: unknown }).code === code;
}

/** A multi-line message (a tool's failure with its stderr) as one line: its first line and its last, which usually says why. */
export function oneLineMessage(message: string): string {
  const lines = message.split('\n').map((l) => l.trim()).filter(Boolean);
  return lines.length > 1 ? `${lines[0]} … ${lines.at(-1)}` : (lines[0] ?? '');
}
