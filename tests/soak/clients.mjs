// clients.mjs: what one soak client does in one turn. Every scenario
// checks the reply it gets (status, and the exact text where the
// scripted models make it known) and records one outcome through
// rec(scenario, outcome, detail):
//   'ok'          the right answer
//   'busy'        a 429 (or 409 on the page): the server is full, and says so
//   'expected'    a malformed request got the 4xx it deserves (detail: kind)
//   'aborted'     we hung up on purpose (detail: what)
//   'unexpected'  anything else: a 5xx, a reset, a timeout, a wrong text
import { KINDS } from './malformed.mjs';
import { rawExchange, request } from './http.mjs';

const HI = [{ role: 'user', content: 'Hi' }];
const WEATHER = [{ type: 'function', function: { name: 'get_weather', description: 'The weather',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } }];
const rnd = (a, b) => a + Math.floor(Math.random() * (b - a + 1));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Reads an OpenAI event stream as it comes: content, reasoning, tool
// calls, finish_reason, [DONE], an error event, the first content time.
function sseReader(t0) {
  const s = { content: '', reasoning: '', tools: [], finish: null, done: false, error: null,
    firstMs: -1, deltas: 0, buf: '' };
  s.push = (text) => {
    s.buf += text;
    let i;
    while ((i = s.buf.indexOf('\n\n')) >= 0) {
      const ev = s.buf.slice(0, i);
      s.buf = s.buf.slice(i + 2);
      for (const line of ev.split('\n')) {
        if (!line.startsWith('data: ')) continue;
        const data = line.slice(6);
        if (data === '[DONE]') { s.done = true; continue; }
        let j;
        try { j = JSON.parse(data); } catch { s.error = `bad JSON in the stream: ${data.slice(0, 80)}`; continue; }
        if (j.error) { s.error = j.error.message; continue; }
        const c = j.choices?.[0];
        if (!c) continue;
        const d = c.delta ?? {};
        const piece = d.content ?? c.text ?? '';
        if (piece || d.reasoning_content || d.tool_calls) {
          if (s.firstMs < 0) s.firstMs = performance.now() - t0;
          s.deltas++;
        }
        s.content += piece;
        s.reasoning += d.reasoning_content ?? '';
        if (d.tool_calls) s.tools.push(...d.tool_calls);
        if (c.finish_reason) s.finish = c.finish_reason;
      }
    }
  };
  return s;
}

// The outcome of a reply that should have been 200: busy, or unexpected.
function notOk(r, what) {
  if (r.status === 429) return ['busy', '429'];
  if (r.error) return ['unexpected', `${what}: ${r.error} after ${Math.round(r.ms)} ms (status ${r.status})`];
  return ['unexpected', `${what}: status ${r.status}: ${r.body.slice(0, 160)}`];
}

// ctx: { main: {port, key}, aux: [{port, name}], pieces (scripted-long's
// 48-token cycle), holdMs (how long slow clients hold on), timeoutMs,
// idleTimeoutMs (the servers' --timeout), deadline (when the load ends),
// rec, ttft: { api: [], ui: [] }, counts: { apiAborts, uiStops } }.
// Returns turn(client): one turn of client number `client`.
export function scenarios(ctx) {
  const auth = { Authorization: `Bearer ${ctx.main.key}` };
  const jsonH = { 'Content-Type': 'application/json', ...auth };
  const script = (n) => {
    let t = '';
    for (let i = 0; i < n; i++) t += ctx.pieces[i % ctx.pieces.length];
    return t;
  };

  // A streamed answer of max_tokens tokens from scripted-long, read whole.
  async function apiStream() {
    const max = rnd(20, 400);
    const t0 = performance.now();
    const s = sseReader(t0);
    const r = await request(ctx.main.port, 'POST', '/v1/chat/completions', { timeoutMs: ctx.timeoutMs,
      headers: jsonH, keepBody: false, onData: (t) => s.push(t),
      body: JSON.stringify({ messages: HI, max_tokens: max, stream: true }) });
    if (r.status !== 200 || r.error) return ctx.rec('api_stream', ...notOk(r, 'stream'));
    if (!s.done || s.error || s.finish !== 'length' || s.content !== script(max))
      return ctx.rec('api_stream', 'unexpected', `stream of ${max}: done ${s.done}, finish ${s.finish}, error ${s.error}, ${s.content.length} chars`);
    ctx.ttft.api.push(s.firstMs);
    ctx.rec('api_stream', 'ok');
  }

  // A stream we hang up on after a few deltas: the server must cancel
  // its generation within one token (counted in its log).
  async function apiDisconnect() {
    const after = rnd(1, 30);
    const s = sseReader(performance.now());
    let cut = false;
    const r = await request(ctx.main.port, 'POST', '/v1/chat/completions', { timeoutMs: ctx.timeoutMs,
      headers: jsonH, keepBody: false,
      onData: (t, abort) => {
        s.push(t);
        if (!s.done && s.deltas >= after) { cut = true; abort(); }
      },
      body: JSON.stringify({ messages: HI, max_tokens: 3000, stream: true }) });
    if (r.status === 200 && cut && r.error === 'aborted') {
      ctx.counts.apiAborts++;
      return ctx.rec('api_disconnect', 'aborted', 'mid-stream');
    }
    ctx.rec('api_disconnect', ...notOk(r, 'stream to cut'));
  }

  // Opens a stream and reads nothing for a while: then either reads it
  // all (it must be whole) or hangs up.
  async function slowReader() {
    const max = rnd(100, 2000);
    const readLater = Math.random() < 0.5;
    const s = sseReader(performance.now());
    const body = JSON.stringify({ messages: HI, max_tokens: max, stream: true });
    if (!readLater) {
      const r = await rawExchange(ctx.main.port, [`POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n` +
        `Authorization: Bearer ${ctx.main.key}\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`],
      { holdMs: rnd(500, ctx.holdMs), timeoutMs: ctx.holdMs + 60000 });
      if (r.error && r.error !== 'timeout') return ctx.rec('slow_reader', 'unexpected', `never-read stream: ${r.error}`);
      return ctx.rec('slow_reader', 'aborted', 'never read');
    }
    const r = await request(ctx.main.port, 'POST', '/v1/chat/completions', { timeoutMs: ctx.timeoutMs + ctx.holdMs,
      headers: jsonH, keepBody: false, readDelayMs: rnd(500, ctx.holdMs), onData: (t) => s.push(t), body });
    if (r.status !== 200 || r.error) return ctx.rec('slow_reader', ...notOk(r, 'slow stream'));
    if (!s.done || s.content !== script(max))
      return ctx.rec('slow_reader', 'unexpected', `slow stream of ${max}: done ${s.done}, ${s.content.length} chars, error ${s.error}`);
    ctx.rec('slow_reader', 'ok');
  }

  // A short answer from an auxiliary model, streamed or not.
  async function apiShort() {
    const aux = ctx.aux[rnd(0, ctx.aux.length - 1)];
    const stream = Math.random() < 0.5;
    const tool = aux.name === 'scripted-tool';
    const body = { messages: tool ? [{ role: 'user', content: 'Weather in Paris?' }] : HI, stream };
    if (tool) body.tools = WEATHER;
    const t0 = performance.now();
    const s = sseReader(t0);
    const r = await request(aux.port, 'POST', '/v1/chat/completions', { timeoutMs: ctx.timeoutMs,
      headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
      onData: stream ? (t) => s.push(t) : null });
    const name = `api_short_${stream ? 'stream' : 'json'}`;
    if (r.status !== 200 || r.error) return ctx.rec(name, ...notOk(r, aux.name));
    let content, reasoning, calls, finish;
    if (stream) {
      ({ content, reasoning, finish } = s);
      calls = s.tools;
      if (!s.done) return ctx.rec(name, 'unexpected', `${aux.name}: no [DONE]`);
      ctx.ttft.api.push(s.firstMs);
    } else {
      let j;
      try { j = JSON.parse(r.body); } catch { return ctx.rec(name, 'unexpected', `${aux.name}: not JSON`); }
      const m = j.choices[0].message;
      content = m.content ?? '';
      reasoning = m.reasoning_content ?? '';
      calls = m.tool_calls ?? [];
      finish = j.choices[0].finish_reason;
    }
    const good = tool
      ? finish === 'tool_calls' && calls.length === 1 && calls[0].function.name === 'get_weather' &&
        JSON.parse(calls[0].function.arguments).city === 'Paris'
      : finish === 'stop' && content === 'Hello there!' && reasoning === 'Let me think.';
    ctx.rec(name, good ? 'ok' : 'unexpected', good ? undefined : `${aux.name}: ${finish} ${JSON.stringify(content).slice(0, 80)}`);
  }

  // The raw completion endpoint and the cheap GETs beside it.
  async function apiOther() {
    const which = rnd(0, 5);
    if (which === 0) {
      const r = await request(ctx.main.port, 'POST', '/v1/completions', { timeoutMs: ctx.timeoutMs, headers: jsonH,
        body: JSON.stringify({ prompt: '<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n', max_tokens: 5 }) });
      if (r.status !== 200 || r.error) return ctx.rec('api_other', ...notOk(r, 'completions'));
      const text = JSON.parse(r.body).choices[0].text;
      return ctx.rec('api_other', text === script(5) ? 'ok' : 'unexpected', `completions: ${JSON.stringify(text)}`);
    }
    if (which === 1) {
      const content = `Hello ${rnd(0, 1e6)} <|im_start|>user\nÀ bientôt 🙂`;
      const t = await request(ctx.main.port, 'POST', '/tokenize', { headers: jsonH, body: JSON.stringify({ content }) });
      if (t.status !== 200 || t.error) return ctx.rec('api_other', ...notOk(t, 'tokenize'));
      const d = await request(ctx.main.port, 'POST', '/detokenize', { headers: jsonH, body: JSON.stringify({ tokens: JSON.parse(t.body).tokens }) });
      if (d.status !== 200 || d.error) return ctx.rec('api_other', ...notOk(d, 'detokenize'));
      return ctx.rec('api_other', JSON.parse(d.body).content === content ? 'ok' : 'unexpected', 'tokenize round trip');
    }
    const path = ['/v1/models', '/props', '/metrics', '/health'][which - 2];
    const r = await request(ctx.main.port, 'GET', path, { headers: auth });
    ctx.rec('api_other', r.status === 200 && !r.error ? 'ok' : notOk(r, path)[0], `${path}: ${r.status} ${r.error}`);
  }

  // The web chat as a script drives it: a chat of its own, its event
  // stream, a message, the answer streaming, a stop (or a hang-up of the
  // stream), an export, and the chat deleted again.
  async function uiFlow() {
    const ui = { ...auth, 'HX-Request': 'true', 'Content-Type': 'application/x-www-form-urlencoded' };
    const post = (path, body) => request(ctx.main.port, 'POST', path, { headers: ui, body, timeoutMs: ctx.timeoutMs });
    const chat = { format: 'smolbot-chat', version: 1, title: `soak ${rnd(0, 1e9)}`, created_ms: 1, updated_ms: 1,
      settings: { thinking: false, temperature: 0.6, top_p: 0.95, max_tokens: 0 },
      messages: [{ role: 'user', status: 'complete', content: 'earlier', created_ms: 1 },
        { role: 'assistant', status: 'complete', content: 'an earlier answer', created_ms: 2 }] };
    const imp = await post('/ui/import', `data=${encodeURIComponent(JSON.stringify(chat))}`);
    if (imp.status !== 200 || imp.error) return ctx.rec('ui', ...notOk(imp, 'import'));
    const id = Number(/data-chat-id="(\d+)"/.exec(imp.body)?.[1]);
    // the event stream, watched through a window of its last bytes (the
    // patterns looked for are short: no need to search more)
    const ev = { win: '', msg: 0, firstMs: -1, ended: null, closed: false };
    let cutEvents = null;
    let t0 = performance.now();
    const events = request(ctx.main.port, 'GET', `/ui/chats/${id}/events`, { headers: auth, keepBody: false,
      timeoutMs: ctx.timeoutMs * 2,
      onData: (t, abort) => {
        cutEvents = abort;
        ev.win = ev.win.slice(-1024) + t;
        if (!ev.msg) {
          const m = /<article class="msg assistant" id="m(\d+)"[^>]*data-status="generating"/.exec(ev.win);
          if (m) ev.msg = Number(m[1]);
        }
        if (ev.msg && ev.firstMs < 0 && ev.win.includes(`#m${ev.msg}-c`)) ev.firstMs = performance.now() - t0;
        if (ev.msg && !ev.ended) {
          const e = new RegExp(`id="m${ev.msg}"[^>]*data-status="(complete|partial)" hx-swap-oob`).exec(ev.win);
          if (e) ev.ended = e[1];
        }
      } }).then((r) => { ev.closed = true; return r; });
    await sleep(20);
    t0 = performance.now();
    const send = await post(`/ui/chats/${id}/send`, `text=${encodeURIComponent(`soak message ${rnd(0, 1e9)}`)}`);
    let outcome = ['ok'];
    if (send.status !== 200 || send.error) {
      outcome = send.status === 409 ? ['busy', '409'] : notOk(send, 'send');
    } else {
      const deadline = Date.now() + ctx.timeoutMs;
      while (ev.firstMs < 0 && !ev.closed && Date.now() < deadline) await sleep(10);
      if (ev.firstMs < 0) {
        const e = ev.closed ? await events : null;
        outcome = e && e.status === 429 ? ['busy', '429 (event streams)']
          : ['unexpected', ev.closed ? `ui: the event stream ended (${e.status} ${e.error}) before the answer`
            : `ui: no answer in ${ctx.timeoutMs} ms`];
      } else {
        ctx.ttft.ui.push(ev.firstMs);
        const how = Math.random();
        if (how < 0.25 && cutEvents) cutEvents(); // the page goes away; the answer goes on
        await sleep(rnd(0, 800));
        if (!ev.ended) {
          const stop = await post(`/ui/chats/${id}/stop`, '');
          if (stop.status !== 200) outcome = notOk(stop, 'stop');
          else ctx.counts.uiStops++;
        }
      }
    }
    // the answer ends (stopped, or complete), then the chat is exported and deleted
    for (let i = 0; i < 400; i++) {
      const d = await post(`/ui/chats/${id}/delete`, '');
      if (d.status === 200) break;
      if (d.status !== 409) { outcome = notOk(d, 'delete'); break; }
      await sleep(25);
    }
    if (cutEvents) cutEvents();
    const e = await events;
    if (outcome[0] === 'ok' && e.status !== 200 && e.status !== 429) outcome = notOk(e, 'events');
    ctx.rec('ui', ...outcome);
  }

  async function malformed() {
    const names = Object.keys(KINDS);
    const kind = names[rnd(0, names.length - 1)];
    const k = KINDS[kind];
    const r = await k.run(ctx.main);
    if (k.expect.includes(r.status)) return ctx.rec('malformed', 'expected', `${kind} ${r.status}`);
    if (k.close && r.status === 0 && r.error === 'reset') return ctx.rec('malformed', 'expected', `${kind} closed`);
    ctx.rec('malformed', 'unexpected', `${kind}: status ${r.status} ${r.error ?? ''} ${(r.body ?? '').slice(0, 100)}`);
  }

  // Slow senders: headers a line a second (answered in the end), or
  // headers that stop coming (the server must drop them at --timeout).
  let slowNow = 0;
  async function slowloris() {
    if (slowNow >= 4 || Date.now() + ctx.idleTimeoutMs + 15000 > ctx.deadline) return malformed();
    slowNow++;
    try {
      if (Math.random() < 0.5) {
        const lines = rnd(2, Math.max(2, Math.floor(ctx.holdMs / 1000)));
        const parts = ['GET /health HTTP/1.1\r\n', 'Host: 127.0.0.1\r\n',
          ...Array.from({ length: lines }, (_, i) => `X-Slow-${i}: ${'z'.repeat(rnd(1, 50))}\r\n`),
          'Connection: close\r\n\r\n'];
        const r = await rawExchange(ctx.main.port, parts, { gapMs: 1000, timeoutMs: lines * 1000 + 30000 });
        ctx.rec('slowloris', r.status === 200 ? 'ok' : 'unexpected', `trickled headers: ${r.status} ${r.error}`);
      } else {
        const r = await rawExchange(ctx.main.port, ['GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Never: '],
          { timeoutMs: ctx.idleTimeoutMs + 15000 });
        const ok = r.closedMs >= 0 && r.closedMs < ctx.idleTimeoutMs + 15000;
        ctx.rec('slowloris', ok ? 'expected' : 'unexpected', ok ? 'silent headers closed by the idle timeout'
          : `silent headers: not closed (${r.error})`);
      }
    } finally {
      slowNow--;
    }
  }

  // Weights: what the crowd does. Most clients chat (through the API
  // and the page, hanging up now and then); every fourth is hostile: one
  // in four of those is slow (senders that trickle or stop, streams it
  // does not read), the others send malformed requests.
  const pickFrom = (table) => {
    const total = table.reduce((a, [, w]) => a + w, 0);
    return () => {
      let x = Math.random() * total;
      for (const [fn, w] of table) if ((x -= w) < 0) return fn();
      return table[0][0]();
    };
  };
  const chatting = pickFrom([[apiStream, 25], [apiDisconnect, 12], [apiShort, 28], [apiOther, 10], [uiFlow, 15],
    [malformed, 10]]);
  const slow = pickFrom([[slowReader, 60], [slowloris, 30], [malformed, 10]]);
  // (the malformed senders pause 10 ms between requests: flat out, a
  // dozen of them would take most of a small machine from the rest)
  const flood = () => malformed().then(() => sleep(10));
  return (client) => (client % 4 !== 3 ? chatting() : client % 16 === 3 ? slow() : flood());
}
