import { stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runTool } from '../core/run-tool.js';
import { systemdWord } from '../images/schedule/systemd-units.js';
import { makeDirs } from '../core/make-dirs.js';

/**
 * The systemd service that runs `lifeboat serve` with the configuration file: restarted when it
 * fails, state in /var/lib/lifeboat (StateDirectory=), logs to the journal as JSON lines (one
 * object per journal entry, for journalctl -o cat | jq).
 */
export const SERVE_UNIT = 'lifeboat.service';
const SYSTEMD_DIR = 'etc/systemd/system';

export function renderServeUnit(command: { node: string; script: string; configPath: string }): string {
  return [
    '[Unit]',
    'Description=Lifeboat restore server (lifeboat serve)',
    // DHCP and ganesha bind the test-bed interface's address: wait until the network has one.
    'Wants=network-online.target',
    'After=network-online.target',
    '',
    '[Service]',
    'Type=simple',
    `ExecStart=${[command.node, command.script, 'serve', '--config', command.configPath].map(systemdWord).join(' ')}`,
    'Environment=LIFEBOAT_LOG_FORMAT=json',
    'StateDirectory=lifeboat',
    'StateDirectoryMode=0700',
    'StandardOutput=journal',
    'StandardError=journal',
    'Restart=on-failure',
    'RestartSec=5s',
    // Closing the HTTP, TFTP and DHCP sockets and stopping ganesha takes a few seconds at most.
    'TimeoutStopSec=30s',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}

/**
 * Writes the unit under `root` and enables it: on the running machine (root /, booted with
 * systemd) through systemd itself, elsewhere only the files and the enable link (systemctl --root).
 */
export async function installServeUnit(root: string, unit: string): Promise<{ path: string; live: boolean }> {
  const dir = join(root, SYSTEMD_DIR);
  await makeDirs(dir);
  const path = join(dir, SERVE_UNIT);
  await writeFile(path, unit, { mode: 0o644 });
  const live = root === '/' && Boolean(await stat('/run/systemd/system').catch(() => null));
  if (live) {
    await runTool('systemctl', ['daemon-reload'], { purpose: 'make systemd read lifeboat.service' });
    await runTool('systemctl', ['enable', SERVE_UNIT], { purpose: 'enable lifeboat.service' });
  } else {
    await runTool('systemctl', [`--root=${root}`, 'enable', SERVE_UNIT], { purpose: `enable lifeboat.service under ${root}` });
  }
  return { path, live };
}
