// Differential oracle for src/bedrock/converse_codec.cpp and model_id.cpp, using the official
// @aws-sdk/client-bedrock-runtime serializer (no network: a capturing request handler answers).
// Reads JSON lines on stdin: {"op":"converse"|"converse-stream","input":{ConverseCommand input}}, where
// image/document "source":{"bytes":"<base64>"} is given as base64. Writes one line per input:
// {"method":"POST","path":"/model/.../converse","content_type":"...","body":"<request body>"} or {"error":"..."}.
import { BedrockRuntimeClient, ConverseCommand, ConverseStreamCommand } from "@aws-sdk/client-bedrock-runtime";
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

const client = new BedrockRuntimeClient({
  region: "us-east-1",
  endpoint: "http://127.0.0.1:9",
  credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" },
  requestHandler: handler,
  maxAttempts: 1,
});

function bytesToUint8(v) {
  if (Array.isArray(v)) return v.map(bytesToUint8);
  if (v && typeof v === "object") {
    const out = {};
    for (const [k, x] of Object.entries(v)) {
      out[k] = k === "bytes" && typeof x === "string" ? new Uint8Array(Buffer.from(x, "base64")) : bytesToUint8(x);
    }
    return out;
  }
  return v;
}

const rl = createInterface({ input: process.stdin });
for await (const line of rl) {
  if (!line.trim()) continue;
  const { op, input } = JSON.parse(line);
  captured = null;
  try {
    const cmd = op === "converse-stream" ? new ConverseStreamCommand(bytesToUint8(input)) : new ConverseCommand(bytesToUint8(input));
    await client.send(cmd).catch(() => {});  // the stream reply is not an event stream; only the request matters
    if (!captured) throw new Error("no request captured");
    const b = captured.body;
    const body = b instanceof Uint8Array ? Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("utf8") : String(b ?? "");
    process.stdout.write(JSON.stringify({ method: captured.method, path: captured.path,
                                          content_type: captured.headers["content-type"] ?? "", body }) + "\n");
  } catch (e) {
    process.stdout.write(JSON.stringify({ error: String(e && e.message || e) }) + "\n");
  }
}
