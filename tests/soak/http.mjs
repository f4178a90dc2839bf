// http.mjs: the soak's HTTP clients, on raw sockets so that every byte,
// every pause and every hang-up is ours to choose: a request whose reply
// is read as it comes (and can be dropped at any point), and a raw
// exchange of arbitrary bytes.
import net from 'node:net';

// Parses "HTTP/1.1 200 OK\r\nName: v\r\n..." into { status, headers }.
function parseHead(head) {
  const lines = head.split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]);
  if (!m) return null;
  const headers = {};
  for (const l of lines.slice(1)) {
    const c = l.indexOf(':');
    if (c > 0) headers[l.slice(0, c).trim().toLowerCase()] = l.slice(c + 1).trim();
  }
  return { status: Number(m[1]), headers };
}

// An incremental decoder of a chunked body: push(bytes) returns the
// body bytes that became whole; done once the last chunk came.
function dechunker() {
  let pending = Buffer.alloc(0);
  let left = 0; // bytes of the current chunk still to come, then its CRLF
  const st = { done: false };
  st.push = (d) => {
    pending = pending.length ? Buffer.concat([pending, d]) : d;
    const out = [];
    while (!st.done) {
      if (left > 0) {
        const n = Math.min(left - 2, pending.length);
        if (n > 0) out.push(pending.subarray(0, n));
        const take = Math.min(left, pending.length);
        pending = pending.subarray(take);
        left -= take;
        if (left > 0) break;
        continue;
      }
      const eol = pending.indexOf('\r\n');
      if (eol < 0) break;
      const size = parseInt(pending.subarray(0, eol).toString('latin1'), 16);
      pending = pending.subarray(eol + 2);
      if (!(size > 0)) { st.done = true; break; }
      left = size + 2;
    }
    return Buffer.concat(out);
  };
  return st;
}

// One request on its own connection (Connection: close). Resolves with
//   { status, headers, body (string), ms, ttfbMs, error }
// where error is null, 'reset' (the server closed or reset before a
// whole reply), 'timeout', or 'aborted' (by us, through opts.onData).
// opts: { headers, body (string|Buffer), timeoutMs, onData(newText,
// abort) called as the body arrives, keepBody (default true),
// readDelayMs (pause the socket that long after the headers: a slow
// reader) }.
export function request(port, method, path, opts = {}) {
  const { headers = {}, body = '', timeoutMs = 60000, onData = null, readDelayMs = 0,
    keepBody = true } = opts;
  const t0 = performance.now();
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    let headBuf = Buffer.alloc(0);
    let head = null;
    let ttfb = -1;
    let settled = false;
    let chunks = null;
    let got = 0;
    const parts = [];
    const decoder = new TextDecoder();
    const finish = (error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      resolve({ status: head ? head.status : 0, headers: head ? head.headers : {},
        body: parts.join(''), ms: performance.now() - t0, ttfbMs: ttfb, error });
    };
    const abort = () => finish('aborted');
    const timer = setTimeout(() => finish('timeout'), timeoutMs);
    const onBody = (bytes) => {
      got += bytes.length;
      const text = decoder.decode(bytes, { stream: true });
      if (keepBody) parts.push(text);
      if (onData && text) onData(text, abort);
    };
    sock.on('connect', () => {
      const b = Buffer.isBuffer(body) ? body : Buffer.from(body);
      const h = { Host: `127.0.0.1:${port}`, ...headers, Connection: 'close' };
      if (b.length || method === 'POST') h['Content-Length'] = String(b.length);
      const lines = Object.entries(h).map(([k, v]) => `${k}: ${v}\r\n`).join('');
      sock.write(Buffer.concat([Buffer.from(`${method} ${path} HTTP/1.1\r\n${lines}\r\n`), b]));
    });
    sock.on('data', (d) => {
      if (ttfb < 0) ttfb = performance.now() - t0;
      let rest = d;
      if (!head) {
        headBuf = Buffer.concat([headBuf, d]);
        const e = headBuf.indexOf('\r\n\r\n');
        if (e < 0) return;
        head = parseHead(headBuf.subarray(0, e).toString('latin1'));
        if (!head) return finish('garbage');
        rest = headBuf.subarray(e + 4);
        if (head.headers['transfer-encoding'] === 'chunked') chunks = dechunker();
        if (readDelayMs > 0) {
          sock.pause();
          setTimeout(() => { if (!settled) sock.resume(); }, readDelayMs);
        }
      }
      if (chunks) {
        const out = chunks.push(rest);
        if (out.length) onBody(out);
        if (!settled && chunks.done) finish(null);
      } else {
        if (rest.length) onBody(rest);
        const len = Number(head.headers['content-length']);
        if (!settled && Number.isFinite(len) && got >= len) finish(null);
      }
    });
    sock.on('error', () => finish('reset'));
    sock.on('close', () => {
      // a reply without a length ends with the connection
      if (head && !chunks && !('content-length' in head.headers)) finish(null);
      else finish('reset');
    });
  });
}

// Sends parts (strings or Buffers), waiting gapMs between them, and
// resolves with { status (0 if none), closedMs (when the server closed,
// or -1), error }. Used for malformed bytes and slow senders.
export function rawExchange(port, parts, { gapMs = 0, timeoutMs = 30000, holdMs = 0 } = {}) {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    let got = Buffer.alloc(0);
    let settled = false;
    let closed = false;
    const finish = (error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      const head = got.indexOf('\r\n\r\n') >= 0 ? parseHead(got.subarray(0, got.indexOf('\r\n\r\n')).toString('latin1')) : null;
      resolve({ status: head ? head.status : 0, closedMs: closed ? performance.now() - t0 : -1, error,
        bytes: got.length });
    };
    const timer = setTimeout(() => finish('timeout'), timeoutMs);
    sock.on('connect', async () => {
      for (let i = 0; i < parts.length && !settled && !closed; i++) {
        if (i && gapMs) await new Promise((r) => setTimeout(r, gapMs));
        if (settled || closed) break;
        try { sock.write(parts[i]); } catch { break; }
      }
      if (holdMs > 0) setTimeout(() => finish(null), holdMs);
    });
    sock.on('data', (d) => { got = Buffer.concat([got, d]); });
    sock.on('error', () => { closed = true; finish(got.length ? null : 'reset'); });
    sock.on('close', () => { closed = true; finish(null); });
  });
}
