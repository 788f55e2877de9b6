import cliProgress from 'cli-progress';
import { formatBytes, formatDuration } from '../core/sizes.js';

/**
 * How long work shows itself: JSON lines on stdout with --json (one object per event, progress at
 * most twice a second), a bar with bytes, rate and ETA on a terminal, plain lines otherwise.
 */
export interface ProgressSink {
  event(e: { type: string; [k: string]: unknown }): void;
  stop(): void;
}

export function createProgressSink(options: { json: boolean; stream?: NodeJS.WriteStream }): ProgressSink {
  const stream = options.stream ?? process.stderr;
  if (options.json) return jsonSink();
  if (stream.isTTY) return barSink(stream);
  return lineSink(stream);
}

function jsonSink(): ProgressSink {
  let lastProgress = 0;
  return {
    event(e) {
      if (e.type === 'progress') {
        const now = Date.now();
        if (now - lastProgress < 500) return;
        lastProgress = now;
      }
      process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), ...e })}\n`);
    },
    stop() {},
  };
}

function barSink(stream: NodeJS.WriteStream): ProgressSink {
  let bar: cliProgress.SingleBar | null = null;
  const started = Date.now();
  // Clear the bar's line first; the bar redraws itself on the next update.
  const line = (text: string) => stream.write(`${bar ? '\r\x1b[K' : ''}${text}\n`);
  return {
    event(e) {
      if (e.type === 'start' || (e.type === 'progress' && !bar)) {
        const total = Number(e.totalBytes ?? 0) || 1;
        if (!bar) {
          bar = new cliProgress.SingleBar(
            {
              stream,
              format: ' {bar} {percentage}% | {done} of ~{total_h} | {rate}/s | ETA {eta_h} | {what}',
              barCompleteChar: '█',
              barIncompleteChar: '░',
              hideCursor: true,
              etaBuffer: 50,
              fps: 5,
            },
            cliProgress.Presets.shades_classic,
          );
          bar.start(total, 0, { done: formatBytes(0), total_h: formatBytes(total), rate: formatBytes(0), eta_h: '?', what: '' });
        }
      }
      if (e.type === 'progress' && bar) {
        const bytes = Number(e.bytes);
        const total = Math.max(Number(e.totalBytes) || 1, bytes);
        const secs = (Date.now() - started) / 1000;
        const rate = secs > 0 ? bytes / secs : 0;
        bar.setTotal(total);
        bar.update(bytes, {
          done: formatBytes(bytes),
          total_h: formatBytes(total),
          rate: formatBytes(rate),
          eta_h: rate > 0 ? formatDuration((total - bytes) / rate) : '?',
          what: String(e.id ?? e.path ?? ''),
        });
      } else if (e.type !== 'progress' && e.type !== 'start') {
        line(describe(e));
      }
    },
    stop() {
      bar?.stop();
      bar = null;
    },
  };
}

function lineSink(stream: NodeJS.WriteStream): ProgressSink {
  let lastPct = -10;
  return {
    event(e) {
      if (e.type === 'progress') {
        const pct = Math.floor((Number(e.bytes) / Math.max(1, Number(e.totalBytes))) * 100);
        if (pct >= lastPct + 10) {
          lastPct = pct;
          stream.write(`  ${Math.min(pct, 100)}% ${formatBytes(Number(e.bytes))}\n`);
        }
        return;
      }
      if (e.type === 'start') return;
      stream.write(`${describe(e)}\n`);
    },
    stop() {},
  };
}

function describe(e: { type: string; [k: string]: unknown }): string {
  switch (e.type) {
    case 'stage':
      return `» ${String(e.message)}`;
    case 'skipped':
      return `  skipped ${String(e.target)}: ${String(e.reason)}`;
    case 'warning':
      return `  warning: ${String(e.message)}`;
    case 'filesystem':
      return `  ${String(e.id)}: ${formatBytes(Number(e.tarBytes))} archived into ${formatBytes(Number(e.storedBytes))} in ${Number(e.volumes)} volume(s), ${Number(e.seconds).toFixed(1)} s`;
    case 'published': {
      const inc = e.incremental as { level: number; base: string | null } | undefined;
      const level = inc ? `, incremental level ${inc.level}${inc.base ? ` on ${inc.base}` : ''}` : '';
      return `published ${String(e.image)}@${String(e.version)} (${formatBytes(Number(e.bytes))}${level}) in ${Number(e.seconds).toFixed(1)} s: ${String(e.dir)}`;
    }
    case 'pruned':
      return `  retention on ${String(e.image)}: ${(e.removed as string[]).length} version(s) removed, ${Number(e.kept)} kept`;
    case 'checking':
      return `  checking ${String(e.path)}`;
    default:
      return JSON.stringify(e);
  }
}
