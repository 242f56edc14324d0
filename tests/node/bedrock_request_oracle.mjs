// Differential oracle for src/bedrock/converse_codec.cpp and model_id.cpp, using the official
// @aws-sdk/client-bedrock-runtime serializer (no network: a capturing request handler answers).
// Reads JSON lines on stdin: {"op":"converse"|"converse-stream"|"count-tokens"|"invoke"|"invoke-stream","input":{the command's input},
// "bearer":"<token>"?}, where image/document "source":{"bytes":"<base64>"} and a reasoning block's
// "redactedContent" are given as base64. With
// "bearer", the request is made by a client created while AWS_BEARER_TOKEN_BEDROCK=<token> is set (the
// SDK then prefers its httpBearerAuth scheme). Writes one line per input:
// {"method":"POST","path":"/model/.../converse","content_type":"...","body":"<request body>",
//  "headers":{lower-case name: value}} or {"error":"..."}.
import { BedrockRuntimeClient, ConverseCommand, ConverseStreamCommand, CountTokensCommand, InvokeModelCommand,
         InvokeModelWithResponseStreamCommand } from "@aws-sdk/client-bedrock-runtime";
import { Readable } from "node:stream";
import { createInterface } from "node:readline";

let captured = null;
const handler = {
  metadata: { handlerProtocol: "http/1.1" },
  async handle(request) {
    captured = request;
    // A minimal valid reply so the command resolves; its content does not matter here.
    const body = JSON.stringify({ output: { message: { role: "assistant", content: [{ text: "x" }] } },
                                  stopReason: "end_turn", usage: { inputTokens: 1, outputTokens: 1, totalTokens: 2 },
                                  metrics: { latencyMs: 1 } });
    return { response: { statusCode: 200, headers: { "content-type": "application/json" }, body: Readable.from([Buffer.from(body)]) } };
  },
  updateHttpClientConfig() {},
  httpHandlerConfigs() { return {}; },
};

const makeClient = () => new BedrockRuntimeClient({
  region: "us-east-1",
  endpoint: "http://127.0.0.1:9",
  credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" },
  requestHandler: handler,
  maxAttempts: 1,
});
const client = makeClient();
const bearerClients = new Map();
// A client made with AWS_BEARER_TOKEN_BEDROCK set, as a user of the SDK would have it.
function bearerClient(token) {
  if (!bearerClients.has(token)) {
    const saved = process.env.AWS_BEARER_TOKEN_BEDROCK;
    process.env.AWS_BEARER_TOKEN_BEDROCK = token;
    bearerClients.set(token, makeClient());
    if (saved === undefined) delete process.env.AWS_BEARER_TOKEN_BEDROCK; else process.env.AWS_BEARER_TOKEN_BEDROCK = saved;
  }
  return bearerClients.get(token);
}

function bytesToUint8(v) {
  if (Array.isArray(v)) return v.map(bytesToUint8);
  if (v && typeof v === "object") {
    const out = {};
    for (const [k, x] of Object.entries(v)) {
      // Blobs given as base64: image/document bytes, a reasoning block's redactedContent.
      const blob = (k === "bytes" || k === "redactedContent") && typeof x === "string";
      out[k] = blob ? new Uint8Array(Buffer.from(x, "base64")) : bytesToUint8(x);
    }
    return out;
  }
  return v;
}

const rl = createInterface({ input: process.stdin });
for await (const line of rl) {
  if (!line.trim()) continue;
  const { op, input, bearer } = JSON.parse(line);
  captured = null;
  try {
    const Command = { "converse-stream": ConverseStreamCommand, "count-tokens": CountTokensCommand, "invoke": InvokeModelCommand,
                      "invoke-stream": InvokeModelWithResponseStreamCommand }[op] ?? ConverseCommand;
    const cmd = new Command(bytesToUint8(input));
    const c = bearer ? bearerClient(bearer) : client;
    if (bearer) process.env.AWS_BEARER_TOKEN_BEDROCK = bearer;  // the token provider reads it at call time
    await c.send(cmd).catch(() => {});  // the stream reply is not an event stream; only the request matters
    if (bearer) delete process.env.AWS_BEARER_TOKEN_BEDROCK;
    if (!captured) throw new Error("no request captured");
    const b = captured.body;
    const body = b instanceof Uint8Array ? Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("utf8") : String(b ?? "");
    process.stdout.write(JSON.stringify({ method: captured.method, path: captured.path,
                                          content_type: captured.headers["content-type"] ?? "", body,
                                          headers: Object.fromEntries(Object.entries(captured.headers).map(([k, v]) => [k.toLowerCase(), v])) }) + "\n");
  } catch (e) {
    process.stdout.write(JSON.stringify({ error: String(e && e.message || e) }) + "\n");
  }
}
