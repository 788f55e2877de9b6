/**
 * What a terminal shows after some output: enough of a VT100 to follow a progress bar (carriage
 * return, newline, erase in line, cursor to a column or up and down, save and restore the cursor
 * position (ESC 7, ESC 8); other sequences are ignored), so a test can
 * assert on the screen a user sees rather than on the bytes that drew it.
 */
export function screenOf(output: string): string[] {
  const rows: string[][] = [[]];
  let row = 0;
  let col = 0;
  let saved = { row: 0, col: 0 };
  const at = () => (rows[row] ??= []);
  for (let i = 0; i < output.length; i++) {
    const c = output[i]!;
    if (c === '\x1b') {
      const csi = /^\x1b\[([?\d;]*)([A-Za-z])/.exec(output.slice(i));
      if (csi) {
        const [whole, arg, cmd] = csi;
        const n = Number(arg) || 0;
        if (cmd === 'K') {
          const line = at();
          if (n === 0) line.length = Math.min(line.length, col);
          else if (n === 1) for (let k = 0; k <= col && k < line.length; k++) line[k] = ' ';
          else line.length = 0;
        } else if (cmd === 'G') col = Math.max(0, n - 1);
        else if (cmd === 'A') row = Math.max(0, row - (n || 1));
        else if (cmd === 'B') row += n || 1;
        i += whole!.length - 1;
      } else {
        // ESC 7 saves the cursor's row and column, ESC 8 goes back there; others are two bytes too.
        if (output[i + 1] === '7') saved = { row, col };
        else if (output[i + 1] === '8') ({ row, col } = saved);
        i += 1;
      }
    } else if (c === '\r') col = 0;
    else if (c === '\n') {
      row += 1;
      col = 0;
      at();
    } else {
      const line = at();
      while (line.length < col) line.push(' ');
      line[col++] = c;
    }
  }
  return rows.map((r) => (r ?? []).join('').trimEnd());
}
