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

/** The two output streams' write functions, replaced while a bar is shown and put back after. */
type Write = NodeJS.WriteStream['write'];

/**
 * While a bar is on screen, every write to stdout or stderr (the command's own lines, log lines)
 * clears the bar's line, prints whole lines above it and lets the bar redraw below them; a line
 * still being written is held until its newline, since the bar's next redraw would erase it.
 */
function holdOutputAbove(barStream: NodeJS.WriteStream, redraw: () => void): { raw: Write; release(): void } {
  const streams = [process.stdout, process.stderr] as NodeJS.WriteStream[];
  if (!streams.includes(barStream)) streams.push(barStream);
  const originals = new Map(streams.map((s) => [s, s.write] as const));
  const raw = originals.get(barStream)!.bind(barStream) as Write;
  const held = new Map<NodeJS.WriteStream, string>();
  for (const s of streams) {
    const original = originals.get(s)!.bind(s) as (chunk: string | Uint8Array) => boolean;
    s.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      const text = (held.get(s) ?? '') + (typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
      const cut = text.lastIndexOf('\n') + 1;
      held.set(s, text.slice(cut));
      if (cut > 0) {
        raw('\r\x1b[K');
        original(text.slice(0, cut));
        redraw();
      }
      const done = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
      done?.();
      return true;
    }) as Write;
  }
  return {
    raw,
    release() {
      for (const [s, write] of originals) s.write = write;
      for (const [s, rest] of held) if (rest) s.write(rest);
    },
  };
}

function barSink(stream: NodeJS.WriteStream): ProgressSink {
  let bar: cliProgress.SingleBar | null = null;
  let hold: ReturnType<typeof holdOutputAbove> | null = null;
  const started = Date.now();
  const line = (text: string) => stream.write(`${text}\n`);
  const drawBar = (chunk: string) => (hold ? hold.raw(chunk) : stream.write(chunk));
  return {
    event(e) {
      if (e.type === 'start' || (e.type === 'progress' && !bar)) {
        const total = Number(e.totalBytes ?? 0) || 1;
        if (!bar) {
          const shown = new cliProgress.SingleBar(
            {
              // The bar draws through the stream's own write; everyone else's writes go above it.
              // cli-progress saves the cursor at start (ESC 7) and restores it at stop (ESC 8),
              // which jumps back over every line printed meanwhile: the bar always sits on the
              // last line, so those two are dropped and stop clears the line the cursor is on.
              stream: { get isTTY() { return stream.isTTY; }, get columns() { return stream.columns; }, write: (chunk: string) => drawBar(chunk.replace(/\x1b[78]/g, '')) } as unknown as NodeJS.WriteStream,
              format: ' {bar} {percentage}% | {done} of ~{total_h} | {rate}/s | ETA {eta_h} | {what}',
              barCompleteChar: '█',
              barIncompleteChar: '░',
              hideCursor: true,
              clearOnComplete: true,
              forceRedraw: true,
              etaBuffer: 50,
              fps: 5,
            },
            cliProgress.Presets.shades_classic,
          );
          hold = holdOutputAbove(stream, () => shown.render());
          bar = shown;
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
    // The bar is cleared, not left behind: what the command prints next starts on a clean line.
    stop() {
      bar?.stop();
      bar = null;
      hold?.release();
      hold = null;
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
