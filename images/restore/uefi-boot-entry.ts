/**
 * The firmware boot entry for a restored UEFI system, made so that the test-bed loop keeps working:
 *
 * - `efibootmgr --create` puts a new entry first in BootOrder, so on real firmware the machine would
 *   never network-boot again and its next task would wait for someone at its setup screen. The entry
 *   is created with --create-only and placed right after the entry this rescue system was booted
 *   through (BootCurrent, the network), so the network stays first and a machine with no task falls
 *   through to its disk.
 * - BootNext points at the new entry, so the restored system's first boot goes straight to its disk
 *   instead of waiting out the firmware's network attempts (about 18 s on OVMF).
 * - Entries with the same label are removed first: they point at partitions the wipe destroyed, and
 *   each nuke of the same machine would otherwise add one more.
 *
 * A shell script, not agent code, so that restore-plan.sh shows and runs exactly what the agent runs.
 */
const SCRIPT = [
  'set -eu',
  'label=$1 disk=$2 part=$3 loader=$4',
  // Boot entry lines: "Boot0003* debian" or, from newer efibootmgr, "Boot0003* debian<TAB>HD(...)".
  `entries() { efibootmgr | sed -n 's/^Boot\\([0-9A-Fa-f]\\{4\\}\\)\\*\\{0,1\\} \\(.*\\)$/\\1 \\2/p' | sed 's/\t.*//'; }`,
  'entries | while read -r n l; do if [ "$l" = "$label" ]; then efibootmgr -q -b "$n" -B; fi; done',
  'before=$(entries | cut -d" " -f1)',
  'efibootmgr -q --create-only --disk "$disk" --part "$part" --label "$label" --loader "$loader"',
  'new=$(entries | cut -d" " -f1 | grep -vxF "$before" | head -n 1 || true)',
  '[ -n "$new" ] || { echo "efibootmgr made no new boot entry for $label" >&2; exit 1; }',
  `order=$(efibootmgr | sed -n 's/^BootOrder: //p')`,
  `current=$(efibootmgr | sed -n 's/^BootCurrent: //p')`,
  'out= placed=',
  'for n in $(echo "$order" | tr , " "); do',
  '  [ "$n" = "$new" ] && continue',
  '  out=${out:+$out,}$n',
  '  if [ "$n" = "$current" ]; then out=$out,$new; placed=1; fi',
  'done',
  // Booted from no listed entry (or none known): the new entry goes last, behind whatever was first.
  '[ -n "$placed" ] || out=${out:+$out,}$new',
  'efibootmgr -q --bootorder "$out"',
  'efibootmgr -q --bootnext "$new"',
  'echo "boot entry $new ($label) placed after the network entry: BootOrder $out, BootNext $new"',
].join('\n');

/** The command and the script it reads on standard input (restore-plan.sh shows it as a here-document). */
export function uefiBootEntryStep(label: string, disk: string, partition: number, loader: string): { command: string[]; input: string } {
  return { command: ['sh', '-s', label, disk, String(partition), loader], input: `${SCRIPT}\n` };
}
