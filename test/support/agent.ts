import { execa } from 'execa';
import { fileURLToPath } from 'node:url';

/**
 * The rescue agent run on this machine (not in a rescue system): it must be told its disks. Values
 * go as --name=value: a token is base64url and may start with '-', which parseArgs would otherwise
 * refuse as an ambiguous option.
 */
export const AGENT_ENTRY = fileURLToPath(new URL('../../netboot/agent/agent-entry.js', import.meta.url));

export async function runAgent(args: { server: string; task: number; token: string; disks: string[]; targetRoot?: string }): Promise<{ exitCode: number; output: string }> {
  const r = await execa(process.execPath, ['--enable-source-maps', AGENT_ENTRY, `--server=${args.server}`, `--task=${args.task}`, `--token=${args.token}`, ...args.disks.flatMap((d) => ['--disk', d]), ...(args.targetRoot ? ['--target-root', args.targetRoot] : [])], {
    reject: false,
    all: true,
    env: { LIFEBOAT_LOG_LEVEL: 'warn' },
  });
  return { exitCode: r.exitCode ?? -1, output: String(r.all) };
}
