// Differential oracle for the Service Quotas client and the simulator's Service Quotas API, using the
// official @aws-sdk/client-service-quotas.
// Usage: node tests/node/service_quotas_oracle.mjs <port> <accessKeyId> <secretAccessKey> <region> <quotaCode>
// Prints one JSON object:
//   request: the headers that matter and the body the SDK sends for
//            ListServiceQuotas {ServiceCode: "bedrock", MaxResults: 100, NextToken: "7"} (captured, not sent)
//   listed:  every bedrock quota through the SDK's paginator (pageSize 7) from the simulator
//   get:     GetServiceQuota(quotaCode).Value; missing: the error name for an unknown code;
//   bad_signature: the error name with a wrong secret
import {
  GetServiceQuotaCommand,
  ListServiceQuotasCommand,
  ServiceQuotasClient,
  paginateListServiceQuotas,
} from "@aws-sdk/client-service-quotas";
import { NodeHttpHandler } from "@smithy/node-http-handler";

const [port, accessKeyId, secretAccessKey, region, quotaCode] = process.argv.slice(2);
const endpoint = `http://127.0.0.1:${port}`;

function client(secret = secretAccessKey) {
  return new ServiceQuotasClient({
    region,
    endpoint,
    credentials: { accessKeyId, secretAccessKey: secret },
    requestHandler: new NodeHttpHandler(),
    maxAttempts: 1,
  });
}

const out = {};
try {
  // The request as serialized (before signing), without sending it.
  const capture = client();
  capture.middlewareStack.add(
    (next) => async (args) => {
      const h = {};
      for (const [k, v] of Object.entries(args.request.headers)) h[k.toLowerCase()] = v;
      const b = args.request.body;
      const body = typeof b === "string" ? b : Buffer.from(b).toString("utf8");
      out.request = { method: args.request.method, path: args.request.path, headers: h, body };
      const e = new Error("captured");
      e.name = "Captured";
      throw e;
    },
    { step: "build", name: "capture", priority: "low" },
  );
  try {
    await capture.send(new ListServiceQuotasCommand({ ServiceCode: "bedrock", MaxResults: 100, NextToken: "7" }));
  } catch (e) {
    if (e.name !== "Captured") throw e;
  }

  const c = client();
  out.listed = [];
  for await (const page of paginateListServiceQuotas({ client: c, pageSize: 7 }, { ServiceCode: "bedrock" })) {
    for (const q of page.Quotas ?? []) out.listed.push({ code: q.QuotaCode, name: q.QuotaName, value: q.Value });
  }
  const got = await c.send(new GetServiceQuotaCommand({ ServiceCode: "bedrock", QuotaCode: quotaCode }));
  out.get = got.Quota?.Value;
  try {
    await c.send(new GetServiceQuotaCommand({ ServiceCode: "bedrock", QuotaCode: "L-00000000" }));
    out.missing = "no error";
  } catch (e) {
    out.missing = e.name;
  }
  try {
    await client("wrong-secret").send(new ListServiceQuotasCommand({ ServiceCode: "bedrock" }));
    out.bad_signature = "no error";
  } catch (e) {
    out.bad_signature = e.name;
  }
  out.ok = true;
} catch (e) {
  out.ok = false;
  out.error = String(e?.stack ?? e);
}
console.log(JSON.stringify(out));
