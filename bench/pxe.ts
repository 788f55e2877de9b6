/**
 * bench/pxe: time from QEMU start to LIFEBOAT-RESCUE-UP on the serial console for a BIOS machine
 * (QEMU's iPXE ROM) PXE-booting the rescue system, through Lifeboat (DHCP + TFTP + HTTP) and through
 * dnsmasq (DHCP + TFTP) with the same HTTP files (Lifeboat's HTTP alone), alternating, median of N.
 * Also the sizes of the rescue build. Not a test: prints JSON and writes docs/benchmarks.md.
 * Run: node dist/bench/pxe.js [--runs 3]
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildRescue } from '../netboot/build/rescue-build.js';
import { makeWorld, type World } from '../test/support/world.js';
import { startTestbed, type Testbed } from '../test/support/testbed.js';
import { startInNamespace } from '../test/support/netns.js';
import { qemuAccel, type QemuMachine } from '../test/support/qemu.js';
import { machineLine, median, writeBenchSection } from './report.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' } } });
const runs = Number(values.runs);
const MARKER = 'LIFEBOAT-RESCUE-UP';

async function timeToMarker(machine: QemuMachine): Promise<number> {
  const run = await machine.boot();
  try {
    const seen = await run.waitForSerial(MARKER, 300_000, { failOn: ['LOCAL-DISK-BOOTED', 'Could not boot', 'Kernel panic'] });
    return (seen.at - run.startedAt) / 1000;
  } finally {
    await run.stop();
  }
}

async function giveTask(bed: Testbed, mac: string): Promise<void> {
  const r = await bed.lifeboat(['task', 'capture', '--host', mac, '--image', 'bench']);
  if (r.exitCode !== 0) throw new Error(`lifeboat task failed: ${r.stderr}`);
}

async function main(): Promise<void> {
  const cleanups: Array<() => unknown> = [];
  const holder = { after: (fn: () => unknown) => void cleanups.push(fn) };
  try {
    const world: World = await makeWorld(holder, 'lb-bench-pxe');
    const rescueDir = join(world.dir, 'rescue');
    // An agent that does nothing: the machine is stopped at the marker anyway.
    const agent = join(world.dir, 'agent.js');
    writeFileSync(agent, 'setInterval(() => {}, 1000);\n');
    const t0 = performance.now();
    const record = await buildRescue({ outDir: rescueDir, agentFile: agent, kernel: 'cloud' });
    const buildSeconds = (performance.now() - t0) / 1000;
    const cmdline = 'console=ttyS0,115200n8';

    // Lifeboat: DHCP, TFTP and HTTP.
    const lbWorld = await makeWorld(holder, 'lb-bench-pxe-lb');
    const lb = await startTestbed(lbWorld, { rescueDir, rescueCmdline: cmdline });
    const lbMachine = await lb.addMachine({ name: 'bios', firmware: 'bios' });
    await giveTask(lb, lbMachine.mac);

    // dnsmasq: DHCP and TFTP (iPXE gets the script URL, everything else undionly.kpxe), HTTP from Lifeboat.
    const dmWorld = await makeWorld(holder, 'lb-bench-pxe-dm');
    const dm = await startTestbed(dmWorld, { rescueDir, rescueCmdline: cmdline, server: 'none' });
    await dm.startLifeboat(['--dhcp', 'off', '--tftp', 'off']);
    const dmMachine = await dm.addMachine({ name: 'bios', firmware: 'bios' });
    await giveTask(dm, dmMachine.mac);
    startInNamespace(dmWorld, dm.ns, 'dnsmasq', [
      '--no-daemon', '--conf-file=/dev/null', '--port=0', `--interface=${dm.bridge}`, '--bind-interfaces', '--no-ping', '--leasefile-ro',
      '--user=root', `--pid-file=${join(dmWorld.dir, 'dnsmasq.pid')}`, `--dhcp-range=${dm.prefix}.100,${dm.prefix}.199,255.255.255.0,1h`,
      '--enable-tftp', `--tftp-root=${join(dm.dataDir, 'netboot')}`, '--dhcp-userclass=set:ipxe,iPXE', '--dhcp-match=set:ipxe,175',
      `--dhcp-boot=tag:ipxe,${dm.httpBase}/boot/${dmMachine.mac}.ipxe`, '--dhcp-boot=tag:!ipxe,undionly.kpxe',
    ], join(dmWorld.dir, 'dnsmasq.log'));

    const times = { lifeboat: [] as number[], dnsmasq: [] as number[] };
    for (let i = 0; i < runs; i++) {
      times.lifeboat.push(await timeToMarker(lbMachine));
      times.dnsmasq.push(await timeToMarker(dmMachine));
    }
    const result = {
      bench: 'pxe',
      accel: qemuAccel(),
      machine: machineLine(),
      runs,
      biosSecondsToRescueUp: {
        lifeboat: { runs: times.lifeboat, median: median(times.lifeboat) },
        dnsmasq: { runs: times.dnsmasq, median: median(times.dnsmasq) },
      },
      rescue: {
        kernel: record.kernel.version,
        vmlinuzBytes: record.vmlinuz.bytes,
        initrdBytes: record.initrd.bytes,
        initrdUncompressedBytes: record.initrd.uncompressedBytes,
        compression: record.initrd.compression,
        entries: record.initrd.entries,
        modules: record.modules.count,
        buildSeconds: Number(buildSeconds.toFixed(1)),
      },
    };
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    const mib = (n: number) => (n / 1048576).toFixed(1);
    await writeBenchSection(
      'pxe',
      [
        '## PXE boot to the rescue system (bench/pxe.ts)',
        '',
        `${machineLine()}; QEMU ${result.accel}, q35, 1 GiB, BIOS with QEMU's iPXE ROM. Seconds from QEMU start to`,
        '`LIFEBOAT-RESCUE-UP` on the serial console (DHCP, iPXE script, kernel + initramfs over HTTP, kernel boot, /init, DHCP again).',
        '',
        '| server | runs (s) | median (s) |',
        '| --- | --- | --- |',
        `| Lifeboat (DHCP + TFTP + HTTP) | ${times.lifeboat.map((t) => t.toFixed(1)).join(', ')} | ${median(times.lifeboat).toFixed(1)} |`,
        `| dnsmasq (DHCP + TFTP) + Lifeboat HTTP | ${times.dnsmasq.map((t) => t.toFixed(1)).join(', ')} | ${median(times.dnsmasq).toFixed(1)} |`,
        '',
        `Rescue build (\`lifeboat netboot build\`, ${buildSeconds.toFixed(0)} s): kernel ${record.kernel.version} ${mib(record.vmlinuz.bytes)} MiB,`,
        `initrd.img ${mib(record.initrd.bytes)} MiB ${record.initrd.compression} (${mib(record.initrd.uncompressedBytes)} MiB unpacked, ${record.initrd.entries} entries, ${record.modules.count} modules).`,
      ].join('\n'),
    );
  } finally {
    for (const fn of cleanups.reverse()) await fn();
  }
}

await main();
