// api.test.mjs: the endpoints beside chat (models, tokenize, detokenize,
// props, health, metrics), errors in OpenAI's shape while the server keeps
// serving, limits, authentication, CORS, the Host check, SSE keep-alives,
// and the graceful shutdown.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { metrics, post, scripted, skipReason, sleep, startServer } from './helpers.mjs';

const skip = skipReason;
const HI = [{ role: 'user', content: 'Hi' }];
const TEXT = 'Hello there! How are you?';

// An OpenAI-shaped error: {error: {message, type, param, code}}.
function assertError(r, status, param) {
  assert.equal(r.status, status, r.text);
  assert.match(r.headers.get('content-type'), /^application\/json/);
  assert.equal(typeof r.json.error.message, 'string');
  assert.ok(r.json.error.message.length > 10, r.json.error.message);
  assert.equal(typeof r.json.error.type, 'string');
  assert.ok('param' in r.json.error && 'code' in r.json.error);
  if (param !== undefined) assert.equal(r.json.error.param, param);
}

// A raw request with any Host header (fetch does not allow setting it).
function rawGet(port, path, headers) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, headers }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('endpoints', { skip }, () => {
  let srv, client;
  before(async () => {
    srv = await startServer(scripted('scripted-plain'));
    client = new OpenAI({ baseURL: srv.baseURL, apiKey: 'unused', maxRetries: 0 });
  });
  after(async () => assert.deepEqual(await srv.stop(), { code: 0, signal: null }));

  test('GET /v1/models lists the model', async () => {
    const list = await client.models.list();
    assert.equal(list.data.length, 1);
    assert.equal(list.data[0].id, 'scripted-plain');
    assert.equal(list.data[0].object, 'model');
    assert.equal(list.data[0].meta.n_ctx, 4096);
  });

  test('/tokenize and /detokenize round trip, with pieces and control tokens', async () => {
    const content = 'Hello there! <|im_start|>user\nÀ bientôt 🙂';
    const t = await post(`${srv.url}/tokenize`, { content });
    assert.equal(t.status, 200);
    assert.ok(t.json.tokens.every(Number.isInteger));
    assert.ok(t.json.tokens.includes(2059), '<|im_start|> is one control token');
    const d = await post(`${srv.url}/detokenize`, { tokens: t.json.tokens });
    assert.equal(d.json.content, content);
    const plain = await post(`${srv.url}/tokenize`, { content, parse_special: false });
    assert.ok(!plain.json.tokens.includes(2059));
    const p = await post(`${srv.url}/tokenize`, { content, with_pieces: true });
    assert.deepEqual(p.json.tokens.map((x) => x.id), t.json.tokens);
    const bytes = p.json.tokens.flatMap((x) => (typeof x.piece === 'string'
      ? [...Buffer.from(x.piece)] : x.piece));
    assert.equal(Buffer.from(bytes).toString(), content);
    assertError(await post(`${srv.url}/detokenize`, { tokens: [1, 99999999] }), 400, 'tokens');
    assertError(await post(`${srv.url}/tokenize`, { text: 'x' }), 400, 'content');
  });

  test('GET /props, /health', async () => {
    const p = await (await fetch(`${srv.url}/props`)).json();
    assert.equal(p.n_ctx, 4096);
    assert.match(p.model_path, /scripted-plain\.gguf$/);
    assert.equal(p.model_alias, 'scripted-plain');
    assert.equal(p.chat_template, 'smollm3');
    assert.equal(p.default_generation_settings.temperature, 0.6);
    assert.ok(p.default_generation_settings.top_p > 0.94 && p.default_generation_settings.top_p < 0.96);
    assert.equal(typeof p.build_info.version, 'string');
    const h = await fetch(`${srv.url}/health`);
    assert.equal(h.status, 200);
    assert.deepEqual(await h.json(), { status: 'ok' });
  });

  test('bad requests get 4xx JSON errors and the server keeps serving', async () => {
    const url = `${srv.url}/v1/chat/completions`;
    const good = { model: 'x', messages: HI };
    assertError(await post(url, '{"messages": [{"role": "user", "content": "Hi"}'), 400);
    assertError(await post(url, 'not json at all'), 400);
    assertError(await post(url, '[1, 2, 3]'), 400);
    const big = await post(url, JSON.stringify({ ...good, pad: 'x'.repeat(2 << 20) }));
    assertError(big, 413);
    const utf = await post(url, Buffer.concat([Buffer.from('{"messages": [{"role": "user", "content": "Hi'),
      Buffer.from([0xc3, 0x28]), Buffer.from('"}]}')]));
    assertError(utf, 400);
    assert.match(utf.json.error.message, /UTF-8.*0xc3 at offset 45/);
    assertError(await post(url, { ...good, temperature: 'hot' }), 400, 'temperature');
    assertError(await post(url, '{"messages": [{"role": "user", "content": "Hi"}], "temperature": NaN}'), 400);
    assertError(await post(url, '{"messages": [{"role": "user", "content": "Hi"}], "top_p": Infinity}'), 400);
    assertError(await post(url, '{"messages": [{"role": "user", "content": "Hi"}], "top_p": 1e999}'), 400, 'top_p');
    assertError(await post(url, { ...good, temperature: 3 }), 400, 'temperature');
    assertError(await post(url, { ...good, top_k: -1 }), 400, 'top_k');
    assertError(await post(url, { ...good, max_tokens: 0 }), 400, 'max_tokens');
    assertError(await post(url, { ...good, max_tokens: -5 }), 400, 'max_tokens');
    assertError(await post(url, { ...good, max_tokens: 1e9 }), 400, 'max_tokens');
    assertError(await post(url, { ...good, n: 2 }), 400, 'n');
    assertError(await post(url, { ...good, seed: 1.5 }), 400, 'seed');
    assertError(await post(url, { ...good, stream: 'yes' }), 400, 'stream');
    assertError(await post(url, { ...good, stop: Array(17).fill('x') }), 400, 'stop');
    assertError(await post(url, { ...good, stop: ['y'.repeat(300)] }), 400, 'stop');
    assertError(await post(url, { ...good, stop: 5 }), 400, 'stop');
    assertError(await post(url, { model: 'x' }), 400, 'messages');
    assertError(await post(url, { messages: [] }), 400, 'messages');
    assertError(await post(url, { messages: [{ role: 'robot', content: 'x' }] }), 400, 'messages[0]');
    assertError(await post(url, { messages: [{ role: 'user', content: 5 }] }), 400, 'messages[0].content');
    assertError(await post(url, { messages: [{ role: 'user', content: [{ type: 'image_url' }] }] }), 400);
    assertError(await post(url, { ...good, tool_choice: { type: 'function', function: { name: 'nope' } } }), 400, 'tool_choice');
    assertError(await post(url, { ...good, reasoning_effort: 'extreme' }), 400, 'reasoning_effort');
    assertError(await post(url, { ...good, logprobs: true }), 400, 'logprobs');
    const deep = '{"messages": [{"role": "user", "content": "Hi"}], "x": ' + '['.repeat(100) + ']'.repeat(100) + '}';
    assertError(await post(url, deep), 400);
    assertError(await post(url, { messages: [{ role: 'user', content: 'word '.repeat(6000) }] }), 400, 'messages');
    assertError(await post(`${srv.url}/v1/completions`, { prompt: 5 }), 400, 'prompt');
    const hdr = await rawGet(srv.port, '/health', { 'X-Big': 'a'.repeat(40000) });
    assert.equal(hdr.status, 431, 'headers past --max-header');
    const nf = await post(`${srv.url}/v1/nothing`, {});
    assertError(nf, 404);
    const na = await fetch(url);
    assert.equal(na.status, 405);
    assert.equal(na.headers.get('allow'), 'POST');
    // the client library sees the same as an exception with the status
    await assert.rejects(client.chat.completions.create({ model: 'x', messages: HI, temperature: 5 }),
      (e) => e.status === 400 && /temperature/.test(e.message));
    // and after all that the server still answers
    const r = await client.chat.completions.create(good);
    assert.equal(r.choices[0].message.content, TEXT);
    const m = await metrics(srv.url);
    assert.ok(m['smolbot_http_requests_total{route="/v1/chat/completions",status="400"}'] >= 25);
    assert.ok(m['smolbot_http_requests_total{route="/v1/chat/completions",status="413"}'] >= 1);
    assert.ok(m['smolbot_http_requests_total{route="other",status="404"}'] >= 1);
  });

  test('/metrics is Prometheus text with requests, tokens, speed and the queue', async () => {
    await client.chat.completions.create({ model: 'x', messages: HI });
    const r = await fetch(`${srv.url}/metrics`);
    assert.match(r.headers.get('content-type'), /^text\/plain/);
    const m = await metrics(srv.url); // throws on a line that does not parse
    for (const k of ['smolbot_queue_length', 'smolbot_generated_tokens_total',
      'smolbot_prompt_tokens_total', 'smolbot_prompt_tokens_cached_total',
      'smolbot_generation_tokens_per_second', 'smolbot_http_connections'])
      assert.ok(k in m, k);
    assert.ok(m['smolbot_http_requests_total{route="/v1/chat/completions",status="200"}'] >= 1);
    assert.ok(m.smolbot_generated_tokens_total >= 10);
    assert.ok(m.smolbot_generation_tokens_per_second > 0);
    assert.equal(m.smolbot_queue_length, 0);
  });

  test('a request from a rebinding page (foreign Host) is refused; loopback names pass', async () => {
    assert.match(srv.log(), /listening on http:\/\/127\.0\.0\.1:\d+\//, 'loopback by default');
    const bad = await rawGet(srv.port, '/health', { Host: 'evil.example.com' });
    assert.equal(bad.status, 403);
    assert.match(JSON.parse(bad.body).error.message, /Host/);
    for (const host of [`localhost:${srv.port}`, `127.0.0.1:${srv.port}`, `[::1]:${srv.port}`])
      assert.equal((await rawGet(srv.port, '/health', { Host: host })).status, 200, host);
  });

  test('no CORS headers by default', async () => {
    const r = await fetch(`${srv.url}/health`, { headers: { Origin: 'http://example.com' } });
    assert.equal(r.headers.get('access-control-allow-origin'), null);
    const o = await fetch(`${srv.url}/v1/models`, { method: 'OPTIONS' });
    assert.equal(o.status, 405);
  });
});

describe('--api-key and --cors-origin', { skip }, () => {
  let srv;
  before(async () => {
    srv = await startServer(scripted('scripted-plain'),
      ['--api-key', 'sekrit', '--cors-origin', 'http://example.com']);
  });
  after(async () => assert.deepEqual(await srv.stop(), { code: 0, signal: null }));

  test('a wrong or missing key is 401, the right one works', async () => {
    const bad = new OpenAI({ baseURL: srv.baseURL, apiKey: 'wrong', maxRetries: 0 });
    await assert.rejects(bad.chat.completions.create({ model: 'x', messages: HI }),
      (e) => e.status === 401 && e.constructor.name === 'AuthenticationError');
    const none = await post(`${srv.url}/v1/chat/completions`, { messages: HI });
    assertError(none, 401);
    assert.equal(none.json.error.code, 'invalid_api_key');
    assert.equal(none.headers.get('www-authenticate'), 'Bearer');
    for (const path of ['/v1/models', '/props', '/metrics'])
      assert.equal((await fetch(srv.url + path)).status, 401, path);
    assert.equal((await fetch(`${srv.url}/health`)).status, 200, '/health needs no key');
    const good = new OpenAI({ baseURL: srv.baseURL, apiKey: 'sekrit', maxRetries: 0 });
    const r = await good.chat.completions.create({ model: 'x', messages: HI });
    assert.equal(r.choices[0].message.content, TEXT);
  });

  test('CORS: the origin is named on replies, preflights get 204 without a key', async () => {
    const r = await fetch(`${srv.url}/health`);
    assert.equal(r.headers.get('access-control-allow-origin'), 'http://example.com');
    const o = await fetch(`${srv.url}/v1/chat/completions`, { method: 'OPTIONS', headers: {
      Origin: 'http://example.com', 'Access-Control-Request-Method': 'POST' } });
    assert.equal(o.status, 204);
    assert.match(o.headers.get('access-control-allow-headers'), /Authorization/);
    assert.match(o.headers.get('access-control-allow-methods'), /POST/);
  });
});

describe('limits, keep-alives and shutdown', { skip }, () => {
  let srv, client;
  // A finished stream's slot is given back when its connection lets go of
  // the reply, a moment after the client read [DONE].
  const streamsIdle = async () => {
    for (let i = 0; i < 200 && (await metrics(srv.url)).smolbot_http_streams > 0; i++) await sleep(10);
  };
  before(async () => {
    srv = await startServer(scripted('scripted-long'),
      ['-c', '8192', '--max-streams', '1', '--sse-keepalive-ms', '50', '--shutdown-timeout', '120']);
    client = new OpenAI({ baseURL: srv.baseURL, apiKey: 'unused', maxRetries: 0 });
  });
  after(async () => { if (srv) await srv.stop(); });

  test('more concurrent streams than --max-streams get 429', async () => {
    const ctl = new AbortController();
    const first = await client.chat.completions.create({ model: 'x', messages: HI, stream: true },
      { signal: ctl.signal });
    const it = first[Symbol.asyncIterator]();
    await it.next();
    await assert.rejects(client.chat.completions.create({ model: 'x', messages: HI, stream: true }),
      (e) => e.status === 429);
    ctl.abort();
    await it.return?.();
    await streamsIdle();
    const r = await client.chat.completions.create({ model: 'x', messages: HI, max_tokens: 3,
      stream: false });
    assert.equal(r.usage.completion_tokens, 3);
  });

  test('a stream waiting in the queue gets keep-alive comments', async () => {
    // a long generation holds the engine while a streamed request waits
    await streamsIdle();
    const busy = post(`${srv.url}/v1/chat/completions`, { messages: HI, max_tokens: 1500 });
    await sleep(50);
    const r = await fetch(`${srv.url}/v1/chat/completions`, { method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ messages: HI, max_tokens: 3, stream: true }) });
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type'), /^text\/event-stream/);
    const text = await r.text();
    assert.equal((await busy).status, 200);
    assert.match(text, /^data: \{.*"role":"assistant"/);
    assert.match(text, /\n: keep-alive\n\n/);
    assert.match(text, /data: \[DONE\]\n\n$/);
  });

  test('SIGTERM lets the answer in flight finish, then exits 0', async () => {
    await streamsIdle();
    const stream = await client.chat.completions.create({ model: 'x', messages: HI,
      max_tokens: 1000, stream: true });
    let finish = null, n = 0, signalled = false;
    for await (const chunk of stream) {
      if (!signalled) {
        srv.proc.kill('SIGTERM');
        signalled = true;
      }
      n += chunk.choices[0]?.delta?.content ? 1 : 0;
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    assert.equal(finish, 'length');
    assert.equal(n, 1000);
    const r = await srv.stop();
    assert.deepEqual(r, { code: 0, signal: null });
    assert.match(srv.log(), /SIGTERM: shutting down/);
    await assert.rejects(fetch(`${srv.url}/health`));
    srv = null;
  });
});
