/**
 * The firmware a restored disk is made to boot with: the TARGET machine's (a BIOS boot partition
 * and GRUB for BIOS, an ESP and a boot entry for UEFI). Not the firmware of a machine network-booting
 * now, which the server classifies from DHCP (ClientFirmware in server/boot-files.ts). The planner
 * calls it Firmware inside images/restore/plan/; this is its name outside.
 */
export type { Firmware as TargetFirmware } from './plan/types.js';
