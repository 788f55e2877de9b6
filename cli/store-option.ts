import { LifeboatError } from '../core/errors.js';
import { stringOption, type CommandSpec, type Parsed } from './args.js';

export function storeOption(p: Parsed, spec: CommandSpec): string {
  const store = stringOption(p, 'store') ?? process.env.LIFEBOAT_STORE;
  if (!store) throw new LifeboatError('LB_USAGE', `${spec.name}: --store DIR is required (or set LIFEBOAT_STORE); usage: ${spec.usage}`);
  return store;
}
