/**
 * /proc/mdstat → the md arrays the kernel knows, so the probe asks mdadm only about arrays that
 * exist. "md0 : active raid1 sdb2[1] sda2[0]"; "md127 : inactive sdc[1](S)"; flags after a
 * member: (F) faulty, (S) spare, (W) write-mostly, (R) replacement.
 */
export interface MdstatArray {
  name: string;
  active: boolean;
  readOnly: boolean;
  level?: string;
  members: Array<{ name: string; index: number; flags: string[] }>;
}

export function parseMdstat(text: string): MdstatArray[] {
  const out: MdstatArray[] = [];
  for (const line of text.split('\n')) {
    const m = /^(md\S*)\s*:\s*(.*)$/.exec(line.trim());
    if (!m) continue;
    const tokens = m[2]!.split(/\s+/).filter((t) => t !== '');
    const arr: MdstatArray = { name: m[1]!, active: tokens[0] === 'active', readOnly: false, members: [] };
    for (const token of tokens.slice(1)) {
      if (/^\(.*read-only\)$/.test(token)) {
        arr.readOnly = true;
        continue;
      }
      const member = /^([^[\s]+)\[(\d+)\]((?:\([A-Z]\))*)$/.exec(token);
      if (member) {
        arr.members.push({ name: member[1]!, index: Number(member[2]), flags: [...member[3]!.matchAll(/\(([A-Z])\)/g)].map((f) => f[1]!) });
      } else if (arr.level === undefined && /^(raid\d+|linear|multipath|faulty|container)$/.test(token)) {
        arr.level = token;
      }
    }
    out.push(arr);
  }
  return out;
}
