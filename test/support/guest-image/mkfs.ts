import type { FsType } from './spec.js';

/**
 * The commands that make a fixture's filesystem with the UUID and label its spec gives, the same
 * wherever the disks are made: run one by one on the host (on-host.ts), or written into the guest's
 * run.sh (in-guest.ts). `chatty`: the tool prints progress the build log does not need.
 */
export interface MkfsCommand {
  argv: string[];
  chatty?: boolean;
}

export function mkfsCommands(f: { type: FsType; uuid: string; label: string }, device: string): MkfsCommand[] {
  switch (f.type) {
    case 'ext2':
    case 'ext3':
    case 'ext4':
      // Inode tables written now, so no lazy-init thread writes behind the build's back.
      return [{ argv: [`mkfs.${f.type}`, '-q', '-F', '-U', f.uuid, '-L', f.label, '-E', `lazy_itable_init=0${f.type === 'ext2' ? '' : ',lazy_journal_init=0'}`, device] }];
    case 'xfs':
      return [{ argv: ['mkfs.xfs', '-q', '-f', '-m', `uuid=${f.uuid}`, '-L', f.label, device] }];
    case 'btrfs':
      return [{ argv: ['mkfs.btrfs', '-q', '-f', '-U', f.uuid, '-L', f.label, device] }];
    case 'vfat':
      return [{ argv: ['mkfs.vfat', '-F', '32', '-i', f.uuid.replace('-', ''), '-n', f.label, device], chatty: true }];
    case 'jfs':
      // mkfs.jfs has no UUID option; jfs_tune sets it.
      return [{ argv: ['mkfs.jfs', '-q', '-L', f.label, device], chatty: true }, { argv: ['jfs_tune', '-U', f.uuid, device], chatty: true }];
    case 'swap':
      return [{ argv: ['mkswap', '-U', f.uuid, '-L', f.label, device], chatty: true }];
  }
}
