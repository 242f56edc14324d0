#!/usr/bin/env node
// bench/soak: the soak benchmark (docs/performance.md, "Soak"). A benchmark, not a test: it asserts
// nothing, it measures. The real binary (`bedrock-agent serve`, SQLite history, local file store) in
// front of `bedrock-agent simulate-bedrock` with 1 % injected faults, driven for DURATION seconds by
// bench_loadgen processes in open loop (each at its own rate, no coordinated omission), mixing:
//
//   chat      POST /chat, buffered, a new conversation each time (a turn saved per answer)
//   stream    POST /chat with "stream": true (Server-Sent Events), a new conversation each time
//   history   GET /conversations/{id} of a conversation seeded at start, and GET /conversations?limit=20
//   files     POST /files (a 2 KiB upload) and GET /files?limit=20
//
// It samples the agent's RSS and open file descriptors every --sample seconds and records errors by
// kind (HTTP status per route, transport errors, the simulator's injected faults). Results:
// bench/results/soak.json (and a table on stderr).
//
//   node bench/soak/soak.mjs [--build=build-bench] [--duration=1800] [--rate=500] [--warmup=120]
//                            [--sample=10] [--fault-rate=0.01] [--out=bench/results/soak.json]
//                            [--no-files] [--wrap='heaptrack -o /tmp/soak'] [--note='what else ran']
//
// --no-files drops the two files routes (the rate is then 450 of every 500). --wrap starts the agent
// under another program (a heap profiler); RSS and descriptors are still the agent's own.
//
// `make bench-soak` builds the two binaries (RelWithDebInfo, build-bench/) and runs this; DURATION=S
// overrides the duration, RATE=R the total rate.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const args = Object.fromEntries(process.argv.slice(2).map((a) => {
  const m = a.match(/^--([^=]+)(?:=(.*))?$/);
  return m ? [m[1], m[2] ?? 'true'] : [a, 'true'];
}));
const BUILD = path.resolve(ROOT, args.build ?? 'build-bench');
const AGENT = path.join(BUILD, 'bedrock-agent');
const LOADGEN = path.join(BUILD, 'bench_loadgen');
const DURATION = Number(args.duration ?? 1800);
const RATE = Number(args.rate ?? 500);
const WARMUP = Math.min(Number(args.warmup ?? 120), Math.floor(DURATION / 4));
const SAMPLE = Number(args.sample ?? 10);
const FAULT_RATE = Number(args['fault-rate'] ?? 0.01);
const OUT = path.resolve(ROOT, args.out ?? 'bench/results/soak.json');
const NO_FILES = args['no-files'] === 'true';
const WRAP = args.wrap ? args.wrap.split(' ').filter(Boolean) : [];
const MODEL = 'anthropic.claude-3-sonnet-20240229-v1:0';
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'ba-soak-'));
const children = [];

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (...a) => console.error('[soak]', ...a);
const loadavg = () => fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

async function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}

async function waitPort(port, ms = 30000) {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    const ok = await new Promise((resolve) => {
      const c = net.connect(port, '127.0.0.1', () => { c.destroy(); resolve(true); });
      c.on('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`nothing listens on ${port}`);
}

async function startServer(name, argv, env, port, wrap = []) {
  const out = fs.openSync(path.join(TMP, `${name}.log`), 'w');
  const [cmd, ...pre] = wrap.length ? [...wrap, AGENT] : [AGENT];
  const child = spawn(cmd, [...pre, ...argv], { env: { ...process.env, ...env }, stdio: ['ignore', out, out], cwd: TMP });
  children.push(child);
  child.on('exit', (code, sig) => { if (!child.stopping) log(`${name} exited (${code ?? sig}); log: ${path.join(TMP, name + '.log')}`); });
  await waitPort(port);
  return { name, child, pid: wrap.length ? agentPid(port) : child.pid, port };
}

// Under --wrap, the agent is the wrapper's descendant: the process running AGENT with this --port.
function agentPid(port) {
  for (const d of fs.readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    try {
      const argv = fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0');
      if (fs.readlinkSync(`/proc/${d}/exe`) === AGENT && argv[argv.indexOf('--port') + 1] === String(port)) return Number(d);
    } catch { /* gone, or not ours */ }
  }
  throw new Error(`no ${AGENT} on port ${port} under ${WRAP.join(' ')}`);
}

async function stopChild(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.stopping = true;
  const done = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 10000);
  await done;
  clearTimeout(t);
}

function procSample(pid) {
  try {
    const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k) => Number(s.match(new RegExp(`${k}:\\s*(\\d+)`))?.[1] ?? 0);
    const fds = fs.readdirSync(`/proc/${pid}/fd`).length;
    const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    const cpu_s = (Number(f[11]) + Number(f[12])) / 100;
    return { rss_kb: kb('VmRSS'), hwm_kb: kb('VmHWM'), threads: kb('Threads'), fds, cpu_s };
  } catch { return null; }
}

function httpReq(port, method, p, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: p, headers: { 'content-type': 'application/json', ...headers } }, (res) => {
      let data = '';
      res.on('data', (d) => { data += d; });
      res.on('end', () => resolve({ status: res.statusCode, body: data }));
    });
    req.on('error', reject);
    if (body !== undefined) req.write(typeof body === 'string' ? body : JSON.stringify(body));
    req.end();
  });
}

function runLoadgen(name, target) {
  const body = path.join(TMP, `${name}.body`);
  fs.writeFileSync(body, target.body ?? '');
  const argv = ['rate', `--port=${target.port}`, `--path=${target.path}`, `--rate=${target.rate}`,
    `--duration=${DURATION}`, '--warmup=0', '--max-conns=2000', '--timeout=60',
    ...(target.method === 'GET' ? [] : [`--body-file=${body}`]), ...(target.headers ?? []).map((h) => `--header=${h}`)];
  if (target.method) argv.push(`--method=${target.method}`);
  return new Promise((resolve, reject) => {
    const c = spawn(LOADGEN, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(c);
    let out = '', err = '';
    c.stdout.on('data', (d) => { out += d; });
    c.stderr.on('data', (d) => { err += d; });
    c.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`loadgen ${name} exited ${code}: ${err}`));
      try { resolve(JSON.parse(out.trim().split('\n').pop())); } catch (e) { reject(new Error(`loadgen ${name}: ${e} ${out} ${err}`)); }
    });
  });
}

async function main() {
  for (const f of [AGENT, LOADGEN]) if (!fs.existsSync(f)) throw new Error(`${f} is not built: make bench-soak builds it`);
  // 1 % of Bedrock calls get a fault, spread over the kinds a caller meets: 500, 503, throttles, a
  // dropped connection, a stream cut half-way. The agent retries most; what reaches callers is counted.
  const share = FAULT_RATE / 5;
  const faults = ['500', '503', 'throttle', 'drop', 'drop-mid-stream'].flatMap((k) => ['--fault', `${k}=${share}`]);
  const simPort = await freePort();
  const sim = await startServer('simulator', ['simulate-bedrock', '--port', String(simPort), '--no-fault-header',
    '--ttft-ms', '20', '--per-token-ms', '1', '--seed', '7', ...faults], {}, simPort);
  const agentPort = await freePort();
  const agent = await startServer('agent', ['serve', '--port', String(agentPort), '--model-id', MODEL,
    '--history', `sqlite:${path.join(TMP, 'history.db')}`, '--files', path.join(TMP, 'files'),
    '--max-rpm', '1e9', '--max-tpm', '0'], {
    AWS_ENDPOINT_URL_BEDROCK_RUNTIME: `http://127.0.0.1:${simPort}`, AWS_ACCESS_KEY_ID: 'AKIDSOAK0000000000000',
    AWS_SECRET_ACCESS_KEY: 'soak-secret-not-a-secret', AWS_REGION: 'us-east-1', AWS_PROFILE: 'soak-none',
    AWS_CONFIG_FILE: '/dev/null', AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
  }, agentPort, WRAP);

  // A conversation to read back (10 turns), retried past injected faults.
  for (let i = 0; i < 10; ++i) {
    for (let attempt = 0; attempt < 5; ++attempt) {
      const r = await httpReq(agentPort, 'POST', '/chat', { input: `echo:seed turn ${i}`, conversation_id: 'soak-history' });
      if (r.status === 200) break;
    }
  }
  const upload = { name: 'soak.txt', content_type: 'text/plain', content_base64: Buffer.alloc(2048, 'soak ').toString('base64') };
  const r = RATE / 500;  // the mix below is for 500 requests/s
  const targets = {
    chat: { port: agentPort, path: '/chat', rate: 200 * r, body: JSON.stringify({ input: 'Tell me something.', max_tokens: 64 }) },
    stream: { port: agentPort, path: '/chat', rate: 150 * r, body: JSON.stringify({ input: 'Stream something.', max_tokens: 64, stream: true }) },
    history_get: { port: agentPort, path: '/conversations/soak-history', rate: 60 * r, method: 'GET' },
    history_list: { port: agentPort, path: '/conversations?limit=20', rate: 40 * r, method: 'GET' },
    files_post: { port: agentPort, path: '/files', rate: 25 * r, body: JSON.stringify(upload) },
    files_list: { port: agentPort, path: '/files?limit=20', rate: 25 * r, method: 'GET' },
  };
  if (NO_FILES) {
    delete targets.files_post;
    delete targets.files_list;
  }

  log(`agent pid ${agent.pid} port ${agentPort}, simulator port ${simPort}; ${RATE} req/s for ${DURATION} s (warm-up ${WARMUP} s); load ${loadavg()}`);
  const started = Date.now();
  const samples = [];
  const sampler = setInterval(() => {
    const s = procSample(agent.pid);
    if (s) samples.push({ t_s: Math.round((Date.now() - started) / 1000), load: loadavg(), ...s });
  }, SAMPLE * 1000);
  samples.push({ t_s: 0, load: loadavg(), ...procSample(agent.pid) });
  const results = Object.fromEntries(await Promise.all(Object.entries(targets).map(async ([name, t]) => [name, await runLoadgen(name, t)])));
  clearInterval(sampler);
  samples.push({ t_s: Math.round((Date.now() - started) / 1000), load: loadavg(), ...procSample(agent.pid) });
  const simStats = JSON.parse((await httpReq(simPort, 'GET', '/sim/stats')).body);
  const metrics = (await httpReq(agentPort, 'GET', '/metrics')).body;
  await stopChild(agent.child);
  await stopChild(sim.child);

  // RSS after warm-up (first sample at or after WARMUP) and at the end; descriptors over time.
  const afterWarm = samples.find((s) => s.t_s >= WARMUP) ?? samples[0];
  const end = samples[samples.length - 1];
  const fds = samples.map((s) => s.fds);
  const routes = {};
  let requested = 0, completed = 0, ok = 0;
  const errorsByKind = {};
  for (const [name, res] of Object.entries(results)) {
    requested += targets[name].rate * DURATION;
    completed += res.completed;
    ok += res.ok;
    routes[name] = { rate: targets[name].rate, completed: res.completed, ok: res.ok, throughput_rps: +res.throughput_rps.toFixed(1),
      statuses: res.statuses, errors: res.errors, latency_us: res.latency_us,
      connections_opened: res.connections_opened, connections_retired_idle: res.connections_retired_idle };
    for (const [st, n] of Object.entries(res.statuses)) if (!st.startsWith('2')) errorsByKind[`${name} HTTP ${st}`] = n;
    for (const [e, n] of Object.entries(res.errors)) errorsByKind[`${name} ${e}`] = n;
  }
  const out = {
    when: new Date().toISOString(), machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, note: args.note ?? '' },
    duration_s: DURATION, warmup_s: WARMUP, target_rps: RATE, fault_rate: FAULT_RATE, files: !NO_FILES, wrap: WRAP.join(' ') || undefined,
    achieved_rps: +(completed / DURATION).toFixed(1), ok_rps: +(ok / DURATION).toFixed(1), requested: Math.round(requested), completed, ok,
    rss_kb: { after_warmup: afterWarm.rss_kb, end: end.rss_kb, growth_pct: +((end.rss_kb / afterWarm.rss_kb - 1) * 100).toFixed(2), peak: end.hwm_kb },
    fds: { min: Math.min(...fds), max: Math.max(...fds), start: samples[0].fds, after_warmup: afterWarm.fds, end: end.fds },
    agent_cpu_s: end.cpu_s, errors_by_kind: errorsByKind, routes,
    simulator: { requests_total: simStats.requests_total, succeeded: simStats.succeeded, throttled: simStats.throttled, faults: simStats.faults, peak_in_flight: simStats.peak_in_flight },
    metrics_excerpt: metrics.split('\n').filter((l) => /^bedrock_agent_(requests|errors|retries|upstream)/.test(l)).slice(0, 60),
    samples,
  };
  fs.mkdirSync(path.dirname(OUT), { recursive: true });
  fs.writeFileSync(OUT, JSON.stringify(out, null, 2) + '\n');
  log(`done: ${out.achieved_rps} req/s of ${RATE} (${completed} of ${Math.round(requested)} requests, ${ok} 2xx); ` +
    `RSS ${afterWarm.rss_kb} kB after warm-up -> ${end.rss_kb} kB at the end (${out.rss_kb.growth_pct} %); ` +
    `fds ${out.fds.min}..${out.fds.max}; errors ${JSON.stringify(errorsByKind)}; results: ${OUT}`);
  fs.rmSync(TMP, { recursive: true, force: true });
}

process.on('SIGINT', () => { for (const c of children) c.kill('SIGKILL'); process.exit(130); });
main().catch(async (e) => {
  console.error(e);
  for (const c of children) c.kill('SIGKILL');
  process.exit(1);
});
