import { bootFileFor, type ClientFirmware } from '../boot-files.js';

/**
 * What a site that keeps its own DHCP server adds to it so its machines network-boot from
 * Lifeboat: the next-server (TFTP) and the boot file per architecture (DHCP option 93), and the
 * iPXE script's URL once iPXE runs. The file names come from the one boot-file table
 * (boot-files.ts), asked as a machine with a task would ask it.
 */
export interface SnippetTarget {
  /** The address machines reach Lifeboat at. */
  server: string;
  httpPort: number;
}

export interface SiteBootFiles {
  bios: string;
  uefiX64: string;
  uefiHttp: string;
  /** The iPXE script URL with iPXE's own ${net0/mac}, which iPXE expands before it fetches. */
  ipxe: string;
}

export function siteBootFiles(t: SnippetTarget): SiteBootFiles {
  const urls = { httpBase: `http://${t.server}:${t.httpPort}` };
  const ask = (firmware: ClientFirmware, isIpxe = false) => bootFileFor({ mac: '${net0/mac}', firmware, arch: null, isIpxe }, true, urls).filename!;
  return { bios: ask('bios'), uefiX64: ask('uefi'), uefiHttp: ask('uefi-http'), ipxe: ask('bios', true) };
}

/** Snippets for dnsmasq, ISC dhcpd and Kea: the site's server hands out addresses, Lifeboat the boot. */
export function renderSiteDhcpSnippets(t: SnippetTarget): string {
  const f = siteBootFiles(t);
  const dnsmasq = [
    '# dnsmasq (/etc/dnsmasq.d/lifeboat.conf)',
    'dhcp-userclass=set:ipxe,iPXE',
    'dhcp-match=set:efi64,option:client-arch,7',
    'dhcp-match=set:efi64,option:client-arch,9',
    'dhcp-match=set:efihttp,option:client-arch,16',
    `dhcp-boot=tag:ipxe,${f.ipxe}`,
    `dhcp-boot=tag:!ipxe,tag:efi64,${f.uefiX64},,${t.server}`,
    `dhcp-boot=tag:!ipxe,tag:efihttp,${f.uefiHttp}`,
    'dhcp-option-force=tag:efihttp,60,HTTPClient',
    `dhcp-boot=tag:!ipxe,tag:!efi64,tag:!efihttp,${f.bios},,${t.server}`,
  ];
  const dhcpd = [
    '# ISC dhcpd (dhcpd.conf, in the subnet of the machines)',
    'option arch code 93 = unsigned integer 16;',
    `next-server ${t.server};`,
    'if exists user-class and option user-class = "iPXE" {',
    `  filename "${f.ipxe}";`,
    '} elsif option arch = 00:07 or option arch = 00:09 {',
    `  filename "${f.uefiX64}";`,
    '} elsif option arch = 00:10 {',
    '  option vendor-class-identifier "HTTPClient";',
    `  filename "${f.uefiHttp}";`,
    '} else {',
    `  filename "${f.bios}";`,
    '}',
  ];
  const kea = [
    '# Kea (kea-dhcp4.conf, "Dhcp4": { "client-classes": [...] })',
    '"client-classes": [',
    `  { "name": "lifeboat-ipxe", "test": "option[77].hex == 'iPXE'", "boot-file-name": "${f.ipxe}" },`,
    `  { "name": "lifeboat-uefi-http", "test": "not member('lifeboat-ipxe') and option[93].hex == 0x0010", "boot-file-name": "${f.uefiHttp}",`,
    '    "option-data": [ { "name": "vendor-class-identifier", "data": "HTTPClient" } ] },',
    `  { "name": "lifeboat-uefi", "test": "not member('lifeboat-ipxe') and (option[93].hex == 0x0007 or option[93].hex == 0x0009)", "next-server": "${t.server}", "boot-file-name": "${f.uefiX64}" },`,
    `  { "name": "lifeboat-bios", "test": "not member('lifeboat-ipxe') and option[93].hex == 0x0000", "next-server": "${t.server}", "boot-file-name": "${f.bios}" }`,
    ']',
  ];
  return [dnsmasq, dhcpd, kea].map((lines) => lines.join('\n')).join('\n\n') + '\n';
}

/** Proxy mode: the site's server keeps handing out addresses and must name no boot file of its own. */
export function renderProxyNote(t: SnippetTarget & { interface: string }): string {
  return [
    `Lifeboat answers PXE requests beside the site's DHCP server (proxy DHCP on ${t.interface}, ports 67 and 4011;`,
    `boot files from TFTP and http://${t.server}:${t.httpPort}). Leave the site's server as it is, but it must not`,
    'name a boot file or next-server for these machines (no dhcp-boot / filename / boot-file-name for them),',
    'or the firmware takes that one instead.',
    '',
  ].join('\n');
}
