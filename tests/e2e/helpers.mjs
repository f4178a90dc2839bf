// helpers.mjs: what the end-to-end tests share: where the binary and the
// fixtures are, and a live `smolbot serve` on a free port.
//
// SMOLBOT names the binary (make test passes the ASan build; default
// build/smolbot), SMOL_FIXTURES the fixtures (default ../shared/fixtures).
// Without them the tests are skipped, loudly: skipReason says why.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const FIXTURES = path.resolve(ROOT, process.env.SMOL_FIXTURES || '../shared/fixtures');
export const SCRIPTED = path.join(FIXTURES, 'scripted');
export const BIN = path.resolve(ROOT, process.env.SMOLBOT || 'build/smolbot');
// The template's date is pinned so that prompts are the same in every run.
export const DATE = '01 January 2026';

export function scripted(name) {
  return path.join(SCRIPTED, `${name}.gguf`);
}

// The scripted models' manifest: exact token ids and pieces of each script.
export function manifest() {
  return JSON.parse(readFileSync(path.join(SCRIPTED, 'manifest.json'), 'utf8'));
}

// Why the tests cannot run here, or false.
export const skipReason = (() => {
  if (!existsSync(BIN)) return `no smolbot binary at ${BIN} (build it, or set SMOLBOT)`;
  if (!existsSync(path.join(SCRIPTED, 'manifest.json')))
    return `no scripted fixtures at ${SCRIPTED} (set SMOL_FIXTURES)`;
  return false;
})();
if (skipReason) console.error(`# SKIPPING end-to-end tests: ${skipReason}`);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Starts `smolbot serve` on the model (a path) with --port 0, waits for the
// port it prints and for /health, and returns
//   { url, baseURL, port, proc, log(), stop() }
// stop() sends SIGTERM (or the given signal) and resolves with the exit
// { code, signal } once the process is gone.
export async function startServer(model, args = [], { env = {}, timeoutMs = 30000 } = {}) {
  const argv = ['serve', '-m', model, '--port', '0', '--date', DATE, ...args];
  const proc = spawn(BIN, argv, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ASAN_OPTIONS: 'detect_leaks=1', ...env },
  });
  let out = '';
  proc.stdout.on('data', (d) => (out += d));
  proc.stderr.on('data', (d) => (out += d));
  const exited = new Promise((resolve) =>
    proc.on('exit', (code, signal) => resolve({ code, signal })));
  let done = false;
  exited.then(() => (done = true));
  const deadline = Date.now() + timeoutMs;
  let port = 0;
  while (!port) {
    const m = out.match(/listening on http:\/\/[^\s]*:(\d+)\//);
    if (m) port = Number(m[1]);
    else if (done || Date.now() > deadline)
      throw new Error(`smolbot serve did not start: ${out}`);
    else await sleep(20);
  }
  const url = `http://127.0.0.1:${port}`;
  for (;;) {
    try {
      const r = await fetch(`${url}/health`, { headers: { Authorization: 'Bearer x' } });
      if (r.status === 200) break;
    } catch { /* not accepting yet */ }
    if (done || Date.now() > deadline) throw new Error(`smolbot serve never got ready: ${out}`);
    await sleep(25);
  }
  return {
    url,
    baseURL: `${url}/v1`,
    port,
    proc,
    log: () => out,
    async stop(signal = 'SIGTERM') {
      if (!done) proc.kill(signal);
      const r = await exited;
      if (r.code !== 0) console.error(`# smolbot serve exited ${JSON.stringify(r)}:\n${out}`);
      return r;
    },
  };
}

// POSTs a body (a string, Buffer or object sent as JSON) and returns
// { status, headers, json, text }.
export async function post(url, body, headers = {}) {
  const data = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
  const r = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body: data,
  });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: r.status, headers: r.headers, json, text };
}

// Parses Prometheus text into { 'name{labels}': number }.
export function parseMetrics(text) {
  const out = {};
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (-?[0-9.eE+-]+|NaN|\+Inf|-Inf)$/);
    if (!m) throw new Error(`not a Prometheus sample line: ${JSON.stringify(line)}`);
    out[m[1]] = Number(m[2]);
  }
  return out;
}

export async function metrics(url, headers = {}) {
  const r = await fetch(`${url}/metrics`, { headers });
  if (r.status !== 200) throw new Error(`/metrics answered ${r.status}`);
  return parseMetrics(await r.text());
}

export { sleep };
