import { runTool, runToolJson } from '../../core/run-tool.js';

/**
 * The disks of the machine the agent runs on. In the rescue system every writable disk is a
 * candidate; outside it (tests, a live machine) only the disks named with --disk are, so the agent
 * can never pick a disk nobody named.
 */
export interface LocalDisk {
  path: string;
  size: number;
  logicalSectorSize: number;
  physicalSectorSize: number;
  model?: string;
  serial?: string;
}

interface LsblkDisk {
  path: string;
  size: number;
  type: string;
  ro: boolean | string;
  rm: boolean | string;
  'log-sec': number;
  'phy-sec': number;
  model?: string | null;
  serial?: string | null;
}

export async function listLocalDisks(only?: string[]): Promise<LocalDisk[]> {
  const args = ['--json', '--bytes', '--nodeps', '--output', 'PATH,SIZE,TYPE,RO,RM,LOG-SEC,PHY-SEC,MODEL,SERIAL', ...(only ?? [])];
  const out = await runToolJson<{ blockdevices: LsblkDisk[] }>('lsblk', args, { purpose: 'list the disks' });
  const truthy = (v: boolean | string) => v === true || v === '1';
  return out.blockdevices
    .filter((d) => (only ? true : d.type === 'disk') && !truthy(d.ro) && Number(d.size) > 0)
    .map((d) => ({
      path: d.path,
      size: Number(d.size),
      logicalSectorSize: Number(d['log-sec']) || 512,
      physicalSectorSize: Number(d['phy-sec']) || 512,
      ...(d.model ? { model: d.model.trim() } : {}),
      ...(d.serial ? { serial: d.serial.trim() } : {}),
    }))
    .sort((a, b) => a.path.localeCompare(b.path, 'en', { numeric: true }));
}

/** Filesystems by UUID across the given disks (blkid's low-level probe, no cache). */
export async function filesystemsByUuid(): Promise<Map<string, { device: string; type: string }>> {
  const r = await runTool('blkid', ['-o', 'export'], { okExitCodes: [0, 2], purpose: 'find filesystems' });
  const out = new Map<string, { device: string; type: string }>();
  for (const block of r.stdout.split('\n\n')) {
    const kv = Object.fromEntries(block.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
    if (kv.UUID && kv.DEVNAME && kv.TYPE) out.set(kv.UUID.toLowerCase(), { device: kv.DEVNAME, type: kv.TYPE });
  }
  return out;
}
