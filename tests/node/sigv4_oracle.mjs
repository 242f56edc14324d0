// Differential oracle for src/aws/sigv4.cpp, using the official @smithy/signature-v4 (v5) signer.
// Reads JSON lines on stdin, one request each:
//   {"method","hostname","path","query":{k: v | [v...]},"headers":{name: value},"body",
//    "credentials":{"accessKeyId","secretAccessKey","sessionToken"?},"region","service","time":<epoch ms>,
//    "uriEscapePath":bool,"applyChecksum":bool,"presign":bool,"expires":<s>}
// and writes one JSON line each: {"authorization": "..."} or, for presign, {"query": {...}} (the
// query of the presigned request, X-Amz-Signature included), or {"error": "..."}.
//
// `path` is given percent-encoded once, exactly as it appears in the request URL. With uriEscapePath
// (every service but S3) the signer normalizes it and encodes it a second time; without it (S3) the path
// is used as is. `query` holds decoded keys and values: the signer encodes them itself.
import { SignatureV4 } from "@smithy/signature-v4";
import { Sha256 } from "@aws-crypto/sha256-js";
import { createInterface } from "node:readline";

const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of rl) {
  if (!line.trim()) continue;
  const r = JSON.parse(line);
  try {
    const signer = new SignatureV4({
      credentials: r.credentials,
      region: r.region,
      service: r.service,
      sha256: Sha256,
      uriEscapePath: r.uriEscapePath,
      applyChecksum: r.applyChecksum,
    });
    const request = {
      method: r.method,
      protocol: "https:",
      hostname: r.hostname,
      path: r.path,
      query: r.query,
      headers: { ...r.headers },
      body: r.body,
    };
    const signingDate = new Date(r.time);
    if (r.presign) {
      const out = await signer.presign(request, { signingDate, expiresIn: r.expires });
      process.stdout.write(JSON.stringify({ query: out.query }) + "\n");
    } else {
      const out = await signer.sign(request, { signingDate });
      process.stdout.write(JSON.stringify({ authorization: out.headers.authorization }) + "\n");
    }
  } catch (e) {
    process.stdout.write(JSON.stringify({ error: String(e.message || e) }) + "\n");
  }
}
