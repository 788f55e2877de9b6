import { parseArgs } from 'node:util';
import { LifeboatError } from '../core/errors.js';
import { didYouMean } from './suggest.js';

/**
 * Declarative command specs: one declaration gives parsing, validation and --help text, so every
 * command has help and no option goes undocumented.
 */
export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  value?: string;
  description: string;
  default?: string;
}

export interface CommandSpec {
  name: string;
  summary: string;
  usage: string;
  description?: string;
  options: Record<string, OptionSpec>;
  positionals?: { min: number; max: number };
  examples?: string[];
}

export function renderHelp(spec: CommandSpec): string {
  const lines = [`Usage: ${spec.usage}`, '', spec.summary];
  if (spec.description) lines.push('', spec.description);
  const opts = Object.entries(spec.options);
  if (opts.length > 0) {
    lines.push('', 'Options:');
    const rows = opts.map(([name, o]) => [`${o.short ? `-${o.short}, ` : '    '}--${name}${o.type === 'string' ? ` ${o.value ?? 'VALUE'}` : ''}`, `${o.description}${o.default !== undefined ? ` (default: ${o.default})` : ''}${o.multiple ? ' (repeatable)' : ''}`]);
    rows.push(['-h, --help', 'show this help']);
    const width = Math.max(...rows.map((r) => r[0]!.length));
    for (const [left, right] of rows) lines.push(`  ${left!.padEnd(width)}  ${right}`);
  }
  if (spec.examples?.length) lines.push('', 'Examples:', ...spec.examples.map((e) => `  ${e}`));
  return `${lines.join('\n')}\n`;
}

export interface Parsed {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
  help: boolean;
}

export function parseCommand(spec: CommandSpec, argv: string[]): Parsed {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = { help: { type: 'boolean', short: 'h' } };
  for (const [name, o] of Object.entries(spec.options)) {
    options[name] = { type: o.type, ...(o.short ? { short: o.short } : {}), ...(o.multiple ? { multiple: true } : {}) };
  }
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (e) {
    const message = (e as Error).message.replace(/\. To specify.*$/s, '');
    const unknown = /^Unknown option '--([^'=]+)'/.exec(message)?.[1];
    const hint = unknown === undefined ? '' : didYouMean(unknown, Object.keys(options), (n) => `--${n}`);
    throw new LifeboatError('LB_USAGE', `${spec.name}: ${message}${hint}; see lifeboat ${spec.name} --help`);
  }
  const values = parsed.values as Parsed['values'];
  const help = values.help === true;
  if (!help && spec.positionals) {
    const n = parsed.positionals.length;
    if (n < spec.positionals.min || n > spec.positionals.max) {
      throw new LifeboatError('LB_USAGE', `${spec.name}: expected ${spec.positionals.min === spec.positionals.max ? spec.positionals.min : `${spec.positionals.min}–${spec.positionals.max}`} argument(s), got ${n}; usage: ${spec.usage}`);
    }
  } else if (!help && parsed.positionals.length > 0) {
    throw new LifeboatError('LB_USAGE', `${spec.name}: unexpected argument "${parsed.positionals[0]}"; usage: ${spec.usage}`);
  }
  for (const [name, o] of Object.entries(spec.options)) if (values[name] === undefined && o.default !== undefined) values[name] = o.type === 'boolean' ? o.default === 'true' : o.default;
  return { values, positionals: parsed.positionals, help };
}

export function stringOption(p: Parsed, name: string): string | undefined {
  const v = p.values[name];
  return typeof v === 'string' ? v : undefined;
}

export function requiredString(p: Parsed, spec: CommandSpec, name: string): string {
  const v = stringOption(p, name);
  if (v === undefined || v === '') throw new LifeboatError('LB_USAGE', `${spec.name}: --${name} is required; usage: ${spec.usage}`);
  return v;
}

export function listOption(p: Parsed, name: string): string[] {
  const v = p.values[name];
  return Array.isArray(v) ? v : typeof v === 'string' ? [v] : [];
}

export function flag(p: Parsed, name: string): boolean {
  return p.values[name] === true;
}
