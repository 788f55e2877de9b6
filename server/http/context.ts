import type { Logger } from '../../core/log.js';
import type { BootPlanner, RescueFiles } from '../boot-planner.js';
import type { EventLog } from '../state/events.js';
import type { HostRegistry } from '../state/hosts.js';
import type { ImageCatalog } from '../state/image-catalog.js';
import type { ImageVerifications } from '../state/image-verifications.js';
import type { ImageVerifier } from '../image-verifier.js';
import type { TaskBoard } from '../state/tasks.js';
import type { CloneSessions } from '../state/clone-sessions.js';
import type { Lease } from '../dhcp/address-plan.js';
import type { HealthReport } from '../health.js';
import type { ServerMetrics } from '../metrics.js';
import type { SessionTransfers } from '../multicast/session-transfers.js';
import type { BackupService } from '../backup/backup-service.js';

/** What the HTTP routes need from the rest of the server, handed in by the wiring. */
export interface HttpContext {
  planner: BootPlanner;
  hosts: HostRegistry;
  tasks: TaskBoard;
  clones: CloneSessions;
  /** Each clone session's multicast: what a member's agent is told, and the one line that says how the data travels. */
  transfers: Pick<SessionTransfers, 'receiveFor' | 'describe'>;
  events: EventLog;
  catalog: ImageCatalog;
  /** The last full verification of each version the server ran, and the runner of new ones. */
  verifications: ImageVerifications;
  verifier: Pick<ImageVerifier, 'verify' | 'progress'>;
  leases: () => Lease[];
  store: string;
  /** Where captures land over NFS before they are verified and moved into the store. */
  capturesDir: string;
  /** Where the iPXE binaries are, for UEFI HTTP Boot. */
  netbootRoot: string;
  /** The rescue kernel and initrd on disk, and how iPXE names them. */
  rescue: RescueFiles & { kernelFile: string; initrdFile: string };
  adminToken: string;
  /** The read-only token: reads of hosts, tasks, leases and events, no changes. */
  readToken: string;
  /**
   * In full DHCP mode, the address this server leased to a MAC now (null: none); undefined when the
   * server hands out no addresses (proxy DHCP or none), so only the requesting address is known.
   */
  leasedAddress: (mac: string) => string | null | undefined;
  /** The URL machines on the test-bed network reach this server at, e.g. http://10.77.0.1:8080. */
  httpBase: () => string;
  /** The test-bed network (--interface's subnet, e.g. 10.77.0.0/24), or null when the server was not told one. */
  testbedSubnet: string | null;
  /** The NFS share, when the server exports one: the read-only store and the writable capture area. */
  nfs: () => { server: string; storeExport: string; capturesExport: string } | null;
  /** Where capture agents write: this server's NFS share, or the one --captures-share names; null: none. */
  capturesShare: () => { server: string; export: string } | null;
  /** Whether the server serves now: database open, store readable (GET /healthz). */
  health: () => Promise<HealthReport>;
  metrics: ServerMetrics;
  /** Machines that send their own archives to this server's NFS share. */
  backup: BackupService;
  log: Logger;
}
