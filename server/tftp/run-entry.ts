/**
 * Runs the TFTP server alone in its own process, for the benchmark (so clients and server do not
 * share an event loop) and for trying it by hand:
 *
 *   node dist/server/tftp/run-entry.js --root DIR [--host 127.0.0.1] [--port 6969]
 *        [--max-blksize N] [--max-windowsize N] [--client-receive-buffer BYTES]
 *
 * Prints one JSON line `{"listening":{"host":...,"port":...}}` on stdout once it listens; stops on
 * SIGTERM or SIGINT after aborting transfers in flight. Logs go to stderr.
 */
import { parseArgs } from 'node:util';
import { createRootLogger } from '../../core/log.js';
import { isLifeboatError } from '../../core/errors.js';
import { startTftpServer } from './tftp-server.js';

const { values } = parseArgs({
  options: {
    root: { type: 'string' },
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '6969' },
    'max-blksize': { type: 'string' },
    'max-windowsize': { type: 'string' },
    'client-receive-buffer': { type: 'string' },
  },
});

function numberOption(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n)) {
    process.stderr.write(`run-entry: --${name} "${value}" is not a number\n`);
    process.exit(2);
  }
  return n;
}

if (!values.root) {
  process.stderr.write('run-entry: --root DIR is required (the directory to serve)\n');
  process.exit(2);
}

try {
  const server = await startTftpServer({
    root: values.root,
    host: values.host ?? '127.0.0.1',
    port: numberOption('port', values.port) ?? 6969,
    logger: createRootLogger(),
    maxBlksize: numberOption('max-blksize', values['max-blksize']),
    maxWindowsize: numberOption('max-windowsize', values['max-windowsize']),
    clientReceiveBuffer: numberOption('client-receive-buffer', values['client-receive-buffer']),
  });
  process.stdout.write(`${JSON.stringify({ listening: server.address })}\n`);
  const stop = (): void => {
    void server.close().then(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
} catch (e) {
  process.stderr.write(`run-entry: ${isLifeboatError(e) ? e.message : (e as Error).stack}\n`);
  process.exit(1);
}
