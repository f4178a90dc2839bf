// soak.mjs: `make soak`. A crowd of clients against `smolbot serve` on
// the scripted fixture models, on loopback only, for a fixed time; then
// a report and a verdict (exit 1 when a check fails).
//
//   SOAK_SECONDS   how long the load runs (default 1800; CI: 20), warm-up
//                  included; starting and draining take a little more
//   SOAK_CLIENTS   concurrent clients (default 64)
//   SOAK_WARMUP    seconds of warm-up before the memory baseline (default
//                  a tenth of the run, at most 120; half of a run under 2 min)
//   SMOLBOT        the binary (default build/smolbot, the release build)
//   SMOL_FIXTURES  the fixtures (default ../shared/fixtures)
//   SOAK_REPORT    where the JSON report goes (default build/soak-report.json)
//   SOAK_THREADS   engine threads per server (default 1)
//
// Three servers run: scripted-long with an API key and the web chat's
// database (long streams, disconnects, slow clients, the page's routes
// and every malformed request), scripted-think and scripted-tool without
// a key (short answers whose text is known exactly). The checks: no
// server exits (crashes: 0) and each exits 0 on SIGTERM at the end; no
// unexpected reply (5xx, reset, timeout, wrong text); at least 1000
// malformed requests of 20+ kinds, each refused as it should be;
// resident memory under load at the end within 5% of what it was after
// the warm-up (runs of 2 minutes or more) and no more open descriptors
// when drained at the end than at the start, on every server; every
// generation cancelled by a disconnect or a stop ended within one token,
// and there are as many cancellations as disconnects and stops.
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { BIN, ROOT, manifest, metrics, scripted, skipReason, startServer } from '../e2e/helpers.mjs';
import { scenarios } from './clients.mjs';
import { KINDS } from './malformed.mjs';

const env = (k, d) => (process.env[k] !== undefined && process.env[k] !== '' ? Number(process.env[k]) : d);
const SECONDS = env('SOAK_SECONDS', 1800);
const CLIENTS = env('SOAK_CLIENTS', 64);
// a short run needs a larger share of warm-up to reach its plateau
const WARMUP = env('SOAK_WARMUP', SECONDS < 120 ? Math.round(SECONDS / 2) : Math.min(120, Math.round(SECONDS / 10)));
const REPORT = process.env.SOAK_REPORT || path.join(ROOT, 'build', 'soak-report.json');
const KEY = 'soak-key';
const IDLE_TIMEOUT_S = 10;
// the engine's threads per server: one, so that the HTTP side and the
// clients have the rest of a small machine
const THREADS = env('SOAK_THREADS', 1);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (...a) => console.log(`[${new Date().toISOString().slice(11, 19)}]`, ...a);

if (skipReason) {
  console.error(`soak: cannot run: ${skipReason}`);
  process.exit(2);
}

// ---- the servers and what we sample of them ----

function procSample(pid) {
  const st = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (k) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(st)?.[1] ?? 0);
  return { rssKiB: kib('VmRSS'), fds: readdirSync(`/proc/${pid}/fd`).length,
    threads: Number(/^Threads:\s+(\d+)/m.exec(st)?.[1] ?? 0) };
}

const limits = ['--max-connections', '1024', '--max-streams', '256', '--max-queue', '512',
  '--max-per-client', '512', '--timeout', String(IDLE_TIMEOUT_S), '-t', String(THREADS)];
const tmp = path.join(ROOT, 'build', 'soak');
mkdirSync(tmp, { recursive: true });
const db = path.join(tmp, `chats-${process.pid}.db`);

const servers = [];
const crashed = [];
let stopping = false; // from the final SIGTERM on, an exit is no crash
async function start(name, args) {
  const srv = await startServer(scripted(name), [...limits, ...args]);
  const s = { name, srv, samples: [], exit: null };
  srv.proc.on('exit', (code, signal) => {
    s.exit = { code, signal };
    if (!stopping) crashed.push({ name, code, signal, log: srv.log().slice(-3000) });
  });
  servers.push(s);
  return s;
}

function sampleAll(tag) {
  for (const s of servers) {
    if (s.exit) continue;
    try { s.samples.push({ t: Date.now(), tag, ...procSample(s.srv.proc.pid) }); } catch { /* it just exited */ }
  }
}

// ---- outcomes ----

const tally = { requests: 0, byScenario: {}, expected: {}, busy: 0, aborted: {}, unexpected: {}, samples: [] };
function rec(scenario, outcome, detail) {
  tally.requests++;
  const b = (tally.byScenario[scenario] ??= { ok: 0, busy: 0, expected: 0, aborted: 0, unexpected: 0 });
  b[outcome]++;
  if (outcome === 'busy') tally.busy++;
  if (outcome === 'expected') tally.expected[detail] = (tally.expected[detail] ?? 0) + 1;
  if (outcome === 'aborted') tally.aborted[`${scenario}: ${detail}`] = (tally.aborted[`${scenario}: ${detail}`] ?? 0) + 1;
  if (outcome === 'unexpected') {
    const kind = `${scenario}: ${String(detail).split(':')[0]}`;
    tally.unexpected[kind] = (tally.unexpected[kind] ?? 0) + 1;
    if (tally.samples.length < 30) tally.samples.push(`${scenario}: ${detail}`);
  }
}

const pct = (v, p) => {
  if (!v.length) return NaN;
  const s = [...v].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

// ---- the run ----

const ctl = { running: false };
let ctx;

async function clientLoop(_, client) {
  while (ctl.running && !crashed.length) {
    try {
      await ctx.turn(client);
    } catch (e) {
      rec('client', 'unexpected', `exception: ${e.stack?.split('\n').slice(0, 2).join(' ') ?? e}`);
    }
  }
}

// Runs the crowd for `seconds`, sampling the servers as it goes: the
// samples of the first `warmup` seconds are tagged 'warmup', the rest
// 'load'.
async function load(seconds, warmup) {
  ctl.running = true;
  const start = Date.now();
  ctx.deadline = start + seconds * 1000;
  const loops = Array.from({ length: CLIENTS }, clientLoop);
  const sampleMs = seconds > 1200 ? 5000 : seconds > 120 ? 2000 : 500;
  let said = start;
  while (Date.now() < ctx.deadline && !crashed.length) {
    await sleep(Math.min(sampleMs, Math.max(0, ctx.deadline - Date.now())));
    sampleAll(Date.now() - start < warmup * 1000 ? 'warmup' : 'load');
    if (Date.now() - said >= 60000) {
      said = Date.now();
      log(`${Math.round((said - start) / 1000)} s: ${tally.requests} requests, ` +
        `${Object.values(tally.unexpected).reduce((a, b) => a + b, 0)} unexpected; ` +
        servers.map((s) => `${s.name} ${(s.samples.at(-1)?.rssKiB / 1024).toFixed(1)} MiB, ${s.samples.at(-1)?.fds} fds`).join('; '));
    }
  }
  ctl.running = false;
  await Promise.all(loops);
}

// Waits until nothing is in flight on any server, then samples them idle.
async function drainAndSample(tag) {
  for (let i = 0; i < 300 && !crashed.length; i++) {
    let idle = true;
    for (const s of servers) {
      const m = await metrics(s.srv.url, { Authorization: `Bearer ${KEY}` });
      if (m.smolbot_http_streams > 0 || m.smolbot_http_connections > 1 || m.smolbot_queue_length > 0 ||
        m.smolbot_generations_running > 0) idle = false;
    }
    if (idle) break;
    await sleep(100);
  }
  await sleep(1000); // connection threads end a moment after their requests
  sampleAll(tag);
  return Object.fromEntries(servers.map((s) => [s.name, s.samples.filter((x) => x.tag === tag).at(-1)]));
}

const t0 = Date.now();
log(`soak: ${CLIENTS} clients for ${SECONDS} s (warm-up ${WARMUP} s) against ${BIN}`);
await start('scripted-long', ['--api-key', KEY, '--db', db]);
await start('scripted-think', []);
await start('scripted-tool', []);
await sleep(500);
sampleAll('start');
const atStart = Object.fromEntries(servers.map((s) => [s.name, s.samples.at(-1)]));
ctx = {
  main: { port: servers[0].srv.port, key: KEY },
  aux: servers.slice(1).map((s) => ({ port: s.srv.port, name: s.name })),
  pieces: manifest()['scripted-long'].pieces,
  holdMs: Math.min(8000, Math.max(1000, SECONDS * 50)),
  timeoutMs: 120000,
  idleTimeoutMs: IDLE_TIMEOUT_S * 1000,
  rec, ttft: { api: [], ui: [] }, counts: { apiAborts: 0, uiStops: 0 }, deadline: 0,
};
ctx.turn = scenarios(ctx);

await load(SECONDS, WARMUP);
const atEnd = await drainAndSample('end');

// ---- cancellations, from the main server's log and metrics ----

const mainLog = servers[0].srv.log();
// two forms: a cancel seen by the generation (how long it took, how many
// tokens it made after it), or a piece refused by a stream whose client
// had left before the cancel came (it stopped at that token)
const cancels = [...mainLog.matchAll(/generation cancelled after (\d+) tokens(?:, ([0-9.]+) ms after the cancel \((\d+) tokens? made after it\)|: (its output was refused))/g)]
  .map((m) => ({ tokens: Number(m[1]), ms: m[4] ? NaN : Number(m[2]), after: m[4] ? 0 : Number(m[3]), refused: !!m[4] }));
let cancelledMetric = NaN;
if (!crashed.length) {
  const m = await metrics(servers[0].srv.url, { Authorization: `Bearer ${KEY}` });
  cancelledMetric = m['smolbot_generations_total{result="cancelled"}'];
}

// ---- the end: SIGTERM, and how they exit ----

stopping = true;
const exits = {};
for (const s of servers) exits[s.name] = s.exit ?? await s.srv.stop('SIGTERM');

// ---- the verdict ----

const checks = [];
const check = (ok, what) => checks.push({ ok: !!ok, what });
const malformedTotal = tally.byScenario.malformed ? tally.byScenario.malformed.expected + tally.byScenario.malformed.unexpected : 0;
const kindsSeen = new Set(Object.keys(tally.expected).map((k) => k.split(' ')[0]).filter((k) => k in KINDS));
const unexpectedTotal = Object.values(tally.unexpected).reduce((a, b) => a + b, 0);
check(crashed.length === 0, `crashes: ${crashed.length} (server processes that exited during the run)`);
for (const [name, e] of Object.entries(exits))
  check(e && e.code === 0 && e.signal === null, `${name} exits 0 on SIGTERM (${JSON.stringify(e)})`);
check(unexpectedTotal === 0, `unexpected replies (5xx, resets, timeouts, wrong text): ${unexpectedTotal}`);
check(malformedTotal >= 1000, `malformed requests: ${malformedTotal} (at least 1000)`);
check(kindsSeen.size >= 20, `malformed kinds refused as they should be: ${kindsSeen.size} of ${Object.keys(KINDS).length} (at least 20)`);
// Memory is compared under load: the median of the first fifth of the
// samples after the warm-up against that of the last fifth (the idle
// figures are shown too, but an idle process keeps what its allocator
// has not handed back, which drifts by a few percent either way). A
// run under two minutes is too short to judge: the process is still
// growing into its load. Descriptors are compared idle, where they are
// exact: at the start and after the final drain.
const median = (v) => pct(v, 50);
const flat = {};
for (const s of servers) {
  const load_ = s.samples.filter((x) => x.tag === 'load').map((x) => x.rssKiB);
  const k = Math.max(1, Math.floor(load_.length / 5));
  flat[s.name] = { after_warmup_kib: median(load_.slice(0, k)), end_kib: median(load_.slice(-k)), samples: k };
  const { after_warmup_kib: a, end_kib: b } = flat[s.name];
  const growth = (b - a) / a;
  const what = `${s.name}: resident memory under load after warm-up ${(a / 1024).toFixed(1)} MiB, at the end ` +
    `${(b / 1024).toFixed(1)} MiB (medians of ${k} samples; ${(growth * 100).toFixed(2)}%, limit 5%)`;
  if (SECONDS >= 120) check(Math.abs(growth) <= 0.05, what);
  else checks.push({ ok: true, skipped: true, what: `${what}: not judged, the run is under 120 s` });
  const ia = atStart[s.name], ib = atEnd[s.name];
  check(ia && ib && ib.fds <= ia.fds, `${s.name}: open file descriptors idle at the start ${ia?.fds}, at the end ${ib?.fds}`);
}
const expectedCancels = ctx.counts.apiAborts + ctx.counts.uiStops;
const worst = cancels.reduce((w, c) => Math.max(w, c.after), 0);
// a running generation stops at its next token; a queued one when the
// worker reaches it (it then makes none)
const runningMs = cancels.filter((c) => !c.refused && c.tokens > 0).map((c) => c.ms);
const queuedMs = cancels.filter((c) => !c.refused && c.tokens === 0).map((c) => c.ms);
const refused = cancels.filter((c) => c.refused).length;
check(cancels.length > 0 && worst <= 1, `every cancelled generation stopped within one token (worst: ${worst} after the cancel, ${cancels.length} cancellations)`);
check(cancels.length >= expectedCancels, `cancellations ${cancels.length} >= disconnects ${ctx.counts.apiAborts} + stops ${ctx.counts.uiStops}`);
check(cancels.length === cancelledMetric, `the log's cancellations match /metrics (${cancelledMetric})`);

const report = {
  seconds: Math.round((Date.now() - t0) / 1000), clients: CLIENTS, warmup_s: WARMUP, binary: BIN,
  requests: tally.requests, busy_429_409: tally.busy, by_scenario: tally.byScenario,
  expected_4xx_by_kind: tally.expected, aborted_on_purpose: tally.aborted,
  unexpected_by_kind: tally.unexpected, unexpected_samples: tally.samples, crashes: crashed,
  ttft_ms: {
    api: { n: ctx.ttft.api.length, p50: pct(ctx.ttft.api, 50), p99: pct(ctx.ttft.api, 99) },
    ui: { n: ctx.ttft.ui.length, p50: pct(ctx.ttft.ui, 50), p99: pct(ctx.ttft.ui, 99) },
  },
  cancellations: { n: cancels.length, metric: cancelledMetric, refused_output: refused, api_disconnects: ctx.counts.apiAborts,
    ui_stops: ctx.counts.uiStops, worst_tokens_after: worst,
    running_ms_after_cancel: { n: runningMs.length, p50: pct(runningMs, 50), p99: pct(runningMs, 99),
      max: Math.max(0, ...runningMs) },
    queued_ms_after_cancel: { n: queuedMs.length, p50: pct(queuedMs, 50), p99: pct(queuedMs, 99),
      max: Math.max(0, ...queuedMs) } },
  memory: Object.fromEntries(servers.map((s) => {
    const load_ = s.samples.filter((x) => x.tag === 'load');
    return [s.name, { start: atStart[s.name], end: atEnd[s.name], under_load: flat[s.name],
      peak_rss_kib: Math.max(...s.samples.map((x) => x.rssKiB)), peak_fds: Math.max(...s.samples.map((x) => x.fds)),
      peak_threads: Math.max(...s.samples.map((x) => x.threads)), load_samples: load_.length,
      timeline: s.samples.map((x) => [Math.round((x.t - t0) / 1000), +(x.rssKiB / 1024).toFixed(2), x.fds, x.threads, x.tag]) }];
  })),
  exits, checks,
};
mkdirSync(path.dirname(REPORT), { recursive: true });
writeFileSync(REPORT, JSON.stringify(report, null, 2));

const f1 = (x) => (Number.isFinite(x) ? x.toFixed(1) : '-');
console.log('\n==== soak report ====');
console.log(`duration ${report.seconds} s, ${CLIENTS} clients, warm-up ${WARMUP} s, binary ${BIN}`);
console.log(`requests done: ${tally.requests} (busy 429/409: ${tally.busy})`);
for (const [k, v] of Object.entries(tally.byScenario).sort())
  console.log(`  ${k.padEnd(16)} ok ${v.ok}, expected 4xx ${v.expected}, busy ${v.busy}, aborted on purpose ${v.aborted}, unexpected ${v.unexpected}`);
console.log(`malformed: ${malformedTotal} requests of ${kindsSeen.size} kinds; expected answers by kind:`);
const byKind = {};
for (const [k, n] of Object.entries(tally.expected)) {
  const [kind, st] = k.split(' ');
  (byKind[kind] ??= []).push(`${st} x${n}`);
}
for (const [k, v] of Object.entries(byKind).sort()) console.log(`  ${k.padEnd(22)} ${v.join(', ')}`);
console.log(`unexpected by kind: ${unexpectedTotal ? JSON.stringify(tally.unexpected) : 'none'}`);
for (const s of tally.samples.slice(0, 10)) console.log(`  e.g. ${s}`);
console.log(`crashes: ${crashed.length}`);
for (const c of crashed) console.log(`  ${c.name} exited ${JSON.stringify({ code: c.code, signal: c.signal })}:\n${c.log}`);
console.log('memory (VmRSS) and open descriptors (/proc/PID/fd): idle at the start; under load after the warm-up and');
console.log('at the end (medians of the first and last fifth after the warm-up); idle at the end (drained); peaks:');
for (const s of servers) {
  const r = report.memory[s.name];
  const mib = (kib) => (Number.isFinite(kib) ? (kib / 1024).toFixed(1) : '-');
  console.log(`  ${s.name.padEnd(15)} start ${mib(r.start?.rssKiB)} MiB ${r.start?.fds} fds; under load ` +
    `${mib(r.under_load.after_warmup_kib)} -> ${mib(r.under_load.end_kib)} MiB; end ${mib(r.end?.rssKiB)} MiB ` +
    `${r.end?.fds} fds; peak ${mib(r.peak_rss_kib)} MiB, ${r.peak_fds} fds, ${r.peak_threads} threads`);
}
console.log(`time to first token: API p50 ${f1(report.ttft_ms.api.p50)} ms, p99 ${f1(report.ttft_ms.api.p99)} ms (n ${report.ttft_ms.api.n}); ` +
  `page p50 ${f1(report.ttft_ms.ui.p50)} ms, p99 ${f1(report.ttft_ms.ui.p99)} ms (n ${report.ttft_ms.ui.n})`);
const rc_ = report.cancellations;
console.log(`cancellations: ${cancels.length} (API disconnects ${ctx.counts.apiAborts}, page stops ${ctx.counts.uiStops}, ` +
  `the rest hang-ups of streams still queued); at most ${worst} token made after a cancel; ${refused} stopped ` +
  'at the token their stream refused, before the cancel came');
console.log(`  running generations (${rc_.running_ms_after_cancel.n}) ended ${f1(rc_.running_ms_after_cancel.p50)} ms (p50), ` +
  `${f1(rc_.running_ms_after_cancel.p99)} ms (p99), ${f1(rc_.running_ms_after_cancel.max)} ms (max) after the cancel`);
console.log(`  queued ones (${rc_.queued_ms_after_cancel.n}) were dropped when the worker reached them: ` +
  `${f1(rc_.queued_ms_after_cancel.p50)} ms (p50), ${f1(rc_.queued_ms_after_cancel.max)} ms (max) after the cancel, 0 tokens`);
console.log('checks:');
for (const c of checks) console.log(`  ${c.skipped ? 'skip' : c.ok ? 'ok  ' : 'FAIL'} ${c.what}`);
console.log(`report: ${REPORT}`);
const failed = checks.filter((c) => !c.ok).length;
console.log(failed ? `soak: FAILED (${failed} check${failed === 1 ? '' : 's'})` : 'soak: passed');
if (!failed) for (const x of ['', '-wal', '-shm']) rmSync(db + x, { force: true }); // else kept to look at
process.exit(failed ? 1 : 0);
