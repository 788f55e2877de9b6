/** Device names on the target: what a partition is called, and the kernel's order of disks. */

/** The device node of partition `n` of `disk`: sda → sda1, nvme0n1 → nvme0n1p1, by-id/x → x-part1. */
export function partitionDevice(disk: string, n: number): string {
  if (disk.startsWith('/dev/disk/by-')) return `${disk}-part${n}`;
  return /\d$/.test(disk) ? `${disk}p${n}` : `${disk}${n}`;
}

/** Kernel order: sdz before sdaa (letters count like digits), nvme2n1 before nvme10n1. */
export function compareDevicePaths(a: string, b: string): number {
  const key = (s: string): Array<string | number> => {
    const letters = /^(.*\/(?:sd|vd|hd|xvd))([a-z]+)$/.exec(s);
    if (letters) return [letters[1]!, [...letters[2]!].reduce((n, c) => n * 26 + c.charCodeAt(0) - 96, 0)];
    return (s.match(/\d+|\D+/g) ?? []).map((r) => (/^\d/.test(r) ? Number(r) : r));
  };
  const ka = key(a);
  const kb = key(b);
  for (let i = 0; i < Math.min(ka.length, kb.length); i++) {
    const x = ka[i]!;
    const y = kb[i]!;
    if (x === y) continue;
    if (typeof x === 'number' && typeof y === 'number') return x - y;
    if (typeof x !== typeof y) return typeof x === 'number' ? -1 : 1;
    return x < y ? -1 : 1;
  }
  return ka.length - kb.length;
}
