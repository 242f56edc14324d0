// Differential oracle for src/aws/eventstream.cpp, using the official @smithy/eventstream-codec.
// Reads JSON lines on stdin, writes one line per input line on stdout:
//   {"op":"encode","headers":[H...],"payload_hex":"..."}  ->  hex of the encoded frame
//   {"op":"decode","frame_hex":"..."}                     ->  {"headers":[H...],"payload_hex":"..."}
//                                                            or {"error":"..."}
// H = {"name":"...","type":0..9,"int":"<decimal>","data_hex":"<hex>"}; "int" is used by types 2,3,4,5,8
// (a string, so int64 survives JSON), "data_hex" by 6 (bytes), 7 (UTF-8 string) and 9 (16 raw bytes).
import { EventStreamCodec, Int64 } from "@smithy/eventstream-codec";
import { fromUtf8, toUtf8 } from "@smithy/util-utf8";
import { createInterface } from "node:readline";

const codec = new EventStreamCodec(toUtf8, fromUtf8);
const hex = (u8) => Buffer.from(u8).toString("hex");
const unhex = (s) => new Uint8Array(Buffer.from(s, "hex"));

function int64Bytes(dec) {
  let v = BigInt.asUintN(64, BigInt(dec));
  const out = new Uint8Array(8);
  for (let i = 7; i >= 0; i--) { out[i] = Number(v & 0xffn); v >>= 8n; }
  return out;
}

function toSmithy(h) {
  switch (h.type) {
    case 0: return { type: "boolean", value: true };
    case 1: return { type: "boolean", value: false };
    case 2: return { type: "byte", value: Number(h.int) };
    case 3: return { type: "short", value: Number(h.int) };
    case 4: return { type: "integer", value: Number(h.int) };
    case 5: return { type: "long", value: new Int64(int64Bytes(h.int)) };
    case 6: return { type: "binary", value: unhex(h.data_hex) };
    case 7: return { type: "string", value: Buffer.from(h.data_hex, "hex").toString("utf8") };
    case 8: return { type: "timestamp", value: new Date(Number(h.int)) };
    case 9: {
      const x = h.data_hex;
      return { type: "uuid", value: `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}` };
    }
  }
  throw new Error(`bad type ${h.type}`);
}

function fromSmithy(name, v) {
  switch (v.type) {
    case "boolean": return { name, type: v.value ? 0 : 1 };
    case "byte": return { name, type: 2, int: String(v.value) };
    case "short": return { name, type: 3, int: String(v.value) };
    case "integer": return { name, type: 4, int: String(v.value) };
    case "long": return { name, type: 5, int: BigInt.asIntN(64, BigInt("0x" + hex(v.value.bytes))).toString() };
    case "binary": return { name, type: 6, data_hex: hex(v.value) };
    case "string": return { name, type: 7, data_hex: Buffer.from(v.value, "utf8").toString("hex") };
    case "timestamp": return { name, type: 8, int: String(v.value.valueOf()) };
    case "uuid": return { name, type: 9, data_hex: v.value.replace(/-/g, "") };
  }
  throw new Error(`bad type ${v.type}`);
}

const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of rl) {
  if (!line.trim()) continue;
  const req = JSON.parse(line);
  try {
    if (req.op === "encode") {
      const headers = {};
      for (const h of req.headers) headers[h.name] = toSmithy(h);
      process.stdout.write(hex(codec.encode({ headers, body: unhex(req.payload_hex) })) + "\n");
    } else {
      const msg = codec.decode(unhex(req.frame_hex));
      const headers = Object.entries(msg.headers).map(([n, v]) => fromSmithy(n, v));
      process.stdout.write(JSON.stringify({ headers, payload_hex: hex(msg.body) }) + "\n");
    }
  } catch (e) {
    process.stdout.write(JSON.stringify({ error: String(e.message || e) }) + "\n");
  }
}
