import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nextBoot } from '../../server/boot-decision.js';
import { BOOT_FILE_REASONS, NO_TASK_BOOT_FILE, bootFileFor, isIpxeBinary, type BootFileClient, type BootFileReason, type ClientFirmware } from '../../server/boot-files.js';
import { stateWorld } from '../support/state-world.js';

// What each kind of network-booting firmware is told over DHCP, with and without a task. Without
// one every answer must end that boot attempt at once (the firmware then tries its disk) and none
// may name code of ours: iPXE gets its script (which exits), PXE a file TFTP refuses, HTTP boot a
// URL that answers 404.

const urls = { httpBase: 'http://10.9.0.1:8080' };

function world(t: { after: (fn: () => void) => void }) {
  const w = stateWorld(t);
  // What the DHCP listener does with a request: record the sighting, then ask the pure decision.
  const dhcpBootFile = (client: BootFileClient) => {
    w.planner.recordSighting({ ...client, via: 'dhcp' });
    return nextBoot(client, w.tasks.openTaskFor(client.mac), urls).file.filename;
  };
  return { ...w, dhcpBootFile };
}

const request = (mac: string, firmware: BootFileClient['firmware'], isIpxe = false, arch: number | null = null): BootFileClient => ({ mac, firmware, isIpxe, arch });

test('no task: iPXE gets its exit script, PXE firmware a file TFTP refuses, HTTP boot a 404 URL, a plain client nothing', (t) => {
  const { planner, dhcpBootFile } = world(t);
  const mac = '52:54:00:00:00:01';
  assert.equal(dhcpBootFile(request(mac, 'bios', true)), `${urls.httpBase}/boot/${mac}.ipxe`);
  assert.equal(dhcpBootFile(request(mac, 'uefi', true)), `${urls.httpBase}/boot/${mac}.ipxe`);
  assert.equal(dhcpBootFile(request(mac, 'bios')), NO_TASK_BOOT_FILE);
  assert.equal(dhcpBootFile(request(mac, 'uefi', false, 7)), NO_TASK_BOOT_FILE);
  assert.equal(dhcpBootFile(request(mac, 'uefi-http', false, 16)), `${urls.httpBase}/boot/${NO_TASK_BOOT_FILE}`);
  assert.equal(dhcpBootFile(request(mac, 'unknown')), null);
  const script = planner.ipxeScript({ mac, address: '10.9.0.50' }, urls, { kernelPath: '/boot/rescue/vmlinuz', initrdPath: '/boot/rescue/initrd.img', cmdline: '' });
  assert.match(script, /^#!ipxe\n.*no task pending.*\nexit\n$/);
  assert.doesNotMatch(script, /kernel|chain|sanboot/);
});

test('a task: iPXE gets its script, PXE firmware the iPXE build for it, HTTP boot iPXE over HTTP; the script boots the rescue system', (t) => {
  const { planner, tasks, events, dhcpBootFile } = world(t);
  const mac = '52:54:00:00:00:02';
  assert.equal(dhcpBootFile(request(mac, 'bios')), NO_TASK_BOOT_FILE, 'the first sight registers the machine');
  const task = tasks.create({ kind: 'capture', mac, image: 'golden' });
  assert.equal(dhcpBootFile(request(mac, 'bios')), 'undionly.kpxe');
  assert.equal(dhcpBootFile(request(mac, 'uefi', false, 7)), 'snponly.efi');
  assert.equal(dhcpBootFile(request(mac, 'uefi-http', false, 16)), `${urls.httpBase}/boot/ipxe.efi`);
  assert.equal(dhcpBootFile(request(mac, 'uefi', true)), `${urls.httpBase}/boot/${mac}.ipxe`);
  const script = planner.ipxeScript({ mac, address: '10.9.0.50' }, urls, { kernelPath: '/boot/rescue/vmlinuz', initrdPath: '/boot/rescue/initrd.img', cmdline: 'console=ttyS0' });
  assert.match(script, new RegExp(`kernel ${urls.httpBase}/boot/rescue/vmlinuz .*lifeboat\\.task=${task.id}\\b`));
  assert.ok(events.list({ mac }).some((e) => e.kind === 'boot.rescue'));
});

test('the firmware → boot file table: every client firmware, with and without a task, iPXE or not, with its reason', () => {
  const mac = '52:54:00:00:00:03';
  const script = `${urls.httpBase}/boot/${mac}.ipxe`;
  const rows: Array<[ClientFirmware, boolean, number | null, boolean, string | null, BootFileReason]> = [
    // firmware, iPXE, arch, task → file, reason
    ['bios', false, 0, true, 'undionly.kpxe', 'bios-pxe'],
    ['bios', false, 0, false, NO_TASK_BOOT_FILE, 'no-task-pxe'],
    ['uefi', false, 7, true, 'snponly.efi', 'uefi-pxe'],
    ['uefi', false, 7, false, NO_TASK_BOOT_FILE, 'no-task-pxe'],
    ['uefi', false, 6, true, null, 'no-ipxe-build'],
    ['uefi', false, 6, false, NO_TASK_BOOT_FILE, 'no-task-pxe'],
    ['uefi-http', false, 16, true, `${urls.httpBase}/boot/ipxe.efi`, 'uefi-http-boot'],
    ['uefi-http', false, 16, false, `${urls.httpBase}/boot/${NO_TASK_BOOT_FILE}`, 'no-task-http-boot'],
    ['unknown', false, null, true, null, 'not-network-boot'],
    ['unknown', false, null, false, null, 'not-network-boot'],
    ['bios', true, 0, true, script, 'ipxe-script'],
    ['uefi', true, 7, true, script, 'ipxe-script'],
    ['uefi-http', true, 16, false, script, 'no-task-ipxe'],
    ['unknown', true, null, false, script, 'no-task-ipxe'],
  ];
  for (const [firmware, isIpxe, arch, hasTask, filename, reason] of rows) {
    const got = bootFileFor({ mac, firmware, isIpxe, arch }, hasTask, urls);
    assert.deepEqual(got, { filename, reason }, `${firmware} ipxe=${isIpxe} arch=${arch} task=${hasTask}`);
    assert.ok(BOOT_FILE_REASONS[got.reason].length > 0);
  }
  // Every chainloaded binary is one the server lays out and HTTP serves.
  for (const file of ['undionly.kpxe', 'snponly.efi', 'ipxe.efi']) assert.ok(isIpxeBinary(file), file);
  assert.equal(isIpxeBinary(NO_TASK_BOOT_FILE), false);
});

test('nextBoot is pure: the decision records nothing; recordSighting records the machine', (t) => {
  const { tasks, events, hosts, planner } = world(t);
  const mac = '52:54:00:00:00:04';
  const client = request(mac, 'bios');
  const before = events.list().length;
  const local = nextBoot(client, tasks.openTaskFor(mac), urls);
  assert.deepEqual(local, { action: 'local', reason: 'no-task', file: { filename: NO_TASK_BOOT_FILE, reason: 'no-task-pxe' } });
  assert.equal(hosts.get(mac), undefined, 'asking registers no machine');
  assert.equal(events.list().length, before);
  planner.recordSighting({ ...client, via: 'dhcp' });
  assert.equal(hosts.get(mac)?.firmware, 'bios');
  assert.ok(events.list({ mac }).some((e) => e.kind === 'host.registered'));
  const task = tasks.create({ kind: 'capture', mac, image: 'golden' });
  const rescue = nextBoot(client, tasks.openTaskFor(mac), urls);
  assert.equal(rescue.action, 'rescue');
  assert.equal(rescue.action === 'rescue' && rescue.task.id, task.id);
  assert.equal(rescue.file.filename, 'undionly.kpxe');
});
