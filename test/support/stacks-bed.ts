import { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { makeWorld, type World } from './world.js';
import { startTestbed, type Testbed } from './testbed.js';
import { cachedRescueSystem, fullKernelVersion } from './guest-run.js';
import { fixtureCacheDir } from './fixture-cache.js';
import { readMultiDiskMarkers, type MultiDiskFixture, type MultiDiskMarkers } from './multidisk-fixture.js';
import { sparseFile } from './loop-devices.js';
import type { QemuMachine } from './qemu.js';

/**
 * The test bed of the storage-stack end-to-end files (test/e2e/storage-*.test.ts): one world, one
 * PXE test bed with the store over NFS, and the rescue system on Debian's full kernel (the cloud one
 * has no JFS), the same build the multi-disk fixtures are made with. Call at the top of a test
 * file; the bed is ready in the tests, and removed after the file's last test.
 */
export interface Task { id: number; state: string; errorCode: string | null; error: string | null; result: Record<string, unknown> | null; files: string[] }

export interface StacksBed {
  world: World;
  /**
   * Resolves when the bed is up. A file's own `before` hook must await it first: node 20 runs a
   * file's top-level `before` hooks side by side, not one after another.
   */
  ready: Promise<void>;
  readonly bed: Testbed;
  readonly rescueDir: string;
  /** A task made with the CLI, as an operator makes it (flags: the plan edits of a nuke). */
  task(kind: 'nuke' | 'capture', machine: QemuMachine, image: string, flags?: string[]): Promise<number>;
  /** PXE → rescue → the agent runs the task and reboots (QEMU exits under -no-reboot). */
  runTaskBoot(machine: QemuMachine, id: number): Promise<Task>;
  /** Boots the machine's own disks (no task) and reads the fixture's markers. */
  bootLocal(machine: QemuMachine): Promise<MultiDiskMarkers>;
  blankDisks(prefix: string, sizes: number[]): Promise<string[]>;
}

export async function stacksBed(prefix: string): Promise<StacksBed> {
  const world = await makeWorld({ after }, prefix);
  let bed: Testbed | undefined;
  let rescueDir: string | undefined;
  let settle!: { resolve: () => void; reject: (e: unknown) => void };
  const ready = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
  ready.catch(() => undefined); // reported by the hook below; a file that never awaits it must not crash
  before(async () => {
    try {
      rescueDir = await cachedRescueSystem(fixtureCacheDir(), await fullKernelVersion());
      bed = await startTestbed(world, { rescueDir, nfs: 'ganesha' });
      settle.resolve();
    } catch (e) {
      settle.reject(e);
      throw e;
    }
  }, { timeout: 1_800_000 });
  const started = () => {
    assert.ok(bed, 'the test bed started');
    return bed;
  };
  return {
    world,
    ready,
    get bed() {
      return started();
    },
    get rescueDir() {
      assert.ok(rescueDir, 'the rescue system was built');
      return rescueDir;
    },
    async task(kind, machine, image, flags = []) {
      const r = await started().lifeboat(['task', kind, '--host', machine.mac, '--image', image, ...flags, '--json']);
      assert.equal(r.exitCode, 0, `lifeboat task ${kind}: ${r.stderr}`);
      return (JSON.parse(r.stdout) as { id: number }).id;
    },
    async runTaskBoot(machine, id) {
      const run = await machine.boot();
      await run.waitForSerial('LIFEBOAT-RESCUE-UP', 600_000, { failOn: ['FIXTURE-BOOTED', 'Kernel panic'] });
      await run.waitForSerial(/lifeboat-agent: task \d+ (done|failed)|lifeboat-agent: task failed/, 1_800_000, { failOn: ['Kernel panic', 'agent crashed'] });
      await run.waitForExit(300_000);
      return started().api<Task>(`/api/v1/tasks/${id}`);
    },
    async bootLocal(machine) {
      const run = await machine.boot();
      await run.waitForSerial(/FIXTURE-DONE|FIXTURE-ERROR initramfs/, 1_200_000, { failOn: ['LIFEBOAT-RESCUE-UP', 'Kernel panic'] });
      await run.waitForExit(120_000).catch(() => run.stop());
      return readMultiDiskMarkers(run.serial());
    },
    blankDisks: (p, sizes) => Promise.all(sizes.map((bytes, i) => sparseFile(join(world.dir, `${p}-${i}.img`), bytes))),
  };
}

/** What every restore of a fixture must show: its name, every mount by its original UUID, the swap, the same files. */
export function assertSameSystem(m: MultiDiskMarkers, f: MultiDiskFixture): void {
  assert.deepEqual(m.errors, []);
  assert.equal(m.booted, f.name);
  assert.deepEqual(m.mounts, f.expected.mounts, 'every fstab filesystem mounted, by its original UUID');
  assert.equal(m.swap, f.expected.swap);
  assert.deepEqual(m.hashes, f.expected.hashes, 'every filesystem hashes its files to the source\'s hash');
  assert.ok(m.done);
}

export async function firstSector(path: string): Promise<Buffer> {
  const fh = await open(path, 'r');
  const sector = Buffer.alloc(512);
  await fh.read(sector, 0, 512, 0).finally(() => fh.close());
  return sector;
}
