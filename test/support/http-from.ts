import { request } from 'node:http';

/**
 * One HTTP request from a chosen local address (e.g. 127.0.0.2: all of 127/8 is loopback here), so
 * a test can be "another machine" to a server on 127.0.0.1.
 */
export function httpFrom(localAddress: string, method: string, url: string, options: { headers?: Record<string, string>; body?: string | Buffer } = {}): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, localAddress, headers: options.headers ?? {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/**
 * A PUT that announces `bytes` and streams them in 1 MiB writes of one reused buffer (the client
 * holds 1 MiB, whatever it sends), until the server answers; then it stops sending. Resolves with
 * the status, or rejects if the connection failed before any answer.
 */
export function announcedUpload(url: string, bytes: number, headers: Record<string, string> = {}): Promise<{ status: number; text: string; sent: number }> {
  const chunk = Buffer.alloc(1 << 20, 0x61);
  return new Promise((resolve, reject) => {
    let sent = 0;
    let answered = false;
    const req = request(url, { method: 'PUT', headers: { 'content-type': 'application/octet-stream', 'content-length': String(bytes), ...headers } }, (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        req.destroy();
        resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), sent });
      });
    });
    // The server may close the connection after its answer while this side still writes.
    req.on('error', (e) => {
      if (!answered) reject(e);
    });
    const pump = () => {
      while (!answered && !req.destroyed && sent < bytes) {
        const n = Math.min(chunk.length, bytes - sent);
        sent += n;
        if (!req.write(n === chunk.length ? chunk : chunk.subarray(0, n))) return void req.once('drain', pump);
      }
      if (sent >= bytes && !answered) req.end();
    };
    pump();
  });
}

/**
 * A request whose headers go out now and whose body goes out when `send` is called: a server that
 * acts on headers (authentication) has done so for every held request before any body arrives,
 * which is how two calls interleave inside one server process.
 */
export function heldRequest(method: string, url: string, headers: Record<string, string>, body: string): { send(): Promise<{ status: number; text: string }> } {
  let settle: (r: { status: number; text: string }) => void = () => undefined;
  let fail: (e: Error) => void = () => undefined;
  const answer = new Promise<{ status: number; text: string }>((resolve, reject) => ((settle = resolve), (fail = reject)));
  const req = request(url, { method, headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) } }, (res) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => settle({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
  });
  req.on('error', (e) => fail(e));
  req.flushHeaders();
  return {
    send() {
      req.end(body);
      return answer;
    },
  };
}
