// ui.test.mjs: the web chat end to end, on the scripted fixture models
// (whose answers are fixed): raw HTTP for the event streams, resumes,
// headers, malformed requests, the API key and a kill -9; headless
// Chromium for what a person does: send and watch it stream, stop,
// thinking, slash commands from the keyboard, reload, hostile text, a
// phone-sized screen, and screenshots in build/artifacts/.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { request } from 'node:http';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ROOT, scripted, skipReason, sleep } from './helpers.mjs';
import {
  browserSkip, ciMissingBrowser, eventNumber, launchBrowser, newChat, openEvents, startUi,
  tempDir, uiPost, viewSince,
} from './ui_helpers.mjs';

const ARTIFACTS = path.join(ROOT, 'build', 'artifacts');
const QUOTE_START = 'Alice was beginning to get very tired';

// A server and its temporary database for one describe block.
function uiServer(name, args = []) {
  const s = { srv: null, url: null, tmp: null, db: null };
  before(async () => {
    s.tmp = tempDir('smolbot-ui-');
    s.db = path.join(s.tmp.dir, 'chats.db');
    s.srv = await startUi(scripted(name), s.db, args);
    s.url = s.srv.url;
  });
  after(async () => {
    const r = await s.srv?.stop();
    s.tmp?.cleanup();
    assert.deepEqual(r, { code: 0, signal: null }, 'the server exits 0 (and leak-free) on SIGTERM');
  });
  return s;
}

// The text a fragment shows (tags dropped, the entities we write decoded).
function textOf(html) {
  return html.replace(/<[^>]*>/g, '').replace(/&lt;/g, '<').replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&');
}

// Applies a chat event's out-of-band swaps for message m to a model of
// its streamed answer: settled blocks appended, the tail replaced.
function applyDelta(model, data, m) {
  const re = /<div hx-swap-oob="(beforeend|innerHTML):#m(\d+)-c([bt])">([\s\S]*?)<\/div>(?=<div hx-swap-oob=|$)/g;
  let hit = false;
  for (const x of data.matchAll(re)) {
    if (Number(x[2]) !== m) continue;
    hit = true;
    if (x[3] === 'b') model.blocks += x[4];
    else model.tail = x[4];
  }
  return hit;
}

describe('the page over raw HTTP (scripted-plain)', { skip: skipReason }, () => {
  const s = uiServer('scripted-plain');

  test('the page, its assets and fragments carry a strict CSP, nosniff and the right types', async () => {
    const page = await fetch(`${s.url}/`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type'), /^text\/html; charset=utf-8/);
    const csp = page.headers.get('content-security-policy');
    assert.match(csp, /script-src 'self'/);
    assert.match(csp, /default-src 'none'/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    assert.equal(page.headers.get('x-content-type-options'), 'nosniff');
    const html = await page.text();
    assert.doesNotMatch(html, /<script>(?!<\/script>)|<script\s+(?!src=)/, 'no inline script');
    for (const [p, type] of [['/assets/app.js', /^text\/javascript/], ['/assets/app.css', /^text\/css/],
      ['/assets/htmx.min.js', /^text\/javascript/], ['/assets/sse.js', /^text\/javascript/],
      ['/assets/hljs.js', /^text\/javascript/], ['/favicon.ico', /^image\/svg\+xml/]]) {
      const r = await fetch(`${s.url}${p}`);
      assert.equal(r.status, 200, p);
      assert.match(r.headers.get('content-type'), type, p);
      assert.equal(r.headers.get('x-content-type-options'), 'nosniff', p);
      await r.arrayBuffer();
    }
    const frag = await fetch(`${s.url}/ui/chats`);
    assert.equal(frag.status, 200);
    assert.match(frag.headers.get('content-security-policy'), /script-src 'self'/);
    await frag.text();
  });

  test('a message and its answer stream as events, and are stored', async () => {
    const id = await newChat(s.url);
    const { since } = await viewSince(s.url, id);
    const ev = openEvents(s.url, id, { since });
    const r = await uiPost(`${s.url}/ui/chats/${id}/send`, { text: 'Hi there' });
    assert.equal(r.status, 200, r.text);
    const user = await ev.next((e) => /class="msg user"/.test(e.data));
    assert.match(user.data, /Hi there/);
    const done = await ev.next((e) => /data-status="complete" hx-swap-oob="true"/.test(e.data));
    assert.match(done.data, /<p>Hello there! How are you\?<\/p>/);
    assert.match(done.data, /class="st-tokens">10 tokens</, 'the token count under the answer');
    assert.match(done.data, /tok\/s/);
    assert.match(done.data, /TTFT \d+ ms/);
    ev.close();
    // the store has both, whatever the page saw
    const view = await viewSince(s.url, id);
    assert.match(view.html, /Hi there/);
    assert.match(view.html, /Hello there! How are you\?/);
  });

  test('SSE resume with Last-Event-ID: nothing lost, nothing repeated', async () => {
    const id = await newChat(s.url);
    const { since } = await viewSince(s.url, id);
    const a = openEvents(s.url, id, { since });
    assert.equal((await uiPost(`${s.url}/ui/chats/${id}/send`, { text: '/quote' })).status, 200);
    const start = await a.next((e) => /class="msg assistant"[^>]*data-status="generating"/.test(e.data));
    const m = Number(/id="m(\d+)"/.exec(start.data)[1]);
    // read two deltas of the answer, then drop the connection mid-answer
    await a.next((e) => e.data.includes(`#m${m}-c`));
    const second = a.events.length;
    await a.next((e) => e.data.includes(`#m${m}-c`), 20000, second);
    a.close();
    const firstPart = a.events.slice();
    const lastId = firstPart[firstPart.length - 1].id;
    await sleep(150); // the answer goes on meanwhile
    const b = openEvents(s.url, id, { lastEventId: lastId });
    const fin = await b.next((e) => new RegExp(`id="m${m}"[^>]*data-status="complete"`).test(e.data));
    b.close();
    assert.ok(!b.events.some((e) => e.data.includes('innerHTML:#messages')),
      'a resume replays events, it does not start over with a snapshot');
    // the ids run on without a gap or a repeat across the two connections
    const nums = [...firstPart, ...b.events].map((e) => eventNumber(e.id));
    for (let i = 1; i < nums.length; i++) assert.equal(nums[i], nums[i - 1] + 1, `ids ${nums}`);
    // the deltas, applied in order, give exactly the final answer
    const model = { blocks: '', tail: '' };
    let deltas = 0;
    for (const e of [...firstPart, ...b.events]) if (e !== fin) deltas += applyDelta(model, e.data, m) ? 1 : 0;
    assert.ok(deltas >= 4, `the answer came in several deltas (${deltas})`);
    const final = /<div class="md answer">([\s\S]*?)<\/div><footer/.exec(fin.data)[1];
    assert.equal(model.blocks + model.tail, final);
    assert.ok(textOf(final).startsWith(QUOTE_START));
    assert.equal(textOf(final).split(QUOTE_START).length, 2, 'the passage appears once');
  });

  test('an unknown or stale event id gets a snapshot of every message', async () => {
    const id = await newChat(s.url);
    const { since } = await viewSince(s.url, id);
    const ev = openEvents(s.url, id, { since });
    assert.equal((await uiPost(`${s.url}/ui/chats/${id}/send`, { text: 'Hello' })).status, 200);
    await ev.next((e) => /data-status="complete" hx-swap-oob/.test(e.data));
    ev.close();
    for (const bad of ['00000000-5', 'garbage', `${since.split('-')[0]}-999999`]) {
      const e = openEvents(s.url, id, { lastEventId: bad });
      const snap = await e.next(() => true);
      e.close();
      assert.match(snap.data, /^<div hx-swap-oob="innerHTML:#messages">/, bad);
      assert.match(snap.data, /Hello there! How are you\?/, bad);
    }
  });

  test('malformed requests to the page get 4xx and the server keeps serving', async () => {
    const id = await newChat(s.url);
    const send = `${s.url}/ui/chats/${id}/send`;
    const cases = [
      [await fetch(send, { method: 'POST', body: 'text=hi',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' } }), 403, 'no HX-Request (CSRF)'],
      [await uiPost(send, {}), 400, 'no text'],
      [await fetch(send, { method: 'POST', body: 'text=%ZZ', headers: { 'HX-Request': 'true' } }), 400, 'bad escape'],
      [await fetch(send, { method: 'POST', body: 'text=%FF%FE', headers: { 'HX-Request': 'true' } }), 400, 'bad UTF-8'],
      [await fetch(send, { method: 'POST', body: 'text=a%00b', headers: { 'HX-Request': 'true' } }), 400, 'NUL'],
      [await uiPost(send, { text: '   ' }), 400, 'blank'],
      [await uiPost(send, { text: '/nonsense' }), 400, 'unknown command'],
      [await uiPost(send, { text: '/temp 9' }), 400, 'temperature out of range'],
      [await uiPost(`${s.url}/ui/chats/999999/send`, { text: 'hi' }), 404, 'no such chat'],
      [await uiPost(`${s.url}/ui/chats/${id}/nope`, {}), 404, 'no such action'],
      [await uiPost(`${s.url}/ui/import`, { data: '{"format": "nope"}' }), 400, 'bad import'],
      [await uiPost(`${s.url}/ui/chats/${id}/rename`, { title: '' }), 400, 'empty title'],
      [await uiPost(`${s.url}/ui/chats/${id}/continue`, {}), 400, 'nothing to continue'],
      [await fetch(`${s.url}/ui/chats/abc`), 404, 'bad id'],
      [await fetch(`${s.url}/ui/chats/-1`), 404, 'negative id'],
      [await fetch(`${s.url}/ui/chats/99999999999999999999`), 404, 'huge id'],
      [await fetch(`${s.url}/ui/chats/${id}/`), 404, 'trailing slash'],
      [await fetch(`${s.url}/ui/chats/${id}/export?format=exe`), 400, 'bad export format'],
      [await fetch(`${s.url}/ui/chats/${id}/messages/1/edit`), 404, 'a message of another chat'],
      [await fetch(`${s.url}/assets/nope.js`), 404, 'unknown asset'],
    ];
    for (const [r, want, what] of cases) {
      assert.equal(r.status, want, what);
      if (typeof r.text === 'function') await r.text();
    }
    // paths with dot segments, sent as they are: never the file system
    for (const p of ['/assets/../../../../etc/passwd', '/assets/%2e%2e/%2e%2e/etc/passwd',
      '/assets//etc/passwd', '/assets/app.js/../../Makefile']) {
      const status = await new Promise((resolve, reject) => {
        const u = new URL(s.url);
        request({ host: u.hostname, port: u.port, path: p }, (res) => { res.resume(); resolve(res.statusCode); })
          .on('error', reject).end();
      });
      assert.ok(status === 404 || status === 400, `${p}: ${status}`);
    }
    const h = await fetch(`${s.url}/health`);
    assert.equal(h.status, 200);
    const again = await uiPost(send, { text: 'still there?' });
    assert.equal(again.status, 200);
  });

  test('export as markdown and JSON, and import of the export', async () => {
    const id = await newChat(s.url);
    const ev = openEvents(s.url, id, { since: (await viewSince(s.url, id)).since });
    assert.equal((await uiPost(`${s.url}/ui/chats/${id}/send`, { text: 'Export me' })).status, 200);
    await ev.next((e) => /data-status="complete" hx-swap-oob/.test(e.data));
    ev.close();
    const md = await fetch(`${s.url}/ui/chats/${id}/export?format=md`);
    assert.match(md.headers.get('content-disposition'), /attachment; filename="smolbot-chat-\d+\.md"/);
    const mdText = await md.text();
    assert.match(mdText, /## User\n\nExport me/);
    assert.match(mdText, /## Assistant\n\nHello there! How are you\?/);
    const js = await fetch(`${s.url}/ui/chats/${id}/export?format=json`);
    const json = await js.json();
    assert.equal(json.format, 'smolbot-chat');
    const imp = await uiPost(`${s.url}/ui/import`, { data: JSON.stringify(json) });
    assert.equal(imp.status, 200);
    assert.match(imp.text, /Export me/);
    assert.match(imp.text, /id="chat-list" class="chat-list" hx-swap-oob="true"/, 'the sidebar updates');
  });
});

describe('the API key on the page', { skip: skipReason }, () => {
  const s = uiServer('scripted-plain', ['--api-key', 'sekrit']);

  test('the page is public, its data needs the key: Bearer or the login cookie', async () => {
    assert.equal((await fetch(`${s.url}/`)).status, 200);
    assert.equal((await fetch(`${s.url}/assets/app.js`)).status, 200);
    assert.equal((await fetch(`${s.url}/ui/chats`)).status, 401);
    assert.equal((await fetch(`${s.url}/ui/chats`, { headers: { Cookie: 'smolbot_ui=forged' } })).status, 401);
    assert.equal((await uiPost(`${s.url}/ui/chats`, {})).status, 401);
    assert.equal((await fetch(`${s.url}/ui/chats`, { headers: { Authorization: 'Bearer sekrit' } })).status, 200);
    assert.equal((await uiPost(`${s.url}/ui/login`, { key: 'wrong' })).status, 401);
    const ok = await uiPost(`${s.url}/ui/login`, { key: 'sekrit' });
    assert.equal(ok.status, 200);
    const cookie = ok.headers.get('set-cookie');
    assert.match(cookie, /^smolbot_ui=[0-9a-f]{64}; Path=\/; HttpOnly; SameSite=Strict$/);
    assert.doesNotMatch(cookie, /sekrit/, 'the cookie is not the key');
    const c = cookie.split(';')[0];
    assert.equal((await fetch(`${s.url}/ui/chats`, { headers: { Cookie: c } })).status, 200);
    const id = await newChat(s.url, { Cookie: c });
    const ev = openEvents(s.url, id, { headers: { Cookie: c } });
    await ev.next(() => true);
    assert.equal(ev.status(), 200, 'the event stream takes the cookie');
    ev.close();
    const bad = openEvents(s.url, id, {});
    await sleep(300);
    assert.equal(bad.status(), 401);
    bad.close();
  });
});

describe('kill -9 mid-answer (scripted-long)', { skip: skipReason }, () => {
  test('after a restart every committed message is there, the cut answer kept as partial', async () => {
    const tmp = tempDir('smolbot-kill-');
    const db = path.join(tmp.dir, 'chats.db');
    // scripted-long never ends, and writes thousands of tokens a second:
    // slowed to one token per 5 ms, its answers are still going when cut
    const slow = ['--ui-token-delay-ms', '5'];
    let srv = await startUi(scripted('scripted-long'), db, slow);
    try {
      const id = await newChat(srv.url);
      const ev = openEvents(srv.url, id, { since: (await viewSince(srv.url, id)).since });
      // a first answer, stopped: committed as partial
      assert.equal((await uiPost(`${srv.url}/ui/chats/${id}/send`, { text: 'first question' })).status, 200);
      await ev.next((e) => /Streaming test/.test(e.data));
      assert.equal((await uiPost(`${srv.url}/ui/chats/${id}/stop`, {})).status, 200);
      await ev.next((e) => /data-status="partial" hx-swap-oob/.test(e.data));
      // a second one, cut by kill -9 after a checkpoint (every second)
      const n = ev.events.length;
      assert.equal((await uiPost(`${srv.url}/ui/chats/${id}/send`, { text: 'second question' })).status, 200);
      await ev.next((e) => /Streaming test/.test(e.data), 20000, n);
      await sleep(1600);
      ev.close();
      srv.proc.kill('SIGKILL');
      await new Promise((r) => srv.proc.once('exit', r));
      srv = await startUi(scripted('scripted-long'), db, slow);
      const { html } = await viewSince(srv.url, id);
      const users = [...html.matchAll(/class="msg user"[^>]*><div class="bubble">([^<]*)</g)].map((x) => x[1]);
      assert.deepEqual(users, ['first question', 'second question']);
      const answers = [...html.matchAll(/class="msg assistant"[^>]*data-status="(\w+)"[^>]*><div class="md answer">([\s\S]*?)<\/div><footer class="stats">([\s\S]*?)<\/footer>/g)];
      assert.equal(answers.length, 2);
      for (const a of answers) {
        assert.equal(a[1], 'partial');
        assert.match(a[2], /Streaming test/, 'the answer text up to the stop or checkpoint');
      }
      assert.match(answers[0][3], /stopped/);
      assert.match(answers[1][3], /interrupted/);
    } finally {
      const r = await srv.stop();
      tmp.cleanup();
      assert.deepEqual(r, { code: 0, signal: null });
    }
  });
});

// ---- in the browser ----

describe('the page in Chromium', { skip: skipReason || (ciMissingBrowser ? false : browserSkip) }, () => {
  test('Chromium is there in CI', () => {
    assert.ok(!ciMissingBrowser, `CI needs Chromium: ${browserSkip}`);
  });

  const state = { tmp: null, long: null, think: null, browser: null };
  before(async () => {
    if (ciMissingBrowser) return;
    mkdirSync(ARTIFACTS, { recursive: true });
    state.tmp = tempDir('smolbot-browser-');
    state.long = await startUi(scripted('scripted-long'), path.join(state.tmp.dir, 'long.db'),
      ['--ui-token-delay-ms', '5']);
    state.think = await startUi(scripted('scripted-think'), path.join(state.tmp.dir, 'think.db'));
    state.browser = await launchBrowser(path.join(state.tmp.dir, 'profile'));
  });
  after(async () => {
    await state.browser?.close();
    const a = await state.long?.stop();
    const b = await state.think?.stop();
    state.tmp?.cleanup();
    if (!ciMissingBrowser) {
      assert.deepEqual(a, { code: 0, signal: null });
      assert.deepEqual(b, { code: 0, signal: null });
    }
  });

  // A page on a server, failing the test on any script error or alert.
  async function openPage(url, viewport) {
    const page = await state.browser.context.newPage();
    if (viewport) await page.setViewportSize(viewport);
    const problems = [];
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('dialog', (d) => { problems.push(`dialog: ${d.message()}`); d.dismiss(); });
    page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
    await page.goto(url);
    await page.waitForSelector('#chat #input');
    return { page, problems };
  }
  const answerText = (page) => page.evaluate(() => {
    const a = [...document.querySelectorAll('#messages .msg.assistant .answer')].pop();
    return a ? a.innerText : '';
  });

  test('send, watch it stream, stop: the partial answer is kept, also after a reload', async () => {
    const { page, problems } = await openPage(state.long.url);
    await page.fill('#input', 'Tell me something long');
    await page.keyboard.press('Enter');
    await page.waitForSelector('#messages .msg.assistant[data-status="generating"]');
    await page.waitForFunction(() => document.body.classList.contains('busy'));
    assert.equal(await page.inputValue('#input'), '', 'the composer clears');
    await page.waitForFunction(() => {
      const a = document.querySelector('#messages .msg.assistant .answer');
      return a && a.innerText.includes('Streaming test');
    });
    const t1 = (await answerText(page)).length;
    await sleep(900);
    const t2 = (await answerText(page)).length;
    assert.ok(t2 > t1, `the answer grows while it streams (${t1} -> ${t2})`);
    // auto-scroll follows the answer, and stops when the reader scrolls up
    await page.waitForFunction(() => {
      const sc = document.getElementById('scroller');
      return sc.scrollHeight > sc.clientHeight + 200;
    }, null, { timeout: 30000 });
    const gap = () => page.evaluate(() => {
      const sc = document.getElementById('scroller');
      return sc.scrollHeight - sc.scrollTop - sc.clientHeight;
    });
    assert.ok(await gap() < 60, 'the view follows the stream');
    await page.mouse.move(640, 300);
    await page.mouse.wheel(0, -5000);
    await page.waitForFunction(() => document.getElementById('scroller').scrollTop < 5);
    await sleep(700);
    assert.ok(await page.evaluate(() => document.getElementById('scroller').scrollTop) < 5,
      'scrolled up, the view stays put while the answer grows');
    assert.ok(await page.isVisible('#to-bottom'));
    await page.click('#to-bottom');
    await sleep(300);
    assert.ok(await gap() < 60, 'the button brings the view back to the end');
    assert.ok(await page.isVisible('#stop-btn'), 'a stop button while it streams');
    assert.ok(!(await page.isVisible('#send-btn')));
    await page.click('#stop-btn');
    await page.waitForSelector('#messages .msg.assistant[data-status="partial"]');
    await page.waitForFunction(() => !document.body.classList.contains('busy'));
    const kept = await answerText(page);
    assert.ok(kept.length >= t2, 'the partial answer stays');
    assert.match(await page.textContent('#messages .msg.assistant .stats'), /stopped/);
    assert.match(await page.textContent('#messages .msg.assistant .stats'), /tok\/s/);
    await sleep(400);
    assert.equal(await answerText(page), kept, 'nothing comes after the stop');
    // the stream rendered markdown as it came: a list with bold text
    assert.ok(await page.$('#messages .msg.assistant .answer li strong'));
    await page.reload();
    await page.waitForSelector('#messages .msg.assistant[data-status="partial"]');
    assert.equal(await answerText(page), kept, 'the chat is kept across a reload');
    assert.match(await page.textContent('#messages .msg.user .bubble'), /Tell me something long/);
    await page.screenshot({ path: path.join(ARTIFACTS, 'chat-stopped.png') });
    assert.deepEqual(problems, []);
    await page.close();
  });

  test('three slash commands from the menu with the keyboard: /quote, /think, /theme', async () => {
    const { page, problems } = await openPage(state.long.url);
    await page.click('#new-chat');
    await page.waitForFunction(() => document.querySelectorAll('#messages .msg').length === 0);
    // the menu opens on "/", filters, moves with the arrows, closes on Esc
    await page.click('#input');
    await page.keyboard.type('/');
    await page.waitForSelector('#slash-menu:not([hidden]) .slash-item');
    assert.ok((await page.$$('#slash-menu .slash-item')).length >= 15);
    await page.keyboard.press('ArrowDown');
    assert.match(await page.textContent('#slash-menu .slash-item[aria-selected="true"]'), /\/clear/);
    await page.keyboard.press('Escape');
    assert.ok(await page.isHidden('#slash-menu'));
    // /quote: through the same buffer and stream as an answer
    await page.fill('#input', '');
    await page.keyboard.type('/quo');
    await page.waitForSelector('#slash-menu .slash-item[aria-selected="true"]');
    assert.match(await page.textContent('#slash-menu .slash-item[aria-selected="true"]'), /\/quote/);
    await page.keyboard.press('Enter');
    await page.waitForSelector('#messages .msg.assistant[data-status="generating"]');
    const partial = await page.waitForFunction((s) => {
      const a = document.querySelector('#messages .msg.assistant .answer');
      return a && a.innerText.startsWith(s) && a.innerText;
    }, QUOTE_START);
    await page.waitForSelector('#messages .msg.assistant[data-status="complete"]');
    const full = await answerText(page);
    assert.ok(full.length > (await partial.jsonValue()).length, 'the passage streamed in pieces');
    assert.match(full, /Lewis Carroll/);
    await page.waitForSelector('#messages .msg.assistant pre code.hljs', { timeout: 5000 });
    assert.ok(await page.$('#messages .msg.assistant pre .copy-code'), 'code blocks get a copy button');
    // /think and /no_think move the switch
    await page.keyboard.type('/no_t');
    await page.keyboard.press('Tab');
    assert.equal(await page.inputValue('#input'), '/no_think');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => !document.getElementById('think-toggle').checked);
    assert.match(await page.textContent('#notices'), /Thinking is off/);
    await page.keyboard.type('/thi');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.getElementById('think-toggle').checked);
    assert.match(await page.textContent('#notices'), /Thinking is on/);
    // /theme switches light and dark, in the page
    const before = await page.evaluate(() => document.documentElement.dataset.theme);
    await page.keyboard.type('/the');
    await page.keyboard.press('Enter');
    await page.waitForFunction((b) => document.documentElement.dataset.theme !== b, before);
    assert.equal(await page.inputValue('#input'), '', 'a page command clears the composer');
    await page.evaluate(() => { document.getElementById('scroller').scrollTop = 0; });
    await page.screenshot({ path: path.join(ARTIFACTS, `chat-${before === 'dark' ? 'light' : 'dark'}.png`) });
    await page.keyboard.type('/the');
    await page.keyboard.press('Enter');
    await page.waitForFunction((b) => document.documentElement.dataset.theme === b, before);
    await page.screenshot({ path: path.join(ARTIFACTS, 'chat.png') });
    assert.deepEqual(problems, []);
    await page.close();
  });

  test('thinking: the reasoning block apart from the answer, collapsible', async () => {
    const { page, problems } = await openPage(state.think.url);
    await page.fill('#input', 'Think about it');
    await page.keyboard.press('Enter');
    await page.waitForSelector('#messages .msg.assistant[data-status="complete"]');
    const reasoning = await page.textContent('#messages .msg.assistant details.reasoning .md');
    assert.equal(reasoning.trim(), 'Let me think.');
    assert.equal((await answerText(page)).trim(), 'Hello there!');
    assert.ok(await page.isVisible('#messages .msg.assistant details.reasoning summary'));
    assert.ok(!(await page.isVisible('#messages .msg.assistant details.reasoning .md')), 'collapsed when done');
    await page.click('#messages .msg.assistant details.reasoning summary');
    assert.ok(await page.isVisible('#messages .msg.assistant details.reasoning .md'));
    assert.deepEqual(problems, []);
    await page.close();
  });

  test('hostile text is shown as text: no script runs, no element is injected', async () => {
    const { page, problems } = await openPage(state.think.url);
    await page.click('#new-chat');
    await page.waitForFunction(() => document.querySelectorAll('#messages .msg').length === 0);
    const scripts = await page.evaluate(() => document.scripts.length);
    const evil = '<script>alert(1)</script><img src=x onerror=alert(2)>';
    await page.fill('#input', evil);
    await page.keyboard.press('Enter');
    await page.waitForSelector('#messages .msg.user .bubble');
    assert.equal(await page.textContent('#messages .msg.user .bubble'), evil);
    // an imported chat brings hostile markdown as an answer
    const hostile = [
      'Raw: <script>alert(3)</script> <b onclick="alert(4)">bold?</b>',
      '',
      '[click me](javascript:alert(5)) [data](data:text/html;base64,PHNjcmlwdD4=) ' +
        '[enc](javascript&colon;alert(6)) ![pic](javascript:alert(7)) [ok](https://example.com/)',
      '',
      '<img src=x onerror="alert(8)">',
    ].join('\n');
    const chat = {
      format: 'smolbot-chat', version: 1, title: 'hostile', created_ms: 1, updated_ms: 1,
      settings: { thinking: true, temperature: 0.6, top_p: 0.95, max_tokens: 0 },
      messages: [
        { role: 'user', status: 'complete', content: 'show me', created_ms: 1 },
        { role: 'assistant', status: 'complete', content: hostile, reasoning: '<script>alert(9)</script>', created_ms: 2 },
      ],
    };
    await page.setInputFiles('#import-file', { name: 'hostile.json', mimeType: 'application/json',
      buffer: Buffer.from(JSON.stringify(chat)) });
    await page.waitForFunction(() => /hostile/.test(document.querySelector('.chat-title')?.textContent || ''));
    const dom = await page.evaluate(() => {
      const a = document.querySelector('#messages .msg.assistant');
      return {
        text: a.innerText,
        hrefs: [...a.querySelectorAll('a')].map((x) => x.getAttribute('href')),
        imgs: a.querySelectorAll('img').length,
        handlers: a.querySelectorAll('[onclick],[onerror]').length,
        bold: a.querySelectorAll('b').length,
        scripts: document.scripts.length,
      };
    });
    assert.deepEqual(dom.hrefs, ['https://example.com/']);
    assert.equal(dom.imgs, 0);
    assert.equal(dom.handlers, 0);
    assert.equal(dom.bold, 0);
    assert.equal(dom.scripts, scripts, 'no script element was added');
    assert.match(dom.text, /Raw: <script>alert\(3\)<\/script> <b onclick="alert\(4\)">bold\?<\/b>/);
    assert.match(dom.text, /click me \(javascript:alert\(5\)\)/);
    assert.match(dom.text, /<img src=x onerror="alert\(8\)">/);
    assert.deepEqual(problems, [], 'no alert, no script error');
    await page.close();
  });

  test('a phone-sized screen (390x844): the drawer, the composer, sending', async () => {
    const { page, problems } = await openPage(state.think.url, { width: 390, height: 844 });
    assert.ok(await page.isVisible('#menu-btn'));
    const side = await page.evaluate(() => document.getElementById('sidebar').getBoundingClientRect().right);
    assert.ok(side <= 0, 'the sidebar is off screen');
    const box = await page.evaluate(() => {
      const r = document.getElementById('composer').getBoundingClientRect();
      return { left: r.left, right: r.right, bottom: r.bottom };
    });
    assert.ok(box.left >= 0 && box.right <= 390 && box.bottom <= 844, JSON.stringify(box));
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 390, `no horizontal scroll (${width})`);
    await page.fill('#input', 'Hi from a phone');
    await page.keyboard.press('Enter');
    await page.waitForSelector('#messages .msg.assistant[data-status="complete"]');
    await page.click('#menu-btn');
    await page.waitForFunction(() => document.getElementById('sidebar').getBoundingClientRect().left >= 0);
    await page.screenshot({ path: path.join(ARTIFACTS, 'chat-phone-drawer.png') });
    await page.click('#scrim', { position: { x: 370, y: 400 } });
    await page.waitForFunction(() => document.getElementById('sidebar').getBoundingClientRect().right <= 0);
    await page.screenshot({ path: path.join(ARTIFACTS, 'chat-phone.png') });
    assert.deepEqual(problems, []);
    await page.close();
  });
});

