import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { runTool } from '../../../core/run-tool.js';
import { mkfsCommands } from './mkfs.js';

/**
 * Making a fixture's disk on the host itself (loop devices, mkfs, mount), for the filesystems this
 * host's kernel has; everything attached or mounted is undone, also when the build fails half way.
 */

export interface HostFilesystem {
  type: 'ext4' | 'xfs' | 'vfat' | 'swap';
  uuid: string;
  label: string;
}

/** Undo steps run last-in first-out, also when the build fails half way. */
export class Undo {
  private steps: Array<{ what: string; step: () => Promise<unknown> }> = [];
  push(what: string, step: () => Promise<unknown>): void {
    this.steps.push({ what, step });
  }
  async run(): Promise<void> {
    for (const { what, step } of this.steps.reverse()) {
      try {
        await step();
      } catch (e) {
        process.stderr.write(`fixture disk: cleanup '${what}' failed: ${(e as Error).message}\n`);
      }
    }
    this.steps = [];
  }
}

export async function attachLoop(image: string, undo: Undo): Promise<string> {
  const dev = (await runTool('losetup', ['--find', '--show', '--partscan', image], { purpose: 'attach the fixture image' })).stdout.trim();
  undo.push(`detach ${dev}`, async () => {
    await execa('partx', ['-d', dev], { reject: false });
    await execa('losetup', ['-d', dev], { reject: false });
  });
  // No udev here: partx makes the kernel create the partition nodes.
  await execa('partx', ['-u', dev], { reject: false });
  await execa('partx', ['-a', dev], { reject: false });
  return dev;
}

export async function waitForNode(node: string): Promise<void> {
  for (let i = 0; i < 50 && !existsSync(node); i++) await sleep(100);
  if (!existsSync(node)) throw new Error(`fixture disk: partition node ${node} did not appear after partx -a`);
}

/** `options`: mount's own (-t xfs, -o ro,noload); undone by unmounting, lazily when busy. */
export async function mountAt(dev: string, dir: string, undo: Undo, options: string[] = []): Promise<void> {
  await mkdir(dir, { recursive: true });
  await runTool('mount', [...options, dev, dir], { purpose: `mount ${dev} on ${dir}` });
  undo.push(`unmount ${dir}`, async () => {
    const r = await execa('umount', [dir], { reject: false });
    if (r.exitCode !== 0) await execa('umount', ['-l', dir], { reject: false });
  });
}

export async function makeFilesystem(dev: string, fs: HostFilesystem): Promise<void> {
  for (const c of mkfsCommands(fs, dev)) await runTool(c.argv[0]!, c.argv.slice(1), { purpose: `make the fixture's ${fs.type} filesystem` });
}
