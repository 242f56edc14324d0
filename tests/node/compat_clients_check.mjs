// The official `openai` and `@anthropic-ai/sdk` clients against the agent's compatible routes
// (POST /v1/chat/completions, POST /v1/messages, POST /v1/messages/count_tokens, GET /v1/models), the agent running `serve --simulate` (started and
// stopped by tests/e2e/compat_clients_e2e_test.cpp).
// Usage: node tests/node/compat_clients_check.mjs <main|tools|shapes|reasoning|ratelimit|caching|guardrail> <base url> <api key> [model alias]
// (main includes tools; tools alone is run against an agent using InvokeModel too.)
// Prints one JSON line per check, then {"passed": N, "failed": M}; exits 1 when a check failed.
import OpenAI from "openai";
import Anthropic from "@anthropic-ai/sdk";

const [scenario, base, key, alias = "claude"] = process.argv.slice(2);
const results = [];
async function check(name, fn) {
  try {
    const detail = await fn();
    results.push({ name, ok: true, detail });
  } catch (e) {
    results.push({ name, ok: false, detail: String(e && e.stack ? e.stack : e) });
  }
  console.log(JSON.stringify(results[results.length - 1]));
}
function expect(cond, what) {
  if (!cond) throw new Error("expected " + what);
}
async function expectError(promise, status, what) {
  try {
    await promise;
  } catch (e) {
    expect(e.status === status, `${what}: status ${status}, got ${e.status} (${e.message})`);
    return e;
  }
  throw new Error(`expected ${what} to fail with ${status}`);
}

// A 1x1 PNG.
const PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";

const openai = new OpenAI({ apiKey: key, baseURL: base + "/v1", maxRetries: 0 });
const anthropic = new Anthropic({ apiKey: key, baseURL: base, maxRetries: 0 });

// A tool whose required inputs the simulator fills by type: city "sample", days 1 (its minimum).
const WEATHER_SCHEMA = { type: "object", properties: { city: { type: "string", description: "City" },
  days: { type: "integer", minimum: 1 }, unit: { type: "string", enum: ["celsius", "fahrenheit"] } }, required: ["city", "days"] };
const WEATHER_FN = { type: "function", function: { name: "get_weather", description: "Weather for a city", parameters: WEATHER_SCHEMA } };
const CLOCK_FN = { type: "function", function: { name: "now", description: "The time" } };
const WEATHER_TOOL = { name: "get_weather", description: "Weather for a city", input_schema: WEATHER_SCHEMA };
const CLOCK_TOOL = { name: "now", description: "The time", input_schema: { type: "object", properties: {} } };

// Two-turn tool round trips through both clients, plain and streamed (the clients' own stream helpers
// assemble the tool calls).
async function tools() {
  const question = { role: "user", content: "What is the weather in Paris?" };
  await check("openai: a tool call and its result, two turns", async () => {
    const first = await openai.chat.completions.create({ model: alias, messages: [question], tools: [WEATHER_FN, CLOCK_FN],
      tool_choice: "auto", parallel_tool_calls: true });
    const c = first.choices[0];
    expect(c.finish_reason === "tool_calls", "finish_reason tool_calls, got " + c.finish_reason);
    expect(c.message.tool_calls.length === 1 && c.message.tool_calls[0].type === "function", "one tool call");
    const call = c.message.tool_calls[0];
    expect(call.function.name === "get_weather", "the first tool");
    const input = JSON.parse(call.function.arguments);
    expect(input.city === "sample" && input.days === 1, "arguments from the schema: " + call.function.arguments);
    expect(/^tooluse_/.test(call.id), "Bedrock's id");
    const second = await openai.chat.completions.create({ model: alias, tools: [WEATHER_FN, CLOCK_FN],
      messages: [question, c.message, { role: "tool", tool_call_id: call.id, content: "21 C and sunny" }] });
    expect(second.choices[0].finish_reason === "stop", "finish_reason stop");
    expect(second.choices[0].message.content === "The tool returned: 21 C and sunny", "the answer: " + second.choices[0].message.content);
    return { id: call.id, arguments: call.function.arguments };
  });
  await check("openai: a forced tool call streamed, assembled by the client's stream helper", async () => {
    const forced = { model: alias, messages: [question], tools: [WEATHER_FN, CLOCK_FN],
      tool_choice: { type: "function", function: { name: "get_weather" } } };
    const buffered = await openai.chat.completions.create(forced);
    const stream = openai.chat.completions.stream(forced);
    // The arguments arrive as the model streams them: several non-empty pieces (the call's head carries "").
    const pieces = [];
    let doneArgs = null;
    stream.on("tool_calls.function.arguments.delta", (e) => { if (e.arguments_delta) pieces.push(e.arguments_delta); });
    stream.on("tool_calls.function.arguments.done", (e) => { doneArgs = e.parsed_arguments ?? JSON.parse(e.arguments); });
    const final = await stream.finalChatCompletion();
    const m = final.choices[0].message;
    expect(final.choices[0].finish_reason === "tool_calls", "finish_reason tool_calls");
    expect(m.tool_calls.length === 1 && m.tool_calls[0].function.name === "get_weather", "the named tool: " + JSON.stringify(m));
    expect(!m.content, "no text before a forced call: " + JSON.stringify(m.content));
    const input = JSON.parse(m.tool_calls[0].function.arguments);
    expect(input.city === "sample" && input.days === 1, "the assembled arguments");
    expect(pieces.length >= 2 && pieces.join("") === m.tool_calls[0].function.arguments,
      "the arguments in several pieces: " + JSON.stringify(pieces));
    expect(JSON.stringify(input) === JSON.stringify(JSON.parse(buffered.choices[0].message.tool_calls[0].function.arguments)),
      "the same arguments as the buffered call: " + buffered.choices[0].message.tool_calls[0].function.arguments);
    expect(doneArgs && doneArgs.city === "sample", "the arguments' done event");
    const argDeltas = pieces.length;
    // A tool without parameters: its arguments still assemble to a JSON object.
    const clock = await openai.chat.completions.stream({ model: alias, messages: [question], tools: [WEATHER_FN, CLOCK_FN],
      tool_choice: { type: "function", function: { name: "now" } } }).finalChatCompletion();
    const clockCall = clock.choices[0].message.tool_calls[0];
    expect(clockCall.function.name === "now" && JSON.stringify(JSON.parse(clockCall.function.arguments)) === "{}",
      "no parameters: arguments {}: " + JSON.stringify(clockCall));
    // The assistant turn as a caller would send it back (the helper's own fields, parsed/parsed_arguments, left out).
    const turn = { role: "assistant", content: m.content ?? null, tool_calls: m.tool_calls.map((t) =>
      ({ id: t.id, type: "function", function: { name: t.function.name, arguments: t.function.arguments } })) };
    const second = openai.chat.completions.stream({ model: alias, tools: [WEATHER_FN, CLOCK_FN], messages: [question, turn,
      { role: "tool", tool_call_id: m.tool_calls[0].id, content: "rain" }] });
    const answer = await second.finalChatCompletion();
    expect(answer.choices[0].message.content === "The tool returned: rain", "the streamed answer: " + answer.choices[0].message.content);
    return { argDeltas };
  });
  await check("anthropic: a tool_use and its tool_result, two turns", async () => {
    const q = { role: "user", content: "What is the weather in Paris?" };
    const first = await anthropic.messages.create({ model: alias, max_tokens: 200, messages: [q], tools: [WEATHER_TOOL, CLOCK_TOOL] });
    expect(first.stop_reason === "tool_use", "stop_reason tool_use, got " + first.stop_reason);
    const use = first.content.find((b) => b.type === "tool_use");
    expect(use && use.name === "get_weather" && use.input.city === "sample" && use.input.days === 1, "the tool_use: " + JSON.stringify(first.content));
    expect(first.content[0].type === "text" && first.content[0].text === "Calling get_weather.", "text first");
    const second = await anthropic.messages.create({ model: alias, max_tokens: 200, tools: [WEATHER_TOOL, CLOCK_TOOL], messages: [q,
      { role: "assistant", content: first.content },
      { role: "user", content: [{ type: "tool_result", tool_use_id: use.id, content: [{ type: "text", text: "21 C" }] }] }] });
    expect(second.stop_reason === "end_turn", "end_turn");
    expect(second.content[0].text === "The tool returned: 21 C", "the answer: " + JSON.stringify(second.content));
    return { id: use.id };
  });
  await check("anthropic: a tool_use streamed, assembled by messages.stream", async () => {
    const q = { role: "user", content: "What is the weather in Paris?" };
    const ask = { model: alias, max_tokens: 200, messages: [q], tools: [WEATHER_TOOL, CLOCK_TOOL] };
    const buffered = await anthropic.messages.create(ask);
    const stream = anthropic.messages.stream(ask);
    // The input arrives as the model streams it: several input_json_delta pieces, each seen with the
    // input parsed so far.
    const pieces = [];
    let text = "", textBeforeInput = false;
    stream.on("inputJson", (partial) => { pieces.push(partial); textBeforeInput = textBeforeInput || text.length > 0; });
    stream.on("text", (t) => { text += t; });
    const final = await stream.finalMessage();
    expect(final.stop_reason === "tool_use", "stop_reason tool_use");
    expect(final.content.length === 2 && final.content[0].type === "text" && final.content[1].type === "tool_use", "text then tool_use: " + JSON.stringify(final.content));
    expect(text === "Calling get_weather." && textBeforeInput, "the streamed text, before the input");
    const use = final.content[1];
    expect(use.input.city === "sample" && use.input.days === 1, "the assembled input: " + JSON.stringify(use.input));
    expect(pieces.length >= 2 && JSON.stringify(JSON.parse(pieces.join(""))) === JSON.stringify(use.input),
      "input_json deltas in several pieces: " + JSON.stringify(pieces));
    const bufferedUse = buffered.content.find((b) => b.type === "tool_use");
    expect(JSON.stringify(bufferedUse.input) === JSON.stringify(use.input), "the same input as the buffered call: " + JSON.stringify(bufferedUse.input));
    const jsonDeltas = pieces.length;
    const forced = await anthropic.messages.stream({ model: alias, max_tokens: 200, messages: [q], tools: [WEATHER_TOOL, CLOCK_TOOL],
      tool_choice: { type: "tool", name: "now" } }).finalMessage();
    expect(forced.content.length === 1 && forced.content[0].type === "tool_use" && forced.content[0].name === "now", "the forced tool only: " + JSON.stringify(forced.content));
    expect(JSON.stringify(forced.content[0].input) === "{}", "no parameters: input {}: " + JSON.stringify(forced.content[0].input));
    const answer = await anthropic.messages.stream({ model: alias, max_tokens: 200, tools: [WEATHER_TOOL, CLOCK_TOOL], messages: [q,
      { role: "assistant", content: final.content },
      { role: "user", content: [{ type: "tool_result", tool_use_id: use.id, content: "sunny", is_error: false }] }] }).finalMessage();
    expect(answer.content[0].text === "The tool returned: sunny", "the streamed answer: " + JSON.stringify(answer.content));
    return { jsonDeltas };
  });
}

async function main() {
  await check("openai: plain answer", async () => {
    const r = await openai.chat.completions.create({
      model: alias,
      messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "echo:hello from openai" }],
      max_tokens: 50,
      temperature: 0.5,
      user: "someone",
    });
    expect(r.object === "chat.completion", "object chat.completion");
    expect(r.choices.length === 1 && r.choices[0].message.content === "hello from openai", "the echoed text: " + JSON.stringify(r.choices));
    expect(r.choices[0].finish_reason === "stop", "finish_reason stop");
    expect(r.usage.prompt_tokens > 0 && r.usage.completion_tokens > 0, "usage");
    expect(r.usage.total_tokens === r.usage.prompt_tokens + r.usage.completion_tokens, "total_tokens");
    return r.usage;
  });
  await check("openai: streamed answer with usage", async () => {
    const stream = await openai.chat.completions.create({
      model: alias,
      messages: [{ role: "user", content: "echo:one two three four" }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = "", deltas = 0, finish = null, usage = null, role = null;
    for await (const chunk of stream) {
      expect(chunk.object === "chat.completion.chunk", "chunks");
      if (chunk.usage) usage = chunk.usage;
      for (const c of chunk.choices) {
        if (c.delta.role) role = c.delta.role;
        if (c.delta.content) { text += c.delta.content; deltas++; }
        if (c.finish_reason) finish = c.finish_reason;
      }
    }
    expect(role === "assistant", "the role chunk");
    expect(text === "one two three four", "the streamed text, got " + JSON.stringify(text));
    expect(deltas > 1, "several deltas");
    expect(finish === "stop", "finish_reason stop");
    expect(usage && usage.completion_tokens > 0 && usage.prompt_tokens > 0, "the usage chunk");
    return { deltas, usage };
  });
  await check("openai: a multi-turn conversation with an image", async () => {
    const r = await openai.chat.completions.create({
      model: alias,
      messages: [
        { role: "user", content: "Hi" },
        { role: "assistant", content: "Hello!" },
        { role: "user", content: [
          { type: "image_url", image_url: { url: "data:image/png;base64," + PNG, detail: "low" } },
          { type: "text", text: "echo:an image" },
        ] },
      ],
    });
    expect(r.choices[0].message.content === "an image", "the echoed text");
  });
  await check("openai: 400 names the parameter", async () => {
    const e = await expectError(openai.chat.completions.create({ model: alias, n: 2, messages: [{ role: "user", content: "x" }] }), 400, "n: 2");
    expect(e instanceof OpenAI.BadRequestError, "BadRequestError");
    expect(e.param === "n" && e.type === "invalid_request_error", "param n: " + JSON.stringify(e.error));
    const url = await expectError(openai.chat.completions.create({ model: alias, messages: [{ role: "user", content: [
      { type: "image_url", image_url: { url: "https://example.com/cat.png" } }] }] }), 400, "an https image");
    expect(/does not fetch URLs/.test(url.message), "says URLs are not fetched: " + url.message);
    const args = await expectError(openai.chat.completions.create({ model: alias, tools: [WEATHER_FN], messages: [
      { role: "user", content: "x" },
      { role: "assistant", content: null, tool_calls: [{ id: "c1", type: "function", function: { name: "get_weather", arguments: "{oops" } }] },
      { role: "tool", tool_call_id: "c1", content: "r" }] }), 400, "arguments that are not JSON");
    expect(args.param === "messages[1].tool_calls[0].function.arguments", "param names the arguments: " + args.param);
  });
  await check("openai: 401 without a valid key", async () => {
    const bad = new OpenAI({ apiKey: "not-a-key", baseURL: base + "/v1", maxRetries: 0 });
    const e = await expectError(bad.chat.completions.create({ model: alias, messages: [{ role: "user", content: "x" }] }), 401, "a wrong key");
    expect(e instanceof OpenAI.AuthenticationError, "AuthenticationError");
    expect(e.error && e.error.type === "authentication_error", "OpenAI's error shape: " + JSON.stringify(e.error));
  });
  await check("openai: 404 for an unknown model", async () => {
    const e = await expectError(openai.chat.completions.create({ model: "gpt-4o", messages: [{ role: "user", content: "x" }] }), 404, "gpt-4o");
    expect(e instanceof OpenAI.NotFoundError, "NotFoundError");
    expect(e.code === "model_not_found", "code model_not_found");
  });

  await check("anthropic: plain answer", async () => {
    const m = await anthropic.messages.create({
      model: alias,
      max_tokens: 64,
      system: "Be brief.",
      messages: [{ role: "user", content: "echo:hello from anthropic" }],
      metadata: { user_id: "someone" },
      top_k: 10,
    });
    expect(m.type === "message" && m.role === "assistant", "a message");
    expect(m.content.length === 1 && m.content[0].type === "text" && m.content[0].text === "hello from anthropic", "the text: " + JSON.stringify(m.content));
    expect(m.stop_reason === "end_turn", "stop_reason end_turn");
    expect(m.usage.input_tokens > 0 && m.usage.output_tokens > 0, "usage");
    return m.usage;
  });
  await check("anthropic: streamed answer", async () => {
    const stream = anthropic.messages.stream({ model: alias, max_tokens: 64, messages: [{ role: "user", content: "echo:alpha beta gamma" }] });
    let text = "", deltas = 0;
    stream.on("text", (t) => { text += t; deltas++; });
    const final = await stream.finalMessage();
    expect(text === "alpha beta gamma", "the streamed text, got " + JSON.stringify(text));
    expect(deltas > 1, "several deltas");
    expect(final.content[0].text === "alpha beta gamma", "the final message");
    expect(final.stop_reason === "end_turn", "stop_reason");
    expect(final.usage.output_tokens > 0 && final.usage.input_tokens > 0, "usage: " + JSON.stringify(final.usage));
    return final.usage;
  });
  await check("anthropic: max_tokens reached", async () => {
    const m = await anthropic.messages.create({ model: alias, max_tokens: 2, messages: [{ role: "user", content: "[[tokens=10]] go" }] });
    expect(m.stop_reason === "max_tokens", "stop_reason max_tokens, got " + m.stop_reason);
  });
  await check("anthropic: an image", async () => {
    const m = await anthropic.messages.create({
      model: alias,
      max_tokens: 64,
      messages: [{ role: "user", content: [
        { type: "image", source: { type: "base64", media_type: "image/png", data: PNG } },
        { type: "text", text: "echo:seen" },
      ] }],
    });
    expect(m.content[0].text === "seen", "the text");
  });
  await check("anthropic: 400 in Anthropic's shape", async () => {
    const e = await expectError(anthropic.messages.create({ model: alias, messages: [{ role: "user", content: "x" }] }), 400, "no max_tokens");
    expect(e instanceof Anthropic.BadRequestError, "BadRequestError");
    expect(e.error && e.error.type === "error" && e.error.error.type === "invalid_request_error", "shape: " + JSON.stringify(e.error));
    const thinking = await expectError(anthropic.messages.create({ model: alias, max_tokens: 10, messages: [{ role: "user", content: "x" }],
      thinking: { type: "enabled", budget_tokens: 1024 } }), 400, "thinking");
    expect(/thinking/.test(thinking.message), "names thinking");
  });
  await check("anthropic: 401 without a valid key", async () => {
    const bad = new Anthropic({ apiKey: "not-a-key", baseURL: base, maxRetries: 0 });
    const e = await expectError(bad.messages.create({ model: alias, max_tokens: 5, messages: [{ role: "user", content: "x" }] }), 401, "a wrong key");
    expect(e instanceof Anthropic.AuthenticationError, "AuthenticationError");
    expect(e.error.error.type === "authentication_error", "type authentication_error");
  });
  await check("anthropic: 404 for an unknown model", async () => {
    const e = await expectError(anthropic.messages.create({ model: "claude-opus-4", max_tokens: 5, messages: [{ role: "user", content: "x" }] }), 404, "an unknown model");
    expect(e instanceof Anthropic.NotFoundError, "NotFoundError");
    expect(e.error.error.type === "not_found_error", "type not_found_error");
  });
  await extras();
}

// A small PDF, as a client would attach one.
const PDF = Buffer.from("%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n").toString("base64");

// GET /v1/models, POST /v1/messages/count_tokens and documents (the agent runs with a second alias,
// `titan`, a model Bedrock cannot count tokens for).
async function extras() {
  await check("openai: models.list() and retrieve()", async () => {
    const ids = [];
    for await (const m of openai.models.list()) {
      expect(m.object === "model" && typeof m.created === "number" && typeof m.owned_by === "string", "a model: " + JSON.stringify(m));
      ids.push(m.id);
    }
    expect(ids.includes(alias) && ids.includes("anthropic.claude-3-haiku-20240307-v1:0"), "the alias and its model: " + ids);
    const one = await openai.models.retrieve(alias);
    expect(one.id === alias && one.owned_by === "anthropic", "retrieve(alias): " + JSON.stringify(one));
    const full = await openai.models.retrieve("anthropic.claude-3-haiku-20240307-v1:0");
    expect(full.id === "anthropic.claude-3-haiku-20240307-v1:0", "retrieve(a model id with ':')");
    const e = await expectError(openai.models.retrieve("gpt-4o"), 404, "an unknown model");
    expect(e instanceof OpenAI.NotFoundError && e.code === "model_not_found", "NotFoundError model_not_found: " + JSON.stringify(e.error));
    return ids;
  });
  await check("anthropic: models.list() and retrieve()", async () => {
    const ids = [];
    for await (const m of anthropic.models.list()) {
      expect(m.type === "model" && typeof m.display_name === "string" && typeof m.created_at === "string", "a model: " + JSON.stringify(m));
      ids.push(m.id);
    }
    expect(ids.includes(alias), "the alias: " + ids);
    const one = await anthropic.models.retrieve(alias);
    expect(one.type === "model" && one.id === alias, "retrieve(alias): " + JSON.stringify(one));
    return ids;
  });
  await check("anthropic: countTokens() equals the usage of the same request", async () => {
    const messages = [{ role: "user", content: "Count the tokens of this message, please." },
                      { role: "assistant", content: "Sure." }, { role: "user", content: "echo:thanks" }];
    const counted = await anthropic.messages.countTokens({ model: alias, system: "Be brief.", messages });
    expect(Number.isInteger(counted.input_tokens) && counted.input_tokens > 0, "input_tokens: " + JSON.stringify(counted));
    const r = await anthropic.messages.create({ model: alias, max_tokens: 20, system: "Be brief.", messages });
    expect(r.usage.input_tokens === counted.input_tokens, `the same count: ${counted.input_tokens} vs usage ${r.usage.input_tokens}`);
    const e = await expectError(anthropic.messages.countTokens({ model: "titan", messages }), 400, "a model without token counting");
    expect(e instanceof Anthropic.BadRequestError && e.error.error.type === "invalid_request_error", "BadRequestError");
    expect(/count/i.test(e.message), "says counting is not supported: " + e.message);
    return counted;
  });
  await check("anthropic: document blocks", async () => {
    const r = await anthropic.messages.create({ model: alias, max_tokens: 30, messages: [{ role: "user", content: [
      { type: "document", source: { type: "base64", media_type: "application/pdf", data: PDF }, title: "Q3 report.pdf" },
      { type: "document", source: { type: "text", media_type: "text/plain", data: "Some plain notes." } },
      { type: "text", text: "echo:read both" },
    ] }] });
    expect(r.content[0].text === "read both", "the echoed text: " + JSON.stringify(r.content));
    const e = await expectError(anthropic.messages.create({ model: alias, max_tokens: 5, messages: [{ role: "user", content: [
      { type: "document", source: { type: "url", url: "https://example.com/a.pdf" } }, { type: "text", text: "x" }] }] }), 400, "a URL document");
    expect(/does not fetch URLs/.test(e.message), "says URLs are not fetched: " + e.message);
  });
  await check("openai: a file part", async () => {
    const r = await openai.chat.completions.create({ model: alias, messages: [{ role: "user", content: [
      { type: "file", file: { file_data: "data:application/pdf;base64," + PDF, filename: "report.pdf" } },
      { type: "text", text: "echo:read the file" },
    ] }] });
    expect(r.choices[0].message.content === "read the file", "the echoed text");
  });
}

// The agent runs with --max-rpm 20: a burst of 20, then one request every 3 s. Each request may wait
// 300 ms for budget (X-Request-Timeout-Ms), so the limiter answers 429 with retry-after-ms at once.
async function ratelimit() {
  const headers = { "X-Request-Timeout-Ms": "300" };
  const fast = new OpenAI({ apiKey: key, baseURL: base + "/v1", maxRetries: 0, defaultHeaders: headers });
  let served = 0;
  await check("the burst is served", async () => {
    for (; served < 40; served++) {
      try {
        await fast.chat.completions.create({ model: alias, messages: [{ role: "user", content: "echo:x" }] });
      } catch (e) {
        expect(e.status === 429, "429 once the burst is spent, got " + e.status);
        break;
      }
    }
    expect(served >= 19 && served <= 20, "about 20 served before the first 429, got " + served);
    return { served };
  });
  await check("openai: 429 from our limiter, in OpenAI's shape, with Retry-After", async () => {
    const e = await expectError(fast.chat.completions.create({ model: alias, messages: [{ role: "user", content: "echo:x" }] }), 429, "no budget");
    expect(e instanceof OpenAI.RateLimitError, "RateLimitError");
    expect(e.code === "rate_limited" && e.type === "rate_limit_error", "code rate_limited: " + JSON.stringify(e.error));
    const after = Number(e.headers.get("retry-after")), afterMs = Number(e.headers.get("retry-after-ms"));
    expect(after >= 1 && after <= 4 && afterMs > 0 && afterMs <= 3100, `Retry-After ${after} s, retry-after-ms ${afterMs}`);
    return { after, afterMs };
  });
  await check("anthropic: 429 from our limiter, in Anthropic's shape", async () => {
    const a = new Anthropic({ apiKey: key, baseURL: base, maxRetries: 0, defaultHeaders: headers });
    const e = await expectError(a.messages.create({ model: alias, max_tokens: 5, messages: [{ role: "user", content: "x" }] }), 429, "no budget");
    expect(e instanceof Anthropic.RateLimitError, "RateLimitError");
    expect(e.error.error.type === "rate_limit_error", "type rate_limit_error");
    expect(Number(e.headers.get("retry-after")) >= 1, "Retry-After");
  });
  await check("openai: the client's own retry honours Retry-After and then succeeds", async () => {
    const patient = new OpenAI({ apiKey: key, baseURL: base + "/v1", maxRetries: 1, defaultHeaders: headers });
    const started = Date.now();
    const r = await patient.chat.completions.create({ model: alias, messages: [{ role: "user", content: "echo:after the wait" }] });
    const waited = Date.now() - started;
    expect(r.choices[0].message.content === "after the wait", "the answer after the retry");
    // It got 429 first (else it would not have waited): its wait is the retry-after-ms we sent, not its
    // own 0.5-1 s backoff.
    expect(waited >= 1500, "the client waited for the budget, " + waited + " ms");
    return { waited };
  });
  await check("anthropic: the client's own retry honours Retry-After and then succeeds", async () => {
    const patient = new Anthropic({ apiKey: key, baseURL: base, maxRetries: 1, defaultHeaders: headers });
    const started = Date.now();
    const m = await patient.messages.create({ model: alias, max_tokens: 20, messages: [{ role: "user", content: "echo:patient" }] });
    const waited = Date.now() - started;
    expect(m.content[0].text === "patient", "the answer after the retry");
    expect(waited >= 1500, "the client waited for the budget, " + waited + " ms");
    return { waited };
  });
}

// Prompt caching (the agent started with --prompt-cache and the alias "sonnet4" for a model that caches):
// Anthropic's cache_control, the cache tokens in usage on the second identical call, /chat's cache points.
async function caching() {
  const system = [{ type: "text", text: "You answer questions about the attached handbook. " + "Handbook text. ".repeat(300),
                    cache_control: { type: "ephemeral" } }];
  const ask = { model: "sonnet4", max_tokens: 32, system, messages: [{ role: "user", content: "echo:cached answer" }] };
  await check("anthropic: the second identical call reads what the first wrote", async () => {
    const first = await anthropic.messages.create(ask);
    expect(first.usage.cache_creation_input_tokens > 1000 && first.usage.cache_read_input_tokens === 0,
           "a cache write first: " + JSON.stringify(first.usage));
    const second = await anthropic.messages.create(ask);
    expect(second.usage.cache_read_input_tokens === first.usage.cache_creation_input_tokens &&
           second.usage.cache_creation_input_tokens === 0, "a cache read second: " + JSON.stringify(second.usage));
    expect(second.usage.input_tokens === first.usage.input_tokens && second.usage.input_tokens < 20,
           "input_tokens without the cached prefix: " + JSON.stringify(second.usage));
    expect(second.content[0].text === "cached answer", "the same answer");
    return { first: first.usage, second: second.usage };
  });
  await check("anthropic: streamed, the final message's usage has the cache read", async () => {
    const m = await anthropic.messages.stream(ask).finalMessage();
    expect(m.usage.cache_read_input_tokens > 1000, "cache read in the streamed usage: " + JSON.stringify(m.usage));
    return m.usage;
  });
  await check("anthropic: a model that does not cache answers the same, without cache tokens", async () => {
    const m = await anthropic.messages.create({ ...ask, model: alias });
    expect(m.content[0].text === "cached answer", "the answer");
    expect(!m.usage.cache_read_input_tokens && !m.usage.cache_creation_input_tokens, "no cache tokens: " + JSON.stringify(m.usage));
    return m.usage;
  });
  await check("anthropic: five cache_control blocks are a 400", async () => {
    const content = [1, 2, 3, 4, 5].map((i) => ({ type: "text", text: "part " + i, cache_control: { type: "ephemeral" } }));
    const e = await expectError(anthropic.messages.create({ model: "sonnet4", max_tokens: 5, messages: [{ role: "user", content }] }),
                                400, "five cache points");
    expect(e.error?.error?.message?.includes("A maximum of 4 blocks with cache_control"), "the message: " + e.message);
  });
  await check("/chat --prompt-cache: the system prompt is read from the cache on the second call", async () => {
    const chat = async () => {
      const r = await fetch(base + "/chat", { method: "POST", headers: { authorization: "Bearer " + key, "content-type": "application/json" },
                                              body: JSON.stringify({ input: "echo:hi", system: "/chat: " + system[0].text }) });
      expect(r.status === 200, "200, got " + r.status);
      return (await r.json()).usage;
    };
    const first = await chat();
    const second = await chat();
    expect(first.cache_write_input_tokens > 1000, "a write first: " + JSON.stringify(first));
    expect(second.cache_read_input_tokens === first.cache_write_input_tokens, "a read second: " + JSON.stringify(second));
    return { first, second };
  });
  await check("openai: usage.prompt_tokens_details.cached_tokens is 0 without cache marks", async () => {
    // OpenAI's API has no cache marks: a plain request sends no cache point, and reports 0 cached tokens.
    const c = await openai.chat.completions.create({ model: "sonnet4", messages: [{ role: "system", content: system[0].text },
                                                                                { role: "user", content: "echo:x" }] });
    expect(c.usage.prompt_tokens_details.cached_tokens === 0, "0 cached tokens: " + JSON.stringify(c.usage));
    return c.usage;
  });
}

// A guardrail (the agent started with --guardrail; the simulator blocks on the word "forbidden"): each API
// says it in its own words, streamed too, and /chat does not save the blocked turn.
async function guardrail() {
  const blocked = "Sorry, the model cannot answer this question.";
  await check("openai: a blocked answer ends with finish_reason content_filter", async () => {
    const c = await openai.chat.completions.create({ model: alias, messages: [{ role: "user", content: "Something forbidden" }] });
    expect(c.choices[0].finish_reason === "content_filter", "content_filter, got " + c.choices[0].finish_reason);
    expect(c.choices[0].message.content === blocked, "the guardrail's message: " + c.choices[0].message.content);
    const s = await openai.chat.completions.create({ model: alias, stream: true, messages: [{ role: "user", content: "forbidden" }] });
    let finish = null;
    for await (const chunk of s) finish = chunk.choices[0]?.finish_reason ?? finish;
    expect(finish === "content_filter", "streamed content_filter, got " + finish);
  });
  await check("anthropic: a blocked answer's stop_reason is refusal", async () => {
    const m = await anthropic.messages.create({ model: alias, max_tokens: 50, messages: [{ role: "user", content: "forbidden" }] });
    expect(m.stop_reason === "refusal", "refusal, got " + m.stop_reason);
    expect(m.content[0].text === blocked, "the guardrail's message");
    const f = await anthropic.messages.stream({ model: alias, max_tokens: 50, messages: [{ role: "user", content: "forbidden" }] }).finalMessage();
    expect(f.stop_reason === "refusal", "streamed refusal, got " + f.stop_reason);
  });
  await check("anthropic: an allowed answer is untouched", async () => {
    const m = await anthropic.messages.create({ model: alias, max_tokens: 50, messages: [{ role: "user", content: "echo:fine" }] });
    expect(m.stop_reason === "end_turn" && m.content[0].text === "fine", "end_turn: " + JSON.stringify(m));
  });
  await check("/chat: stop_reason guardrail_intervened", async () => {
    const r = await fetch(base + "/chat", { method: "POST", headers: { authorization: "Bearer " + key, "content-type": "application/json" },
                                            body: JSON.stringify({ input: "forbidden" }) });
    const b = await r.json();
    expect(r.status === 200 && b.stop_reason === "guardrail_intervened" && b.response === blocked, JSON.stringify(b));
  });
}

// Request shapes beyond text and tools, against an alias of a model that takes them ("sonnet45", Claude
// Sonnet 4.5): structured output through the openai client's parse() and stream helpers.
const SHAPES_MODEL = "sonnet45";
async function shapes() {
  const PERSON = { type: "object", properties: { name: { type: "string" }, age: { type: "integer", minimum: 3 },
    tags: { type: "array", items: { type: "string" }, minItems: 1 } }, required: ["name", "age", "tags"], additionalProperties: false };
  const format = { type: "json_schema", json_schema: { name: "person", description: "A person", schema: PERSON, strict: true } };
  await check("openai: parse() with a json_schema response_format gets parsed JSON satisfying the schema", async () => {
    const r = await openai.chat.completions.parse({ model: SHAPES_MODEL, messages: [{ role: "user", content: "Describe a person" }],
      response_format: format });
    const m = r.choices[0].message;
    expect(r.choices[0].finish_reason === "stop", "finish_reason stop");
    expect(m.parsed && m.parsed.name === "sample" && m.parsed.age === 3 && m.parsed.tags.length === 1, "parsed: " + JSON.stringify(m));
    return m.parsed;
  });
  await check("openai: a streamed json_schema answer, assembled and parsed by the stream helper", async () => {
    const stream = openai.chat.completions.stream({ model: SHAPES_MODEL, messages: [{ role: "user", content: "Describe a person" }],
      response_format: format });
    let deltas = 0;
    stream.on("content.delta", () => { deltas++; });
    const final = await stream.finalChatCompletion();
    const m = final.choices[0].message;
    expect(deltas >= 2, "several content deltas: " + deltas);
    // The helper parses only schemas it made itself (zodResponseFormat); the assembled content is the JSON.
    const parsed = m.parsed ?? JSON.parse(m.content);
    expect(parsed.name === "sample" && parsed.age === 3, "the JSON: " + JSON.stringify(m));
    return { deltas };
  });
  await check("openai: response_format for a model without structured output is a 400 saying so", async () => {
    const e = await expectError(openai.chat.completions.create({ model: alias, messages: [{ role: "user", content: "x" }],
      response_format: format }), 400, "claude 3 haiku");
    expect(e instanceof OpenAI.BadRequestError && /structured output/.test(e.message), "says so: " + e.message);
    const obj = await expectError(openai.chat.completions.create({ model: SHAPES_MODEL, messages: [{ role: "user", content: "x" }],
      response_format: { type: "json_object" } }), 400, "json_object");
    expect(obj.param === "response_format.type" && /json_schema/.test(obj.message), "json_object refused: " + obj.message);
  });
  // Tool results beyond text: the simulator's answer quotes them ("[image]", "[document]", the JSON).
  const q = { role: "user", content: "Draw the weather chart" };
  await check("anthropic: a tool_result with an image, a document and text", async () => {
    const first = await anthropic.messages.create({ model: alias, max_tokens: 200, messages: [q], tools: [WEATHER_TOOL] });
    const use = first.content.find((b) => b.type === "tool_use");
    const second = await anthropic.messages.create({ model: alias, max_tokens: 200, tools: [WEATHER_TOOL], messages: [q,
      { role: "assistant", content: first.content },
      { role: "user", content: [{ type: "tool_result", tool_use_id: use.id, content: [
        { type: "image", source: { type: "base64", media_type: "image/png", data: PNG } },
        { type: "document", source: { type: "base64", media_type: "application/pdf", data: PDF }, title: "chart.pdf" },
        { type: "text", text: "the chart" }] }] }] });
    expect(second.content[0].text === "The tool returned: [image]; [document]; the chart", "the answer: " + JSON.stringify(second.content));
  });
  await check("openai: tool messages with an image part and with a JSON object", async () => {
    const first = await openai.chat.completions.create({ model: alias, messages: [q], tools: [WEATHER_FN], tool_choice: "required" });
    const call = first.choices[0].message.tool_calls[0];
    const turn = (content) => openai.chat.completions.create({ model: alias, tools: [WEATHER_FN], messages: [q, first.choices[0].message,
      { role: "tool", tool_call_id: call.id, content }] });
    const image = await turn([{ type: "text", text: "the chart" }, { type: "image_url", image_url: { url: "data:image/png;base64," + PNG } }]);
    expect(image.choices[0].message.content === "The tool returned: the chart; [image]", "the answer: " + image.choices[0].message.content);
    const json = await turn({ temp: 21, sky: "clear" });
    expect(json.choices[0].message.content === 'The tool returned: {"temp":21,"sky":"clear"}', "the answer: " + json.choices[0].message.content);
  });
}

// Extended thinking (the alias is a Claude model that reasons): reasoning_effort / thinking, the reasoning
// in each API's fields, sent back as the client got it across a tool turn; dropped, the simulator's 400
// (Bedrock's ValidationException, Anthropic's words) reaches the client.
async function reasoning() {
  const question = { role: "user", content: "What is the weather in Paris?" };
  const redactedQuestion = { role: "user", content: "What is the weather in Paris? [[redacted-thinking]]" };
  for (const q of [question, redactedQuestion]) {
    const redacted = q === redactedQuestion;
    await check(`openai: reasoning_effort, the message with its thinking_blocks sent back across a tool turn${redacted ? " (redacted)" : ""}`, async () => {
      const ask = (messages) => openai.chat.completions.create({ model: alias, reasoning_effort: "low", tools: [WEATHER_FN], messages });
      const first = await ask([q]);
      const m = first.choices[0].message;
      expect(first.choices[0].finish_reason === "tool_calls", "a tool call: " + JSON.stringify(first));
      expect(m.thinking_blocks?.length === 1, "thinking_blocks: " + JSON.stringify(m));
      if (redacted) {
        expect(m.thinking_blocks[0].type === "redacted_thinking" && m.thinking_blocks[0].data && m.reasoning_content === "", "redacted: " + JSON.stringify(m));
      } else {
        expect(/^Considering: /.test(m.reasoning_content), "reasoning_content: " + JSON.stringify(m));
        expect(m.thinking_blocks[0].type === "thinking" && m.thinking_blocks[0].thinking === m.reasoning_content && m.thinking_blocks[0].signature,
          "the block: " + JSON.stringify(m.thinking_blocks));
      }
      const result = { role: "tool", tool_call_id: m.tool_calls[0].id, content: "21 C" };
      const second = await ask([q, m, result]);
      expect(second.choices[0].message.content === "The tool returned: 21 C", "the answer: " + JSON.stringify(second.choices[0].message));
      const { thinking_blocks, ...withoutBlocks } = m;
      const e = await expectError(ask([q, withoutBlocks, result]), 400, "the tool turn without its reasoning");
      expect(e instanceof OpenAI.BadRequestError && /Expected `thinking` or `redacted_thinking`/.test(e.message), "Bedrock's words: " + e.message);
      return { usage: second.usage };
    });
    await check(`anthropic: thinking, the response's content sent back as is across a tool turn${redacted ? " (redacted)" : ""}`, async () => {
      const ask = (messages) => anthropic.messages.create({ model: alias, max_tokens: 2048, thinking: { type: "enabled", budget_tokens: 1024 },
        tools: [WEATHER_TOOL], messages });
      const first = await ask([q]);
      const block = first.content[0];
      expect(block.type === (redacted ? "redacted_thinking" : "thinking"), "the reasoning first: " + JSON.stringify(first.content));
      expect(redacted ? !!block.data : /^Considering: /.test(block.thinking) && !!block.signature, "the block: " + JSON.stringify(block));
      const use = first.content.find((b) => b.type === "tool_use");
      expect(first.stop_reason === "tool_use" && use, "a tool call");
      const result = { role: "user", content: [{ type: "tool_result", tool_use_id: use.id, content: "21 C" }] };
      const second = await ask([q, { role: "assistant", content: first.content }, result]);
      expect(second.content[0].type === "thinking", "reasoning again (the trigger was in the first question)");
      expect(second.content.at(-1).text === "The tool returned: 21 C", "the answer: " + JSON.stringify(second.content));
      const e = await expectError(ask([q, { role: "assistant", content: first.content.slice(1) }, result]), 400, "the tool turn without its reasoning");
      expect(e instanceof Anthropic.BadRequestError && /Expected `thinking` or `redacted_thinking`, but found `text`/.test(e.message), "Bedrock's words: " + e.message);
      if (!redacted) {
        const forged = [{ ...block, thinking: block.thinking + " (edited)" }, ...first.content.slice(1)];
        const f = await expectError(ask([q, { role: "assistant", content: forged }, result]), 400, "edited reasoning");
        expect(/Invalid `signature`/.test(f.message), "the signature: " + f.message);
      }
      return { usage: second.usage };
    });
  }
  await check("openai: streamed reasoning_content deltas, thinking_blocks whole; the helper's message sent back", async () => {
    const stream = openai.chat.completions.stream({ model: alias, reasoning_effort: "medium", tools: [WEATHER_FN], messages: [question] });
    let reasoning = "", reasoningChunks = 0, firstContentAfterReasoning = true, sawContent = false;
    stream.on("chunk", (c) => {
      const d = c.choices[0]?.delta ?? {};
      if (d.reasoning_content) { reasoning += d.reasoning_content; reasoningChunks++; if (sawContent) firstContentAfterReasoning = false; }
      if (d.content) sawContent = true;
    });
    const final = await stream.finalChatCompletion();
    const m = final.choices[0].message;
    expect(reasoningChunks > 1 && /^Considering: /.test(reasoning) && firstContentAfterReasoning, "reasoning deltas first: " + reasoning);
    expect(m.thinking_blocks?.length === 1 && m.thinking_blocks[0].thinking === reasoning && m.thinking_blocks[0].signature,
      "thinking_blocks whole: " + JSON.stringify(m.thinking_blocks));
    expect(final.choices[0].finish_reason === "tool_calls" && m.tool_calls.length === 1, "a tool call");
    const { parsed, ...back } = m;  // the helper's own field, not OpenAI's
    const second = await openai.chat.completions.create({ model: alias, reasoning_effort: "medium", tools: [WEATHER_FN],
      messages: [question, back, { role: "tool", tool_call_id: m.tool_calls[0].id, content: "21 C" }] });
    expect(second.choices[0].message.content === "The tool returned: 21 C", "the answer: " + JSON.stringify(second.choices[0].message));
    return { reasoningChunks };
  });
  await check("anthropic: streamed thinking block (thinking_delta, signature_delta) first; the final message's content sent back", async () => {
    const stream = anthropic.messages.stream({ model: alias, max_tokens: 2048, thinking: { type: "enabled", budget_tokens: 1024 },
      tools: [WEATHER_TOOL], messages: [question] });
    const events = [];
    stream.on("streamEvent", (e) => events.push(e.type === "content_block_start" ? `start:${e.index}:${e.content_block.type}`
      : e.type === "content_block_delta" ? `delta:${e.index}:${e.delta.type}` : e.type === "content_block_stop" ? `stop:${e.index}` : e.type));
    const first = await stream.finalMessage();
    const seq = events.filter((e, i) => e !== events[i - 1]).join(" ");
    expect(/^message_start start:0:thinking delta:0:thinking_delta delta:0:signature_delta stop:0 start:1:text delta:1:text_delta stop:1 start:2:tool_use delta:2:input_json_delta stop:2 message_delta message_stop$/.test(seq),
      "the event sequence: " + seq);
    const block = first.content[0];
    expect(block.type === "thinking" && /^Considering: /.test(block.thinking) && block.signature, "the assembled block: " + JSON.stringify(block));
    const use = first.content.find((b) => b.type === "tool_use");
    const second = await anthropic.messages.create({ model: alias, max_tokens: 2048, thinking: { type: "enabled", budget_tokens: 1024 },
      tools: [WEATHER_TOOL], messages: [question, { role: "assistant", content: first.content },
        { role: "user", content: [{ type: "tool_result", tool_use_id: use.id, content: "21 C" }] }] });
    expect(second.content.at(-1).text === "The tool returned: 21 C", "the answer: " + JSON.stringify(second.content));
    return { seq };
  });
  await check("anthropic: a streamed redacted_thinking block, whole in its start", async () => {
    const stream = anthropic.messages.stream({ model: alias, max_tokens: 2048, thinking: { type: "enabled", budget_tokens: 1024 },
      messages: [redactedQuestion] });
    const final = await stream.finalMessage();
    expect(final.content[0].type === "redacted_thinking" && final.content[0].data && final.content[1].type === "text",
      "redacted first: " + JSON.stringify(final.content));
  });
  await check("openai and anthropic: settings Claude refuses with thinking are 400 naming them", async () => {
    const e = await expectError(openai.chat.completions.create({ model: alias, reasoning_effort: "high", temperature: 0.3,
      messages: [question] }), 400, "temperature with reasoning");
    expect(/temperature/.test(e.message), "names temperature: " + e.message);
    const a = await expectError(anthropic.messages.create({ model: alias, max_tokens: 1024, thinking: { type: "enabled", budget_tokens: 1024 },
      messages: [question] }), 400, "a budget not below max_tokens");
    expect(/budget_tokens/.test(a.message), "names budget_tokens: " + a.message);
  });
}

if (scenario === "shapes") await shapes();
else if (scenario === "reasoning") await reasoning();
else if (scenario === "main") {
  await main();
  await tools();
} else if (scenario === "tools") await tools();
else if (scenario === "ratelimit") await ratelimit();
else if (scenario === "caching") await caching();
else if (scenario === "guardrail") await guardrail();
else if (scenario !== "shapes") throw new Error("scenario must be main, tools, shapes, reasoning, ratelimit, caching or guardrail");
const failed = results.filter((r) => !r.ok).length;
console.log(JSON.stringify({ passed: results.length - failed, failed }));
process.exit(failed ? 1 : 0);
