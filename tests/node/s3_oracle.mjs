// Differential oracle for src/aws/s3.cpp, with the official @aws-sdk/client-s3 and
// @aws-sdk/s3-request-presigner. Usage: node s3_oracle.mjs REQUEST.json; prints one JSON object.
// Requests ({"op": ...}):
//   put:     {endpoint, bucket, key, body_b64, contentType?, metadata?}          -> {etag}
//   get:     {endpoint, bucket, key}  -> {size, sha256, body_b64 (<= 64 KiB), contentType, metadata, etag}
//   list:    {endpoint, bucket, prefix, maxKeys}  -> {keys: [...], truncated}
//   presign: {region, credentials, protocol, hostname, port, path, method, headers?, time (epoch ms), expires}
//            -> {query: {name: value}} (decoded) of the presigned request, X-Amz-Signature included
// Clients use path-style addressing, credentials S3RVER/S3RVER, and send no flexible checksums (s3rver
// would store aws-chunked framing as the body).
import { readFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { S3Client, PutObjectCommand, GetObjectCommand, ListObjectsV2Command } from "@aws-sdk/client-s3";
import { S3RequestPresigner } from "@aws-sdk/s3-request-presigner";
import { Sha256 } from "@aws-crypto/sha256-js";

const r = JSON.parse(readFileSync(process.argv[2], "utf8"));

function client(endpoint) {
  return new S3Client({
    region: "us-east-1",
    endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
}

async function main() {
  switch (r.op) {
    case "put": {
      const out = await client(r.endpoint).send(new PutObjectCommand({
        Bucket: r.bucket, Key: r.key, Body: Buffer.from(r.body_b64, "base64"),
        ContentType: r.contentType, Metadata: r.metadata,
      }));
      return { etag: out.ETag };
    }
    case "get": {
      const out = await client(r.endpoint).send(new GetObjectCommand({ Bucket: r.bucket, Key: r.key }));
      const body = Buffer.from(await out.Body.transformToByteArray());
      return {
        size: body.length,
        sha256: createHash("sha256").update(body).digest("hex"),
        body_b64: body.length <= 65536 ? body.toString("base64") : undefined,
        contentType: out.ContentType,
        metadata: out.Metadata,
        etag: out.ETag,
      };
    }
    case "list": {
      const out = await client(r.endpoint).send(new ListObjectsV2Command({
        Bucket: r.bucket, Prefix: r.prefix, MaxKeys: r.maxKeys,
      }));
      return { keys: (out.Contents ?? []).map((c) => c.Key), truncated: !!out.IsTruncated };
    }
    case "presign": {
      const presigner = new S3RequestPresigner({ region: r.region, credentials: r.credentials, sha256: Sha256 });
      const request = {
        method: r.method, protocol: r.protocol, hostname: r.hostname, port: r.port,
        path: r.path, query: {}, headers: { ...(r.headers ?? {}) },
      };
      const out = await presigner.presign(request, { signingDate: new Date(r.time), expiresIn: r.expires });
      return { query: out.query, headers: out.headers };
    }
    default:
      throw new Error("unknown op " + r.op);
  }
}

try {
  process.stdout.write(JSON.stringify(await main()) + "\n");
} catch (e) {
  process.stdout.write(JSON.stringify({ error: String(e?.name ?? "") + ": " + String(e?.message ?? e) }) + "\n");
}
