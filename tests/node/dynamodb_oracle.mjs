// Differential oracle for the DynamoDB history and idempotency stores (docs/storage.md), using the official
// @aws-sdk/client-dynamodb against the same table (dynalite in the tests).
// Reads one JSON object on stdin:
//   {"endpoint", "table",
//    "read": [conversation id...],            -> Query pk = "conv#<id>" (paginated, 2 per page), done first
//    "write": [{conversation_id, seq, owner, user_input, assistant_reply, input_tokens, output_tokens}...],
//                                              -> one PutItem per turn in the documented schema, conditional
//    "idem_read": [{owner, key}...],           -> GetItem pk = "idem#<sha256(owner)>#<key>", sk = 0
//    "idem_write": [{owner, key, state, request_hash, status, response_body, expires_at_ms}...]}
// and writes one JSON object: {"ok": true, "read": {id: [{values: {name: S or N text}, types: {name: type}}]},
//   "idem": [same shape or null]} or {"ok": false, "error": "..."}.
import { DynamoDBClient, GetItemCommand, PutItemCommand, QueryCommand } from "@aws-sdk/client-dynamodb";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import { createHash } from "node:crypto";

const chunks = [];
for await (const c of process.stdin) chunks.push(c);
const input = JSON.parse(Buffer.concat(chunks).toString("utf8"));

const client = new DynamoDBClient({
  region: "us-east-1",
  endpoint: input.endpoint,
  credentials: { accessKeyId: "AKIDORACLE", secretAccessKey: "secret" },
  requestHandler: new NodeHttpHandler(),
  maxAttempts: 1,
});

// Values as text (S as is, N as its decimal string) plus each attribute's type.
function describe(item) {
  const values = {};
  const types = {};
  for (const [name, av] of Object.entries(item)) {
    const [type] = Object.keys(av);
    types[name] = type;
    values[name] = av[type];
  }
  return { values, types };
}

const idemPk = (owner, key) => `idem#${createHash("sha256").update(owner, "utf8").digest("hex")}#${key}`;

try {
  const out = { ok: true, read: {}, idem: [] };
  for (const id of input.read ?? []) {
    const items = [];
    let start;
    do {
      const page = await client.send(new QueryCommand({
        TableName: input.table,
        KeyConditionExpression: "pk = :pk",
        ExpressionAttributeValues: { ":pk": { S: `conv#${id}` } },
        ScanIndexForward: true,
        ConsistentRead: true,
        Limit: 2,
        ExclusiveStartKey: start,
      }));
      for (const item of page.Items ?? []) items.push(describe(item));
      start = page.LastEvaluatedKey;
    } while (start);
    out.read[id] = items;
  }
  for (const w of input.write ?? []) {
    await client.send(new PutItemCommand({
      TableName: input.table,
      Item: {
        pk: { S: `conv#${w.conversation_id}` },
        sk: { N: String(w.seq) },
        kind: { S: "turn" },
        conversation_id: { S: w.conversation_id },
        owner: { S: w.owner },
        user_input: { S: w.user_input },
        assistant_reply: { S: w.assistant_reply },
        model_id: { S: "sdk-model" },
        input_tokens: { N: String(w.input_tokens) },
        output_tokens: { N: String(w.output_tokens) },
        stop_reason: { S: "end_turn" },
        created_at_ms: { N: "1700000000000" },
        request_id: { S: "sdk-request" },
        expires_at: { N: String(Math.floor(Date.now() / 1000) + 86400) },
      },
      ConditionExpression: "attribute_not_exists(pk)",
    }));
  }
  for (const w of input.idem_write ?? []) {
    await client.send(new PutItemCommand({
      TableName: input.table,
      Item: {
        pk: { S: idemPk(w.owner, w.key) },
        sk: { N: "0" },
        kind: { S: "idempotency" },
        owner: { S: w.owner },
        idem_key: { S: w.key },
        state: { S: w.state },
        request_hash: { S: w.request_hash },
        status: { N: String(w.status) },
        response_body: { S: w.response_body },
        expires_at_ms: { N: String(w.expires_at_ms) },
        expires_at: { N: String(Math.ceil(w.expires_at_ms / 1000)) },
      },
    }));
  }
  for (const r of input.idem_read ?? []) {
    const got = await client.send(new GetItemCommand({
      TableName: input.table,
      Key: { pk: { S: idemPk(r.owner, r.key) }, sk: { N: "0" } },
      ConsistentRead: true,
    }));
    out.idem.push(got.Item ? describe(got.Item) : null);
  }
  process.stdout.write(JSON.stringify(out));
} catch (e) {
  process.stdout.write(JSON.stringify({ ok: false, error: `${e.name}: ${e.message}` }));
}
