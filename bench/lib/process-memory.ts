import { readFileSync } from 'node:fs';

/**
 * Resident memory of a process, from the kernel's own accounting (VmRSS in /proc/PID/status):
 * what the process holds in RAM now, shared library pages included.
 */
export function residentKiB(pid: number): number | null {
  try {
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null; // the process is gone
  }
}

export interface RssTrace {
  samples: number;
  firstKiB: number;
  peakKiB: number;
  lastKiB: number;
}

/**
 * Samples a process's VmRSS every `intervalMs` until stopped. A timer, not a loop, so the process
 * being measured gets the CPU it would otherwise: the sampler costs a file read per tick.
 */
export function sampleResident(pid: number, intervalMs = 50): { stop(): RssTrace } {
  const values: number[] = [];
  const tick = () => {
    const kib = residentKiB(pid);
    if (kib !== null) values.push(kib);
  };
  tick();
  const timer = setInterval(tick, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      tick();
      if (values.length === 0) throw new Error(`process ${pid} had no VmRSS to sample: it was gone before sampling began`);
      return { samples: values.length, firstKiB: values[0]!, peakKiB: Math.max(...values), lastKiB: values.at(-1)! };
    },
  };
}

export function mib(kib: number): string {
  return (kib / 1024).toFixed(1);
}
