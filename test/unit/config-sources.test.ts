import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cliDefaults, configFilePath, overEnvironment } from '../../server/config-file.js';
import { resolveConfig } from '../../server/config.js';
import { bootFileFor } from '../../server/boot-files.js';
import { siteBootFiles } from '../../server/dhcp/site-dhcp-snippets.js';
import { holdersOf } from '../../cli/port-holders.js';
import { logFormat } from '../../core/log.js';

test('the config file: --config, else $LIFEBOAT_CONFIG (both must exist), else the default when present', () => {
  assert.deepEqual(configFilePath('/a.json', { LIFEBOAT_CONFIG: '/b.json' }), { path: '/a.json', required: true });
  assert.deepEqual(configFilePath(undefined, { LIFEBOAT_CONFIG: '/b.json' }), { path: '/b.json', required: true });
});

test('the environment goes over the file, the file over the defaults', () => {
  const file = { data: '/from/file', store: '/file/store', http: '9000' };
  assert.deepEqual(overEnvironment(file, {}), file);
  assert.deepEqual(overEnvironment(file, { LIFEBOAT_DATA: '/from/env' }), { ...file, data: '/from/env' });
  assert.equal(resolveConfig(overEnvironment({ data: '/from/file' }, { LIFEBOAT_STORE: '/env/store' })).store, '/env/store');
  assert.equal(resolveConfig(overEnvironment({}, {})).dataDir, '/var/lib/lifeboat');
});

test('the CLI finds the server and its token through the file', () => {
  assert.deepEqual(cliDefaults({}), { server: 'http://127.0.0.1:8080', tokenFile: '/var/lib/lifeboat/admin-token' });
  assert.deepEqual(cliDefaults({ data: '/srv/lb', http: '0.0.0.0:9000' }), { server: 'http://127.0.0.1:9000', tokenFile: '/srv/lb/admin-token' });
  assert.equal(cliDefaults({ http: '10.77.0.1:8081' }).server, 'http://10.77.0.1:8081');
  assert.equal(cliDefaults({ http: '8082', dhcp: { interface: 'lo' } }).server, 'http://127.0.0.1:8082', 'a bare port listens on the interface\'s address');
  assert.equal(cliDefaults({ http: '8082', server: 'https://lb.example/' }).server, 'https://lb.example');
  assert.equal(cliDefaults({ data: '/srv/lb', adminTokenFile: '/etc/lifeboat/token' }).tokenFile, '/etc/lifeboat/token');
});

test('site DHCP snippets name the files of the one boot-file table', () => {
  const f = siteBootFiles({ server: '10.0.0.5', httpPort: 8080 });
  const urls = { httpBase: 'http://10.0.0.5:8080' };
  assert.equal(f.bios, bootFileFor({ mac: 'x', firmware: 'bios', isIpxe: false }, true, urls).filename);
  assert.equal(f.bios, 'undionly.kpxe');
  assert.equal(f.uefiX64, 'snponly.efi');
  assert.equal(f.uefiHttp, 'http://10.0.0.5:8080/boot/ipxe.efi');
  assert.equal(f.ipxe, 'http://10.0.0.5:8080/boot/${net0/mac}.ipxe');
});

test('ss listeners: the port\'s holders with their processes, or none named without root', () => {
  const udp = [
    'UNCONN 0      0            0.0.0.0:67         0.0.0.0:*    users:(("dnsmasq",pid=812,fd=4))',
    'UNCONN 0      0          127.0.0.1:670        0.0.0.0:*    users:(("other",pid=9,fd=4))',
    'UNCONN 0      0               [::]:69            [::]:*',
  ].join('\n');
  assert.deepEqual(holdersOf(udp, 67), [{ local: '0.0.0.0:67', process: 'dnsmasq (pid 812)' }]);
  assert.deepEqual(holdersOf(udp, 69), [{ local: '[::]:69', process: null }]);
  assert.deepEqual(holdersOf(udp, 4011), []);
});

test('logs: pretty on a terminal, JSON lines otherwise; LIFEBOAT_LOG_FORMAT decides when set', () => {
  assert.equal(logFormat({}, true), 'pretty');
  assert.equal(logFormat({}, false), 'json');
  assert.equal(logFormat({ LIFEBOAT_LOG_FORMAT: 'json' }, true), 'json');
  assert.equal(logFormat({ LIFEBOAT_LOG_FORMAT: 'pretty' }, false), 'pretty');
});
