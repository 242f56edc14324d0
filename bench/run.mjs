#!/usr/bin/env node
// bench/run.mjs: the overhead, streaming, concurrency and cold-start benchmarks (`make bench`;
// docs/performance.md). Starts every server as a child process on 127.0.0.1, loads them with wrk (fixed
// concurrency) and bench_loadgen (fixed open-loop rates, time to first byte, bursts), prints a table and
// writes bench/results/<name>.json. Every comparison runs side by side in this one invocation,
// interleaved per load point, because the machines are noisy.
//
// Usage: node bench/run.mjs [--build=build-bench] [--only=overhead,streaming,concurrency,coldstart]
//        [--rates=500,2000] [--seconds=10] [--pin=LOADCPUS/SERVERCPUS e.g. 0/1] [--no-portkey]
//        [--concurrent=10000] [--invocations=1000]
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = Object.fromEntries(process.argv.slice(2).map((a) => {
  const m = a.match(/^--([^=]+)(?:=(.*))?$/);
  return m ? [m[1], m[2] ?? 'true'] : [a, 'true'];
}));
const BUILD = path.resolve(ROOT, args.build ?? 'build-bench');
const AGENT = path.join(BUILD, 'bedrock-agent');
const LOADGEN = path.join(BUILD, 'bench_loadgen');
const ONLY = new Set((args.only ?? 'overhead,streaming,concurrency,coldstart').split(','));
const RATES = (args.rates ?? '500,2000').split(',').map(Number);
const SECONDS = Number(args.seconds ?? 10);
const [LOAD_CPUS, SERVER_CPUS] = args.pin ? args.pin.split('/') : [null, null];
const PORTKEY = args['no-portkey'] ? null : path.join(ROOT, 'node_modules/@portkey-ai/gateway/build/start-server.js');
const CONCURRENT = Number(args.concurrent ?? 10000);
const INVOCATIONS = Number(args.invocations ?? 1000);
const MODEL = 'anthropic.claude-3-sonnet-20240229-v1:0';
const RESULTS = path.join(ROOT, 'bench/results');
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'ba-bench-'));
const children = [];

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (...a) => console.error('[bench]', ...a);
const loadavg = () => fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

function machine() {
  const cpu = fs.readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/)?.[1] ?? 'unknown';
  const rev = spawnSync('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).stdout.trim();
  const cache = fs.existsSync(path.join(BUILD, 'CMakeCache.txt')) ? fs.readFileSync(path.join(BUILD, 'CMakeCache.txt'), 'utf8') : '';
  return {
    date: new Date().toISOString(), nproc: os.cpus().length, cpu, mem_gib: +(os.totalmem() / 2 ** 30).toFixed(1),
    kernel: os.release(), git: rev, build_type: cache.match(/CMAKE_BUILD_TYPE:STRING=(.*)/)?.[1] ?? '?',
    pinning: LOAD_CPUS ? { load: LOAD_CPUS, servers: SERVER_CPUS } : 'none',
  };
}

function wrap(cmd, argv, cpus, nofile) {
  let full = [cmd, ...argv];
  if (nofile) full = ['prlimit', `--nofile=${nofile}:${nofile}`, '--', ...full];
  if (cpus) full = ['taskset', '-c', cpus, ...full];
  return full;
}

async function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}

async function waitPort(port, ms = 20000) {
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

async function startServer(name, cmd, argv, { env = {}, port, nofile = null } = {}) {
  const out = fs.openSync(path.join(TMP, `${name}.log`), 'w');
  const full = wrap(cmd, argv, SERVER_CPUS, nofile);
  const child = spawn(full[0], full.slice(1), { env: { ...process.env, ...env }, stdio: ['ignore', out, out], cwd: TMP });
  children.push(child);
  child.on('exit', (code, sig) => { if (!child.stopping) log(`${name} exited (${code ?? sig}); log: ${path.join(TMP, name + '.log')}`); });
  await waitPort(port);
  return { name, child, pid: child.pid, port, stop: () => stopChild(child) };
}

async function stopChild(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.stopping = true;
  const done = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 5000);
  await done;
  clearTimeout(t);
}

function procStatus(pid) {
  try {
    const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k) => Number(s.match(new RegExp(`${k}:\\s*(\\d+)`))?.[1] ?? 0);
    return { rss_kb: kb('VmRSS'), hwm_kb: kb('VmHWM'), threads: kb('Threads') };
  } catch { return null; }
}

// utime + stime of a process, in µs (clock ticks of 10 ms: use over thousands of requests).
function cpuUs(pid) {
  try {
    const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) * 1e4;
  } catch { return 0; }
}

function run(cmd, argv, { nofile = null, timeoutMs = 600000, env = {} } = {}) {
  const full = wrap(cmd, argv, LOAD_CPUS, nofile);
  return new Promise((resolve, reject) => {
    const c = spawn(full[0], full.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let out = '', err = '';
    c.stdout.on('data', (d) => { out += d; });
    c.stderr.on('data', (d) => { err += d; });
    const t = setTimeout(() => c.kill('SIGKILL'), timeoutMs);
    c.on('exit', (code) => { clearTimeout(t); code === 0 ? resolve(out) : reject(new Error(`${cmd} exited ${code}: ${err}`)); });
  });
}

async function loadgen(mode, target, extra) {
  const argv = [mode, `--port=${target.port}`, `--path=${target.path}`, `--body-file=${target.bodyFile}`,
    ...target.headers.map((h) => `--header=${h}`), ...extra];
  const out = await run(LOADGEN, argv, { nofile: null });
  return JSON.parse(out.trim().split('\n').pop());
}

async function wrk(target, connections, seconds) {
  const out = await run('wrk', ['-t1', `-c${connections}`, `-d${seconds}s`, '--timeout', '10s',
    '-s', path.join(ROOT, 'bench/overhead/post.lua'), `http://127.0.0.1:${target.port}${target.path}`],
  { env: { BENCH_BODY_FILE: target.bodyFile, BENCH_HEADERS: target.headers.join('\n') } });
  const line = out.split('\n').find((l) => l.startsWith('WRKJSON '));
  const r = JSON.parse(line.slice(8));
  const errors = Object.values(r.errors).reduce((a, b) => a + b, 0);
  return { mode: 'closed', connections, completed: r.requests, errors: r.errors, error_count: errors,
    throughput_rps: r.requests / (r.duration_us / 1e6), latency_us: r.latency_us };
}

function writeBody(name, obj) {
  const f = path.join(TMP, `${name}.json`);
  fs.writeFileSync(f, JSON.stringify(obj));
  return f;
}

function httpJson(port, method, p, body) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: p, headers: { 'content-type': 'application/json' } }, (res) => {
      let d = '';
      res.on('data', (c) => { d += c; });
      res.on('end', () => { try { resolve({ status: res.statusCode, body: d ? JSON.parse(d) : null }); } catch { resolve({ status: res.statusCode, body: d }); } });
    });
    req.on('error', reject);
    if (body) req.write(JSON.stringify(body));
    req.end();
  });
}

const PROMPT = 'Summarise the quarterly figures in one short paragraph: revenue rose, costs fell, margins widened and the outlook is steady for the next two quarters.';
const us = (x) => (x == null ? '-' : x >= 10000 ? `${(x / 1000).toFixed(1)} ms` : `${Math.round(x)} µs`);
const pad = (s, n) => String(s).padEnd(n);

function table(title, header, rows) {
  const widths = header.map((h, i) => Math.max(String(h).length, ...rows.map((r) => String(r[i]).length)));
  console.log(`\n${title}`);
  console.log(header.map((h, i) => pad(h, widths[i])).join('  '));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) console.log(r.map((c, i) => pad(c, widths[i])).join('  '));
}

function save(name, obj) {
  fs.mkdirSync(RESULTS, { recursive: true });
  fs.writeFileSync(path.join(RESULTS, `${name}.json`), JSON.stringify(obj, null, 2) + '\n');
  log(`wrote bench/results/${name}.json`);
}

// --- servers shared by the overhead and streaming benchmarks ---
async function startStack() {
  const simPort = await freePort();
  const sim = await startServer('simulator', AGENT, ['simulate-bedrock', '--port', String(simPort), '--no-fault-header'], { port: simPort, nofile: null });
  const agentEnv = {
    AWS_ENDPOINT_URL_BEDROCK_RUNTIME: `http://127.0.0.1:${simPort}`, AWS_ACCESS_KEY_ID: 'AKIDBENCH000000000000',
    AWS_SECRET_ACCESS_KEY: 'bench-secret-not-a-secret', AWS_REGION: 'us-east-1', AWS_PROFILE: 'bench-none',
    AWS_CONFIG_FILE: '/dev/null', AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
  };
  const common = ['--max-rpm', '1e9', '--max-tpm', '0', '--model-id', MODEL];
  const p1 = await freePort();
  const nohist = await startServer('agent-nohistory', AGENT, ['serve', '--port', String(p1), '--history', 'none', ...common], { env: agentEnv, port: p1, nofile: null });
  const p2 = await freePort();
  const sqlite = await startServer('agent-sqlite', AGENT, ['serve', '--port', String(p2), '--history', `sqlite:${path.join(TMP, 'history.db')}`, ...common], { env: agentEnv, port: p2, nofile: null });
  let portkey = null;
  if (PORTKEY && fs.existsSync(PORTKEY)) {
    const p3 = await freePort();
    portkey = await startServer('portkey', 'node', [PORTKEY, `--port=${p3}`, '--headless'], { port: p3, nofile: null });
  } else if (PORTKEY) {
    log('Portkey gateway not installed (npm install): skipped');
  }
  // The control: a do-nothing TCP relay (bench_loadgen relay) in front of the simulator. What any proxy
  // process in this path costs on this machine (wake-ups, copies, loopback hops) before doing any work.
  const p4 = await freePort();
  const relay = await startServer('relay', LOADGEN, ['relay', `--port=${simPort}`, `--listen-port=${p4}`], { port: p4, nofile: null });
  return { sim, nohist, sqlite, portkey, relay, simPort };
}

function targets(stack, stream = false) {
  const simBody = writeBody(`sim${stream}`, { messages: [{ role: 'user', content: [{ text: PROMPT }] }], inferenceConfig: { maxTokens: 1024 } });
  const chatBody = writeBody(`chat${stream}`, { input: PROMPT, include_history: false, ...(stream ? { stream: true } : {}) });
  const histBody = writeBody(`hist${stream}`, { input: PROMPT, include_history: true, ...(stream ? { stream: true } : {}) });
  const pkBody = writeBody(`pk${stream}`, { model: MODEL, messages: [{ role: 'user', content: PROMPT }], max_tokens: 1024, ...(stream ? { stream: true } : {}) });
  const t = [
    { id: 'a', name: 'simulator directly', port: stack.sim.port, pid: stack.sim.pid,
      path: `/model/${encodeURIComponent(MODEL)}/${stream ? 'converse-stream' : 'converse'}`, bodyFile: simBody,
      headers: ['Authorization: Bearer bench'], marker: 'contentBlockDelta' },
    { id: 'r', name: 'do-nothing TCP relay in front of the simulator (the floor for any proxy)', port: stack.relay.port, pid: stack.relay.pid,
      path: `/model/${encodeURIComponent(MODEL)}/${stream ? 'converse-stream' : 'converse'}`, bodyFile: simBody,
      headers: ['Authorization: Bearer bench'], marker: 'contentBlockDelta' },
    { id: 'b', name: 'bedrock-agent, no history (--history none)', port: stack.nohist.port, pid: stack.nohist.pid, path: '/chat', bodyFile: chatBody, headers: [], marker: 'event: delta' },
    { id: 'c', name: 'bedrock-agent, SQLite history (file)', port: stack.sqlite.port, pid: stack.sqlite.pid, path: '/chat', bodyFile: histBody, headers: [], marker: 'event: delta' },
  ];
  if (stack.portkey) {
    t.push({ id: 'd', name: 'Portkey gateway 1.15.2', port: stack.portkey.port, pid: stack.portkey.pid, path: '/v1/chat/completions', bodyFile: pkBody,
      headers: ['x-portkey-provider: bedrock', `x-portkey-custom-host: http://127.0.0.1:${stack.simPort}`,
        'x-portkey-aws-access-key-id: AKIDBENCH000000000000', 'x-portkey-aws-secret-access-key: bench-secret-not-a-secret',
        'x-portkey-aws-region: us-east-1'], marker: '"content"' });
  }
  return t;
}

async function overhead(stack) {
  const ts = targets(stack, false);
  const result = { machine: machine(), seconds: SECONDS, rates: RATES, targets: ts.map(({ id, name }) => ({ id, name })), points: [] };
  // Warm-up: every server, a few seconds at moderate concurrency.
  for (const t of ts) await wrk(t, 8, 2);
  const loadPoints = [
    { kind: 'closed', connections: 1, seconds: Math.max(3, SECONDS / 2) },
    { kind: 'closed', connections: 32, seconds: SECONDS },
    ...RATES.map((r) => ({ kind: 'rate', rate: r, seconds: SECONDS })),
  ];
  for (const lp of loadPoints) {
    for (const t of ts) {
      const load = loadavg();
      const cpu0 = [cpuUs(t.pid), cpuUs(stack.sim.pid)];
      const r = lp.kind === 'closed'
        ? await wrk(t, lp.connections, lp.seconds)
        : await loadgen('rate', t, [`--rate=${lp.rate}`, `--duration=${lp.seconds}`, '--warmup=2', '--max-conns=512', '--timeout=15']);
      const st = procStatus(t.pid);
      // Requests the servers handled during the measurement (loadgen's warm-up included).
      const handled = lp.kind === 'closed' ? r.completed : lp.rate * (lp.seconds + 2);
      const cpu = { server_us_per_req: +((cpuUs(t.pid) - cpu0[0]) / handled).toFixed(1),
        simulator_us_per_req: t.id === 'a' ? null : +((cpuUs(stack.sim.pid) - cpu0[1]) / handled).toFixed(1) };
      if (r.unfinished) r.error_count = (r.error_count ?? 0) + r.unfinished;
      result.points.push({ load: lp, target: t.id, loadavg: load, server_rss_kb: st?.rss_kb, cpu, ...r });
      log(`${lp.kind} ${lp.connections ?? lp.rate} ${t.id}: ${Math.round(r.throughput_rps)} req/s p50 ${us(r.latency_us.p50)} p99 ${us(r.latency_us.p99)} (load ${load})`);
    }
  }
  // Overhead = (x) - (a) at the same load point.
  result.overhead = [];
  for (const lp of loadPoints) {
    const key = (p) => JSON.stringify(p.load) === JSON.stringify(lp);
    const a = result.points.find((p) => key(p) && p.target === 'a');
    for (const p of result.points.filter((q) => key(q) && q.target !== 'a')) {
      result.overhead.push({ load: lp, target: p.target,
        added_us: Object.fromEntries(['p50', 'p99', 'p999'].map((k) => [k, +(p.latency_us[k] - a.latency_us[k]).toFixed(1)])) });
    }
  }
  save('overhead', result);
  const rows = result.points.map((p) => {
    const bad = p.load.kind === 'closed' ? p.error_count : (p.completed - p.ok) + (p.unfinished ?? 0);
    return [p.load.kind === 'closed' ? `wrk -c${p.load.connections}` : `${p.load.rate} req/s open`, p.target,
      Math.round(p.throughput_rps), us(p.latency_us.p50), us(p.latency_us.p99), us(p.latency_us.p999), bad,
      us(p.cpu.server_us_per_req), p.cpu.simulator_us_per_req == null ? '-' : us(p.cpu.simulator_us_per_req), p.loadavg];
  });
  table('Overhead: throughput and latency ((a) simulator, (r) do-nothing relay, (b) agent no history, (c) agent SQLite, (d) Portkey)',
    ['load', 'target', 'req/s', 'p50', 'p99', 'p99.9', 'errors', 'CPU/req', 'sim CPU/req', 'loadavg'], rows);
  table('Added latency vs (a) at the same load',
    ['load', 'target', '+p50', '+p99', '+p99.9'],
    result.overhead.map((o) => [o.load.kind === 'closed' ? `wrk -c${o.load.connections}` : `${o.load.rate} req/s open`, o.target,
      us(o.added_us.p50), us(o.added_us.p99), us(o.added_us.p999)]));
  return result;
}

async function streaming(stack) {
  const ts = targets(stack, true);
  const result = { machine: machine(), count: 500, targets: [] };
  for (const t of ts) {
    const load = loadavg();
    // Portkey takes ~100 ms a request here: fewer of them.
    const r = await loadgen('ttfb', t, [`--count=${t.id === 'd' ? 100 : 500}`, `--marker=${t.marker}`]);
    result.targets.push({ id: t.id, name: t.name, loadavg: load, ...r });
    log(`ttfb ${t.id}: first byte p50 ${us(r.first_byte_us.p50)} first delta p50 ${us(r.first_marker_us.p50)} statuses ${JSON.stringify(r.statuses)}`);
  }
  const a = result.targets.find((x) => x.id === 'a');
  result.added = result.targets.filter((x) => x.id !== 'a').map((x) => ({ target: x.id,
    first_delta_added_us: { p50: +(x.first_marker_us.p50 - a.first_marker_us.p50).toFixed(1), p99: +(x.first_marker_us.p99 - a.first_marker_us.p99).toFixed(1) } }));
  save('streaming', result);
  table('Streaming: time to first byte and to the first text delta (500 sequential requests; Portkey 100)',
    ['target', 'ok', 'first byte p50', 'first delta p50', 'first delta p99', 'whole stream p50', 'added p50', 'added p99'],
    result.targets.map((x) => {
      const add = result.added.find((y) => y.target === x.id)?.first_delta_added_us;
      return [x.id, `${x.ok}/${x.completed}`, us(x.first_byte_us.p50), us(x.first_marker_us.p50), us(x.first_marker_us.p99), us(x.latency_us.p50),
        add ? us(add.p50) : '-', add ? us(add.p99) : '-'];
    }));
  return result;
}

async function concurrency() {
  const simPort = await freePort();
  const sim = await startServer('simulator-2s', AGENT, ['simulate-bedrock', '--port', String(simPort), '--no-fault-header', '--ttft-ms', '2000'], { port: simPort, nofile: null });
  const port = await freePort();
  const agent = await startServer('agent-concurrency', AGENT, ['serve', '--port', String(port), '--history', 'none',
    '--max-rpm', '1e9', '--max-tpm', '0', '--model-id', MODEL], {
    env: { AWS_ENDPOINT_URL_BEDROCK_RUNTIME: `http://127.0.0.1:${simPort}`, AWS_ACCESS_KEY_ID: 'AKIDBENCH000000000000',
      AWS_SECRET_ACCESS_KEY: 'bench-secret-not-a-secret', AWS_REGION: 'us-east-1', AWS_CONFIG_FILE: '/dev/null', AWS_SHARED_CREDENTIALS_FILE: '/dev/null' },
    port, nofile: null });
  const idle = procStatus(agent.pid);
  const body = writeBody('conc', { input: PROMPT, include_history: false });
  let peakRss = 0;
  const sampler = setInterval(() => { const s = procStatus(agent.pid); if (s) peakRss = Math.max(peakRss, s.rss_kb); }, 100);
  const load = loadavg();
  const r = await loadgen('burst', { port, path: '/chat', bodyFile: body, headers: [] },
    [`--concurrency=${CONCURRENT}`, '--timeout=60', '--connect-parallel=512']);
  clearInterval(sampler);
  const st = procStatus(agent.pid);
  const simStats = (await httpJson(simPort, 'GET', '/sim/stats')).body;
  const result = { machine: machine(), concurrent: CONCURRENT, model_latency_ms: 2000, loadavg: load, ...r,
    agent_rss_idle_kb: idle.rss_kb, agent_rss_peak_sampled_kb: peakRss, agent_vmhwm_kb: st.hwm_kb, agent_rss_after_kb: st.rss_kb,
    simulator_peak_in_flight: simStats.peak_in_flight, simulator_requests: simStats.requests_total };
  save('concurrency', result);
  table(`Concurrency: ${CONCURRENT} chats at once, 2 s model latency`,
    ['ok', 'failed', 'statuses', 'errors', 'sim peak in flight', 'p50', 'p99', 'max', 'agent RSS idle', 'agent VmHWM'],
    [[r.ok, r.completed - r.ok, JSON.stringify(r.statuses), JSON.stringify(r.errors), simStats.peak_in_flight,
      us(r.latency_us.p50), us(r.latency_us.p99), us(r.latency_us.max), `${(idle.rss_kb / 1024).toFixed(1)} MB`, `${(st.hwm_kb / 1024).toFixed(1)} MB`]]);
  await agent.stop();
  await sim.stop();
  return result;
}

// --- cold start: the binary in Lambda mode against a fake Runtime API ---
async function coldstart() {
  const help = spawnSync(AGENT, ['--help'], { encoding: 'utf8' });
  if (!/\blambda\b/.test(help.stdout + help.stderr)) {
    log('bedrock-agent has no `lambda` subcommand in this build: cold start skipped');
    save('coldstart', { machine: machine(), skipped: 'no lambda subcommand in this build' });
    return null;
  }
  return await coldstartRun();
}

async function coldstartRun() {
  const simPort = await freePort();
  const sim = await startServer('simulator-lambda', AGENT, ['simulate-bedrock', '--port', String(simPort), '--no-fault-header'], { port: simPort });
  const RUNS = Number(args['cold-runs'] ?? 10);
  // The Lambda package (`make package`), when built: its `bootstrap` is what Lambda runs.
  const zip = path.join(ROOT, 'build-lambda-pkg/bedrock-agent-lambda.zip');
  const bins = [];
  if (fs.existsSync(zip)) {
    const dir = path.join(TMP, 'pkg');
    fs.mkdirSync(dir);
    spawnSync('unzip', ['-q', zip, '-d', dir]);
    if (fs.existsSync(path.join(dir, 'bootstrap'))) bins.push({ name: 'package bootstrap', file: path.join(dir, 'bootstrap'), argv: [] });
  }
  bins.push({ name: `${path.basename(BUILD)}/bedrock-agent lambda`, file: AGENT, argv: ['lambda'] });
  // What exec costs from here: spawning `true` and waiting for its exit.
  const spawnCost = [];
  for (let i = 0; i < 10; ++i) {
    const t = process.hrtime.bigint();
    await new Promise((r) => spawn('/bin/true').on('exit', r));
    spawnCost.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  spawnCost.sort((a, b) => a - b);
  const result = { machine: machine(), runs: RUNS, invocations: INVOCATIONS, spawn_true_p50_ms: spawnCost[5], binaries: [] };
  for (const b of bins) {
    const runs = [];
    for (let i = 0; i < RUNS; ++i) runs.push(await lambdaOnce(b, simPort, i === RUNS - 1 ? INVOCATIONS : 0));
    const starts = runs.map((r) => r.first_next_ms).filter((x) => x != null).sort((x, y) => x - y);
    const last = runs[runs.length - 1];
    result.binaries.push({ name: b.name, bytes: fs.statSync(b.file).size, loadavg: loadavg(), first_next_ms: starts,
      first_next_p50_ms: starts[Math.floor(starts.length / 2)], first_next_min_ms: starts[0], first_next_max_ms: starts[starts.length - 1],
      // The driver's own cost of starting a process (spawning /bin/true and seeing it exit) taken off: the
      // nearest this harness gets to exec → first next.
      first_next_net_p50_ms: +(starts[Math.floor(starts.length / 2)] - spawnCost[5]).toFixed(2),
      invocations: last.invocations, invocations_ok: last.ok, rss_after_kb: last.rss_kb, vmhwm_kb: last.hwm_kb });
  }
  await sim.stop();
  result.package = fs.existsSync(zip) ? { file: path.relative(ROOT, zip), bytes: fs.statSync(zip).size } : null;
  save('coldstart', result);
  table(`Cold start (Lambda mode, fake Runtime API on loopback; spawning /bin/true costs ${spawnCost[5].toFixed(2)} ms here)`,
    ['binary', 'size', 'spawn → first next p50', 'minus spawning /bin/true', 'min', 'max', `RSS after ${INVOCATIONS} invocations`, 'VmHWM', 'ok'],
    result.binaries.map((b) => [b.name, `${(b.bytes / 2 ** 20).toFixed(1)} MiB`, `${b.first_next_p50_ms?.toFixed(2)} ms`, `${b.first_next_net_p50_ms?.toFixed(2)} ms`, `${b.first_next_min_ms?.toFixed(2)} ms`,
      `${b.first_next_max_ms?.toFixed(2)} ms`, `${(b.rss_after_kb / 1024).toFixed(1)} MB`, `${(b.vmhwm_kb / 1024).toFixed(1)} MB`, `${b.invocations_ok}/${b.invocations}`]));
  console.log(result.package ? `package: ${result.package.file} ${(result.package.bytes / 2 ** 20).toFixed(2)} MiB` : 'package: not built (make package)');
  return result;
}

// One cold start: a fake Runtime API that hands out `n` API Gateway invocations, then holds the next `next`.
function lambdaOnce(bin, simPort, n) {
  return new Promise((resolve, reject) => {
    let t0 = 0n, firstNext = null, served = 0, ok = 0, child = null, held = null, finished = false;
    const event = (i) => JSON.stringify({
      version: '2.0', routeKey: 'POST /chat', rawPath: '/chat', rawQueryString: '', headers: { 'content-type': 'application/json' },
      requestContext: { http: { method: 'POST', path: '/chat', sourceIp: '127.0.0.1' }, requestId: `req-${i}`, stage: '$default' },
      body: JSON.stringify({ input: PROMPT, include_history: false }), isBase64Encoded: false,
    });
    const finish = () => {
      if (finished) return;
      finished = true;
      const st = procStatus(child.pid) ?? {};
      stopChild(child).then(() => { server.close(); resolve({ first_next_ms: firstNext, invocations: served, ok, rss_kb: st.rss_kb, hwm_kb: st.hwm_kb }); });
    };
    const server = http.createServer((req, res) => {
      if (req.method === 'GET' && req.url === '/2018-06-01/runtime/invocation/next') {
        if (firstNext === null) firstNext = Number(process.hrtime.bigint() - t0) / 1e6;
        if (served >= n) { held = res; setTimeout(finish, 50); return; }
        const id = `inv-${served++}`;
        res.writeHead(200, { 'content-type': 'application/json', 'lambda-runtime-aws-request-id': id,
          'lambda-runtime-deadline-ms': String(Date.now() + 30000), 'lambda-runtime-invoked-function-arn': 'arn:aws:lambda:us-east-1:000000000000:function:bench' });
        res.end(event(served));
        return;
      }
      let d = '';
      req.on('data', (c) => { d += c; });
      req.on('end', () => {
        if (/\/response$/.test(req.url)) { try { if (JSON.parse(d).statusCode === 200) ++ok; } catch { /* counted as failed */ } }
        res.writeHead(202, { 'content-type': 'application/json' });
        res.end('{"status":"OK"}');
      });
    });
    server.listen(0, '127.0.0.1', () => {
      const port = server.address().port;
      t0 = process.hrtime.bigint();
      child = spawn(bin.file, bin.argv, {
        stdio: ['ignore', 'ignore', 'ignore'],
        env: { ...process.env, AWS_LAMBDA_RUNTIME_API: `127.0.0.1:${port}`, AWS_ENDPOINT_URL_BEDROCK_RUNTIME: `http://127.0.0.1:${simPort}`,
          AWS_ACCESS_KEY_ID: 'AKIDBENCH000000000000', AWS_SECRET_ACCESS_KEY: 'bench-secret-not-a-secret', AWS_REGION: 'us-east-1',
          AWS_LAMBDA_FUNCTION_NAME: 'bench', AWS_CONFIG_FILE: '/dev/null', AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
          BEDROCK_AGENT_HISTORY: `sqlite:${path.join(TMP, 'lambda-history.db')}`, MAX_REQUESTS_PER_MINUTE: '1000000000' },
      });
      children.push(child);
      child.on('exit', () => { if (!finished) { finished = true; server.close(); resolve({ first_next_ms: firstNext, invocations: served, ok, rss_kb: 0, hwm_kb: 0, exited_early: true }); } });
      setTimeout(() => { if (!finished) finish(); }, 120000).unref();
    });
    server.on('error', reject);
    void held;
  });
}

async function main() {
  for (const f of [AGENT, LOADGEN]) if (!fs.existsSync(f)) throw new Error(`${f} is missing: build it (make bench)`);
  log(`build ${BUILD}; temp ${TMP}; load ${loadavg()}; pinning ${LOAD_CPUS ? `load on ${LOAD_CPUS}, servers on ${SERVER_CPUS}` : 'none'}`);
  console.log(JSON.stringify(machine()));
  if (ONLY.has('overhead') || ONLY.has('streaming')) {
    const stack = await startStack();
    if (ONLY.has('overhead')) await overhead(stack);
    if (ONLY.has('streaming')) await streaming(stack);
    for (const s of [stack.portkey, stack.relay, stack.sqlite, stack.nohist, stack.sim]) if (s) await s.stop();
  }
  if (ONLY.has('concurrency')) await concurrency();
  if (ONLY.has('coldstart')) await coldstart();
}

const cleanup = () => { for (const c of children) if (c.exitCode === null) c.kill('SIGKILL'); };
process.on('exit', cleanup);
process.on('SIGINT', () => { cleanup(); process.exit(130); });
main().then(() => { cleanup(); fs.rmSync(TMP, { recursive: true, force: true }); }, (e) => { console.error(e); cleanup(); process.exit(1); });
