import { CMDLINE_KEYS } from '../task-protocol.js';

/** What the rescue initramfs hands the agent, read from the kernel command line. */
export interface AgentStart {
  server: string;
  taskId: number;
  token: string;
}

export function parseKernelCmdline(cmdline: string): Partial<AgentStart> & { mode?: string } {
  const out: Partial<AgentStart> & { mode?: string } = {};
  for (const word of cmdline.trim().split(/\s+/)) {
    const eq = word.indexOf('=');
    if (eq < 0) continue;
    const key = word.slice(0, eq);
    const value = word.slice(eq + 1);
    if (key === CMDLINE_KEYS.server) out.server = value.replace(/\/+$/, '');
    else if (key === CMDLINE_KEYS.task && /^\d+$/.test(value)) out.taskId = Number(value);
    else if (key === CMDLINE_KEYS.token) out.token = value;
    else if (key === 'lifeboat.mode') out.mode = value;
  }
  return out;
}
