// fault.test.mjs: the server under faults, on the scripted fixture
// models: kill -9 in the middle of database writes and streamed answers
// (then a restart: nothing committed is lost, the database is sound), a
// full disk under the chat database, the model file changed on disk
// while it is served, and SIGTERM with answers in flight.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  closeSync, copyFileSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync, rmdirSync,
  truncateSync, writeFileSync, writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { manifest, post, scripted, skipReason, sleep, startServer } from './helpers.mjs';
import { newChat, openEvents, startUi, tempDir, uiPost, viewSince } from './ui_helpers.mjs';

const HI = [{ role: 'user', content: 'Hi' }];

// The sqlite3 shell, when installed: PRAGMA integrity_check from outside.
const SQLITE3 = (() => {
  try {
    execFileSync('sqlite3', ['-version'], { stdio: 'ignore' });
    return 'sqlite3';
  } catch {
    console.error('# fault tests: no sqlite3 shell: the integrity checks from outside are skipped');
    return null;
  }
})();

function sql(db, query) {
  return execFileSync(SQLITE3, [db, query], { encoding: 'utf8' }).trim();
}

function assertIntegrity(db) {
  if (!SQLITE3) return;
  assert.equal(sql(db, 'PRAGMA integrity_check'), 'ok');
  assert.equal(sql(db, 'PRAGMA foreign_key_check'), '');
}

// The user messages of a chat as the server shows them, in order.
async function userMessages(url, id) {
  const { html } = await viewSince(url, id);
  return [...html.matchAll(/class="msg user"[^>]*><div class="bubble">([^<]*)</g)].map((x) => x[1]);
}

// scripted-long's text: its 48-token cycle, as long as asked.
function longText(minLen) {
  const cycle = manifest()['scripted-long'].pieces.join('');
  return cycle.repeat(Math.ceil(minLen / cycle.length) + 1);
}

async function kill9(srv) {
  const gone = new Promise((r) => srv.proc.once('exit', (code, signal) => r({ code, signal })));
  srv.proc.kill('SIGKILL');
  return gone;
}

describe('kill -9 during database writes and streamed answers', { skip: skipReason }, () => {
  test('three kills in a row: every committed message survives, the database is sound', async (t) => {
    const tmp = tempDir('smolbot-fault-kill-');
    const db = path.join(tmp.dir, 'chats.db');
    // slowed so that answers are still streaming (and checkpointing) when cut
    const args = ['--ui-token-delay-ms', '2', '--max-per-client', '64', '--max-queue', '64'];
    const committed = new Map(); // chat id -> messages whose POST got 200, in order
    const maybe = new Set();     // posts cut by the kill: stored or not
    let srv = await startUi(scripted('scripted-long'), db, args);
    try {
      const chats = [];
      for (let i = 0; i < 6; i++) chats.push(await newChat(srv.url));
      for (const id of chats) committed.set(id, []);
      for (let round = 0; round < 3; round++) {
        // a writer per chat: send, let the answer stream a moment, stop, again
        const live = { on: true };
        const unexpected = [];
        const writer = async (id, w) => {
          for (let k = 0; live.on; k++) {
            const text = `r${round}-c${id}-w${w}-m${k}`;
            let r;
            try {
              r = await uiPost(`${srv.url}/ui/chats/${id}/send`, { text });
            } catch {
              maybe.add(text);
              return;
            }
            if (r.status === 200) committed.get(id).push(text);
            else if (r.status !== 409) unexpected.push(`${r.status} ${r.text.slice(0, 200)}`);
            await sleep(Math.random() * 40);
            try {
              await uiPost(`${srv.url}/ui/chats/${id}/stop`, {});
              // a title change is a write too
              await uiPost(`${srv.url}/ui/chats/${id}/rename`, { title: `t-${text}` });
            } catch {
              return;
            }
          }
        };
        // API streams in flight too (short ones, one after the other, so
        // that they share the engine): the kill must end them, not hang
        const stream = (async () => {
          for (let n = 0; live.on; n++) {
            try {
              const r = await fetch(`${srv.url}/v1/chat/completions`, {
                method: 'POST', headers: { 'Content-Type': 'application/json' },
                body: JSON.stringify({ messages: HI, stream: true, max_tokens: 40 }),
              });
              await r.text();
            } catch (e) {
              return `cut after ${n} streams: ${e.message}`;
            }
          }
          return 'ended';
        })();
        const writers = chats.map((id, i) => writer(id, i));
        await sleep(900 + Math.random() * 900);
        const exit = await kill9(srv);
        live.on = false;
        assert.equal(exit.signal, 'SIGKILL');
        await Promise.all(writers);
        const t0 = Date.now();
        const how = await Promise.race([stream, sleep(10000).then(() => 'hung')]);
        assert.notEqual(how, 'hung', 'the API stream ended when the server died');
        assert.ok(Date.now() - t0 < 10000);
        assert.deepEqual(unexpected, [], 'only 200 or 409 (an answer still being written)');
        assertIntegrity(db); // as the crash left it (SQLite recovers the WAL on open)
        srv = await startUi(scripted('scripted-long'), db, args);
        let total = 0;
        for (const id of chats) {
          const stored = await userMessages(srv.url, id);
          const want = committed.get(id);
          total += want.length;
          // committed ones all there, in order, each once; nothing else but cut posts
          assert.deepEqual(stored.filter((t) => !maybe.has(t)), want, `chat ${id}`);
          assert.equal(new Set(stored).size, stored.length, `no duplicates in chat ${id}`);
        }
        assert.ok(total >= 6 * (round + 1), `messages were committed before the kill (${total})`);
        t.diagnostic(`round ${round}: ${total} messages committed so far, ${maybe.size} cut by kills`);
        if (SQLITE3)
          assert.equal(sql(db, "SELECT count(*) FROM messages WHERE status = 'generating'"), '0',
            'answers cut by the kill are recovered as partial');
      }
      // the chats are usable after all that
      const id = chats[0];
      const ev = openEvents(srv.url, id, { since: (await viewSince(srv.url, id)).since });
      assert.equal((await uiPost(`${srv.url}/ui/chats/${id}/send`, { text: 'after the kills' })).status, 200);
      await ev.next((e) => /Streaming test/.test(e.data));
      assert.equal((await uiPost(`${srv.url}/ui/chats/${id}/stop`, {})).status, 200);
      await ev.next((e) => /data-status="partial" hx-swap-oob/.test(e.data));
      ev.close();
    } finally {
      const r = await srv.stop();
      assertIntegrity(db);
      tmp.cleanup();
      assert.deepEqual(r, { code: 0, signal: null });
    }
  });
});

// ---- a full disk ----

// Mounting a tmpfs needs root (or CAP_SYS_ADMIN); without it, say so.
const mountSkip = (() => {
  if (skipReason) return skipReason;
  if (process.getuid?.() !== 0) return 'not root: cannot mount a small tmpfs for the disk-full test';
  const d = mkdtempSync(path.join(tmpdir(), 'smolbot-mnt-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', d], { stdio: 'pipe' });
    execFileSync('umount', [d], { stdio: 'pipe' });
    return false;
  } catch (e) {
    return `mount -t tmpfs is not permitted here (${String(e.stderr || e.message).trim().split('\n')[0]})`;
  } finally {
    rmdirSync(d);
  }
})();
if (mountSkip && !skipReason) console.error(`# SKIPPING the disk-full test: ${mountSkip}`);

// Writes zeros into file until the file system is full. Returns the bytes.
function fillDisk(file) {
  const fd = openSync(file, 'w');
  let n = 0;
  try {
    for (const size of [1 << 16, 4096, 512]) {
      const chunk = Buffer.alloc(size);
      for (;;) {
        try { n += writeSync(fd, chunk); } catch (e) {
          if (e.code !== 'ENOSPC') throw e;
          break;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
  return n;
}

describe('a full disk under the chat database', { skip: mountSkip }, () => {
  const s = { dir: null, srv: null };
  before(() => {
    s.dir = mkdtempSync(path.join(tmpdir(), 'smolbot-full-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', s.dir]);
  });
  after(async () => {
    if (s.srv) await s.srv.stop();
    try { execFileSync('umount', [s.dir]); } catch { /* already gone */ }
    rmSync(s.dir, { recursive: true, force: true });
  });

  test('saving fails with a clear error, the server keeps serving, and recovers when space returns', async () => {
    const db = path.join(s.dir, 'chats.db');
    const filler = path.join(s.dir, 'filler');
    const args = ['--ui-token-delay-ms', '5'];
    s.srv = await startUi(scripted('scripted-long'), db, args);
    const url = s.srv.url;
    const id = await newChat(url);
    const ev = openEvents(url, id, { since: (await viewSince(url, id)).since });
    assert.equal((await uiPost(`${url}/ui/chats/${id}/send`, { text: 'before the disk filled' })).status, 200);
    await ev.next((e) => /Streaming test/.test(e.data));
    // the disk fills while the answer streams; stopping it must save it
    assert.ok(fillDisk(filler) > 0);
    const n = ev.events.length;
    assert.equal((await uiPost(`${url}/ui/chats/${id}/stop`, {})).status, 200);
    const fail = await ev.next((e) => /The answer could not be saved/.test(e.data), 20000, n);
    assert.match(fail.data, /database or disk is full/);
    // the answer is shown as it ended (partial), so the page leaves its writing state
    assert.match(fail.data, /data-status="partial" hx-swap-oob="true"/);
    assert.doesNotMatch(fail.data, /data-status="generating"/);
    // new writes get 507 with the reason; nothing is half-done
    const send = await uiPost(`${url}/ui/chats/${id}/send`, { text: 'while the disk is full' });
    assert.equal(send.status, 507, send.text);
    assert.match(send.text, /Disk full/);
    assert.match(send.text, /database or disk is full/);
    const create = await uiPost(`${url}/ui/chats`, {});
    assert.equal(create.status, 507, create.text);
    // reading the chats, the API and the health check go on
    assert.equal((await fetch(`${url}/health`)).status, 200);
    const view = await viewSince(url, id);
    assert.match(view.html, /before the disk filled/);
    assert.doesNotMatch(view.html, /while the disk is full/);
    assert.doesNotMatch(view.html, /data-status="generating"/, 'no answer shown as still writing');
    const api = await post(`${url}/v1/chat/completions`, { messages: HI, max_tokens: 5 });
    assert.equal(api.status, 200, api.text);
    assert.equal(api.json.choices[0].finish_reason, 'length');
    // space comes back: the same server saves again
    rmSync(filler);
    const m = ev.events.length;
    assert.equal((await uiPost(`${url}/ui/chats/${id}/send`, { text: 'after the disk was freed' })).status, 200);
    await ev.next((e) => /Streaming test/.test(e.data), 20000, m);
    assert.equal((await uiPost(`${url}/ui/chats/${id}/stop`, {})).status, 200);
    await ev.next((e) => /data-status="partial" hx-swap-oob/.test(e.data), 20000, m);
    ev.close();
    assert.deepEqual(await s.srv.stop(), { code: 0, signal: null });
    assertIntegrity(db);
    // and after a restart both messages that were taken are there
    s.srv = await startUi(scripted('scripted-long'), db, args);
    assert.deepEqual(await userMessages(s.srv.url, id), ['before the disk filled', 'after the disk was freed']);
    assert.deepEqual(await s.srv.stop(), { code: 0, signal: null });
    s.srv = null;
  });
});

// ---- the model file changed on disk ----

// By default the weights are read into memory at start: changing the file
// afterwards cannot touch them. With SMOLBOT_MMAP=1 the file is mapped,
// and the model guard turns a change in place into 503s, not a SIGBUS.
describe('the model file changed on disk while served (loaded into memory, the default)', { skip: skipReason }, () => {
  const s = { tmp: null };
  before(() => { s.tmp = tempDir('smolbot-model-'); });
  after(() => s.tmp?.cleanup());

  test('truncated and overwritten in place: the loaded model goes on answering, unchanged', async () => {
    const model = path.join(s.tmp.dir, 'mem.gguf');
    copyFileSync(scripted('scripted-long'), model);
    const srv = await startServer(model);
    try {
      const a = await post(`${srv.url}/v1/chat/completions`, { messages: HI, max_tokens: 20 });
      assert.equal(a.status, 200, a.text);
      assert.ok(longText(200).startsWith(a.json.choices[0].message.content));
      truncateSync(model, 1 << 20);
      const b = await post(`${srv.url}/v1/chat/completions`, { messages: HI, max_tokens: 20 });
      assert.equal(b.status, 200, b.text);
      assert.equal(b.json.choices[0].message.content, a.json.choices[0].message.content);
      writeFileSync(model, readFileSync(scripted('scripted-plain')));
      const c = await post(`${srv.url}/v1/chat/completions`, { messages: HI, max_tokens: 20 });
      assert.equal(c.status, 200, c.text);
      assert.equal(c.json.choices[0].message.content, a.json.choices[0].message.content);
    } finally {
      assert.deepEqual(await srv.stop(), { code: 0, signal: null }, 'exits 0, no crash, no leak');
    }
  });
});

describe('the model file changed on disk while served (mapped: SMOLBOT_MMAP=1)', { skip: skipReason }, () => {
  const s = { tmp: null };
  let saved;
  before(() => { saved = process.env.SMOLBOT_MMAP; process.env.SMOLBOT_MMAP = '1'; });
  after(() => { if (saved === undefined) delete process.env.SMOLBOT_MMAP; else process.env.SMOLBOT_MMAP = saved; });
  before(() => { s.tmp = tempDir('smolbot-model-'); });
  after(() => s.tmp?.cleanup());

  // A private copy of a scripted model, so that it can be changed.
  const copy = (name, as) => {
    const p = path.join(s.tmp.dir, as);
    copyFileSync(scripted(name), p);
    return p;
  };

  test('truncated in place mid-answer: an error, then 503 "restart", never a crash', async () => {
    const model = copy('scripted-long', 'trunc.gguf');
    const srv = await startUi(model, path.join(s.tmp.dir, 'trunc.db'), ['-c', '8192']);
    try {
      const r = await fetch(`${srv.url}/v1/chat/completions`, {
        method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ messages: HI, max_tokens: 8000, stream: true }),
      });
      assert.equal(r.status, 200);
      const reader = r.body.getReader();
      let text = '';
      let truncated = false;
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        text += Buffer.from(value).toString();
        if (!truncated && /"delta":\{"content":"[^"]/.test(text)) {
          // the weights' pages past 1 MB vanish: reads of them raise SIGBUS
          truncateSync(model, 1 << 20);
          truncated = true;
        }
      }
      assert.ok(truncated);
      assert.match(text, /data: \{"error":\{"message":"the model file '[^']*trunc\.gguf' changed on disk after it was loaded \(it was truncated while it was being read\); restart the server/);
      assert.match(text, /data: \[DONE\]\n\n$/);
      // what came before the error is the script: no token of zeroed weights
      const content = [...text.matchAll(/"delta":\{"content":("(?:[^"\\]|\\.)*")/g)]
        .map((x) => JSON.parse(x[1])).join('');
      assert.ok(content.length > 0);
      assert.ok(longText(content.length).startsWith(content), `a prefix of the script: ${content.slice(-80)}`);
      // from now on: 503 naming the cause, on the API and the page
      const again = await post(`${srv.url}/v1/chat/completions`, { messages: HI, max_tokens: 5 });
      assert.equal(again.status, 503, again.text);
      assert.match(again.json.error.message, /changed on disk.*restart the server/);
      const id = await newChat(srv.url);
      const send = await uiPost(`${srv.url}/ui/chats/${id}/send`, { text: 'hello?' });
      assert.equal(send.status, 503, send.text);
      assert.match(send.text, /changed on disk/);
      // what needs no model goes on
      assert.equal((await fetch(`${srv.url}/health`)).status, 200);
      assert.equal((await fetch(`${srv.url}/v1/models`)).status, 200);
      assert.equal((await post(`${srv.url}/tokenize`, { content: 'Hello' })).status, 200);
    } finally {
      assert.deepEqual(await srv.stop(), { code: 0, signal: null }, 'exits 0, no crash, no leak');
    }
  });

  test('overwritten in place while idle: the next request gets 503', async () => {
    const model = copy('scripted-long', 'over.gguf');
    const srv = await startServer(model);
    try {
      assert.equal((await post(`${srv.url}/v1/chat/completions`, { messages: HI, max_tokens: 3 })).status, 200);
      // another model of the same size written over it (open, truncate, write)
      writeFileSync(model, readFileSync(scripted('scripted-plain')));
      const r = await post(`${srv.url}/v1/chat/completions`, { messages: HI, max_tokens: 3 });
      assert.equal(r.status, 503, r.text);
      assert.match(r.json.error.message, /over\.gguf' changed on disk after it was loaded/);
    } finally {
      assert.deepEqual(await srv.stop(), { code: 0, signal: null });
    }
  });

  test('replaced by rename: the loaded model goes on serving, untouched', async () => {
    const model = copy('scripted-long', 'renamed.gguf');
    const srv = await startServer(model);
    try {
      const want = longText(200);
      const a = await post(`${srv.url}/v1/chat/completions`, { messages: HI, max_tokens: 20 });
      assert.ok(want.startsWith(a.json.choices[0].message.content));
      // the way `smolbot pull` installs a file: write aside, rename over
      const next = path.join(s.tmp.dir, 'next.gguf.part');
      copyFileSync(scripted('scripted-plain'), next);
      renameSync(next, model);
      // even a later in-place change of the new file does not concern us
      truncateSync(model, 1000);
      const b = await post(`${srv.url}/v1/chat/completions`, { messages: HI, max_tokens: 20 });
      assert.equal(b.status, 200, b.text);
      assert.equal(b.json.choices[0].message.content, a.json.choices[0].message.content);
    } finally {
      assert.deepEqual(await srv.stop(), { code: 0, signal: null });
    }
  });
});

// ---- SIGTERM with answers in flight ----

describe('SIGTERM with endless answers in flight', { skip: skipReason }, () => {
  test('exits 0 within the shutdown timeout (+5 s), the page\'s answer saved as partial', async () => {
    const tmp = tempDir('smolbot-term-');
    const db = path.join(tmp.dir, 'chats.db');
    const args = ['--ui-token-delay-ms', '5', '--shutdown-timeout', '1'];
    let srv = await startUi(scripted('scripted-long'), db, args);
    try {
      const id = await newChat(srv.url);
      const ev = openEvents(srv.url, id, { since: (await viewSince(srv.url, id)).since });
      assert.equal((await uiPost(`${srv.url}/ui/chats/${id}/send`, { text: 'never ending' })).status, 200);
      await ev.next((e) => /Streaming test/.test(e.data));
      // an API stream with no end either (it runs to the end of the context)
      const r = await fetch(`${srv.url}/v1/chat/completions`, {
        method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ messages: HI, stream: true }),
      });
      const reader = r.body.getReader();
      await reader.read();
      const body = (async () => {
        let t = '';
        try {
          for (;;) {
            const { value, done } = await reader.read();
            if (done) return t;
            t += Buffer.from(value).toString();
          }
        } catch (e) {
          return `${t}\n(error: ${e.message})`;
        }
      })();
      const t0 = Date.now();
      const exit = await srv.stop('SIGTERM');
      const took = Date.now() - t0;
      assert.deepEqual(exit, { code: 0, signal: null });
      assert.ok(took < 1000 + 5000 + 2000, `stopped in ${took} ms (timeout 1 s, then 5 s for the replies)`);
      assert.match(srv.log(), /cancelled \d+ generations? at the shutdown timeout/);
      const text = await body;
      assert.ok(text.length > 0);
      ev.close();
      srv = await startUi(scripted('scripted-long'), db, args);
      const { html } = await viewSince(srv.url, id);
      const a = /class="msg assistant"[^>]*data-status="(\w+)"[^>]*><div class="md answer">([\s\S]*?)<\/div><footer class="stats">([\s\S]*?)<\/footer>/.exec(html);
      assert.ok(a, 'the answer is stored');
      assert.equal(a[1], 'partial');
      assert.match(a[2], /Streaming test/, 'with the text written before the shutdown');
      if (SQLITE3) assert.equal(sql(db, "SELECT count(*) FROM messages WHERE status = 'generating'"), '0');
    } finally {
      const r = await srv.stop();
      tmp.cleanup();
      assert.deepEqual(r, { code: 0, signal: null });
    }
  });
});
