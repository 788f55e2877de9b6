import { open, stat } from 'node:fs/promises';
import { hasErrno } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';

/**
 * Ganesha writes its own log file (-L); this follows it and turns each line into a pino event of
 * the 'nfs' component, so the operator reads one log. Lines look like
 * `27/11/2026 15:34:32 : epoch 6b09a308 : vm : nfs-ganesha-7485[main] nfs_start :NFS STARTUP :EVENT :message`.
 */
export interface GaneshaLogLine {
  pid: number;
  thread: string;
  func: string;
  component: string;
  level: string;
  message: string;
}

const LINE = /^.*? : epoch \S+ : .*? : \S+?-(\d+)\[([^\]]*)\] (\S+) :([^:]*):(\w+) :(.*)$/;

export function parseGaneshaLogLine(line: string): GaneshaLogLine | undefined {
  const m = LINE.exec(line);
  if (!m) return undefined;
  return { pid: Number(m[1]), thread: m[2]!, func: m[3]!, component: m[4]!.trim(), level: m[5]!, message: m[6]!.trim() };
}

/**
 * Complaints ganesha 4.3 makes at every start on a machine like this one and that change nothing
 * for an NFSv4-only, AUTH_SYS share: no system D-Bus, no Kerberos keytab for callbacks, no RADOS
 * library, no rpcbind to register with (v4 clients never ask it). At warn they would teach the
 * operator to ignore warnings, so they go to debug.
 */
const EXPECTED_NOISE = [
  /DBUS/,
  /krb5|keytab|default realm|gssd/i,
  /RADOS/,
  /Cannot register .* on (TCP|UDP)/,
  /CAP_SYS_RESOURCE|currently set capabilities/,
  /svc_vc_wait: .* recv errno 104/, // a client closed its connection: every nfs-ls does
];

export function pinoLevelFor(line: GaneshaLogLine): 'error' | 'warn' | 'info' | 'debug' {
  const text = `${line.component} ${line.func} ${line.message}`;
  if (EXPECTED_NOISE.some((re) => re.test(text))) return 'debug';
  switch (line.level) {
    case 'FATAL':
    case 'CRIT':
    case 'MAJ':
      return 'error';
    case 'WARN':
      return 'warn';
    default:
      return 'debug';
  }
}

export class GaneshaLogTail {
  private offset = 0;
  private partial = '';
  private timer: NodeJS.Timeout | undefined;
  private reading: Promise<void> = Promise.resolve();
  private readonly notable: string[] = [];
  private readonly last: string[] = [];
  private readonly configErrors: string[] = [];
  /** How many export reloads (SIGHUP) ganesha has finished since this tail started. */
  reloads = 0;

  constructor(
    private readonly file: string,
    private readonly log: Logger,
  ) {}

  /** Follows the file from its current end: what an earlier run wrote was logged then. */
  async start(intervalMs = 500): Promise<void> {
    try {
      this.offset = (await stat(this.file)).size;
    } catch (e) {
      if (!hasErrno(e, 'ENOENT')) throw e;
      this.offset = 0;
    }
    this.timer = setInterval(() => void this.poll(), intervalMs);
    this.timer.unref();
  }

  /** Reads what was appended since the last poll; polls never overlap. */
  poll(): Promise<void> {
    this.reading = this.reading.then(() => this.readNew()).catch((e) => this.log.warn({ err: e, file: this.file }, 'cannot read the nfs-ganesha log'));
    return this.reading;
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.poll();
  }

  /** The last warnings and errors (or, when there were none, the last lines), for error messages. */
  recent(n = 6): string[] {
    return (this.notable.length > 0 ? this.notable : this.last).slice(-n);
  }

  /**
   * Configuration errors: ganesha 4.3 logs a bad EXPORT block at CRIT, drops that export and
   * serves the rest, so a share could run without its access rules; the supervisor refuses that.
   */
  rejectedConfig(): string[] {
    return [...this.configErrors];
  }

  /** Forgets what earlier processes said, so a message about this one quotes only it. */
  forget(): void {
    this.notable.length = 0;
    this.last.length = 0;
    this.configErrors.length = 0;
  }

  private async readNew(): Promise<void> {
    let size: number;
    try {
      size = (await stat(this.file)).size;
    } catch (e) {
      if (hasErrno(e, 'ENOENT')) return;
      throw e;
    }
    if (size < this.offset) this.offset = 0; // truncated or replaced: read it from the start
    if (size === this.offset) return;
    const fh = await open(this.file, 'r');
    try {
      const buf = Buffer.alloc(size - this.offset);
      const { bytesRead } = await fh.read(buf, 0, buf.length, this.offset);
      this.offset += bytesRead;
      const text = this.partial + buf.subarray(0, bytesRead).toString('utf8');
      const lines = text.split('\n');
      this.partial = lines.pop() ?? '';
      for (const raw of lines) if (raw.trim()) this.emit(raw);
    } finally {
      await fh.close();
    }
  }

  private emit(raw: string): void {
    const parsed = parseGaneshaLogLine(raw);
    const level = parsed ? pinoLevelFor(parsed) : 'debug';
    const text = parsed ? `${parsed.level} ${parsed.component}: ${parsed.message}` : raw;
    remember(this.last, text);
    if (level === 'error' || level === 'warn') remember(this.notable, text);
    if (parsed && parsed.component === 'CONFIG' && ['FATAL', 'CRIT', 'MAJ'].includes(parsed.level)) remember(this.configErrors, text);
    if (parsed?.func === 'reread_exports' && /complete/.test(parsed.message)) this.reloads += 1;
    if (parsed) {
      this.log[level]({ ganesha: { pid: parsed.pid, level: parsed.level, component: parsed.component, func: parsed.func } }, parsed.message);
    } else {
      this.log.debug({ ganesha: {} }, raw);
    }
  }
}

function remember(list: string[], line: string, keep = 20): void {
  list.push(line);
  if (list.length > keep) list.splice(0, list.length - keep);
}
