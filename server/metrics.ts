import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { TASK_STATES } from '../netboot/task-protocol.js';
import type { Lease } from './dhcp/address-plan.js';
import type { EventLog, ServerEvent } from './state/events.js';
import type { TaskBoard } from './state/tasks.js';

/**
 * What /metrics shows, in Prometheus' text format through prom-client: a registry of this server's
 * own (not prom-client's global one, so two servers in one process never share counters). States
 * that exist in the database (tasks, leases) are read at each scrape; what happens (packets, bytes,
 * boots, restores) is counted as it happens, restores and rescue boots from the event log.
 */
export interface MetricsSources {
  tasks: TaskBoard;
  events: EventLog;
  leases: () => Lease[];
}

/** Restores take minutes to hours: buckets from 30 s to 4 h. */
const RESTORE_BUCKETS_SECONDS = [30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400];

export type DhcpPacketOutcome = 'answered' | 'handled' | 'ignored' | 'malformed';

export class ServerMetrics {
  readonly registry = new Registry();
  private readonly dhcpPackets: Counter<'type' | 'outcome'>;
  private readonly bytesServed: Counter<'protocol'>;
  private readonly rescueBoots: Counter;
  private readonly restores: Counter<'outcome'>;
  private readonly restoreSeconds: Histogram;
  private readonly unsubscribe: () => void;

  constructor(sources: MetricsSources) {
    const registers = [this.registry];
    new Gauge({
      name: 'lifeboat_tasks',
      help: 'Tasks in each state now',
      labelNames: ['state'],
      registers,
      collect() {
        const counts = sources.tasks.countByState();
        for (const state of TASK_STATES) this.set({ state }, counts[state] ?? 0);
      },
    });
    new Gauge({
      name: 'lifeboat_dhcp_leases',
      help: 'DHCP leases bound and not expired (full DHCP mode)',
      registers,
      collect() {
        this.set(sources.leases().length);
      },
    });
    this.dhcpPackets = new Counter({ name: 'lifeboat_dhcp_packets_total', help: 'DHCP packets received, by message type and what the server did (answered, handled without a reply, ignored, malformed)', labelNames: ['type', 'outcome'], registers });
    this.bytesServed = new Counter({ name: 'lifeboat_served_bytes_total', help: 'Bytes of file and reply bodies sent, by protocol (http: completed responses; tftp: completed transfers)', labelNames: ['protocol'], registers });
    this.rescueBoots = new Counter({ name: 'lifeboat_rescue_boots_total', help: 'Boot scripts that sent a machine into the rescue system for its task', registers });
    this.restores = new Counter({ name: 'lifeboat_restores_total', help: 'Restores (nuke tasks) that ended, by outcome', labelNames: ['outcome'], registers });
    this.restoreSeconds = new Histogram({ name: 'lifeboat_restore_duration_seconds', help: 'How long a restore (nuke task) ran, from its agent\'s start to its end', buckets: RESTORE_BUCKETS_SECONDS, registers });
    for (const protocol of ['http', 'tftp']) this.bytesServed.inc({ protocol }, 0);
    for (const outcome of ['done', 'failed']) this.restores.inc({ outcome }, 0);
    this.unsubscribe = sources.events.subscribe((e) => this.onEvent(sources.tasks, e));
  }

  private onEvent(tasks: TaskBoard, e: ServerEvent): void {
    if (e.kind === 'boot.rescue') this.rescueBoots.inc();
    if ((e.kind === 'task.done' || e.kind === 'task.failed') && e.taskId !== null) {
      const task = tasks.get(e.taskId);
      if (task.kind !== 'nuke') return;
      this.restores.inc({ outcome: task.state });
      // A task failed before its agent started (an interrupted boot) has no run to time.
      if (task.startedAt !== null && task.endedAt !== null) this.restoreSeconds.observe((task.endedAt - task.startedAt) / 1000);
    }
  }

  dhcpPacket(type: string, outcome: DhcpPacketOutcome): void {
    this.dhcpPackets.inc({ type, outcome });
  }

  served(protocol: 'http' | 'tftp', bytes: number): void {
    this.bytesServed.inc({ protocol }, bytes);
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  close(): void {
    this.unsubscribe();
  }
}
