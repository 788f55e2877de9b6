import { createRequire } from 'node:module';
import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';

/**
 * One root logger per process; components take a child (`{ component: 'dhcp' }`) and per-machine
 * work a grandchild (`{ mac }`), so one machine's whole boot can be followed by one field.
 */
let root: Logger | undefined;

/**
 * Logs on stderr: pretty (pino-pretty) when stderr is a terminal, JSON lines otherwise, so a
 * journal, a file or a pipe gets one object per line. LIFEBOAT_LOG_FORMAT=json|pretty chooses.
 */
export function logFormat(env: NodeJS.ProcessEnv = process.env, isTerminal = Boolean(process.stderr.isTTY)): 'json' | 'pretty' {
  if (env.LIFEBOAT_LOG_FORMAT === 'json' || env.LIFEBOAT_LOG_FORMAT === 'pretty') return env.LIFEBOAT_LOG_FORMAT;
  return isTerminal ? 'pretty' : 'json';
}

function prettyStream(dest: number | string): DestinationStream {
  // Loaded only for a terminal: commands piped or run by a service skip its import.
  const pretty = createRequire(import.meta.url)('pino-pretty') as (o: Record<string, unknown>) => DestinationStream;
  return pretty({ destination: dest, sync: true, translateTime: 'HH:MM:ss', ignore: 'pid,hostname' });
}

export function createRootLogger(options: { level?: string; destination?: number | string } = {}): Logger {
  const level = options.level ?? process.env.LIFEBOAT_LOG_LEVEL ?? 'info';
  const base: LoggerOptions = { level, base: { pid: process.pid } };
  const dest = options.destination ?? 2;
  const pretty = dest === 2 && logFormat() === 'pretty';
  root = pino(base, pretty ? prettyStream(dest) : pino.destination({ dest, sync: true }));
  return root;
}

export function rootLogger(): Logger {
  return root ?? createRootLogger();
}

export function componentLogger(component: string, bindings: Record<string, unknown> = {}): Logger {
  return rootLogger().child({ component, ...bindings });
}

export type { Logger };
