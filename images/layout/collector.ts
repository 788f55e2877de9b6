import { realpath } from 'node:fs/promises';
import { runTool, type ToolOptions, type ToolResult } from '../../core/run-tool.js';
import { errorText, FACTS_FORMAT, type Evidence, type ProbeFacts } from './evidence.js';

export interface ProbeOptions {
  /** The source system's root directory: "/" for the running machine (the default without `disks`). */
  root?: string;
  /** Whole disks to probe (device paths); without it, every real disk of the machine. */
  disks?: string[];
  /** Device path → directory where the caller mounted that filesystem read-only. */
  mountpoints?: Record<string, string>;
}

export const TOOL_TIMEOUT_MS = 120_000;

/** The evidence being gathered, with the helpers every collection step uses. */
export class Collector implements Evidence {
  readonly raw: Record<string, string> = {};
  readonly facts: ProbeFacts;

  constructor(options: ProbeOptions) {
    const opts: ProbeFacts['options'] = {};
    if (options.root !== undefined) opts.root = options.root;
    if (options.disks) opts.disks = [...new Set(options.disks)];
    if (options.mountpoints) opts.mountpoints = { ...options.mountpoints };
    this.facts = {
      format: FACTS_FORMAT, options: opts, paths: {}, loopBackingFiles: {}, exits: {}, failures: {}, usage: {},
      root: null, tools: { mdadm: false, lvm: false }, grubPlatformDirs: [], grubInSector0: [],
    };
  }

  /** Runs a tool; its stdout is kept under `name` when it succeeds. */
  async tool(name: string | undefined, file: string, args: string[], options: ToolOptions = {}): Promise<ToolResult> {
    const r = await runTool(file, args, { timeoutMs: TOOL_TIMEOUT_MS, ...options });
    if (name) this.raw[name] = r.stdout;
    return r;
  }

  /** Runs a tool whose failure is a fact, not the probe's end: the reason is kept under `name`. */
  async optionalTool(name: string, file: string, args: string[], options: ToolOptions = {}): Promise<ToolResult | undefined> {
    try {
      return await this.tool(name, file, args, options);
    } catch (e) {
      this.facts.failures[name] = errorText(e);
      return undefined;
    }
  }

  /** Resolves and records paths, so that interpretation compares them as the probe did. */
  async resolve(paths: Iterable<string>): Promise<void> {
    for (const p of paths) {
      if (p in this.facts.paths) continue;
      try {
        this.facts.paths[p] = await realpath(p);
      } catch {
        this.facts.paths[p] = null;
      }
    }
  }
}
