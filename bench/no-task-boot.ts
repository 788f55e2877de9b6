/**
 * bench/no-task-boot: how soon a machine with no task reaches its own disk. QEMU (TCG) machines
 * whose NIC boots first and whose disk prints LOCAL-DISK-BOOTED: BIOS with QEMU's iPXE ROM, UEFI
 * (OVMF) with the iPXE ROM, UEFI with the firmware's own PXE. Side by side on the same kind of test
 * bed: Lifeboat, which answers every network boot attempt of a machine with no task with something
 * that ends it at once, and dnsmasq giving an address and no boot file (what Lifeboat did before,
 * and what a plain DHCP server does). Seconds from QEMU start to the marker; for Lifeboat also from
 * the firmware's first DHCP request (the server's debug log) to the marker. Alternating, median of N.
 *
 *   node dist/bench/no-task-boot.js [--runs 1]
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { makeWorld, type World } from '../test/support/world.js';
import { startTestbed, type Testbed } from '../test/support/testbed.js';
import { startInNamespace } from '../test/support/netns.js';
import { biosMarkerDisk, uefiMarkerDisk } from '../test/support/marker-disks.js';
import { LOCAL_DISK_MARKER, qemuAccel, type MachineSpec } from '../test/support/qemu.js';
import { median, writeBenchSection } from './report.js';
import { measuredLine, watchLoad } from './lib/machine-load.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '1' } } });
const RUNS = Number(values.runs);

interface Case { name: string; firmware: MachineSpec['firmware']; nicRom: NonNullable<MachineSpec['nicRom']> }
const CASES: Case[] = [
  { name: 'BIOS, iPXE ROM', firmware: 'bios', nicRom: 'ipxe' },
  { name: 'UEFI (OVMF), iPXE ROM', firmware: 'uefi', nicRom: 'ipxe' },
  { name: 'UEFI (OVMF), firmware PXE', firmware: 'uefi', nicRom: 'firmware' },
];

interface Timing { fromPowerOn: number; fromFirstDhcp: number | null }

/** The first DHCP packet the server logged for this MAC after `since` (epoch ms), at debug level. */
function firstDhcpAt(bed: Testbed, mac: string, since: number): number | null {
  const log = readFileSync(join(bed.world.dir, 'lifeboat-serve.log'), 'utf8');
  for (const line of log.split('\n')) {
    if (!line.startsWith('{')) continue;
    const j = JSON.parse(line) as { time: number; component?: string; mac?: string };
    if (j.component === 'dhcp' && j.mac === mac && j.time >= since) return j.time;
  }
  return null;
}

async function bootOnce(bed: Testbed, c: Case, disk: string, withDhcpLog: boolean): Promise<Timing> {
  const machine = await bed.addMachine({ name: `${c.firmware}-${c.nicRom}`, firmware: c.firmware, nicRom: c.nicRom, disks: [disk] });
  const wall = Date.now();
  const run = await machine.boot();
  try {
    const seen = await run.waitForSerial(LOCAL_DISK_MARKER, 600_000, { failOn: ['LIFEBOAT-RESCUE-UP'] });
    const markerWall = wall + (seen.at - run.startedAt);
    const first = withDhcpLog ? firstDhcpAt(bed, machine.mac, wall) : null;
    return { fromPowerOn: (seen.at - run.startedAt) / 1000, fromFirstDhcp: first === null ? null : (markerWall - first) / 1000 };
  } finally {
    await run.stop();
  }
}

async function main(): Promise<void> {
  const cleanups: Array<() => unknown> = [];
  const holder = { after: (fn: () => unknown) => void cleanups.push(fn) };
  const stopWatching = watchLoad();
  try {
    const lbWorld: World = await makeWorld(holder, 'lb-bench-notask-lb');
    // Debug level: the server logs every DHCP packet, the first of which starts the second clock.
    process.env.LIFEBOAT_LOG_LEVEL = 'debug';
    const lb = await startTestbed(lbWorld, {});
    delete process.env.LIFEBOAT_LOG_LEVEL;
    const dmWorld: World = await makeWorld(holder, 'lb-bench-notask-dm');
    const dm = await startTestbed(dmWorld, { server: 'none' });
    startInNamespace(dmWorld, dm.ns, 'dnsmasq', [
      '--no-daemon', '--conf-file=/dev/null', '--port=0', `--interface=${dm.bridge}`, '--bind-interfaces', '--no-ping', '--leasefile-ro',
      '--user=root', `--pid-file=${join(dmWorld.dir, 'dnsmasq.pid')}`, `--dhcp-range=${dm.prefix}.100,${dm.prefix}.199,255.255.255.0,1h`,
    ], join(dmWorld.dir, 'dnsmasq.log'));
    const disks = {
      bios: await biosMarkerDisk(join(lbWorld.dir, 'bios-marker.img')),
      uefi: await uefiMarkerDisk(join(lbWorld.dir, 'uefi-marker.img'), lbWorld.dir),
    };
    const results: Array<{ c: Case; lifeboat: Timing[]; dnsmasq: Timing[] }> = [];
    for (const c of CASES) {
      const r = { c, lifeboat: [] as Timing[], dnsmasq: [] as Timing[] };
      for (let i = 0; i < RUNS; i++) {
        // Each boot on a fresh machine (fresh NVRAM), alternating which server goes first.
        const order = i % 2 === 0 ? (['lifeboat', 'dnsmasq'] as const) : (['dnsmasq', 'lifeboat'] as const);
        for (const side of order) r[side].push(await bootOnce(side === 'lifeboat' ? lb : dm, c, disks[c.firmware], side === 'lifeboat'));
      }
      results.push(r);
      process.stdout.write(`${JSON.stringify({ case: c.name, lifeboat: r.lifeboat, dnsmasq: r.dnsmasq })}\n`);
    }
    const load = stopWatching();
    const med = (ts: Timing[], k: keyof Timing) => median(ts.map((t) => t[k] ?? NaN));
    const rows = results.map(({ c, lifeboat, dnsmasq }) =>
      `| ${c.name} | ${med(lifeboat, 'fromPowerOn').toFixed(1)} (${lifeboat.map((t) => t.fromPowerOn.toFixed(1)).join(', ')}) | ${med(lifeboat, 'fromFirstDhcp').toFixed(1)} | ${med(dnsmasq, 'fromPowerOn').toFixed(1)} (${dnsmasq.map((t) => t.fromPowerOn.toFixed(1)).join(', ')}) | **${(med(dnsmasq, 'fromPowerOn') / med(lifeboat, 'fromPowerOn')).toFixed(1)}×** |`);
    await writeBenchSection('no-task-boot', `
## A machine with no task reaches its disk (bench/no-task-boot.ts)

${measuredLine(load)}
QEMU ${qemuAccel()}, q35, 1 GiB; the NIC boots first, then a disk that prints ${LOCAL_DISK_MARKER} (a boot sector for BIOS, GRUB on an ESP for UEFI);
a fresh machine (fresh NVRAM) for every boot; IPv6 network boot off in OVMF (as in the tests). Lifeboat with no task for the machine: iPXE gets a
script that exits, firmware PXE a file name TFTP refuses, HTTP boot a URL that answers 404. The peer: dnsmasq giving an address and no boot file,
which is what Lifeboat answered before and what a plain DHCP server does. ${RUNS} run(s) per case, alternating; medians.

| machine | Lifeboat: power-on → disk (s) | Lifeboat: first DHCP → disk (s) | dnsmasq, no boot file: power-on → disk (s) | ratio |
| --- | --- | --- | --- | --- |
${rows.join('\n')}

Target: the disk's bootloader within 10 s of the firmware's first DHCP request. OVMF waits about 4 s for more offers in each of its PXE and HTTP
boot attempts even when the first offer is final; with QEMU's iPXE ROM it makes three attempts (iPXE, PXEv4, HTTPv4), with its own PXE two.
That wait is EDK2's, not the server's to shorten: its PXE and HTTP boot drivers answer every offer with EFI_NOT_READY
(PxeBcDhcp4CallBack, HttpBootDhcp4CallBack), so the DHCP driver collects offers until its 4 s discover timeout. Hence the
iPXE-ROM UEFI row misses the 10 s target by its two firmware attempts, while firmware PXE alone (what real UEFI machines
run) meets it. After a nuke the agent leaves BootNext on the restored disk's entry, so the restored system's first boot
skips the network attempts altogether (docs: README, restore).
`);
  } finally {
    for (const fn of cleanups.reverse()) await fn();
  }
}

await main();
