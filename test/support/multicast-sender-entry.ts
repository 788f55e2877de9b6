import { sendVolumes, type TransferVolume } from '../../server/multicast/multicast-transfer.js';
import type { SenderSettings } from '../../server/multicast/udp-sender.js';

/**
 * Lifeboat's multicast transfer run inside a test namespace (`ip netns exec NS node this.js JSON`):
 * one JSON line per sender event as it happens, then the outcome. SIGTERM stops the transfer.
 */
const { settings, volumes } = JSON.parse(process.argv[2]!) as { settings: SenderSettings; volumes: TransferVolume[] };
const stop = new AbortController();
process.on('SIGTERM', () => stop.abort());
const print = (o: unknown) => process.stdout.write(`${JSON.stringify(o)}\n`);
const outcome = await sendVolumes({
  settings,
  volumes,
  signal: stop.signal,
  onEvent: (e) => print({ type: 'event', ...e, at: Date.now() }),
  onVolume: (o) => print({ type: 'volume', ...o, at: Date.now() }),
});
print({ type: 'outcome', ...outcome, at: Date.now() });
