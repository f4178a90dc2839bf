// chat.test.mjs: the official `openai` client against `smolbot serve` on
// the scripted fixture models, whose answers are known exactly: the text,
// the reasoning split, tool calls, stop strings, max_tokens, usage and the
// KV cache reuse of a conversation, streamed and not.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { manifest, post, scripted, skipReason, startServer } from './helpers.mjs';

const skip = skipReason;
const HI = [{ role: 'user', content: 'Hi' }];
const WEATHER_TOOLS = [{
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'The weather in a city',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
}];

// Runs a streamed completion and gathers what came, in order.
async function collect(client, params) {
  const stream = await client.chat.completions.create({ ...params, stream: true });
  const got = { content: '', reasoning: '', reasoningVllm: '', order: [], toolCalls: [],
    finish: null, usage: null, timings: null, chunks: 0, role: null };
  for await (const chunk of stream) {
    got.chunks++;
    if (chunk.usage) got.usage = chunk.usage;
    if (chunk.timings) got.timings = chunk.timings;
    const c = chunk.choices[0];
    if (!c) continue;
    const d = c.delta || {};
    if (d.role) got.role = d.role;
    if (d.reasoning_content) { got.reasoning += d.reasoning_content; got.order.push('r'); }
    if (d.reasoning) got.reasoningVllm += d.reasoning;
    if (d.content) { got.content += d.content; got.order.push('c'); }
    if (d.tool_calls) got.toolCalls.push(...d.tool_calls);
    if (c.finish_reason) got.finish = c.finish_reason;
  }
  return got;
}

// The prompt's token count, from the server's own template and tokenizer.
async function promptTokens(url, messages, extra = {}) {
  const t = await post(`${url}/apply-template`, { messages, ...extra });
  assert.equal(t.status, 200, t.text);
  const k = await post(`${url}/tokenize`, { content: t.json.prompt });
  assert.equal(k.status, 200, k.text);
  return k.json.tokens.length;
}

function server(name, args = []) {
  const s = { srv: null, client: null };
  before(async () => {
    s.srv = await startServer(scripted(name), args);
    s.client = new OpenAI({ baseURL: s.srv.baseURL, apiKey: 'unused', maxRetries: 0 });
  });
  after(async () => {
    const r = await s.srv?.stop();
    assert.deepEqual(r, { code: 0, signal: null }, 'the server exits 0 on SIGTERM');
  });
  return s;
}

describe('scripted-plain', { skip }, () => {
  const s = server('scripted-plain');
  const TEXT = 'Hello there! How are you?';

  test('non-streaming: exact text, finish_reason, usage equal to the token counts', async () => {
    const r = await s.client.chat.completions.create({ model: 'x', messages: HI });
    assert.equal(r.object, 'chat.completion');
    assert.equal(r.model, 'scripted-plain');
    assert.match(r.id, /^chatcmpl-/);
    const c = r.choices[0];
    assert.equal(c.message.role, 'assistant');
    assert.equal(c.message.content, TEXT);
    assert.equal(c.message.reasoning_content, undefined);
    assert.equal(c.finish_reason, 'stop');
    assert.equal(r.usage.completion_tokens, manifest()['scripted-plain'].ids.length);
    assert.equal(r.usage.prompt_tokens, await promptTokens(s.srv.url, HI));
    assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
    assert.equal(r.timings.predicted_n, r.usage.completion_tokens);
    assert.equal(r.timings.prompt_n + r.timings.cache_n, r.usage.prompt_tokens);
    assert.ok(r.timings.predicted_per_second > 0 && r.timings.prompt_ms >= 0);
  });

  test('streaming: the deltas make the text, then finish_reason and usage', async () => {
    const g = await collect(s.client, { model: 'x', messages: HI,
      stream_options: { include_usage: true } });
    assert.equal(g.role, 'assistant');
    assert.equal(g.content, TEXT);
    assert.equal(g.finish, 'stop');
    assert.ok(g.chunks >= 10, `one chunk per token at least, got ${g.chunks}`);
    assert.equal(g.usage.completion_tokens, 10);
    assert.equal(g.usage.prompt_tokens, await promptTokens(s.srv.url, HI));
    assert.equal(g.timings.predicted_n, 10);
  });

  test('no usage chunk unless stream_options.include_usage', async () => {
    const g = await collect(s.client, { model: 'x', messages: HI });
    assert.equal(g.usage, null);
    assert.equal(g.content, TEXT);
  });

  test('the second turn of a conversation reuses the first from the KV cache', async () => {
    const first = [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Who are you?' }];
    const r1 = await s.client.chat.completions.create({ model: 'x', messages: first });
    const r2 = await s.client.chat.completions.create({ model: 'x', messages: [
      ...first, { role: 'assistant', content: r1.choices[0].message.content },
      { role: 'user', content: 'And then?' }] });
    assert.equal(r2.choices[0].message.content, TEXT);
    const cached = r2.usage.prompt_tokens_details.cached_tokens;
    assert.ok(cached >= r1.usage.prompt_tokens,
      `cached_tokens ${cached} covers the first prompt (${r1.usage.prompt_tokens} tokens)`);
    assert.ok(cached < r2.usage.prompt_tokens);
    assert.equal(r2.timings.cache_n, cached);
    assert.equal(r2.timings.prompt_n, r2.usage.prompt_tokens - cached);
  });

  test('sampling parameters in range are accepted, the script still wins', async () => {
    const r = await s.client.chat.completions.create({ model: 'x', messages: HI,
      temperature: 1.2, top_p: 0.9, top_k: 40, min_p: 0.05, seed: 7, max_completion_tokens: 64,
      presence_penalty: 0, frequency_penalty: 0, n: 1, user: 'tester' });
    assert.equal(r.choices[0].message.content, TEXT);
  });
});

describe('scripted-think', { skip }, () => {
  const s = server('scripted-think');

  test('non-streaming: reasoning_content and reasoning apart from the content', async () => {
    const r = await s.client.chat.completions.create({ model: 'x', messages: HI });
    const m = r.choices[0].message;
    assert.equal(m.reasoning_content, 'Let me think.');
    assert.equal(m.reasoning, 'Let me think.');
    assert.equal(m.content, 'Hello there!');
    assert.equal(r.choices[0].finish_reason, 'stop');
    assert.equal(r.usage.completion_tokens, 13);
  });

  test('streaming: reasoning deltas first, then the answer', async () => {
    const g = await collect(s.client, { model: 'x', messages: HI });
    assert.equal(g.reasoning, 'Let me think.');
    assert.equal(g.reasoningVllm, 'Let me think.');
    assert.equal(g.content, 'Hello there!');
    const firstContent = g.order.indexOf('c');
    assert.ok(firstContent > 0, 'some reasoning came before the content');
    assert.ok(!g.order.slice(firstContent).includes('r'), 'no reasoning after the content began');
    assert.equal(g.finish, 'stop');
  });

  test('thinking off by chat_template_kwargs, reasoning_effort or /no_think', async () => {
    for (const extra of [{ chat_template_kwargs: { enable_thinking: false } },
      { reasoning_effort: 'none' }]) {
      const t = await post(`${s.srv.url}/apply-template`, { messages: HI, ...extra });
      assert.equal(t.json.thinking, false, JSON.stringify(extra));
      assert.match(t.json.prompt, /Reasoning Mode: \/no_think/);
    }
    const sys = [{ role: 'system', content: 'Answer plainly. /no_think' }, ...HI];
    const t = await post(`${s.srv.url}/apply-template`, { messages: sys });
    assert.equal(t.json.thinking, false);
    const on = await post(`${s.srv.url}/apply-template`, { messages: HI });
    assert.equal(on.json.thinking, true);
    assert.match(on.json.prompt, /Reasoning Mode: \/think/);
    // the model writes its think block anyway: it is still split out
    const r = await s.client.chat.completions.create({ model: 'x', messages: HI,
      chat_template_kwargs: { enable_thinking: false } });
    assert.equal(r.choices[0].message.content, 'Hello there!');
  });
});

for (const name of ['scripted-tool', 'scripted-tool-nl']) {
  describe(name, { skip }, () => {
    const s = server(name);

    test('tools given: a tool call with finish_reason tool_calls', async () => {
      const r = await s.client.chat.completions.create({ model: 'x', tools: WEATHER_TOOLS,
        messages: [{ role: 'user', content: 'Weather in Paris?' }] });
      const c = r.choices[0];
      assert.equal(c.finish_reason, 'tool_calls');
      assert.equal(c.message.content, null);
      assert.equal(c.message.tool_calls.length, 1);
      const call = c.message.tool_calls[0];
      assert.equal(call.type, 'function');
      assert.match(call.id, /^call_/);
      assert.equal(call.function.name, 'get_weather');
      assert.deepEqual(JSON.parse(call.function.arguments), { city: 'Paris' });
    });

    test('streamed: the call comes as a tool_calls delta', async () => {
      const g = await collect(s.client, { model: 'x', tools: WEATHER_TOOLS, tool_choice: 'auto',
        messages: [{ role: 'user', content: 'Weather in Paris?' }] });
      assert.equal(g.finish, 'tool_calls');
      assert.equal(g.content, '');
      assert.equal(g.toolCalls.length, 1);
      assert.equal(g.toolCalls[0].index, 0);
      assert.equal(g.toolCalls[0].function.name, 'get_weather');
      assert.deepEqual(JSON.parse(g.toolCalls[0].function.arguments), { city: 'Paris' });
    });

    test('tool_choice "none": no tools in the prompt, the call stays text', async () => {
      const r = await s.client.chat.completions.create({ model: 'x', tools: WEATHER_TOOLS,
        tool_choice: 'none', messages: [{ role: 'user', content: 'Weather in Paris?' }] });
      const c = r.choices[0];
      assert.equal(c.finish_reason, 'stop');
      assert.equal(c.message.tool_calls, undefined);
      assert.match(c.message.content, /^<tool_call>\n.*"get_weather".*\n<\/tool_call>$/s);
      const t = await post(`${s.srv.url}/apply-template`, { messages: HI, tools: WEATHER_TOOLS,
        tool_choice: 'none' });
      assert.doesNotMatch(t.json.prompt, /get_weather/);
    });

    test('the tool result goes back into the conversation', async () => {
      const r1 = await s.client.chat.completions.create({ model: 'x', tools: WEATHER_TOOLS,
        messages: [{ role: 'user', content: 'Weather in Paris?' }] });
      const call = r1.choices[0].message.tool_calls[0];
      const t = await post(`${s.srv.url}/apply-template`, { tools: WEATHER_TOOLS, messages: [
        { role: 'user', content: 'Weather in Paris?' },
        { role: 'assistant', content: null, tool_calls: [call] },
        { role: 'tool', tool_call_id: call.id, content: '{"temp": 21}' }] });
      assert.equal(t.status, 200, t.text);
      assert.match(t.json.prompt, /<tool_call>\n\{"name": "get_weather", "arguments": \{"city": "Paris"\}\}\n<\/tool_call>/);
      assert.match(t.json.prompt, /\{"temp": 21\}/);
    });
  });
}

describe('scripted-stop', { skip }, () => {
  const s = server('scripted-stop');

  test('stop ["STOP"]: the text before it, finish_reason stop', async () => {
    const r = await s.client.chat.completions.create({ model: 'x', messages: HI, stop: ['STOP'] });
    assert.equal(r.choices[0].message.content, 'The answer is 42. ');
    assert.equal(r.choices[0].finish_reason, 'stop');
    assert.ok(r.usage.completion_tokens < 20, 'generation ended at the stop string');
  });

  test('streamed, with stop as a plain string split over four tokens', async () => {
    const g = await collect(s.client, { model: 'x', messages: HI, stop: 'STOP' });
    assert.equal(g.content, 'The answer is 42. ');
    assert.equal(g.finish, 'stop');
  });

  test('without a stop string the whole script comes', async () => {
    const r = await s.client.chat.completions.create({ model: 'x', messages: HI });
    assert.equal(r.choices[0].message.content, 'The answer is 42. STOP here. More text.');
  });
});

describe('scripted-long', { skip }, () => {
  const s = server('scripted-long', ['-c', '8192']);
  const pieces = () => manifest()['scripted-long'].pieces;

  test('max_tokens 20: finish_reason length, exactly 20 tokens of the script', async () => {
    const r = await s.client.chat.completions.create({ model: 'x', messages: HI, max_tokens: 20 });
    assert.equal(r.choices[0].finish_reason, 'length');
    assert.equal(r.usage.completion_tokens, 20);
    assert.equal(r.choices[0].message.content, pieces().slice(0, 20).join(''));
  });

  test('streamed max_tokens 20', async () => {
    const g = await collect(s.client, { model: 'x', messages: HI, max_tokens: 20,
      stream_options: { include_usage: true } });
    assert.equal(g.finish, 'length');
    assert.equal(g.usage.completion_tokens, 20);
    assert.equal(g.content, pieces().slice(0, 20).join(''));
  });

  test('/v1/completions: the raw prompt, no template', async () => {
    const r = await s.client.completions.create({ model: 'x', max_tokens: 5,
      prompt: '<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n' });
    assert.equal(r.object, 'text_completion');
    assert.equal(r.choices[0].text, pieces().slice(0, 5).join(''));
    assert.equal(r.choices[0].finish_reason, 'length');
    const stream = await s.client.completions.create({ model: 'x', max_tokens: 5, stream: true,
      prompt: '<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n', stop: ['chunk'] });
    let text = '';
    for await (const c of stream) text += c.choices[0]?.text ?? '';
    assert.equal(text, pieces().slice(0, 5).join(''));
  });

  test('a client that aborts mid-stream cancels its generation at once', async () => {
    const ctl = new AbortController();
    const stream = await s.client.chat.completions.create({ model: 'x', messages: HI,
      stream: true }, { signal: ctl.signal });
    let n = 0;
    // the client ends its iteration quietly on abort (openai-node does)
    try {
      for await (const chunk of stream) {
        if (chunk.choices[0]?.delta?.content && ++n === 5) {
          ctl.abort();
          break;
        }
      }
    } catch (e) {
      assert.match(String(e), /abort/i);
    }
    assert.equal(n, 5);
    // the server notices the closed socket and stops within one token
    let m;
    for (let i = 0; i < 200; i++) {
      const r = await fetch(`${s.srv.url}/metrics`);
      m = Object.fromEntries((await r.text()).split('\n').filter((l) => l && !l.startsWith('#'))
        .map((l) => [l.slice(0, l.lastIndexOf(' ')), Number(l.slice(l.lastIndexOf(' ') + 1))]));
      if (m['smolbot_generations_total{result="cancelled"}'] >= 1) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(m['smolbot_generations_total{result="cancelled"}'], 1);
    assert.ok(m.smolbot_last_cancel_tokens_after <= 1, 'at most one token after the cancel');
    assert.ok(m.smolbot_last_cancel_seconds < 0.5, `stopped ${m.smolbot_last_cancel_seconds} s after the cancel`);
    assert.ok(m.smolbot_generations_running === 0 && m.smolbot_queue_length === 0);
    for (let i = 0; i < 200 && !/generation cancelled after/.test(s.srv.log()); i++)
      await new Promise((r) => setTimeout(r, 10));
    assert.match(s.srv.log(), /generation cancelled after \d+ tokens, [0-9.]+ ms after the cancel/);
    assert.doesNotMatch(s.srv.log(), /application error/);
    // and the next request is served at once
    const t0 = Date.now();
    const r = await s.client.chat.completions.create({ model: 'x', messages: HI, max_tokens: 20 });
    assert.equal(r.choices[0].finish_reason, 'length');
    assert.ok(Date.now() - t0 < 5000, `the next request took ${Date.now() - t0} ms`);
  });
});
