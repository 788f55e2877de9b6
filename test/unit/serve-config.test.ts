import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveConfig } from '../../server/config.js';

// The HTTP address: the test-bed interface's when one is given (here the real loopback interface).

test('--http defaults to the --interface address, port 8080; without an interface to 0.0.0.0; an explicit address wins', () => {
  assert.deepEqual(resolveConfig({ data: '/tmp/x' }).http, { host: '0.0.0.0', port: 8080 });
  assert.deepEqual(resolveConfig({ data: '/tmp/x', dhcp: { interface: 'lo' } }).http, { host: '127.0.0.1', port: 8080 });
  assert.deepEqual(resolveConfig({ data: '/tmp/x', dhcp: { interface: 'lo' }, http: '9000' }).http, { host: '127.0.0.1', port: 9000 });
  assert.deepEqual(resolveConfig({ data: '/tmp/x', dhcp: { interface: 'lo' }, http: ':9001' }).http, { host: '127.0.0.1', port: 9001 });
  assert.deepEqual(resolveConfig({ data: '/tmp/x', dhcp: { interface: 'lo' }, http: '0.0.0.0:9002' }).http, { host: '0.0.0.0', port: 9002 });
  assert.deepEqual(resolveConfig({ data: '/tmp/x', http: '9003' }).http, { host: '0.0.0.0', port: 9003 });
});
