import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseGaneshaLogLine, pinoLevelFor } from '../../server/nfs/ganesha-log.js';

// Lines as ganesha 4.3 wrote them on this machine.
const lines = {
  initialized: '27/11/2026 15:34:32 : epoch 6b09a308 : vm : nfs-ganesha-7485[main] nfs_start :NFS STARTUP :EVENT :             NFS SERVER INITIALIZED',
  bind: '27/11/2026 15:35:05 : epoch 6b09a329 : vm : nfs-ganesha-8395[main] Bind_sockets :DISP :FATAL :Error binding to V6 interface. Cannot continue.',
  export: '27/11/2026 15:40:01 : epoch 6b09a450 : vm : nfs-ganesha-13440[main] export_commit_common :CONFIG :CRIT :Export id 0 must include 4 in Protocols',
  dbus: '27/11/2026 15:34:32 : epoch 6b09a308 : vm : nfs-ganesha-7485[main] gsh_dbus_pkginit :DBUS :CRIT :dbus_bus_get failed (Failed to connect to socket /run/dbus/system_bus_socket: No such file or directory)',
  keytab: '27/11/2026 15:34:32 : epoch 6b09a308 : vm : nfs-ganesha-7485[main] gssd_refresh_krb5_machine_credential :NFS CB :CRIT :ERROR: gssd_refresh_krb5_machine_credential: no usable keytab entry found in keytab /etc/krb5.keytab for connection with host localhost',
  rpcbind: '27/11/2026 15:34:32 : epoch 6b09a308 : vm : nfs-ganesha-7485[main] __Register_program :DISP :MAJ :Cannot register NFS V4 on TCP',
  protocol: '27/11/2026 15:34:32 : epoch 6b09a308 : vm : nfs-ganesha-7485[main] client_commit :CONFIG :WARN :A protocol is specified for a CLIENT block that is not enabled in NFS_CORE_PARAM, fixing up',
};

test('a ganesha log line is split into pid, thread, function, component, level and message', () => {
  assert.deepEqual(parseGaneshaLogLine(lines.bind), {
    pid: 8395,
    thread: 'main',
    func: 'Bind_sockets',
    component: 'DISP',
    level: 'FATAL',
    message: 'Error binding to V6 interface. Cannot continue.',
  });
  assert.equal(parseGaneshaLogLine(lines.initialized)?.component, 'NFS STARTUP');
  assert.equal(parseGaneshaLogLine('not a ganesha line'), undefined);
});

test('real failures reach the operator as errors and warnings; the complaints of every start stay at debug', () => {
  const level = (l: string): string => pinoLevelFor(parseGaneshaLogLine(l)!);
  assert.equal(level(lines.bind), 'error');
  assert.equal(level(lines.export), 'error');
  assert.equal(level(lines.protocol), 'warn');
  assert.equal(level(lines.initialized), 'debug');
  assert.equal(level(lines.dbus), 'debug');
  assert.equal(level(lines.keytab), 'debug');
  assert.equal(level(lines.rpcbind), 'debug');
});
