import { LifeboatError } from '../core/errors.js';
import { didYouMean } from './suggest.js';
import { parseCommand, renderHelp, type CommandSpec, type Parsed } from './args.js';

/** A command with subcommands (`lifeboat images list`): one usage text and one way of picking. */
export interface CommandGroup {
  name: string;
  summary: string;
  specs: Record<string, CommandSpec>;
}

export function groupUsage(group: CommandGroup): string {
  const subs = Object.keys(group.specs);
  const width = Math.max(8, ...subs.map((s) => s.length + 1));
  return `Usage: lifeboat ${group.name} <${subs.join('|')}> [options]

${group.summary}
${Object.entries(group.specs).map(([sub, s]) => `  ${sub.padEnd(width)} ${s.summary}`).join('\n')}

Run lifeboat ${group.name} <command> --help for its options.
`;
}

/**
 * The subcommand argv names and the rest of argv, or the exit status once the group's usage is
 * printed: 0 when it was asked for, 2 when no subcommand was given. An unknown one is a usage error.
 */
export function pickSubcommand(group: CommandGroup, argv: string[]): { sub: string; spec: CommandSpec; rest: string[] } | number {
  const [sub, ...rest] = argv;
  if (!sub || sub === '--help' || sub === '-h' || (sub === 'help' && rest.length === 0)) {
    process.stdout.write(groupUsage(group));
    return sub ? 0 : 2;
  }
  // `lifeboat images help list` reads like `lifeboat help images list`: the subcommand's --help.
  if (sub === 'help') return pickSubcommand(group, [...rest, '--help']);
  const spec = group.specs[sub];
  if (!spec) throw new LifeboatError('LB_USAGE', `unknown command "${sub}"${didYouMean(sub, Object.keys(group.specs), (s) => `lifeboat ${group.name} ${s}`)}; use one of ${Object.keys(group.specs).join(', ')}`);
  return { sub, spec, rest };
}

/** Parses argv for spec, or prints its help and gives null when --help was asked (exit 0). */
export function parseOrHelp(spec: CommandSpec, argv: string[]): Parsed | null {
  const p = parseCommand(spec, argv);
  if (!p.help) return p;
  process.stdout.write(renderHelp(spec));
  return null;
}

/** pickSubcommand, then parseOrHelp: the parsed subcommand, or the exit status when help was printed. */
export function parseSubcommand(group: CommandGroup, argv: string[]): (Parsed & { sub: string; spec: CommandSpec }) | number {
  const picked = pickSubcommand(group, argv);
  if (typeof picked === 'number') return picked;
  const p = parseOrHelp(picked.spec, picked.rest);
  return p ? { ...p, sub: picked.sub, spec: picked.spec } : 0;
}
