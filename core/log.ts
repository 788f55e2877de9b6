import { pino, type Logger, type LoggerOptions } from 'pino';

/**
 * One root logger per process; components take a child (`{ component: 'dhcp' }`) and per-machine
 * work a grandchild (`{ mac }`), so one machine's whole boot can be followed by one field.
 */
let root: Logger | undefined;

export function createRootLogger(options: { level?: string; destination?: number | string } = {}): Logger {
  const level = options.level ?? process.env.LIFEBOAT_LOG_LEVEL ?? 'info';
  const base: LoggerOptions = { level, base: { pid: process.pid } };
  root = pino(base, pino.destination({ dest: options.destination ?? 2, sync: true }));
  return root;
}

export function rootLogger(): Logger {
  return root ?? createRootLogger();
}

export function componentLogger(component: string, bindings: Record<string, unknown> = {}): Logger {
  return rootLogger().child({ component, ...bindings });
}

export type { Logger };
