// security.test.mjs: the server's security promises, checked from
// outside on the scripted fixture models (what api.test.mjs and
// ui.test.mjs do not check already): the loopback-only default bind;
// the API key on every route of the route table but /health and the
// page, with the page's own calls carrying the session cookie; no CORS
// headers unless --cors-origin names an origin, and then only that one;
// the Host check on every route; no request path reaching the file
// system; every user, model and server string escaped in the page's
// HTML, with hostile markdown rendered inert.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { networkInterfaces } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ROOT, post, scripted, skipReason, sleep } from './helpers.mjs';
import {
  browserSkip, ciMissingBrowser, launchBrowser, newChat, openEvents, startUi, tempDir, uiPost,
  viewSince,
} from './ui_helpers.mjs';

const KEY = 'sekrit-key-123';
const ORIGIN = 'http://app.example';

// ---- raw HTTP ----

// Sends text as it is (any path, any Host, NUL bytes) and returns
// { status, headers: {lowercase name: value}, body }.
function raw(port, text, { host = '127.0.0.1', timeoutMs = 10000 } = {}) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host, port });
    const chunks = [];
    sock.setTimeout(timeoutMs, () => sock.destroy(new Error('timeout')));
    sock.on('connect', () => sock.write(text));
    sock.on('data', (d) => {
      chunks.push(d);
      // an event stream does not end: its headers are the answer
      const head = Buffer.concat(chunks).toString('latin1');
      if (head.includes('\r\n\r\n') && /\r\ncontent-type: text\/event-stream/i.test(head.split('\r\n\r\n')[0]))
        sock.destroy();
    });
    sock.on('error', reject);
    sock.on('close', () => {
      const all = Buffer.concat(chunks).toString('latin1');
      const end = all.indexOf('\r\n\r\n');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(all);
      if (!m) return reject(new Error(`no HTTP reply: ${JSON.stringify(all.slice(0, 200))}`));
      const headers = {};
      for (const line of all.slice(0, end).split('\r\n').slice(1)) {
        const c = line.indexOf(':');
        headers[line.slice(0, c).toLowerCase()] = line.slice(c + 1).trim();
      }
      resolve({ status: Number(m[1]), headers, body: all.slice(end + 4) });
    });
  });
}

// A request with Connection: close. headers: { name: value }.
function rawReq(port, method, target, headers = {}, body = '') {
  const h = { Host: `127.0.0.1:${port}`, ...headers, Connection: 'close' };
  if (body) h['Content-Length'] = Buffer.byteLength(body);
  const lines = Object.entries(h).filter(([, v]) => v !== null).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  return raw(port, `${method} ${target} HTTP/1.1\r\n${lines}\r\n${body}`);
}

// ---- the route table ----

// The routes as registered in src/server/openai.c and ui.c, so that a
// route added later is checked without touching this file.
function routeTable() {
  const out = [];
  for (const f of ['src/server/openai.c', 'src/server/ui.c']) {
    const src = readFileSync(path.join(ROOT, f), 'utf8');
    for (const m of src.matchAll(/\{"([A-Z]+)", "(\/[^"]*)", ([A-Z_ |0]+), h_\w+\}/g))
      out.push({ method: m[1], path: m[2], prefix: /HTTP_ROUTE_PREFIX/.test(m[3]) });
  }
  return out;
}

// Concrete requests for every route: prefix routes are expanded into
// the paths the page uses. ids: { chat, msg }. Returns
// [{ method, path, body, public }].
function concreteRoutes({ chat, msg }) {
  const importBody = `data=${encodeURIComponent(JSON.stringify({
    format: 'smolbot-chat', version: 1, title: 'imported', created_ms: 1, updated_ms: 1,
    settings: { thinking: true, temperature: 0.6, top_p: 0.95, max_tokens: 0 },
    messages: [{ role: 'user', status: 'complete', content: 'hi', created_ms: 1 }] }))}`;
  const expand = {
    'GET /assets/': [['/assets/app.js', true], ['/assets/htmx.min.js', true]],
    'GET /ui/': ['/ui/chats', '/ui/chats/latest', `/ui/chats/${chat}`, `/ui/chats/${chat}/events`,
      `/ui/chats/${chat}/export`, `/ui/chats/${chat}/export?format=json`,
      `/ui/chats/${chat}/messages/${msg}`, `/ui/chats/${chat}/messages/${msg}/edit`].map((p) => [p, false]),
    'POST /ui/': [['/ui/login', true, 'key=x'], ['/ui/chats', false], ['/ui/import', false, importBody],
      [`/ui/chats/${chat}/send`, false, 'text=hello'], [`/ui/chats/${chat}/stop`, false],
      [`/ui/chats/${chat}/regenerate`, false], [`/ui/chats/${chat}/continue`, false],
      [`/ui/chats/${chat}/settings`, false, 'thinking=0'], [`/ui/chats/${chat}/rename`, false, 'title=x'],
      [`/ui/chats/${chat}/messages/${msg}/edit`, false, 'text=edited'],
      [`/ui/chats/${chat}/delete`, false]],
  };
  const publicExact = new Set(['GET /health', 'GET /', 'GET /favicon.ico']);
  const out = [];
  for (const r of routeTable()) {
    const k = `${r.method} ${r.path}`;
    if (r.prefix) {
      assert.ok(expand[k], `prefix route ${k} is new: add the paths it serves to concreteRoutes`);
      for (const [p, pub, body] of expand[k]) out.push({ method: r.method, path: p, public: pub, body: body || '' });
    } else {
      out.push({ method: r.method, path: r.path, public: publicExact.has(k),
        body: r.method === 'POST' ? '{}' : '' });
    }
  }
  return out;
}

function routeReq(port, r, headers = {}) {
  const h = { ...headers };
  if (r.method === 'POST') {
    h['Content-Type'] = r.path.startsWith('/ui/') ? 'application/x-www-form-urlencoded' : 'application/json';
    if (r.path.startsWith('/ui/') && !('HX-Request' in h)) h['HX-Request'] = 'true';
  }
  return rawReq(port, r.method, r.path, h, r.body);
}

// The ids of a chat with one message (made with the key when there is one).
async function chatWithMessage(url, headers = {}) {
  const id = await newChat(url, headers);
  const r = await uiPost(`${url}/ui/chats/${id}/send`, { text: 'a first message' }, headers);
  assert.equal(r.status, 200, r.text);
  const { html } = await viewSince(url, id, headers);
  const m = /class="msg user" id="m(\d+)"/.exec(html);
  assert.ok(m, 'the message is in the view');
  // let its answer end, so that the actions below are not refused as busy
  for (let i = 0; i < 100 && /data-status="generating"/.test((await viewSince(url, id, headers)).html); i++)
    await sleep(20);
  return { chat: id, msg: Number(m[1]) };
}

const accessHeaders = (h) => Object.keys(h).filter((k) => k.startsWith('access-control-'));

// ---- a default server: no key, no CORS, loopback ----

// The hostile strings: each carries "pwn" so that any of it showing up
// inside markup (not as text) is found by assertInert.
const HOSTILE = [
  '<script>alert("pwn1")</script>',
  '<img src=x onerror=alert("pwn2")>',
  '"><svg onload=alert("pwn3")>',
  "' onmouseover='alert(pwn4)' x='",
  '[click](javascript:alert("pwn5")) [caps](JaVaScRiPt:alert(pwn6)) [ent](&#106;avascript:pwn7)',
  '[data](data:text/html;base64,cHdu8) [vb](vbscript:pwn9) <javascript:alert(pwn10)>',
  '<a href="javascript:pwn11">a</a> <iframe src="https://example.com/f12"></iframe>',
  '<div hx-get="/ui/chats" hx-trigger="load" hx-target="body">pwn13</div>',
  '<style>body{background:url(https://example.com/s14)}</style><!-- pwn15 -->',
  '[ref][1]\n\n[1]: javascript:alert(pwn16)',
  '![img](https://example.com/x.png "t17\\" onerror=\\"alert(1)")',
  '<form action="https://example.com/a18"><button formaction="javascript:pwn19">go</button></form>',
].join('\n\n');

const BAD_TAGS = /^(script|img|iframe|frame|frameset|object|embed|svg|math|style|link|meta|base|audio|video|source|applet)$/i;

// No hostile string inside markup: every tag is one of ours, with no
// event handler, no script URL, and nothing of the hostile input.
function assertInert(html, where) {
  assert.ok(!html.includes('<!--'), `${where}: an HTML comment`);
  let tags = 0;
  for (const m of html.matchAll(/<\/?([a-zA-Z][a-zA-Z0-9-]*)((?:[^>"']|"[^"]*"|'[^']*')*)>/g)) {
    tags++;
    const [tag, name, attrs] = m;
    assert.ok(!BAD_TAGS.test(name), `${where}: <${name}> in ${tag}`);
    assert.ok(!/pwn/.test(tag), `${where}: hostile input inside markup: ${tag}`);
    for (const a of attrs.matchAll(/([^\s=]+)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s>]+))?/g)) {
      assert.ok(!/^on/i.test(a[1]), `${where}: event handler in ${tag}`);
      const v = (a[2] || '').replace(/^["']|["']$/g, '').replace(/&#?\w+;/g, '').replace(/\s/g, '');
      if (/^(href|src|action|formaction|sse-connect|hx-(get|post))$/i.test(a[1]))
        assert.ok(/^(https?:|mailto:|#|\/)/i.test(v), `${where}: a ${a[1]} that is not ours: ${tag}`);
    }
  }
  return tags;
}

describe('a default server (no key, no CORS origin)', { skip: skipReason }, () => {
  const s = { srv: null, tmp: null, ids: null };
  const ALIAS = '<img src=x onerror=alert("pwn-alias")>&"\'';
  before(async () => {
    // run it in a directory with files a path might reach
    s.tmp = tempDir('smolbot-sec-');
    mkdirSync(path.join(s.tmp.dir, 'assets'));
    for (const f of ['sentinel.txt', 'assets/sentinel.txt', 'index.html'])
      writeFileSync(path.join(s.tmp.dir, f), 'SENTINEL-FILE-CONTENT\n');
    const cwd = process.cwd();
    process.chdir(s.tmp.dir);
    try {
      s.srv = await startUi(scripted('scripted-plain'), path.join(s.tmp.dir, 'chats.db'),
        ['--alias', ALIAS]);
    } finally {
      process.chdir(cwd);
    }
    s.ids = await chatWithMessage(s.srv.url);
  });
  after(async () => {
    const r = await s.srv?.stop();
    s.tmp?.cleanup();
    assert.deepEqual(r, { code: 0, signal: null });
  });

  test('it listens on 127.0.0.1 only', async () => {
    // the kernel's table of listening sockets: 127.0.0.1 (0100007F), nothing else
    const port = s.srv.port.toString(16).toUpperCase().padStart(4, '0');
    const listening = (file) => readFileSync(file, 'utf8').split('\n').slice(1)
      .map((l) => l.trim().split(/\s+/)).filter((f) => f.length > 3 && f[3] === '0A' && f[1].endsWith(`:${port}`))
      .map((f) => f[1].split(':')[0]);
    assert.deepEqual(listening('/proc/net/tcp'), ['0100007F']);
    let v6 = [];
    try { v6 = listening('/proc/net/tcp6'); } catch { /* no IPv6 */ }
    assert.deepEqual(v6, [], 'no IPv6 socket either');
    // so other addresses of this machine do not answer, not even 127.0.0.2
    const others = ['127.0.0.2', ...Object.values(networkInterfaces()).flat()
      .filter((a) => a.family === 'IPv4' && !a.internal).map((a) => a.address)];
    for (const host of others) {
      const err = await new Promise((resolve) => {
        const c = net.connect({ host, port: s.srv.port });
        c.on('connect', () => { c.destroy(); resolve(null); });
        c.on('error', (e) => resolve(e.code));
      });
      assert.equal(err, 'ECONNREFUSED', `${host}:${s.srv.port}`);
    }
  });

  test('no CORS headers on any route, even for a foreign Origin; preflights are not answered', async () => {
    const origin = { Origin: 'http://evil.example' };
    for (const r of concreteRoutes(s.ids)) {
      if (r.path.endsWith('/delete')) continue; // keep the chat for the tests below
      const res = await routeReq(s.srv.port, r, origin);
      assert.deepEqual(accessHeaders(res.headers), [], `${r.method} ${r.path} (${res.status})`);
      const pre = await rawReq(s.srv.port, 'OPTIONS', r.path, { ...origin,
        'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'authorization' });
      assert.ok(pre.status === 404 || pre.status === 405, `OPTIONS ${r.path}: ${pre.status}`);
      assert.deepEqual(accessHeaders(pre.headers), [], `OPTIONS ${r.path}`);
    }
    // errors too
    const nf = await rawReq(s.srv.port, 'GET', '/nope', origin);
    assert.equal(nf.status, 404);
    assert.deepEqual(accessHeaders(nf.headers), []);
  });

  test('a foreign Host is refused on every route, before anything happens', async () => {
    const before = (await fetch(`${s.srv.url}/ui/chats`).then((r) => r.text())).match(/data-chat-id=/g).length;
    const foreign = ['evil.example', `evil.example:${s.srv.port}`, 'localhost.evil.example',
      '127.0.0.1.nip.io', 'xlocalhost', '127.0.0.1@evil.example', '0x7f000001', '2130706433',
      '[::1].evil.example', '[::2]', '[::1', `evil.example:${s.srv.port}@localhost`, '10.0.0.1',
      'localhost\t.evil.example'];
    for (const host of foreign) {
      for (const r of concreteRoutes(s.ids)) {
        const res = await routeReq(s.srv.port, r, { Host: host });
        assert.ok(res.status === 403 || res.status === 400, `Host ${host}: ${r.method} ${r.path} got ${res.status}`);
        if (res.status === 403) assert.match(res.body, /DNS-rebinding/);
      }
    }
    const after_ = (await fetch(`${s.srv.url}/ui/chats`).then((r) => r.text())).match(/data-chat-id=/g).length;
    assert.equal(after_, before, 'no chat was made, imported or deleted');
    // loopback names in any form pass
    for (const host of ['LOCALHOST', `localhost:${s.srv.port}`, 'app.localhost', '127.0.0.1', '127.9.9.9',
      `[::1]:${s.srv.port}`])
      assert.equal((await rawReq(s.srv.port, 'GET', '/health', { Host: host })).status, 200, host);
  });

  test('no request path reaches the file system', async () => {
    const targets = [
      '/etc/passwd', '//etc/passwd', '/../../../../etc/passwd', '/assets/../../../../etc/passwd',
      '/assets/..%2f..%2f..%2f..%2fetc%2fpasswd', '/assets/%2e%2e/%2e%2e/%2e%2e/etc/passwd',
      '/assets/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd', '/assets/%252e%252e/%252e%252e/etc/passwd',
      '/assets/..\\..\\..\\etc\\passwd', '/assets/%5c..%5c..%5cetc%5cpasswd', '/%2e%2e/%2e%2e/etc/passwd',
      '/assets/%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd', '/assets//etc/passwd', '/assets/./app.js/../../../etc/passwd',
      '/assets/app.js%00.txt', '/assets/app.js%00/../../etc/passwd', '/favicon.ico/../../etc/passwd',
      '/ui/../../../etc/passwd', '/ui/chats/../../../../etc/passwd', '/ui/chats/%2e%2e%2f%2e%2e%2fetc%2fpasswd',
      '/proc/self/environ', '/assets/../../../../proc/self/environ', '/assets/../Makefile',
      '/sentinel.txt', '/assets/sentinel.txt', '/assets/../sentinel.txt', '/index.html', '/assets/index.html',
      '/assets/%2e%2e/sentinel.txt', '/ui/sentinel.txt', '/.env', '/assets/.env', '/assets/~root',
      `http://127.0.0.1:${s.srv.port}/etc/passwd`, `/ui/chats/${s.ids.chat}/export?format=../../../../etc/passwd`,
    ];
    for (const t of targets) {
      const res = await rawReq(s.srv.port, 'GET', t);
      assert.ok([400, 404].includes(res.status), `${t}: ${res.status}`);
      assert.doesNotMatch(res.body, /root:.*:0:0:|SENTINEL-FILE-CONTENT|PATH=|^CC\s*\?=/m, t);
    }
    // raw bytes a client library would not send: NUL, control characters.
    // libmicrohttpd ends the request target at a raw NUL (not valid HTTP),
    // so the first one may get the embedded app.js: never a file.
    const appJs = await fetch(`${s.srv.url}/assets/app.js`).then((r) => r.text());
    for (const t of ['/assets/app.js\0/../../etc/passwd', '/assets/\0', '/assets/..\x01/etc/passwd']) {
      let res;
      try { res = await rawReq(s.srv.port, 'GET', t); } catch (e) { continue; } // closed: also fine
      assert.ok([400, 404].includes(res.status) || (res.status === 200 && res.body === appJs),
        `${JSON.stringify(t)}: ${res.status}`);
      assert.doesNotMatch(res.body, /root:.*:0:0:|SENTINEL-FILE-CONTENT/);
    }
    // the page is the embedded one, not the directory's index.html
    const page = await fetch(`${s.srv.url}/`).then((r) => r.text());
    assert.doesNotMatch(page, /SENTINEL/);
    assert.equal((await fetch(`${s.srv.url}/health`)).status, 200);
  });

  test('every string from users, imports, the model and the command line is escaped in the page', async () => {
    const url = s.srv.url;
    const chat = {
      format: 'smolbot-chat', version: 1, title: `title ${HOSTILE.slice(0, 300)}`, created_ms: 1, updated_ms: 1,
      settings: { thinking: true, temperature: 0.6, top_p: 0.95, max_tokens: 0, system_prompt: HOSTILE },
      messages: [
        { role: 'system', status: 'complete', content: HOSTILE, created_ms: 1 },
        { role: 'user', status: 'complete', content: HOSTILE, created_ms: 2 },
        { role: 'assistant', status: 'complete', content: HOSTILE, reasoning: HOSTILE, created_ms: 3,
          tool_calls: [{ id: 'call_pwn"><script>', type: 'function',
            function: { name: 'f<script>pwn', arguments: '{"a": "<img src=x onerror=pwn>"}' } }] },
        { role: 'tool', status: 'complete', content: HOSTILE, tool_call_id: 'call_pwn"><script>', created_ms: 4 },
        { role: 'assistant', status: 'partial', content: HOSTILE, created_ms: 5,
          stats: { stop_reason: 'error', n_gen: 3 } },
      ],
    };
    const imp = await uiPost(`${url}/ui/import`, { data: JSON.stringify(chat) });
    assert.equal(imp.status, 200, imp.text);
    assert.ok(assertInert(imp.text, 'import reply') > 50);
    assert.match(imp.text, /&lt;script&gt;alert\(&quot;pwn1&quot;\)&lt;\/script&gt;/, 'shown as text');
    const id = Number(/data-chat-id="(\d+)"/.exec(imp.text)[1]);
    const view = await viewSince(url, id);
    assertInert(view.html, 'chat view');
    assert.match(view.html, /class="model-badge"[^>]*>&lt;img src=x onerror=alert\(&quot;pwn-alias&quot;\)&gt;&amp;&quot;&#39;</,
      'the --alias is escaped too');
    assertInert(await fetch(`${url}/ui/chats`).then((r) => r.text()), 'chat list');
    // a message alone and its edit form (a textarea holding the text)
    for (const mid of [...view.html.matchAll(/class="msg [a-z]+" id="m(\d+)"/g)].map((x) => x[1])) {
      const one = await fetch(`${url}/ui/chats/${id}/messages/${mid}`);
      assertInert(await one.text(), `message ${mid}`);
      const edit = await fetch(`${url}/ui/chats/${id}/messages/${mid}/edit`);
      const t = await edit.text();
      assertInert(t, `edit form ${mid}`);
      if (edit.status === 200) assert.match(t, /<textarea[^>]*>[^<]*&lt;script&gt;/);
    }
    // renamed to hostile text: the reply and the list
    const ren = await uiPost(`${url}/ui/chats/${id}/rename`, { title: HOSTILE.slice(0, 500) });
    assert.equal(ren.status, 200, ren.text);
    assertInert(ren.text, 'rename reply');
    // a hostile message sent live: the event that shows it, and the snapshot of a resume
    const sent = await newChat(url);
    const ev = openEvents(url, sent, { since: (await viewSince(url, sent)).since });
    assert.equal((await uiPost(`${url}/ui/chats/${sent}/send`, { text: HOSTILE })).status, 200);
    const user = await ev.next((e) => /class="msg user"/.test(e.data));
    assertInert(user.data, 'the live event');
    await ev.next((e) => /data-status="complete" hx-swap-oob/.test(e.data));
    ev.close();
    const snap = openEvents(url, sent, { lastEventId: 'not-ours' });
    assertInert((await snap.next(() => true)).data, 'a resume snapshot');
    snap.close();
    // notices that echo what was asked
    for (const [what, r] of [
      ['unknown command', await uiPost(`${url}/ui/chats/${sent}/send`, { text: '/<img/src/onerror=pwn>' })],
      ['/model', await uiPost(`${url}/ui/chats/${sent}/send`, { text: '/model' })],
      ['404 of a page part', await fetch(`${url}/ui/chats/${sent}/%3Cscript%3Epwn%3C%2Fscript%3E`)
        .then(async (x) => ({ status: x.status, text: await x.text() }))],
    ]) {
      assertInert(r.text, what);
      assert.ok(r.status === 200 || r.status === 400 || r.status === 404, `${what}: ${r.status}`);
    }
    // errors outside the page are JSON, never sniffed as HTML
    const nf = await rawReq(s.srv.port, 'GET', '/%3Cscript%3Epwn%3C/script%3E');
    assert.equal(nf.status, 404);
    assert.match(nf.headers['content-type'], /^application\/json/);
    assert.equal(nf.headers['x-content-type-options'], 'nosniff');
    // and the export is markdown text, offered as a download
    const md = await fetch(`${url}/ui/chats/${id}/export`);
    assert.match(md.headers.get('content-type'), /^text\/markdown/);
    assert.match(md.headers.get('content-disposition'), /^attachment;/);
    assert.match(md.headers.get('content-security-policy'), /default-src 'none'/);
    await md.text();
  });
});

// ---- with --api-key and --cors-origin ----

describe('--api-key on every route of the route table', { skip: skipReason }, () => {
  const s = { srv: null, tmp: null, ids: null };
  const AUTH = { Authorization: `Bearer ${KEY}` };
  before(async () => {
    s.tmp = tempDir('smolbot-sec-key-');
    s.srv = await startUi(scripted('scripted-plain'), path.join(s.tmp.dir, 'chats.db'),
      ['--api-key', KEY, '--cors-origin', ORIGIN]);
    s.ids = await chatWithMessage(s.srv.url, AUTH);
  });
  after(async () => {
    const r = await s.srv?.stop();
    s.tmp?.cleanup();
    assert.deepEqual(r, { code: 0, signal: null });
  });

  const chatCount = async () => (await fetch(`${s.srv.url}/ui/chats`, { headers: AUTH }).then((r) => r.text()))
    .match(/data-chat-id=/g)?.length ?? 0;

  test('the table is what we think it is', () => {
    const k = routeTable().map((r) => `${r.method} ${r.path}`);
    for (const want of ['POST /v1/chat/completions', 'POST /v1/completions', 'GET /v1/models',
      'POST /tokenize', 'POST /detokenize', 'POST /apply-template', 'GET /props', 'GET /health',
      'GET /metrics', 'GET /', 'GET /assets/', 'GET /ui/', 'POST /ui/'])
      assert.ok(k.includes(want), `${want} in ${k}`);
  });

  test('without the key, or with a wrong one, every route but /health and the page is 401', async () => {
    const n0 = await chatCount();
    const wrong = [{}, { Authorization: 'Bearer wrong' }, { Authorization: `Bearer ${KEY}x` },
      { Authorization: `Bearer ${KEY.slice(0, -1)}` }, { Authorization: KEY },
      { Authorization: `Basic ${Buffer.from(`user:${KEY}`).toString('base64')}` },
      { Authorization: 'Bearer ' }, { Cookie: `smolbot_ui=${KEY}` },
      { Cookie: `smolbot_ui=${'0'.repeat(64)}` }];
    let checked = 0;
    for (const r of concreteRoutes(s.ids)) {
      for (const h of wrong) {
        const res = await routeReq(s.srv.port, r, h);
        if (r.path === '/ui/login') {
          // public: it takes the key in its form ("x" here), not a header
          assert.equal(res.status, 401);
          assert.match(res.body, /not this server&#39;s API key/);
        } else if (r.public) {
          assert.notEqual(res.status, 401, `${r.method} ${r.path} is public`);
        } else {
          assert.equal(res.status, 401, `${r.method} ${r.path} with ${JSON.stringify(h)}: ${res.body.slice(0, 200)}`);
          assert.doesNotMatch(res.body, new RegExp(KEY), 'the key is never echoed');
          checked++;
        }
      }
    }
    assert.ok(checked >= 20 * wrong.length, `${checked} refusals`);
    assert.equal(await chatCount(), n0, 'nothing was made, imported or deleted');
    assert.equal((await fetch(`${s.srv.url}/ui/chats/${s.ids.chat}`, { headers: AUTH })).status, 200);
  });

  test('with the key every route works', async () => {
    for (const r of concreteRoutes(s.ids)) {
      if (r.path.endsWith('/delete') || r.path === '/ui/login') continue;
      const res = await routeReq(s.srv.port, r, AUTH);
      assert.notEqual(res.status, 401, `${r.method} ${r.path}`);
      assert.ok(res.status < 500, `${r.method} ${r.path}: ${res.status} ${res.body.slice(0, 200)}`);
    }
  });

  test('the session cookie opens the page\'s routes only, never the API', async () => {
    const ok = await uiPost(`${s.srv.url}/ui/login`, { key: KEY });
    const cookie = ok.headers.get('set-cookie').split(';')[0];
    for (const r of concreteRoutes(s.ids)) {
      if (r.path.endsWith('/delete') || r.public) continue;
      const res = await routeReq(s.srv.port, r, { Cookie: cookie });
      if (r.path.startsWith('/ui/')) assert.notEqual(res.status, 401, `${r.method} ${r.path}`);
      else assert.equal(res.status, 401, `the cookie is not an API key: ${r.method} ${r.path}`);
    }
    // the page's actions still need HTMX's header with the cookie: no CSRF
    const r = await rawReq(s.srv.port, 'POST', '/ui/chats', { Cookie: cookie,
      'Content-Type': 'application/x-www-form-urlencoded' }, 'x=1');
    assert.equal(r.status, 403);
    // the page itself never holds the key
    for (const p of ['/', '/assets/app.js'])
      assert.doesNotMatch(await fetch(`${s.srv.url}${p}`).then((x) => x.text()), new RegExp(KEY));
  });

  test('CORS: only the named origin, on every route and error, never * or credentials', async () => {
    for (const r of concreteRoutes(s.ids)) {
      if (r.path.endsWith('/delete')) continue;
      for (const h of [{ Origin: 'http://evil.example' }, { Origin: ORIGIN, ...AUTH }]) {
        const res = await routeReq(s.srv.port, r, h);
        assert.equal(res.headers['access-control-allow-origin'], ORIGIN, `${r.method} ${r.path}`);
        assert.equal(res.headers['access-control-allow-credentials'], undefined);
      }
    }
    const pre = await rawReq(s.srv.port, 'OPTIONS', '/v1/chat/completions', { Origin: 'http://evil.example',
      'Access-Control-Request-Method': 'POST' });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers['access-control-allow-origin'], ORIGIN, 'not the asking origin');
  });
});

// ---- the page's own calls, in a browser ----

describe('the page with --api-key in Chromium', { skip: skipReason || (ciMissingBrowser ? false : browserSkip) }, () => {
  test('Chromium is there in CI', () => {
    assert.ok(!ciMissingBrowser, `CI needs Chromium: ${browserSkip}`);
  });

  test('it asks for the key once; after that every call it makes is authorized by the cookie', async () => {
    if (ciMissingBrowser) return;
    const tmp = tempDir('smolbot-sec-browser-');
    const srv = await startUi(scripted('scripted-plain'), path.join(tmp.dir, 'chats.db'), ['--api-key', KEY]);
    const browser = await launchBrowser(path.join(tmp.dir, 'profile'));
    try {
      const page = await browser.context.newPage();
      const problems = [];
      page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
      page.on('dialog', (d) => { problems.push(`dialog: ${d.message()}`); d.dismiss(); });
      await page.goto(srv.url);
      await page.waitForSelector('#login[open]');
      await page.fill('#login-key', 'not the key');
      await page.keyboard.press('Enter');
      await page.waitForSelector('#login-error:not([hidden])');
      assert.match(await page.textContent('#login-error'), /not the key/);
      // from the right key on, record every request the page makes
      const seen = [];
      page.on('response', async (r) => {
        const u = new URL(r.url());
        const h = await r.request().allHeaders();
        seen.push({ path: u.pathname, status: r.status(), cookie: /smolbot_ui=/.test(h.cookie || ''),
          auth: h.authorization || null });
      });
      await page.fill('#login-key', KEY);
      await Promise.all([page.waitForEvent('load'), page.keyboard.press('Enter')]);
      await page.waitForSelector('#chat #input');
      await page.fill('#input', 'Hello with a key');
      await page.keyboard.press('Enter');
      await page.waitForSelector('#messages .msg.assistant[data-status="complete"]');
      await page.click('#new-chat');
      await page.waitForFunction(() => document.querySelectorAll('#messages .msg').length === 0);
      await page.click('.chat-item:not(.active) .chat-link');
      await page.waitForSelector('#messages .msg.assistant[data-status="complete"]');
      await sleep(300);
      const ui = seen.filter((x) => x.path.startsWith('/ui/') && x.path !== '/ui/login');
      assert.ok(ui.length >= 6, `the page made its calls: ${JSON.stringify(ui)}`);
      assert.ok(ui.some((x) => /\/events$/.test(x.path)), 'including its event streams');
      assert.deepEqual(ui.filter((x) => x.status === 401), [], 'none refused');
      assert.deepEqual(ui.filter((x) => !x.cookie), [], 'each carried the session cookie');
      assert.deepEqual(seen.filter((x) => x.auth), [], 'and never the key itself');
      // the key is nowhere the page's scripts can read
      const stored = await page.evaluate(() => JSON.stringify({ c: document.cookie,
        l: { ...localStorage }, s: { ...sessionStorage } }));
      assert.doesNotMatch(stored, new RegExp(KEY));
      assert.doesNotMatch(stored, /smolbot_ui/, 'the cookie is HttpOnly');
      assert.deepEqual(problems, []);
    } finally {
      await browser.close();
      const r = await srv.stop();
      tmp.cleanup();
      assert.deepEqual(r, { code: 0, signal: null });
    }
  });
});

// The plain API without a key still refuses a request the browser of a
// rebinding page would send even to 127.0.0.1 itself (Host of its own name).
describe('the API through a rebinding page', { skip: skipReason }, () => {
  test('a POST from a page on another name never reaches a handler', async () => {
    const tmp = tempDir('smolbot-sec-rebind-');
    const srv = await startUi(scripted('scripted-plain'), path.join(tmp.dir, 'chats.db'), ['-v']);
    try {
      const r = await rawReq(srv.port, 'POST', '/v1/chat/completions', { Host: `attacker.example:${srv.port}`,
        'Content-Type': 'application/json', Origin: `http://attacker.example:${srv.port}` },
      JSON.stringify({ messages: [{ role: 'user', content: 'Hi' }] }));
      assert.equal(r.status, 403);
      const m = await post(`${srv.url}/tokenize`, { content: 'x' });
      assert.equal(m.status, 200);
      const metrics = await fetch(`${srv.url}/metrics`).then((x) => x.text());
      assert.doesNotMatch(metrics, /smolbot_generations_total\{result="done"\} [1-9]/, 'no generation ran');
    } finally {
      const r = await srv.stop();
      tmp.cleanup();
      assert.deepEqual(r, { code: 0, signal: null });
    }
  });
});
