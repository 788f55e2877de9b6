import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LifeboatError } from '../../core/errors.js';

/**
 * The rescue agent as one JavaScript file for `node /lifeboat/agent.js`: either a file the operator
 * names (an ES module), or netboot/agent/agent-entry.ts of this checkout bundled with esbuild
 * (every dependency inlined, no source maps, so the same sources always give the same bytes).
 *
 * The bundle is CommonJS: node 20 loads one about a second faster than the same code as an ES
 * module under an emulated CPU (TCG guest, `--help`: 1.6–2.1 s against 2.3–3.0 s), because the
 * ES module loader's own code has to be loaded and compiled first.
 */

/** The checkout's root: this file runs from dist/netboot/build/. */
export const PROJECT_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export const AGENT_ENTRY = join(PROJECT_ROOT, 'netboot', 'agent', 'agent-entry.ts');

export interface AgentBundle {
  bytes: Buffer;
  /** How node must load it: the operator's file as an ES module, the bundle as CommonJS. */
  format: 'esm' | 'cjs';
  /** Where it came from: the --agent file or the bundled entry point. */
  source: string;
  bundled: boolean;
}

/** Returns null when there is no agent to include (the rescue system then opens a shell). */
export async function agentBundle(agentFile: string | undefined): Promise<AgentBundle | null> {
  if (agentFile) {
    try {
      return { bytes: await readFile(agentFile), format: 'esm', source: agentFile, bundled: false };
    } catch (e) {
      throw new LifeboatError('LB_NOT_FOUND', `--agent ${agentFile} cannot be read (${(e as Error).message}): give the path of the agent's single JavaScript file`);
    }
  }
  if (!(await stat(AGENT_ENTRY).catch(() => null))) return null;
  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    entryPoints: [AGENT_ENTRY],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    write: false,
    minify: false,
    sourcemap: false,
    legalComments: 'none',
    logLevel: 'silent',
  }).catch((e: unknown) => {
    throw new LifeboatError('LB_TOOL_FAILED', `bundling the agent ${AGENT_ENTRY} failed: ${(e as Error).message}`);
  });
  const out = result.outputFiles[0];
  if (!out) throw new LifeboatError('LB_TOOL_FAILED', `bundling the agent ${AGENT_ENTRY} produced no output`);
  return { bytes: Buffer.from(out.contents), format: 'cjs', source: AGENT_ENTRY, bundled: true };
}
