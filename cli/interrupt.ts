/**
 * Runs long work with a signal that SIGINT and SIGTERM abort, so ^C or a service stop ends an
 * archive through its own clean-up (nothing half-published) instead of killing it mid-write.
 */
export async function untilInterrupted<T>(work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    return await work(controller.signal);
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}
