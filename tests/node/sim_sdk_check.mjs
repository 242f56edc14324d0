// Oracle for src/sim: drives `simulate-bedrock` with the official @aws-sdk/client-bedrock-runtime and
// checks that every operation and every error is parsed by the SDK as Bedrock's would be.
// Usage: node tests/node/sim_sdk_check.mjs <port> [accessKeyId secretAccessKey]
// The simulator must verify SigV4 for the given credentials (defaults AKIDSIMULATOR / sim-secret).
// Prints a JSON summary; exits 1 on any mismatch.
import {
  BedrockRuntimeClient,
  ConverseCommand,
  ConverseStreamCommand,
  InvokeModelCommand,
  InvokeModelWithResponseStreamCommand,
} from "@aws-sdk/client-bedrock-runtime";
import { NodeHttpHandler } from "@smithy/node-http-handler";

const port = Number(process.argv[2]);
const accessKeyId = process.argv[3] ?? "AKIDSIMULATOR";
const secretAccessKey = process.argv[4] ?? "sim-secret";
const endpoint = `http://127.0.0.1:${port}`;
const CLAUDE = "us.anthropic.claude-3-5-haiku-20241022-v1:0";
const TITAN = "amazon.titan-text-express-v1";

function client({ fault, secret = secretAccessKey, key = accessKeyId } = {}) {
  const c = new BedrockRuntimeClient({
    region: "us-east-1",
    endpoint,
    credentials: { accessKeyId: key, secretAccessKey: secret },
    requestHandler: new NodeHttpHandler(),
    maxAttempts: 1,
  });
  if (fault) {
    c.middlewareStack.add(
      (next) => (args) => {
        args.request.headers["x-sim-fault"] = fault;
        return next(args);
      },
      { step: "build", name: "simFault" },
    );
  }
  return c;
}

const results = [];
async function check(name, fn) {
  try {
    const detail = await fn();
    results.push({ name, ok: true, ...(detail === undefined ? {} : { detail }) });
  } catch (e) {
    results.push({ name, ok: false, error: String(e?.stack ?? e) });
  }
}
function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}
async function expectError(name, promiseFn, { type, message, status }) {
  await check(name, async () => {
    let err;
    try {
      await promiseFn();
    } catch (e) {
      err = e;
    }
    assert(err, "no error was raised");
    assert(err.name === type, `expected ${type}, got ${err.name}: ${err.message}`);
    if (message) assert(err.message.startsWith(message), `message ${JSON.stringify(err.message)}`);
    if (status) assert(err.$metadata?.httpStatusCode === status, `status ${err.$metadata?.httpStatusCode}`);
    if (status) assert(err.$metadata?.requestId, "no request id");
    return `${err.name}: ${err.message}`;
  });
}

const conv = (text, extra = {}) => ({
  modelId: CLAUDE,
  messages: [{ role: "user", content: [{ text }] }],
  ...extra,
});
const claudeBody = (text, max = 100) =>
  JSON.stringify({ anthropic_version: "bedrock-2023-05-31", max_tokens: max, messages: [{ role: "user", content: [{ type: "text", text }] }] });
const titanBody = (text, max = 50) => JSON.stringify({ inputText: text, textGenerationConfig: { maxTokenCount: max } });
const decode = (bytes) => JSON.parse(Buffer.from(bytes).toString("utf8"));

async function converseStreamText(c, input) {
  const out = await c.send(new ConverseStreamCommand(input));
  const events = [];
  let text = "";
  let metadata;
  for await (const ev of out.stream) {
    const kind = Object.keys(ev).find((k) => ev[k] !== undefined);
    events.push(kind);
    if (ev.contentBlockDelta) text += ev.contentBlockDelta.delta.text;
    if (ev.metadata) metadata = ev.metadata;
  }
  return { events, text, metadata };
}

async function invokeStreamChunks(c, modelId, body) {
  const out = await c.send(new InvokeModelWithResponseStreamCommand({ modelId, body, contentType: "application/json", accept: "application/json" }));
  const chunks = [];
  for await (const ev of out.body) {
    if (ev.chunk) chunks.push(decode(ev.chunk.bytes));
  }
  return chunks;
}

const ok = client();

// --- Operations -----------------------------------------------------------------------------------
let converseText;
await check("Converse", async () => {
  const r = await ok.send(new ConverseCommand(conv("Hello there")));
  assert(r.output.message.role === "assistant", "role");
  converseText = r.output.message.content[0].text;
  assert(converseText.split(" ").length === 20, `20 words expected: ${converseText}`);
  assert(r.stopReason === "end_turn", r.stopReason);
  assert(r.usage.outputTokens === 20 && r.usage.inputTokens === 3 && r.usage.totalTokens === 23, JSON.stringify(r.usage));
  assert(typeof r.metrics.latencyMs === "number", "latencyMs");
  assert(r.$metadata.requestId, "x-amzn-RequestId");
  return converseText;
});
await check("Converse deterministic + [[tokens=N]] + max_tokens clamp", async () => {
  const again = await ok.send(new ConverseCommand(conv("Hello there")));
  assert(again.output.message.content[0].text === converseText, "same request, same reply");
  const five = await ok.send(new ConverseCommand(conv("give me [[tokens=5]]")));
  assert(five.usage.outputTokens === 5, `5 tokens: ${five.usage.outputTokens}`);
  const clamped = await ok.send(new ConverseCommand(conv("[[tokens=50]]", { inferenceConfig: { maxTokens: 7 } })));
  assert(clamped.usage.outputTokens === 7 && clamped.stopReason === "max_tokens", `${clamped.usage.outputTokens} ${clamped.stopReason}`);
});
await check("Converse echo", async () => {
  const r = await ok.send(new ConverseCommand({
    modelId: CLAUDE,
    system: [{ text: "be brief" }],
    messages: [
      { role: "user", content: [{ text: "first" }] },
      { role: "assistant", content: [{ text: "ok" }] },
      { role: "user", content: [{ text: "echo: routed to the model" }] },
    ],
  }));
  assert(r.output.message.content[0].text === "routed to the model", r.output.message.content[0].text);
});
await check("ConverseStream", async () => {
  const { events, text, metadata } = await converseStreamText(ok, conv("Hello there"));
  assert(text === converseText, `stream text ${JSON.stringify(text)} != converse text`);
  assert(events[0] === "messageStart", events.join(","));
  assert(events.filter((e) => e === "contentBlockDelta").length === 20, "20 deltas");
  assert(events.slice(-3).join(",") === "contentBlockStop,messageStop,metadata", events.slice(-3).join(","));
  assert(metadata.usage.outputTokens === 20 && typeof metadata.metrics.latencyMs === "number", JSON.stringify(metadata));
});
await check("InvokeModel Claude", async () => {
  const r = await ok.send(new InvokeModelCommand({ modelId: CLAUDE, body: claudeBody("[[tokens=4]]"), contentType: "application/json", accept: "application/json" }));
  const b = decode(r.body);
  assert(r.contentType === "application/json", r.contentType);
  assert(b.type === "message" && b.role === "assistant" && b.id.startsWith("msg_bdrk_"), JSON.stringify(b));
  assert(b.content[0].type === "text" && b.content[0].text.split(" ").length === 4, JSON.stringify(b.content));
  assert(b.stop_reason === "end_turn" && b.usage.output_tokens === 4 && b.usage.input_tokens === 3, JSON.stringify(b));
});
await check("InvokeModel Titan", async () => {
  const r = await ok.send(new InvokeModelCommand({ modelId: TITAN, body: titanBody("echo: titan says hi"), contentType: "application/json" }));
  const b = decode(r.body);
  assert(b.results[0].outputText === "titan says hi" && b.results[0].completionReason === "FINISH", JSON.stringify(b));
  assert(b.inputTextTokenCount === 5 && b.results[0].tokenCount === 4, JSON.stringify(b));
});
await check("InvokeModelWithResponseStream Claude", async () => {
  const chunks = await invokeStreamChunks(ok, CLAUDE, claudeBody("[[tokens=3]]"));
  const types = chunks.map((c) => c.type).join(",");
  assert(types === "message_start,content_block_start,content_block_delta,content_block_delta,content_block_delta,content_block_stop,message_delta,message_stop", types);
  const last = chunks.at(-1)["amazon-bedrock-invocationMetrics"];
  assert(last && last.outputTokenCount === 3 && last.inputTokenCount === 3, JSON.stringify(chunks.at(-1)));
});
await check("InvokeModelWithResponseStream Titan", async () => {
  const chunks = await invokeStreamChunks(ok, TITAN, titanBody("echo: a b c"));
  const text = chunks.map((c) => c.outputText).join("");
  assert(text === "a b c", text);
  assert(chunks.at(-1).completionReason === "FINISH" && chunks.at(-1)["amazon-bedrock-invocationMetrics"], JSON.stringify(chunks.at(-1)));
});

// --- Errors before the response ----------------------------------------------------------------------
const faults = [
  ["throttle", "ThrottlingException", 429, "Too many requests, please wait before trying again."],
  ["throttle-tokens", "ThrottlingException", 429, "Too many tokens, please wait before trying again."],
  ["throttle-daily", "ThrottlingException", 429, "Too many tokens per day, please wait before trying again."],
  ["500", "InternalServerException", 500],
  ["503", "ServiceUnavailableException", 503],
  ["timeout", "ModelTimeoutException", 408],
  ["model-not-ready", "ModelNotReadyException", 429],
  ["model-error", "ModelErrorException", 424],
  ["access-denied", "AccessDeniedException", 403],
  ["not-found", "ResourceNotFoundException", 404],
  ["validation", "ValidationException", 400, "Malformed input request"],
];
for (const [fault, type, status, message] of faults) {
  await expectError(`Converse fault ${fault}`, () => client({ fault }).send(new ConverseCommand(conv("hi"))), { type, status, message });
  await expectError(`ConverseStream fault ${fault}`, () => converseStreamText(client({ fault }), conv("hi")), { type, status, message });
}
await expectError("InvokeModel fault service-quota", () => client({ fault: "service-quota" }).send(new InvokeModelCommand({ modelId: CLAUDE, body: claudeBody("hi") })), { type: "ServiceQuotaExceededException", status: 400 });
await expectError("InvokeModel fault throttle", () => client({ fault: "throttle" }).send(new InvokeModelCommand({ modelId: TITAN, body: titanBody("hi") })), { type: "ThrottlingException", status: 429 });
await expectError("InvokeModelWithResponseStream fault 503", () => invokeStreamChunks(client({ fault: "503" }), CLAUDE, claudeBody("hi")), { type: "ServiceUnavailableException", status: 503 });

// Strict validation of bodies.
await expectError("InvokeModel Claude without max_tokens", () => ok.send(new InvokeModelCommand({ modelId: CLAUDE, body: JSON.stringify({ anthropic_version: "bedrock-2023-05-31", messages: [{ role: "user", content: "hi" }] }) })), { type: "ValidationException", status: 400, message: "Malformed input request: #: required key [max_tokens] not found" });
await expectError("InvokeModel not JSON", () => ok.send(new InvokeModelCommand({ modelId: CLAUDE, body: "{nope" })), { type: "ValidationException", status: 400, message: "Malformed input request" });
await expectError("InvokeModel unknown model family", () => ok.send(new InvokeModelCommand({ modelId: "acme.nothing-v1", body: "{}" })), { type: "ValidationException", status: 400, message: "The provided model identifier is invalid." });
await expectError("Converse starting with assistant", () => ok.send(new ConverseCommand({ modelId: CLAUDE, messages: [{ role: "assistant", content: [{ text: "x" }] }] })), { type: "ValidationException", status: 400, message: "A conversation must start with a user message." });
await expectError("Converse roles not alternating", () => ok.send(new ConverseCommand({ modelId: CLAUDE, messages: [{ role: "user", content: [{ text: "x" }] }, { role: "user", content: [{ text: "y" }] }] })), { type: "ValidationException", status: 400, message: "A conversation must alternate" });

// --- Exceptions inside the event stream -----------------------------------------------------------------
const streamExceptions = [
  ["modelStreamErrorException", "ModelStreamErrorException"],
  ["throttlingException", "ThrottlingException"],
  ["internalServerException", "InternalServerException"],
  ["serviceUnavailableException", "ServiceUnavailableException"],
  ["validationException", "ValidationException"],
];
for (const [wire, type] of streamExceptions) {
  await expectError(`ConverseStream in-stream ${wire}`, () => converseStreamText(client({ fault: `stream-exception:${wire}` }), conv("[[tokens=6]]")), { type });
  await expectError(`InvokeModelWithResponseStream in-stream ${wire}`, () => invokeStreamChunks(client({ fault: `stream-exception:${wire}` }), CLAUDE, claudeBody("[[tokens=6]]")), { type });
}
await expectError("InvokeModelWithResponseStream in-stream modelTimeoutException", () => invokeStreamChunks(client({ fault: "stream-exception:modelTimeoutException" }), TITAN, titanBody("[[tokens=6]]")), { type: "ModelTimeoutException" });
await check("ConverseStream in-stream exception after some deltas", async () => {
  const c = client({ fault: "stream-exception:throttlingException" });
  const out = await c.send(new ConverseStreamCommand(conv("[[tokens=6]]")));
  let deltas = 0;
  try {
    for await (const ev of out.stream) if (ev.contentBlockDelta) deltas++;
  } catch (e) {
    assert(e.name === "ThrottlingException", e.name);
    assert(deltas === 3, `3 deltas before the exception, got ${deltas}`);
    return;
  }
  throw new Error("no exception");
});

// --- Dropped connections ---------------------------------------------------------------------------------
await check("drop: the SDK sees a network error, not a service error", async () => {
  try {
    await client({ fault: "drop" }).send(new ConverseCommand(conv("hi")));
  } catch (e) {
    assert(e.$metadata?.httpStatusCode === undefined, `unexpected status ${e.$metadata?.httpStatusCode}`);
    assert(!e.$fault, `service error ${e.name}`);
    return `${e.name}: ${e.code ?? e.message}`;
  }
  throw new Error("no error");
});
await check("drop-mid-stream: the stream fails after some deltas", async () => {
  const out = await client({ fault: "drop-mid-stream" }).send(new ConverseStreamCommand(conv("[[tokens=8]]")));
  let deltas = 0;
  try {
    for await (const ev of out.stream) if (ev.contentBlockDelta) deltas++;
  } catch (e) {
    assert(deltas === 4, `4 deltas before the cut, got ${deltas}`);
    return `${e.name}: ${e.code ?? e.message}`;
  }
  throw new Error(`stream ended cleanly after ${deltas} deltas`);
});

// --- Authentication ----------------------------------------------------------------------------------------
await expectError("wrong secret", () => client({ secret: "not-the-secret" }).send(new ConverseCommand(conv("hi"))), { type: "InvalidSignatureException", status: 403, message: "The request signature we calculated does not match" });
await expectError("unknown access key", () => client({ key: "AKIDUNKNOWN" }).send(new ConverseCommand(conv("hi"))), { type: "UnrecognizedClientException", status: 403 });

// --- Tools ------------------------------------------------------------------------------------------------
const toolConfig = { tools: [{ toolSpec: { name: "get_weather", description: "Weather",
  inputSchema: { json: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } } } }] };
await check("Converse tool use and tool result", async () => {
  const r = await ok.send(new ConverseCommand(conv("Weather in Paris?", { toolConfig })));
  assert(r.stopReason === "tool_use", r.stopReason);
  const use = r.output.message.content.find((b) => b.toolUse)?.toolUse;
  assert(use && use.name === "get_weather" && use.input.city === "sample" && /^tooluse_/.test(use.toolUseId), JSON.stringify(r.output));
  const answer = await ok.send(new ConverseCommand({ modelId: CLAUDE, toolConfig, messages: [
    { role: "user", content: [{ text: "Weather in Paris?" }] },
    { role: "assistant", content: r.output.message.content },
    { role: "user", content: [{ toolResult: { toolUseId: use.toolUseId, content: [{ text: "21 C" }, { json: { wind: 3 } }] } }] }] }));
  assert(answer.stopReason === "end_turn", answer.stopReason);
  assert(answer.output.message.content[0].text === 'The tool returned: 21 C; {"wind":3}', answer.output.message.content[0].text);
});
await check("ConverseStream tool use", async () => {
  const out = await ok.send(new ConverseStreamCommand(conv("Weather in Paris?", { toolConfig: { ...toolConfig, toolChoice: { any: {} } } })));
  let start, input = "", deltas = 0, stop;
  for await (const ev of out.stream) {
    if (ev.contentBlockStart) start = ev.contentBlockStart;
    if (ev.contentBlockDelta?.delta?.toolUse) { input += ev.contentBlockDelta.delta.toolUse.input; deltas++; }
    if (ev.messageStop) stop = ev.messageStop.stopReason;
  }
  assert(start && start.contentBlockIndex === 0 && start.start.toolUse.name === "get_weather", JSON.stringify(start));
  assert(deltas >= 2 && JSON.parse(input).city === "sample", input);
  assert(stop === "tool_use", stop);
});

// --- Extended thinking -------------------------------------------------------------------------------------------
const SONNET37 = "us.anthropic.claude-3-7-sonnet-20250219-v1:0";
const thinking = { thinking: { type: "enabled", budget_tokens: 1024 } };
const thinkingTurn = (text, extra = {}) => ({ modelId: SONNET37, toolConfig, inferenceConfig: { maxTokens: 2048 },
  additionalModelRequestFields: thinking, messages: [{ role: "user", content: [{ text }] }], ...extra });
await check("Converse reasoning kept across a tool turn (signed text and redacted)", async () => {
  for (const question of ["Weather in Paris?", "Weather in Paris? [[redacted-thinking]]"]) {
    const r = await ok.send(new ConverseCommand(thinkingTurn(question)));
    const content = r.output.message.content;
    const rc = content[0].reasoningContent;
    assert(rc && (rc.reasoningText?.text && rc.reasoningText?.signature || rc.redactedContent instanceof Uint8Array), JSON.stringify(content));
    assert(/redacted/.test(question) === !!rc.redactedContent, "redacted on the trigger only");
    const use = content.find((b) => b.toolUse)?.toolUse;
    assert(r.stopReason === "tool_use" && use, r.stopReason);
    const next = (assistant) => ok.send(new ConverseCommand(thinkingTurn(question, { messages: [
      { role: "user", content: [{ text: question }] }, { role: "assistant", content: assistant },
      { role: "user", content: [{ toolResult: { toolUseId: use.toolUseId, content: [{ text: "21 C" }] } }] }] })));
    const answer = await next(content);  // the content as the SDK parsed it, sent back
    assert(answer.stopReason === "end_turn" && answer.output.message.content[0].reasoningContent, JSON.stringify(answer.output));
    let err;
    await next(content.slice(1)).catch((e) => { err = e; });
    assert(err?.name === "ValidationException" && /Expected `thinking` or `redacted_thinking`, but found `text`/.test(err.message),
      "dropped reasoning: " + err?.message);
    if (rc.reasoningText) {
      const forged = [{ reasoningContent: { reasoningText: { text: rc.reasoningText.text + "!", signature: rc.reasoningText.signature } } },
        ...content.slice(1)];
      err = undefined;
      await next(forged).catch((e) => { err = e; });
      assert(err?.name === "ValidationException" && /Invalid `signature`/.test(err.message), "forged: " + err?.message);
    }
  }
});
await check("ConverseStream reasoning deltas then the signature, the text at index 1", async () => {
  const out = await ok.send(new ConverseStreamCommand(thinkingTurn("Hello there", { toolConfig: undefined })));
  let reasoning = "", signature, text = "", textIndex;
  for await (const ev of out.stream) {
    const d = ev.contentBlockDelta;
    if (d?.delta?.reasoningContent?.text) reasoning += d.delta.reasoningContent.text;
    if (d?.delta?.reasoningContent?.signature) signature = d.delta.reasoningContent.signature;
    if (d?.delta?.text) { text += d.delta.text; textIndex = d.contentBlockIndex; }
  }
  assert(reasoning.startsWith("Considering: Hello there.") && signature && text && textIndex === 1, JSON.stringify({ reasoning, signature, text, textIndex }));
});
await expectError("thinking budget not below maxTokens", () => ok.send(new ConverseCommand(thinkingTurn("x", { inferenceConfig: { maxTokens: 1024 } }))),
  { type: "ValidationException", status: 400, message: "The model returned the following errors: `max_tokens` must be greater than `thinking.budget_tokens`" });

// --- Simulator endpoints ------------------------------------------------------------------------------------
await check("GET /sim/stats", async () => {
  const r = await fetch(`${endpoint}/sim/stats`);
  const s = await r.json();
  assert(r.status === 200 && s.requests.Converse > 0 && s.throttled > 0 && s.auth_failures === 2, JSON.stringify(s));
  assert(s.faults["stream-exception:modelStreamErrorException"] === 2, JSON.stringify(s.faults));
});

const failed = results.filter((r) => !r.ok);
console.log(JSON.stringify({ total: results.length, failed: failed.length, results }, null, 1));
process.exit(failed.length ? 1 : 0);
