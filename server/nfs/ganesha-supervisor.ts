import { setTimeout as sleep } from 'node:timers/promises';
import type { ResultPromise } from 'execa';
import { LifeboatError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { commandLine, startTool } from '../../core/run-tool.js';
import { GaneshaLogTail } from './ganesha-log.js';
import { inNamespace, tcpAccepts } from './namespace-command.js';

/**
 * Runs ganesha.nfsd in the foreground and keeps it running: start, wait until TCP 2049 on the bind
 * address accepts, restart with growing delays when it dies on its own, stop with SIGTERM then
 * SIGKILL by its PID. Only this object signals the process, and only while it has not exited, so a
 * recycled PID is never hit.
 */
export interface GaneshaSupervisorOptions {
  configFile: string;
  logFile: string;
  pidFile: string;
  bindAddress: string;
  netns?: string;
  logger: Logger;
  /** How long a start may take before it counts as failed. */
  startTimeoutMs?: number;
  /** How long SIGTERM gets before SIGKILL. */
  stopTimeoutMs?: number;
  /** Delays before successive restarts; the last repeats. Reset once a process stayed up stableMs. */
  backoffMs?: number[];
  stableMs?: number;
}

const NFS_PORT = 2049;

interface Running {
  child: ResultPromise;
  pid: number;
  exited: boolean;
  done: Promise<{ exitCode?: number; signal?: string }>;
  startedAt: number;
  stderr: string[];
}

export class GaneshaSupervisor {
  private current: Running | undefined;
  private stopping = false;
  private supervising = false;
  private restartTimer: NodeJS.Timeout | undefined;
  private restartAttempt = 0;
  private relaunch: Promise<void> | undefined;
  private readonly tail: GaneshaLogTail;
  private readonly o: Required<Omit<GaneshaSupervisorOptions, 'netns'>> & { netns?: string };
  /** How many times the server was started again after it died. */
  restarts = 0;

  constructor(options: GaneshaSupervisorOptions) {
    this.o = { startTimeoutMs: 20_000, stopTimeoutMs: 5_000, backoffMs: [500, 1_000, 2_000, 5_000, 10_000, 30_000], stableMs: 60_000, ...options };
    this.tail = new GaneshaLogTail(options.logFile, options.logger);
  }

  /** PID of the ganesha.nfsd serving now, if one is. */
  get pid(): number | undefined {
    return this.current && !this.current.exited ? this.current.pid : undefined;
  }

  /** Starts the server and resolves once it accepts connections; rejects with its log's last complaints. */
  async start(): Promise<{ ms: number }> {
    await this.tail.start();
    try {
      const ms = await this.launch();
      this.supervising = true;
      return { ms };
    } catch (e) {
      await this.tail.stop();
      throw e;
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    if (this.current) await this.terminate(this.current);
    await this.relaunch?.catch(() => undefined);
    await this.tail.stop();
  }

  /**
   * Makes the running server read its exports again (SIGHUP: ganesha adds, changes and withdraws
   * exports without dropping its other clients) and resolves once its log says the reload is done.
   * With no process running there is nothing to do: the next start reads the file anyway.
   */
  async reload(timeoutMs = 10_000): Promise<void> {
    const running = this.current;
    if (!running || running.exited) return;
    this.tail.forget();
    await this.tail.poll();
    const before = this.tail.reloads;
    signal(running, 'SIGHUP');
    const deadline = performance.now() + timeoutMs;
    while (this.tail.reloads === before) {
      if (running.exited) throw this.failure(running, 'exited while reloading its exports');
      if (performance.now() > deadline) throw this.failure(running, `did not finish reloading its exports within ${timeoutMs} ms`);
      await sleep(50);
      await this.tail.poll();
    }
    if (this.tail.rejectedConfig().length > 0) {
      throw this.failure(running, 'rejected part of its new exports', this.tail.rejectedConfig());
    }
  }

  private spawn(): Running {
    const args = ['-F', '-f', this.o.configFile, '-L', this.o.logFile, '-p', this.o.pidFile];
    const cmd = inNamespace(this.o.netns, 'ganesha.nfsd', args);
    const child = startTool(cmd.file, cmd.args, { stdin: 'ignore', stdout: 'ignore', stderr: 'pipe' });
    const running: Running = {
      child,
      pid: child.pid ?? -1,
      exited: false,
      startedAt: performance.now(),
      stderr: [],
      done: child.then((r) => {
        running.exited = true;
        return { exitCode: r.exitCode, signal: r.signal };
      }),
    };
    // ganesha itself writes to its log file; stderr carries what happens before that, such as
    // `ip netns exec` failing to enter the namespace.
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      for (const line of chunk.split('\n').filter((l) => l.trim())) {
        running.stderr.push(line);
        this.o.logger.warn({ ganeshaPid: running.pid }, `nfs-ganesha stderr: ${line}`);
      }
    });
    this.o.logger.debug({ ganeshaPid: running.pid, cmd: commandLine(cmd.file, cmd.args) }, 'nfs-ganesha started');
    return running;
  }

  /** One process from spawn to listening; on any failure it is stopped again and the error says why. */
  private async launch(): Promise<number> {
    this.tail.forget();
    const running = this.spawn();
    this.current = running;
    const deadline = performance.now() + this.o.startTimeoutMs;
    for (;;) {
      if (this.stopping) throw new LifeboatError('LB_INTERRUPTED', 'the NFS share was closed while nfs-ganesha was starting');
      const accepted = await Promise.race([tcpAccepts(this.o.bindAddress, NFS_PORT, this.o.netns), running.done.then(() => false)]);
      if (running.exited) {
        const { exitCode, signal } = await running.done;
        await this.tail.poll();
        throw this.failure(running, `exited ${signal ? `on ${signal}` : `with status ${exitCode}`} before it listened`);
      }
      if (accepted) {
        // Config errors are logged before the socket opens, so the log holds them by now.
        await this.tail.poll();
        if (this.tail.rejectedConfig().length > 0) {
          await this.terminate(running);
          throw this.failure(
            running,
            'rejected part of its configuration and would serve without it (an export on a filesystem FSAL VFS cannot serve, such as procfs or sysfs, is the usual cause: keep exports on ext4, xfs or btrfs)',
            this.tail.rejectedConfig(),
          );
        }
        break;
      }
      if (performance.now() > deadline) {
        await this.terminate(running);
        await this.tail.poll();
        throw this.failure(running, `did not listen within ${this.o.startTimeoutMs} ms`);
      }
      await sleep(50);
    }
    const ms = Math.round(performance.now() - running.startedAt);
    void running.done.then((outcome) => this.onExit(running, outcome));
    return ms;
  }

  private failure(running: Running, what: string, lines = this.tail.recent()): LifeboatError {
    const said = [...running.stderr.slice(-4), ...lines];
    return new LifeboatError(
      'LB_TOOL_FAILED',
      `nfs-ganesha (pid ${running.pid}) ${what} on ${this.o.bindAddress}:${NFS_PORT}${said.length ? `:\n${said.join('\n')}` : ''}\n` +
        `full log: ${this.o.logFile}; config: ${this.o.configFile}`,
      { tool: 'ganesha.nfsd', pid: running.pid, log: this.o.logFile },
    );
  }

  private onExit(running: Running, outcome: { exitCode?: number; signal?: string }): void {
    if (this.stopping || !this.supervising || running !== this.current) return;
    const upMs = performance.now() - running.startedAt;
    if (upMs >= this.o.stableMs) this.restartAttempt = 0;
    const delays = this.o.backoffMs;
    const delay = delays[Math.min(this.restartAttempt, delays.length - 1)] ?? 1_000;
    this.restartAttempt += 1;
    void this.tail.poll().then(() => {
      this.o.logger.error(
        { ganeshaPid: running.pid, exitCode: outcome.exitCode, signal: outcome.signal, upMs: Math.round(upMs), restartInMs: delay, log: this.tail.recent() },
        `nfs-ganesha died (${outcome.signal ?? `status ${outcome.exitCode}`}); restarting in ${delay} ms`,
      );
    });
    this.scheduleRestart(delay);
  }

  private scheduleRestart(delay: number): void {
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      this.relaunch = this.launch().then(
        (ms) => {
          this.restarts += 1;
          this.o.logger.info({ ganeshaPid: this.pid, ms, restarts: this.restarts }, 'nfs-ganesha restarted and listening');
        },
        (e: unknown) => {
          if (this.stopping) return;
          const delays = this.o.backoffMs;
          const next = delays[Math.min(this.restartAttempt, delays.length - 1)] ?? 1_000;
          this.restartAttempt += 1;
          this.o.logger.error({ err: e, restartInMs: next }, `nfs-ganesha failed to restart; trying again in ${next} ms`);
          this.scheduleRestart(next);
        },
      );
    }, delay);
  }

  /** SIGTERM by PID, SIGKILL after the timeout; never signals a process that has already exited. */
  private async terminate(running: Running): Promise<void> {
    if (running.exited) return;
    signal(running, 'SIGTERM');
    const stopped = await Promise.race([running.done.then(() => true), sleep(this.o.stopTimeoutMs).then(() => false)]);
    if (!stopped) {
      this.o.logger.warn({ ganeshaPid: running.pid, afterMs: this.o.stopTimeoutMs }, 'nfs-ganesha ignored SIGTERM; sending SIGKILL');
      signal(running, 'SIGKILL');
      await running.done;
    }
    this.o.logger.debug({ ganeshaPid: running.pid }, 'nfs-ganesha stopped');
  }
}

function signal(running: Running, sig: NodeJS.Signals): void {
  if (running.exited || running.pid <= 0) return;
  try {
    process.kill(running.pid, sig);
  } catch {
    // ESRCH: it exited between the check and the signal; `done` settles on its own.
  }
}
