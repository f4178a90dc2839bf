// malformed.mjs: the soak's bad requests, one entry per kind. Each
// kind says what a correct server answers: the statuses it may give
// and whether closing the connection instead is also correct (for
// requests whose headers alone are too much, libmicrohttpd may answer
// and close before reading what we still send).
//
// run(ctx) resolves with { status, error } from http.mjs; ctx: { port,
// key } of the server under test (which requires the key).
import { rawExchange, request } from './http.mjs';

const HI = [{ role: 'user', content: 'Hi' }];

function json(ctx, path, body, extra = {}) {
  return request(ctx.port, 'POST', path, { timeoutMs: 60000, body,
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${ctx.key}`, ...extra } });
}
const chat = (ctx, body, extra) => json(ctx, '/v1/chat/completions', body, extra);
const withHi = (extra) => JSON.stringify({ messages: HI, max_tokens: 2, ...extra });
const get = (ctx, path, headers = {}) =>
  request(ctx.port, 'GET', path, { headers: { Authorization: `Bearer ${ctx.key}`, ...headers } });
const ui = (ctx, path, body, headers) =>
  request(ctx.port, 'POST', path, { body, headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...headers } });
const rawStatus = async (ctx, parts, opts) => {
  const r = await rawExchange(ctx.port, parts, { timeoutMs: 30000, ...opts });
  return { status: r.status, error: r.status ? null : r.error || 'reset' };
};

const TRAVERSALS = ['/assets/../../../../etc/passwd', '/assets/%2e%2e/%2e%2e/%2e%2e/etc/passwd',
  '/assets/..%2f..%2f..%2fetc%2fpasswd', '/%2e%2e/%2e%2e/etc/passwd', '/assets/%00/../etc/passwd',
  '/assets/app.js%00.txt', '//etc/passwd', '/ui/../../etc/passwd', '/assets/..\\..\\etc\\passwd',
  '/assets/%252e%252e/etc/passwd', '/proc/self/environ'];
const pick = (a) => a[Math.floor(Math.random() * a.length)];

// The big bodies, made once: the client's time goes to sending them.
const once = (f) => { let v; return () => (v ??= f()); };
const BIG = {
  stops: once(() => withHi({ stop: Array(10000).fill('x') })),
  deep: once(() => `{"messages": ${'['.repeat(50000)}${']'.repeat(50000)}}`),
  many: once(() => JSON.stringify({ messages: Array(1100).fill(HI[0]) })),
  body: once(() => Buffer.from(withHi({ pad: 'x'.repeat(1200000) }))),
  chunks: once(() => Buffer.from(Array(40).fill(`10000\r\n${'y'.repeat(0x10000)}\r\n`).join(''))),
  headers: once(() => 'X-A: b\r\n'.repeat(6000)),
  flood: once(() => 'f'.repeat(40000)),
  url: once(() => `/v1/${'u'.repeat(40000)}`),
};

// name -> { expect: statuses, close: true if a closed connection is also right, run }
export const KINDS = {
  bad_json: { expect: [400], run: (c) => chat(c, '{"messages": [{"role": "user", "content": "Hi"}') },
  not_json: { expect: [400], run: (c) => chat(c, 'hello, server') },
  json_not_object: { expect: [400], run: (c) => chat(c, '[1, 2, 3]') },
  empty_body: { expect: [400], run: (c) => chat(c, '') },
  bad_utf8: { expect: [400], run: (c) => chat(c, Buffer.concat([Buffer.from('{"messages": [{"role": "user", "content": "'),
    Buffer.from([0xc3, 0x28, 0xff, 0xfe]), Buffer.from('"}]}')])) },
  wrong_types: { expect: [400], run: (c) => chat(c, withHi({ temperature: 'hot', stream: 'yes' })) },
  nan: { expect: [400], run: (c) => chat(c, '{"messages": [{"role": "user", "content": "Hi"}], "temperature": NaN}') },
  infinity: { expect: [400], run: (c) => chat(c, '{"messages": [{"role": "user", "content": "Hi"}], "top_p": 1e999}') },
  negative_max_tokens: { expect: [400], run: (c) => chat(c, withHi({ max_tokens: -7 })) },
  huge_max_tokens: { expect: [400], run: (c) => chat(c, withHi({ max_tokens: 1e12 })) },
  negative_seed: { expect: [400], run: (c) => chat(c, withHi({ seed: -5 })) },
  huge_top_k: { expect: [400], run: (c) => chat(c, withHi({ top_k: 1e30 })) },
  huge_stop_array: { expect: [400], run: (c) => chat(c, BIG.stops()) },
  long_stop_string: { expect: [400], run: (c) => chat(c, withHi({ stop: ['s'.repeat(5000)] })) },
  deep_nesting: { expect: [400], run: (c) => chat(c, BIG.deep()) },
  too_many_messages: { expect: [400], run: (c) => chat(c, BIG.many()) },
  messages_not_array: { expect: [400], run: (c) => chat(c, '{"messages": "Hi"}') },
  bad_role: { expect: [400], run: (c) => chat(c, JSON.stringify({ messages: [{ role: 'robot', content: 'x' }] })) },
  bad_tool_choice: { expect: [400], run: (c) => chat(c, withHi({ tool_choice: { type: 'function', function: { name: 'nope' } } })) },
  huge_body: { expect: [413], close: true, run: (c) => chat(c, BIG.body()) },
  huge_declared_length: { expect: [413], close: true, run: (c) => rawStatus(c, [
    `POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${c.key}\r\n` +
    'Content-Type: application/json\r\nContent-Length: 100000000\r\n\r\n', 'x'.repeat(1024)]) },
  chunked_huge: { expect: [413], close: true, run: (c) => rawStatus(c, [
    `POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${c.key}\r\n` +
    'Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n',
    BIG.chunks(), '0\r\n\r\n']) },
  bad_content_length: { expect: [400], close: true, run: (c) => rawStatus(c, [
    'POST /tokenize HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: abc\r\nConnection: close\r\n\r\n{}']) },
  garbage_request: { expect: [400, 505], close: true, run: (c) => rawStatus(c, ['GARBAGE \x01\x02\r\n\r\n']) },
  unknown_route: { expect: [404], run: (c) => get(c, `/v1/nothing/${Math.floor(Math.random() * 1e6)}`) },
  bad_method: { expect: [405], run: (c) => request(c.port, pick(['DELETE', 'PUT', 'PATCH']), pick(['/v1/chat/completions', '/health', '/v1/models']),
    { headers: { Authorization: `Bearer ${c.key}` } }) },
  missing_auth: { expect: [401], run: (c) => request(c.port, 'POST', '/v1/chat/completions',
    { body: withHi(), headers: { 'Content-Type': 'application/json' } }) },
  wrong_auth: { expect: [401], run: (c) => request(c.port, 'GET', pick(['/v1/models', '/metrics', '/props', '/ui/chats']),
    { headers: { Authorization: `Bearer ${c.key}x` } }) },
  path_traversal: { expect: [400, 404], run: (c) => get(c, pick(TRAVERSALS)) },
  header_flood: { expect: [431], close: true, run: (c) => get(c, '/health', { 'X-Flood': BIG.flood() }) },
  many_headers: { expect: [431], close: true, run: (c) => rawStatus(c, [
    `GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n${BIG.headers()}Connection: close\r\n\r\n`]) },
  huge_url: { expect: [414, 431], close: true, run: (c) => get(c, BIG.url()) },
  foreign_host: { expect: [403], run: (c) => get(c, '/v1/models', { Host: 'rebind.evil.example' }) },
  ui_no_hx_header: { expect: [403], run: (c) => ui(c, '/ui/chats', 'x=1', {}) },
  ui_bad_form: { expect: [400], run: (c) => ui(c, `/ui/chats/${c.chat || 1}/send`, 'text=%ZZ',
    { 'HX-Request': 'true', Authorization: `Bearer ${c.key}` }) },
  ui_unknown_chat: { expect: [404], run: (c) => ui(c, '/ui/chats/987654321/send', 'text=hi',
    { 'HX-Request': 'true', Authorization: `Bearer ${c.key}` }) },
  detokenize_bad_ids: { expect: [400], run: (c) => json(c, '/detokenize', '{"tokens": [1, -5, 99999999]}') },
  tokenize_wrong_type: { expect: [400], run: (c) => json(c, '/tokenize', '{"content": 5}') },
};
