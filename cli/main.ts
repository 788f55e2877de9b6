import { describeFailure } from './failure-line.js';
import { didYouMean } from './suggest.js';
import { LIFEBOAT_VERSION } from '../core/version.js';

/**
 * The `lifeboat` command: a thin dispatcher. Each command module parses its own options and calls
 * the library; errors become one line on stderr and an exit status chosen by the error's code.
 */
interface Command {
  summary: string;
  run(argv: string[]): Promise<number>;
}

// Each command's module is loaded when it runs: `lifeboat --help` or `lifeboat images list` need
// neither fastify nor SQLite nor the planner (measured: --help took 0.8 s importing them all).
const lazy = (load: () => Promise<(argv: string[]) => Promise<number>>) => async (argv: string[]) => (await load())(argv);

const commands: Record<string, Command> = {
  archive: { summary: 'Archive a whole Linux system (layout + every filesystem), or one directory tree, as a new image version in a store.', run: lazy(async () => (await import('./archive-command.js')).runArchive) },
  images: { summary: 'Manage the image store: list, show, verify, prune.', run: lazy(async () => (await import('./images-command.js')).runImages) },
  init: { summary: 'Write the configuration file, check the ports, print DHCP settings for the site; --systemd installs the service.', run: lazy(async () => (await import('./init-command.js')).runInit) },
  serve: { summary: 'Run the restore server: HTTP (boot files, store, API), TFTP, DHCP (off, proxy or full) and the NFS share.', run: lazy(async () => (await import('./serve-command.js')).runServe) },
  hosts: { summary: 'List and show the machines the server knows, and preview their boot script (via the API).', run: lazy(async () => (await import('./host-task-commands.js')).runHosts) },
  task: { summary: 'Give a machine a nuke, capture or compare task (via the API).', run: lazy(async () => (await import('./host-task-commands.js')).runTask) },
  tasks: { summary: 'List, show, cancel and re-arm tasks (via the API).', run: lazy(async () => (await import('./host-task-commands.js')).runTasks) },
  clone: { summary: 'Clone an image onto many machines, each with its own identity: a clone session (via the API).', run: lazy(async () => (await import('./clone-commands.js')).runClone) },
  clones: { summary: 'List, show and cancel clone sessions (via the API).', run: lazy(async () => (await import('./clone-commands.js')).runClones) },
  netboot: { summary: 'Build the rescue system (kernel + initramfs) that machines PXE-boot into.', run: lazy(async () => (await import('./netboot-command.js')).runNetboot) },
  compare: { summary: 'Compare a running system with an image version, no reboot: writes changed.txt; exit 0 same, 1 different.', run: lazy(async () => (await import('./compare-command.js')).runCompareCommand) },
  restore: { summary: 'Get files back: extract chosen paths, or the whole tree, of an image version into a directory.', run: lazy(async () => (await import('./restore-command.js')).runRestoreCommand) },
  schedule: { summary: 'Scheduled archives with retention: install, remove, show, run (systemd timer or cron).', run: lazy(async () => (await import('./schedule-command.js')).runScheduleCommand) },
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
  const [first, ...afterFirst] = argv;
  if (!first || first === '--help' || first === '-h' || (first === 'help' && afterFirst.length === 0)) {
    process.stdout.write(usage());
    return first ? 0 : 2;
  }
  if (first === '--version' || first === '-V') {
    process.stdout.write(`${LIFEBOAT_VERSION}\n`);
    return 0;
  }
  // `lifeboat help images list` is `lifeboat images list --help`: one text, one place that prints it.
  const [name, ...rest] = first === 'help' ? [...afterFirst, '--help'] : argv;
  const command = commands[name!];
  if (!command) {
    process.stderr.write(`lifeboat: unknown command "${name}"${didYouMean(name!, Object.keys(commands))}; lifeboat --help lists the commands\n`);
    return 2;
  }
  try {
    return await command.run(rest);
  } catch (e) {
    const failure = describeFailure(e);
    process.stderr.write(`lifeboat ${name}: ${failure.line}\n`);
    if (process.env.LIFEBOAT_DEBUG && e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
    return failure.exitCode;
  }
}
