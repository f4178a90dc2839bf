// ui_helpers.mjs: what the web chat's end-to-end tests share: a server
// with its own chat database, the page's form posts, a raw reader of the
// chats' event streams, and headless Chromium (Debian's, never a
// downloaded one) through playwright-core.
import { request } from 'node:http';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startServer } from './helpers.mjs';

export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

// Why the browser tests cannot run, or false. In CI a missing browser is
// a failure, not a skip: the caller asserts on ciMissingBrowser.
export const browserSkip = existsSync(CHROMIUM) ? false
  : `no Chromium at ${CHROMIUM} (scripts/deps.sh installs Debian's chromium)`;
export const ciMissingBrowser = !!browserSkip && process.env.CI === 'true';
if (browserSkip && !ciMissingBrowser) console.error(`# SKIPPING browser tests: ${browserSkip}`);

// A fresh directory for a test's database and browser profile.
export function tempDir(prefix) {
  const d = mkdtempSync(path.join(tmpdir(), prefix));
  return { dir: d, cleanup: () => rmSync(d, { recursive: true, force: true }) };
}

// `smolbot serve` on a scripted model with the chats in db.
export function startUi(model, db, args = [], opts = {}) {
  return startServer(model, ['--db', db, ...args], opts);
}

// A POST as the page sends it: form-encoded, with the HX-Request header.
export async function uiPost(url, fields = {}, headers = {}) {
  const r = await fetch(url, {
    method: 'POST',
    headers: { 'HX-Request': 'true', 'Content-Type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(fields).toString(),
  });
  return { status: r.status, headers: r.headers, text: await r.text() };
}

// Creates a chat (POST /ui/chats) and returns its id.
export async function newChat(url, headers = {}) {
  const r = await uiPost(`${url}/ui/chats`, {}, headers);
  const m = /data-chat-id="(\d+)"/.exec(r.text);
  if (r.status !== 200 || !m) throw new Error(`new chat: ${r.status} ${r.text.slice(0, 200)}`);
  return Number(m[1]);
}

// The id of the chat view's state: the ?since= of its event stream.
export async function viewSince(url, id, headers = {}) {
  const r = await fetch(`${url}/ui/chats/${id}`, { headers });
  const t = await r.text();
  const m = /events\?since=([^"]+)"/.exec(t);
  if (!m) throw new Error(`no event stream in the view: ${t.slice(0, 200)}`);
  return { since: m[1], html: t };
}

// Opens a chat's event stream with raw HTTP and parses its events as they
// come: { events: [{id, event, data}], next(pred, ms), close() }.
export function openEvents(url, id, { since, lastEventId, headers = {} } = {}) {
  const u = new URL(`${url}/ui/chats/${id}/events${since ? `?since=${encodeURIComponent(since)}` : ''}`);
  const h = { Accept: 'text/event-stream', ...headers };
  if (lastEventId) h['Last-Event-ID'] = lastEventId;
  const st = { events: [], status: 0, waiters: [], ended: false };
  let buf = '';
  const wake = () => { for (const w of st.waiters.splice(0)) w(); };
  const req = request({ host: u.hostname, port: u.port, path: u.pathname + u.search, headers: h }, (res) => {
    st.status = res.statusCode;
    res.setEncoding('utf8');
    res.on('data', (chunk) => {
      buf += chunk;
      let i;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const ev = { id: null, event: 'message', data: [] };
        let isEvent = false;
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) continue;
          const c = line.indexOf(':');
          const field = c < 0 ? line : line.slice(0, c);
          const value = c < 0 ? '' : line.slice(c + 1).replace(/^ /, '');
          if (field === 'data') { ev.data.push(value); isEvent = true; }
          else if (field === 'id') ev.id = value;
          else if (field === 'event') ev.event = value;
        }
        if (isEvent) st.events.push({ ...ev, data: ev.data.join('\n') });
      }
      wake();
    });
    res.on('end', () => { st.ended = true; wake(); });
  });
  req.on('error', () => { st.ended = true; wake(); });
  req.end();
  return {
    events: st.events,
    status: () => st.status,
    // Resolves with the first event (from index `from`) matching pred.
    async next(pred, ms = 20000, from = 0) {
      const deadline = Date.now() + ms;
      for (;;) {
        const e = st.events.slice(from).find(pred);
        if (e) return e;
        if (st.ended) throw new Error('the event stream ended');
        if (Date.now() > deadline) throw new Error(`no matching event in ${ms} ms; got ${st.events.length}`);
        await new Promise((r) => { st.waiters.push(r); setTimeout(r, 100); });
      }
    },
    close() { req.destroy(); },
  };
}

// The number N of an event id "EPOCH-N".
export function eventNumber(id) {
  const m = /^[0-9a-f]+-(\d+)$/.exec(id || '');
  if (!m) throw new Error(`not an event id: ${id}`);
  return Number(m[1]);
}

// Headless Chromium with a fresh profile directory and nothing that
// phones home. Returns { context, close() }.
export async function launchBrowser(profileDir, viewport = { width: 1280, height: 860 }) {
  const { chromium } = await import('playwright-core');
  const context = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    viewport,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  return { context, close: () => context.close() };
}
