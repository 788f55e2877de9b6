import { archiveImage, type ArchiveRequest } from '../archive/archive-image.js';
import type { ArchiveEvent } from '../archive/archive-events.js';
import { describePolicy } from '../retention/retention-plan.js';
import { listVersions, type VersionInfo } from '../store/image-store.js';
import { pruneStore, type PruneAction } from '../retention/prune-store.js';
import { imageForRun, imagesOf, lastDue, type Schedule } from './schedule-model.js';
import { lockPath, takeLock } from './schedule-lock.js';
import { mountBackupExport, unmountBackupExport } from './backup-mount.js';
import { join } from 'node:path';

/**
 * One scheduled run, as the timer or cron starts it: take the schedule's lock, decide whether a
 * catch-up run is due, archive, then apply the retention rules to the image it wrote. The archive
 * is the same archiveImage `lifeboat archive` runs; a failed archive publishes nothing and prunes
 * nothing.
 */
export type ScheduleEvent =
  | ArchiveEvent
  | { type: 'stage'; stage: 'schedule' | 'retention'; message: string }
  | { type: 'pruned'; image: string; removed: string[]; kept: number };

export interface ScheduleRunRequest {
  schedule: Pick<Schedule, 'name' | 'preset' | 'at' | 'day' | 'store' | 'image' | 'retention' | 'server'>;
  archive: Omit<ArchiveRequest, 'store' | 'image' | 'onEvent' | 'signal'>;
  /** Run only if the last due time passed without a version being made since (cron's @reboot). */
  catchUp?: boolean;
  now?: Date;
  lockDir?: string;
  onEvent?: (e: ScheduleEvent) => void;
  signal?: AbortSignal;
}

export type ScheduleRunOutcome =
  | { ran: false; reason: string }
  | { ran: true; image: string; version: VersionInfo; removed: PruneAction[] };

export async function runSchedule(request: ScheduleRunRequest): Promise<ScheduleRunOutcome> {
  const { schedule } = request;
  const emit = (e: ScheduleEvent) => request.onEvent?.(e);
  const lock = await takeLock(lockPath(schedule.name, request.lockDir), `schedule ${schedule.name}`);
  const mountpoint = join(schedule.store, schedule.image);
  let mounted = false;
  try {
    if (schedule.server) {
      emit({ type: 'stage', stage: 'schedule', message: `mounting ${schedule.server.export} (backup server ${schedule.server.url}) on ${mountpoint}` });
      await mountBackupExport(schedule.server.export, mountpoint);
      mounted = true;
    }
    return await runMounted(request, emit);
  } finally {
    if (mounted) await unmountBackupExport(mountpoint).catch((e: unknown) => emit({ type: 'stage', stage: 'schedule', message: `could not unmount ${mountpoint}: ${(e as Error).message}` }));
    await lock.release();
  }
}

async function runMounted(request: ScheduleRunRequest, emit: (e: ScheduleEvent) => void): Promise<ScheduleRunOutcome> {
  const { schedule } = request;
  const now = request.now ?? new Date();
  if (request.catchUp) {
    const due = lastDue(schedule, now);
    let newest: VersionInfo | undefined;
    for (const image of imagesOf(schedule)) {
      const v = (await listVersions(schedule.store, image)).at(-1);
      if (v && (!newest || v.createdAt > newest.createdAt)) newest = v;
    }
    if (newest && newest.createdAt >= due) {
      const reason = `not due: ${newest.image}@${newest.version} was made after the last due time, ${due.toISOString()}`;
      emit({ type: 'stage', stage: 'schedule', message: reason });
      return { ran: false, reason };
    }
    emit({ type: 'stage', stage: 'schedule', message: `catching up: the run due at ${due.toISOString()} was missed (newest version: ${newest ? `${newest.image}@${newest.version}` : 'none'})` });
  }
  const image = imageForRun(schedule, now);
  emit({ type: 'stage', stage: 'schedule', message: `schedule ${schedule.name}: archiving into ${image} in ${schedule.store}` });
  const version = await archiveImage({
    ...request.archive,
    store: schedule.store,
    image,
    onEvent: emit,
    ...(request.signal ? { signal: request.signal } : {}),
  });
  if (schedule.server) {
    emit({ type: 'stage', stage: 'retention', message: `the server ${schedule.server.url} verifies ${image}@${version.version} and applies its retention rules` });
    return { ran: true, image, version, removed: [] };
  }
  emit({ type: 'stage', stage: 'retention', message: `applying ${describePolicy(schedule.retention)} to ${image}` });
  let kept = 0;
  const removed = await pruneStore(schedule.store, {
    image,
    ...schedule.retention,
    onPlan: (_image, outcome) => (kept = outcome.decisions.filter((d) => d.keep).length),
  });
  emit({ type: 'pruned', image, removed: removed.map((a) => a.path), kept });
  return { ran: true, image, version, removed };
}
