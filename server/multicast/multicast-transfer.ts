import { componentLogger } from '../../core/log.js';
import { commandLine, lastLines, startTool } from '../../core/run-tool.js';
import { parseSenderLine, summarizeVolume, udpSenderArgs, volumePort, type SenderEvent, type SenderSettings, type VolumeSendOutcome } from './udp-sender.js';

/**
 * One multicast transfer of an image's volumes: one udp-sender per volume, one after the other,
 * each reading the store's file itself (`--file`, no node in the data path). One transfer per
 * volume rather than one pipe of the whole set, because a volume is the unit the manifest hashes:
 * a receiver that fails leaves the group at a volume boundary the agent can name and re-read over
 * unicast, the sender's own events say per volume who joined, who was dropped, and nothing has
 * to cut a stream back into volumes on the receiving side.
 *
 * The first volume waits for `minReceivers` (or `maxWaitSeconds` after the first join); each later
 * volume waits for the machines that completed the one before (or `nextMaxWaitSeconds`). The
 * outcome is built from what udp-sender printed, never from its exit status alone: it exits 0
 * after dropping a receiver and after nobody came. Which machine really has which volume is
 * decided by that machine's agent, which hashes every volume against the manifest.
 */
const log = componentLogger('multicast');

export interface TransferVolume {
  /** The manifest's path (data/root.tar.zst.000). */
  path: string;
  /** Where the sender reads it. */
  file: string;
}

export interface TransferEvent {
  volume: string;
  index: number;
  event: SenderEvent;
}

export interface TransferOptions {
  settings: SenderSettings;
  volumes: readonly TransferVolume[];
  onEvent?: (e: TransferEvent) => void;
  onVolume?: (outcome: VolumeSendOutcome) => void;
  /** Stops the running sender and sends nothing more. */
  signal?: AbortSignal;
}

export interface TransferOutcome {
  volumes: VolumeSendOutcome[];
  /** Every volume went out to at least one receiver that was never dropped. */
  complete: boolean;
  seconds: number;
}

export async function sendVolumes(options: TransferOptions): Promise<TransferOutcome> {
  const started = performance.now();
  const outcomes: VolumeSendOutcome[] = [];
  let expected = options.settings.minReceivers;
  for (const [index, volume] of options.volumes.entries()) {
    const port = volumePort(options.settings.portBase, index);
    if (options.signal?.aborted || expected === 0) {
      outcomes.push({ path: volume.path, port, joined: [], dropped: [], completed: [], status: options.signal?.aborted ? 'stopped' : 'skipped', exitCode: null, seconds: 0, retransmittedPercent: 0 });
      continue;
    }
    const outcome = await sendOne(options, volume, index, expected);
    outcomes.push(outcome);
    options.onVolume?.(outcome);
    log.info({ volume: volume.path, port, status: outcome.status, joined: outcome.joined, dropped: outcome.dropped, seconds: outcome.seconds, retransmittedPercent: outcome.retransmittedPercent }, 'multicast volume done');
    // Only those who have every volume so far are waited for; anyone else is reading over unicast.
    expected = outcome.completed.length;
  }
  return { volumes: outcomes, complete: outcomes.every((o) => o.status === 'sent' && o.completed.length > 0), seconds: (performance.now() - started) / 1000 };
}

async function sendOne(options: TransferOptions, volume: TransferVolume, index: number, minReceivers: number): Promise<VolumeSendOutcome> {
  const args = udpSenderArgs(options.settings, volume.file, index, minReceivers);
  const since = performance.now();
  const sender = startTool('udp-sender', args, { stdin: 'ignore', stdout: 'pipe', stderr: 'pipe', ...(options.signal ? { cancelSignal: options.signal } : {}) });
  const events: SenderEvent[] = [];
  let tail = '';
  let partial = '';
  let retransmittedPercent = 0;
  // udp-sender writes its banner to stdout and the session's story to stderr; progress lines end in \r.
  const read = (text: string) => {
    partial += text;
    const lines = partial.split(/[\r\n]/);
    partial = lines.pop() ?? '';
    for (const line of lines) {
      if (!line.trim()) continue;
      if (!line.startsWith('bytes=')) tail = lastLines(`${tail}\n${line}`, 12);
      const event = parseSenderLine(line.trim());
      if (!event) continue;
      // A progress line every half second: only the last one counts, and nobody else wants them.
      if (event.kind === 'progress') {
        retransmittedPercent = event.retransmittedPercent;
        continue;
      }
      events.push(event);
      options.onEvent?.({ volume: volume.path, index, event });
    }
  };
  sender.stdout!.setEncoding('utf8');
  sender.stderr!.setEncoding('utf8');
  sender.stdout!.on('data', read);
  sender.stderr!.on('data', read);
  const result = await sender;
  read('\n');
  const missing = (result as { code?: string }).code === 'ENOENT';
  const exitCode = missing ? null : (result.exitCode ?? null);
  const stopped = options.signal?.aborted === true;
  const summary = summarizeVolume(events, exitCode, stopped);
  const outcome: VolumeSendOutcome = { path: volume.path, port: volumePort(options.settings.portBase, index), ...summary, exitCode, seconds: (performance.now() - since) / 1000, retransmittedPercent };
  if (summary.status === 'failed') {
    outcome.error = missing ? 'udp-sender is not installed: install the Debian package udpcast (npm run setup does)' : `${commandLine('udp-sender', args)} ${result.signal ? `was killed by ${result.signal}` : `exited with status ${exitCode}`}${tail ? `: ${tail}` : ''}`;
  }
  return outcome;
}
