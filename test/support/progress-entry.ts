import { createProgressSink } from '../../cli/progress-display.js';

/**
 * A command's progress as a user's terminal gets it (run under script(1)): a bar on stderr, and
 * while it is shown the things that print beside it — event lines, a log line on stderr, a line on
 * stdout written in two pieces — then the command's result on stdout after the bar stops.
 */
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sink = createProgressSink({ json: false });
sink.event({ type: 'start', totalBytes: 100 << 20 });
for (let i = 1; i <= 6; i++) {
  sink.event({ type: 'progress', bytes: i * (10 << 20), totalBytes: 100 << 20, id: 'root' });
  await pause(120);
  if (i === 2) sink.event({ type: 'stage', message: 'archiving root' });
  if (i === 3) process.stderr.write('{"level":40,"msg":"a log line"}\n');
  if (i === 4) {
    process.stdout.write('half of a line, ');
    await pause(300);
    process.stdout.write('the other half\n');
  }
}
sink.event({ type: 'warning', message: 'a file changed while it was read' });
sink.stop();
process.stdout.write('RESULT web01@20261127T141300Z\n');
