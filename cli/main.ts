import { LifeboatError, isLifeboatError } from '../core/errors.js';
import { LIFEBOAT_VERSION } from '../core/version.js';
import { archiveSpec, runArchive } from './archive-command.js';
import { runImages } from './images-command.js';
import { runServe, serveSpec } from './serve-command.js';
import { runHosts, runTask, runTasks } from './host-task-commands.js';
import { runNetboot } from './netboot-command.js';
import { compareSpec, runCompareCommand } from './compare-command.js';
import { runScheduleCommand } from './schedule-command.js';

/**
 * The `lifeboat` command: a thin dispatcher. Each command module parses its own options and calls
 * the library; errors become one line on stderr and an exit status chosen by the error's code.
 */
interface Command {
  summary: string;
  run(argv: string[]): Promise<number>;
}

const commands: Record<string, Command> = {
  archive: { summary: archiveSpec.summary, run: runArchive },
  images: { summary: 'Manage the image store: list, show, verify, prune.', run: runImages },
  serve: { summary: serveSpec.summary, run: runServe },
  hosts: { summary: 'List and show the machines the server knows (via the API).', run: runHosts },
  task: { summary: 'Give a machine a nuke, capture or compare task (via the API).', run: runTask },
  tasks: { summary: 'List, show and cancel tasks (via the API).', run: runTasks },
  netboot: { summary: 'Build the rescue system (kernel + initramfs) that machines PXE-boot into.', run: runNetboot },
  compare: { summary: compareSpec.summary, run: runCompareCommand },
  schedule: { summary: 'Scheduled archives with retention: install, remove, show, run (systemd timer or cron).', run: runScheduleCommand },
};

export function registerCommand(name: string, command: Command): void {
  commands[name] = command;
}

function usage(): string {
  const width = Math.max(...Object.keys(commands).map((n) => n.length));
  return `Usage: lifeboat <command> [options]

Lifeboat ${LIFEBOAT_VERSION}: archive whole Linux machines, PXE-boot them, restore them unattended.

Commands:
${Object.entries(commands).map(([n, c]) => `  ${n.padEnd(width)}  ${c.summary}`).join('\n')}

Run lifeboat <command> --help for a command's options.
`;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name ? 0 : 2;
  }
  if (name === '--version' || name === '-V') {
    process.stdout.write(`${LIFEBOAT_VERSION}\n`);
    return 0;
  }
  const command = commands[name];
  if (!command) {
    process.stderr.write(`lifeboat: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  try {
    return await command.run(rest);
  } catch (e) {
    if (isLifeboatError(e)) {
      process.stderr.write(`lifeboat ${name}: ${e.message}\n`);
      return e.exitCode;
    }
    process.stderr.write(`lifeboat ${name}: unexpected error: ${(e as Error).stack ?? String(e)}\n`);
    return new LifeboatError('LB_INTERNAL', '').exitCode;
  }
}
