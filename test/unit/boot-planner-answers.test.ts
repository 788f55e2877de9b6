import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { BootPlanner, NO_TASK_BOOT_FILE, type BootRequest } from '../../server/boot-planner.js';
import { openDatabase } from '../../server/state/database.js';
import { EventLog } from '../../server/state/events.js';
import { HostRegistry } from '../../server/state/hosts.js';
import { TaskBoard } from '../../server/state/tasks.js';

// What each kind of network-booting firmware is told over DHCP, with and without a task. Without
// one every answer must end that boot attempt at once (the firmware then tries its disk) and none
// may name code of ours: iPXE gets its script (which exits), PXE a file TFTP refuses, HTTP boot a
// URL that answers 404.

const urls = { httpBase: 'http://10.9.0.1:8080' };

function world(t: { after: (fn: () => void) => void }) {
  const dir = mkdtempSync(join(tmpdir(), 'lb-planner-'));
  const db = openDatabase(join(dir, 'state.sqlite'));
  t.after(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const events = new EventLog(db);
  const tasks = new TaskBoard(db, events);
  const hosts = new HostRegistry(db);
  return { tasks, events, planner: new BootPlanner(hosts, tasks, events, pino({ level: 'silent' })) };
}

const request = (mac: string, firmware: BootRequest['firmware'], isIpxe = false, arch: number | null = null): BootRequest => ({ mac, firmware, isIpxe, arch, via: 'dhcp' });

test('no task: iPXE gets its exit script, PXE firmware a file TFTP refuses, HTTP boot a 404 URL, a plain client nothing', (t) => {
  const { planner } = world(t);
  const mac = '52:54:00:00:00:01';
  assert.equal(planner.dhcpBootFile(request(mac, 'bios', true), urls)?.filename, `${urls.httpBase}/boot/${mac}.ipxe`);
  assert.equal(planner.dhcpBootFile(request(mac, 'uefi', true), urls)?.filename, `${urls.httpBase}/boot/${mac}.ipxe`);
  assert.equal(planner.dhcpBootFile(request(mac, 'bios'), urls)?.filename, NO_TASK_BOOT_FILE);
  assert.equal(planner.dhcpBootFile(request(mac, 'uefi', false, 7), urls)?.filename, NO_TASK_BOOT_FILE);
  assert.equal(planner.dhcpBootFile(request(mac, 'uefi-http', false, 16), urls)?.filename, `${urls.httpBase}/boot/${NO_TASK_BOOT_FILE}`);
  assert.equal(planner.dhcpBootFile(request(mac, 'unknown'), urls), null);
  const script = planner.ipxeScript({ mac, address: '10.9.0.50' }, urls, { kernelPath: '/boot/rescue/vmlinuz', initrdPath: '/boot/rescue/initrd.img', cmdline: '' });
  assert.match(script, /^#!ipxe\n.*no task pending.*\nexit\n$/);
  assert.doesNotMatch(script, /kernel|chain|sanboot/);
});

test('a task: iPXE gets its script, PXE firmware the iPXE build for it, HTTP boot iPXE over HTTP; the script boots the rescue system', (t) => {
  const { planner, tasks, events } = world(t);
  const mac = '52:54:00:00:00:02';
  assert.equal(planner.dhcpBootFile(request(mac, 'bios'), urls)?.filename, NO_TASK_BOOT_FILE, 'the first sight registers the machine');
  const task = tasks.create({ kind: 'capture', mac, image: 'golden' });
  assert.equal(planner.dhcpBootFile(request(mac, 'bios'), urls)?.filename, 'undionly.kpxe');
  assert.equal(planner.dhcpBootFile(request(mac, 'uefi', false, 7), urls)?.filename, 'snponly.efi');
  assert.equal(planner.dhcpBootFile(request(mac, 'uefi-http', false, 16), urls)?.filename, `${urls.httpBase}/boot/ipxe.efi`);
  assert.equal(planner.dhcpBootFile(request(mac, 'uefi', true), urls)?.filename, `${urls.httpBase}/boot/${mac}.ipxe`);
  const script = planner.ipxeScript({ mac, address: '10.9.0.50' }, urls, { kernelPath: '/boot/rescue/vmlinuz', initrdPath: '/boot/rescue/initrd.img', cmdline: 'console=ttyS0' });
  assert.match(script, new RegExp(`kernel ${urls.httpBase}/boot/rescue/vmlinuz .*lifeboat\\.task=${task.id}\\b`));
  assert.ok(events.list({ mac }).some((e) => e.kind === 'boot.rescue'));
});
