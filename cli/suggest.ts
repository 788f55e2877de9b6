import { closest, distance } from 'fastest-levenshtein';

/**
 * "Did you mean …?" for a mistyped command, subcommand or option: the nearest known name, only
 * when it is near enough to be a typo rather than a guess: one edit in a word of up to three letters, else
 * a third of the word and at least two (a swapped pair of letters is two edits).
 */
export function nearest(input: string, known: readonly string[]): string | undefined {
  if (known.length === 0 || input === '') return undefined;
  const best = closest(input, known);
  const length = Math.max(input.length, best.length);
  const limit = length <= 3 ? 1 : Math.max(2, Math.floor(length / 3));
  return distance(input, best) <= limit ? best : undefined;
}

/** What follows an "unknown …" message: ` (did you mean "images"?)`, or nothing. */
export function didYouMean(input: string, known: readonly string[], spell: (name: string) => string = (n) => n): string {
  const hit = nearest(input, known);
  return hit === undefined ? '' : ` (did you mean "${spell(hit)}"?)`;
}
