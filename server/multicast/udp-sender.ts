/**
 * udp-sender's command line and what its stderr says, as pure functions: the settings of one
 * multicast session (see README "Multicast data path") turn into the arguments for one volume, and
 * each line it prints turns into an event. Measured udpcast behaviour (udpcast 20120424, Debian 12)
 * shapes the defaults: a silent receiver stalls the whole group until it is dropped, each retry after
 * the 10th waits at least 1 s, the default 200 retries stall the others for minutes, and the exit
 * status is 0 even after a receiver was dropped.
 */
export interface SenderSettings {
  /** The test-bed interface (passed explicitly: udpcast defaults to eth0). */
  interface: string;
  /** Even port base of the first volume; volume i uses portBase + 2 * i. */
  portBase: number;
  /** --mcast-rdv-address, the same as the receivers': MULTICAST_RENDEZVOUS (224.0.0.1) unless a site needs another. */
  rendezvous: string;
  /** Start a volume as soon as this many receivers have connected. */
  minReceivers: number;
  /** First volume: start this long after the first receiver connected, even with fewer. */
  maxWaitSeconds: number;
  /** Later volumes: the same, shorter (the machines are already running; FOG uses 10 s). */
  nextMaxWaitSeconds: number;
  /** Give up a volume nobody joined within this long (the sender then exits 0 with no transfer). */
  startTimeoutSeconds: number;
  nextStartTimeoutSeconds: number;
  /** REQACKs before a silent receiver is dropped; small, so a dead machine stalls the others seconds, not minutes. */
  retriesUntilDrop: number;
  /** Full duplex on a switched test bed (no collisions); half for a hub. Always passed: the man page contradicts itself about the default. */
  duplex: 'full' | 'half';
  /** Raw rate cap including FEC and retransmissions, udpcast's syntax ("600m"); none by default. */
  maxBitrate?: string;
}

export const DEFAULT_SENDER_SETTINGS = {
  maxWaitSeconds: 60,
  nextMaxWaitSeconds: 10,
  startTimeoutSeconds: 600,
  nextStartTimeoutSeconds: 60,
  retriesUntilDrop: 20,
  duplex: 'full',
} as const satisfies Partial<SenderSettings>;

export function volumePort(portBase: number, index: number): number {
  return portBase + 2 * index;
}

/** The arguments of udp-sender for volume `index` (0-based) held in `file`, with `minReceivers` of this volume. */
export function udpSenderArgs(settings: SenderSettings, file: string, index: number, minReceivers: number): string[] {
  const first = index === 0;
  return [
    '--file', file,
    '--interface', settings.interface,
    '--portbase', String(volumePort(settings.portBase, index)),
    '--mcast-rdv-address', settings.rendezvous,
    '--min-receivers', String(Math.max(1, minReceivers)),
    '--max-wait', String(first ? settings.maxWaitSeconds : settings.nextMaxWaitSeconds),
    '--start-timeout', String(first ? settings.startTimeoutSeconds : settings.nextStartTimeoutSeconds),
    '--retries-until-drop', String(settings.retriesUntilDrop),
    settings.duplex === 'full' ? '--full-duplex' : '--half-duplex',
    ...(settings.maxBitrate ? ['--max-bitrate', settings.maxBitrate] : []),
    '--nokbd',
  ];
}

export type SenderEvent =
  | { kind: 'join'; receiver: number; address: string }
  | { kind: 'start' }
  | { kind: 'drop'; receiver: number }
  | { kind: 'disconnect'; receiver: number; address: string }
  | { kind: 'complete' }
  /** The progress line: retransmitted data blocks, and their share of the file's blocks. */
  | { kind: 'progress'; retransmittedBlocks: number; retransmittedPercent: number };

/** One line of udp-sender's stderr as an event, or null for banners and progress. */
export function parseSenderLine(line: string): SenderEvent | null {
  let m = /^New connection from (\d+\.\d+\.\d+\.\d+)\s+\(#(\d+)\)/.exec(line);
  if (m) return { kind: 'join', receiver: Number(m[2]), address: m[1]! };
  if (/^Starting transfer/.test(line)) return { kind: 'start' };
  m = /^Dropping client #(\d+)/.exec(line);
  if (m) return { kind: 'drop', receiver: Number(m[1]) };
  m = /^Disconnecting #(\d+) \((\d+\.\d+\.\d+\.\d+)\)/.exec(line);
  if (m) return { kind: 'disconnect', receiver: Number(m[1]), address: m[2]! };
  if (/^Transfer complete/.test(line)) return { kind: 'complete' };
  m = /^bytes=[\d ]+re-xmits=(\d+)\s*\(\s*([\d.]+)%\)/.exec(line);
  if (m) return { kind: 'progress', retransmittedBlocks: Number(m[1]), retransmittedPercent: Number(m[2]) };
  return null;
}

/** What one volume's transfer came to, from the sender's own words (its exit status alone says nothing). */
export interface VolumeSendOutcome {
  path: string;
  port: number;
  /** Addresses that connected before the start. */
  joined: string[];
  /** Addresses dropped for not answering. */
  dropped: string[];
  /** Joined and not dropped, with the transfer complete: the ones expected at the next volume. */
  completed: string[];
  /**
   * 'sent': the transfer ran to its end; 'no-receivers': nobody joined before the start timeout;
   * 'failed': the sender stopped otherwise; 'stopped': the session was cancelled; 'skipped': not
   * started, because no receiver was left in the group (each machine reads it over unicast).
   */
  status: 'sent' | 'no-receivers' | 'failed' | 'stopped' | 'skipped';
  exitCode: number | null;
  seconds: number;
  /** Retransmitted data as a share of the volume, in percent, from the sender's last progress line (0 before any). */
  retransmittedPercent: number;
  /** On 'failed': the sender's last lines. */
  error?: string;
}

/** Folds a volume's events into its outcome; pure, so the decision is tested without a network. */
export function summarizeVolume(events: readonly SenderEvent[], exitCode: number | null, stopped: boolean): Pick<VolumeSendOutcome, 'joined' | 'dropped' | 'completed' | 'status'> {
  const address = new Map<number, string>();
  const dropped = new Set<number>();
  let started = false;
  let complete = false;
  for (const e of events) {
    if (e.kind === 'join') address.set(e.receiver, e.address);
    else if (e.kind === 'start') started = true;
    else if (e.kind === 'drop') dropped.add(e.receiver);
    else if (e.kind === 'complete') complete = true;
  }
  const joined = [...address.values()];
  const droppedAddresses = [...dropped].map((r) => address.get(r)).filter((a): a is string => a !== undefined);
  const ok = exitCode === 0 && started && complete && !stopped;
  const completed = ok ? [...address.entries()].filter(([r]) => !dropped.has(r)).map(([, a]) => a) : [];
  const status = stopped ? 'stopped' : ok ? 'sent' : exitCode === 0 && !started && joined.length === 0 ? 'no-receivers' : 'failed';
  return { joined, dropped: droppedAddresses, completed, status };
}
