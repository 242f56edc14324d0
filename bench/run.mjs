#!/usr/bin/env node
// bench/run.mjs: the overhead, streaming, concurrency and cold-start benchmarks (`make bench`;
// docs/performance.md). Starts every server as a child process on 127.0.0.1, loads them with wrk (fixed
// concurrency) and bench_loadgen (fixed open-loop rates, time to first byte, bursts), prints a table and
// writes bench/results/<name>.json. Every comparison runs side by side in this one invocation,
// interleaved per load point, because the machines are noisy.
//
// Usage: node bench/run.mjs [--build=build-bench] [--only=overhead,streaming,concurrency,coldstart]
//        [--rates=500,2000] [--seconds=10] [--pin=LOADCPUS/SERVERCPUS e.g. 0/1] [--no-portkey]
//        [--concurrent=10000] [--concurrency-history=none|sqlite] [--invocations=1000] [--rounds=1]
//        [--baseline-build=DIR [--concurrency-rounds=1]] [--threads=N] [--baseline-threads=M]
//
// Io threads (issue 17): --threads=N starts this build's agents with `--threads N` (default: theirs, one per
// core); --baseline-threads=M runs a baseline of agents started with `--threads M`, this build's own unless
// --baseline-build names another: `--threads=2 --baseline-threads=1` compares two io threads with one, side
// by side (results: bench/results/<name>-threads.json).
//
// Before/after: --baseline-build=DIR names a second build (e.g. a worktree of the parent commit, built the
// way `make bench` builds) whose bedrock-agent runs as (b0) and (c0) beside (b) and (c), in front of the
// same simulator (this build's), at every load point; --rounds=N repeats every load point N times, the
// order of each before/after pair alternating between rounds, and the tables give medians and ranges. The
// concurrency benchmark then runs both agents, alternating, --concurrency-rounds times each. Results go to
// bench/results/<name>-vs-baseline.json, leaving the single-build results alone.
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
const RATES = (args.rates ?? '500,2000').split(',').filter((x) => x !== '').map(Number);
const SECONDS = Number(args.seconds ?? 10);
const [LOAD_CPUS, SERVER_CPUS] = args.pin ? args.pin.split('/') : [null, null];
const PORTKEY = args['no-portkey'] ? null : path.join(ROOT, 'node_modules/@portkey-ai/gateway/build/start-server.js');
const CONCURRENT = Number(args.concurrent ?? 10000);
const INVOCATIONS = Number(args.invocations ?? 1000);
const ROUNDS = Number(args.rounds ?? 1);
const THREADS = args.threads ? ['--threads', String(Number(args.threads))] : [];
const BASE_THREADS = args['baseline-threads'] ? ['--threads', String(Number(args['baseline-threads']))] : [];
const BASELINE = args['baseline-build'] ? path.resolve(ROOT, args['baseline-build'])
  : BASE_THREADS.length ? path.resolve(ROOT, args.build ?? 'build-bench') : null;
const BASE_AGENT = BASELINE ? path.join(BASELINE, 'bedrock-agent') : null;
const CONC_ROUNDS = Number(args['concurrency-rounds'] ?? 1);
const CONC_HISTORY = args['concurrency-history'] ?? 'none';  // none | sqlite: the concurrency benchmark's agent
const SUFFIX = args['baseline-build'] ? '-vs-baseline' : BASE_THREADS.length ? '-threads' : '';
const MODEL = 'anthropic.claude-3-sonnet-20240229-v1:0';
const RESULTS = path.join(ROOT, 'bench/results');
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'ba-bench-'));
const children = [];

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (...a) => console.error('[bench]', ...a);
const loadavg = () => fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

// The source tree a build directory was configured from, its git revision and build type.
function buildInfo(dir) {
  const cache = fs.existsSync(path.join(dir, 'CMakeCache.txt')) ? fs.readFileSync(path.join(dir, 'CMakeCache.txt'), 'utf8') : '';
  const src = cache.match(/CMAKE_HOME_DIRECTORY:INTERNAL=(.*)/)?.[1] ?? ROOT;
  const rev = spawnSync('git', ['-C', src, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).stdout.trim();
  return { dir, git: rev, build_type: cache.match(/CMAKE_BUILD_TYPE:STRING=(.*)/)?.[1] ?? '?' };
}

function machine() {
  const cpu = fs.readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/)?.[1] ?? 'unknown';
  const b = buildInfo(BUILD);
  return {
    date: new Date().toISOString(), nproc: os.cpus().length, cpu, mem_gib: +(os.totalmem() / 2 ** 30).toFixed(1),
    kernel: os.release(), git: b.git, build_type: b.build_type,
    ...(BASELINE ? { baseline: buildInfo(BASELINE), rounds: ROUNDS } : {}),
    ...(THREADS.length || BASE_THREADS.length ? { threads: THREADS[1] ?? 'cores', baseline_threads: BASE_THREADS[1] ?? null } : {}),
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
const us = (x) => (x == null ? '-' : Math.abs(x) >= 10000 ? `${(x / 1000).toFixed(1)} ms` : `${Math.round(x)} µs`);
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
  fs.writeFileSync(path.join(RESULTS, `${name}${SUFFIX}.json`), JSON.stringify(obj, null, 2) + '\n');
  log(`wrote bench/results/${name}${SUFFIX}.json`);
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const n = s.length; return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2; };
const stats = (xs) => ({ median: +median(xs).toFixed(1), min: +Math.min(...xs).toFixed(1), max: +Math.max(...xs).toFixed(1), n: xs.length });
const signedUs = (x) => (x < 0 ? `−${us(-x)}` : `+${us(x)}`);
const range = (s, f) => (s.n > 1 ? `${f(s.median)} (${f(s.min)} … ${f(s.max)})` : f(s.median));

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
  const nohist = await startServer('agent-nohistory', AGENT, ['serve', '--port', String(p1), '--history', 'none', ...common, ...THREADS], { env: agentEnv, port: p1, nofile: null });
  const p2 = await freePort();
  const sqlite = await startServer('agent-sqlite', AGENT, ['serve', '--port', String(p2), '--history', `sqlite:${path.join(TMP, 'history.db')}`, ...common, ...THREADS], { env: agentEnv, port: p2, nofile: null });
  // The baseline build's agents, in front of the same simulator.
  let nohist0 = null, sqlite0 = null;
  if (BASE_AGENT) {
    const q1 = await freePort();
    nohist0 = await startServer('agent-nohistory-baseline', BASE_AGENT, ['serve', '--port', String(q1), '--history', 'none', ...common, ...BASE_THREADS], { env: agentEnv, port: q1, nofile: null });
    const q2 = await freePort();
    sqlite0 = await startServer('agent-sqlite-baseline', BASE_AGENT, ['serve', '--port', String(q2), '--history', `sqlite:${path.join(TMP, 'history-baseline.db')}`, ...common, ...BASE_THREADS], { env: agentEnv, port: q2, nofile: null });
  }
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
  return { sim, nohist, sqlite, nohist0, sqlite0, portkey, relay, simPort };
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
  if (stack.nohist0) {
    const rev = BASE_THREADS.length && !args['baseline-build'] ? `this build, ${BASE_THREADS.join(' ')}` : buildInfo(BASELINE).git;
    t.push({ id: 'b0', name: `bedrock-agent baseline build (${rev}), no history (--history none)`, port: stack.nohist0.port, pid: stack.nohist0.pid, path: '/chat', bodyFile: chatBody, headers: [], marker: 'event: delta' },
      { id: 'c0', name: `bedrock-agent baseline build (${rev}), SQLite history (file)`, port: stack.sqlite0.port, pid: stack.sqlite0.pid, path: '/chat', bodyFile: histBody, headers: [], marker: 'event: delta' });
  }
  // (e) The agent's OpenAI-compatible route with the body (d) gets: the same route side by side with Portkey's.
  t.push({ id: 'e', name: 'bedrock-agent, POST /v1/chat/completions, no history', port: stack.nohist.port, pid: stack.nohist.pid,
    path: '/v1/chat/completions', bodyFile: pkBody, headers: [], marker: '"delta":{"content"' });  // not the role chunk
  if (stack.portkey) {
    t.push({ id: 'd', name: 'Portkey gateway 1.15.2', port: stack.portkey.port, pid: stack.portkey.pid, path: '/v1/chat/completions', bodyFile: pkBody,
      headers: ['x-portkey-provider: bedrock', `x-portkey-custom-host: http://127.0.0.1:${stack.simPort}`,
        'x-portkey-aws-access-key-id: AKIDBENCH000000000000', 'x-portkey-aws-secret-access-key: bench-secret-not-a-secret',
        'x-portkey-aws-region: us-east-1'], marker: '"content"' });
  }
  return t;
}

// The order of the targets at one load point in round `round`: (a) and (r) first, then (b) (c) (e) (d); with a
// baseline, each before/after pair side by side, the pair's order alternating between rounds.
function order(ts, round) {
  const by = Object.fromEntries(ts.map((t) => [t.id, t]));
  const pair = (x, x0) => (!by[x0] ? [by[x]] : round % 2 === 0 ? [by[x0], by[x]] : [by[x], by[x0]]);
  return [by.a, by.r, ...pair('b', 'b0'), ...pair('c', 'c0'), by.e, by.d].filter(Boolean);
}

const lpName = (lp) => (lp.kind === 'closed' ? `wrk -c${lp.connections}` : `${lp.rate} req/s open`);

async function overhead(stack) {
  const ts = targets(stack, false);
  const result = { machine: machine(), seconds: SECONDS, rates: RATES, rounds: ROUNDS, targets: ts.map(({ id, name }) => ({ id, name })), points: [] };
  // Warm-up: every server, a few seconds at moderate concurrency.
  for (const t of ts) await wrk(t, 8, 2);
  const loadPoints = [
    { kind: 'closed', connections: 1, seconds: Math.max(3, SECONDS / 2) },
    { kind: 'closed', connections: 32, seconds: SECONDS },
    ...RATES.map((r) => ({ kind: 'rate', rate: r, seconds: SECONDS })),
  ];
  for (let round = 0; round < ROUNDS; ++round) {
    for (const lp of loadPoints) {
      for (const t of order(ts, round)) {
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
        result.points.push({ round, load: lp, target: t.id, loadavg: load, server_rss_kb: st?.rss_kb, cpu, ...r });
        log(`${ROUNDS > 1 ? `round ${round + 1}/${ROUNDS} ` : ''}${lp.kind} ${lp.connections ?? lp.rate} ${t.id}: ${Math.round(r.throughput_rps)} req/s p50 ${us(r.latency_us.p50)} p99 ${us(r.latency_us.p99)} (load ${load})`);
      }
    }
  }
  // Overhead = (x) - (a) at the same load point, in the same round.
  const same = (p, lp, round) => JSON.stringify(p.load) === JSON.stringify(lp) && p.round === round;
  result.overhead = [];
  for (let round = 0; round < ROUNDS; ++round) {
    for (const lp of loadPoints) {
      const a = result.points.find((p) => same(p, lp, round) && p.target === 'a');
      for (const p of result.points.filter((q) => same(q, lp, round) && q.target !== 'a')) {
        result.overhead.push({ round, load: lp, target: p.target,
          added_us: Object.fromEntries(['p50', 'p99', 'p999'].map((k) => [k, +(p.latency_us[k] - a.latency_us[k]).toFixed(1)])) });
      }
    }
  }
  // Per load point and target, over the rounds: median, min and max.
  result.summary = [];
  for (const lp of loadPoints) {
    for (const t of ts) {
      const ps = result.points.filter((p) => JSON.stringify(p.load) === JSON.stringify(lp) && p.target === t.id);
      const ovs = result.overhead.filter((o) => JSON.stringify(o.load) === JSON.stringify(lp) && o.target === t.id);
      result.summary.push({ load: lp, target: t.id,
        throughput_rps: stats(ps.map((p) => p.throughput_rps)),
        p50_us: stats(ps.map((p) => p.latency_us.p50)), p99_us: stats(ps.map((p) => p.latency_us.p99)),
        server_cpu_us_per_req: stats(ps.map((p) => p.cpu.server_us_per_req)),
        errors: ps.reduce((n, p) => n + (p.error_count ?? 0), 0),
        ...(ovs.length ? { added_p50_us: stats(ovs.map((o) => o.added_us.p50)), added_p99_us: stats(ovs.map((o) => o.added_us.p99)) } : {}) });
    }
  }
  // Before/after: the baseline build's median against this build's, per load point and history mode.
  if (BASELINE) {
    const sm = (lp, id) => result.summary.find((x) => JSON.stringify(x.load) === JSON.stringify(lp) && x.target === id);
    const pct = (after, before) => +(((after - before) / before) * 100).toFixed(1);
    result.before_after = [];
    for (const lp of loadPoints) {
      for (const [id, id0] of [['b', 'b0'], ['c', 'c0']]) {
        const x = sm(lp, id), x0 = sm(lp, id0);
        // The same comparison round by round (the two ran back to back), so drift between rounds cancels.
        const perRound = [];
        for (let round = 0; round < ROUNDS; ++round) {
          const p = result.points.find((q) => same(q, lp, round) && q.target === id);
          const p0 = result.points.find((q) => same(q, lp, round) && q.target === id0);
          perRound.push({ round, throughput_pct: pct(p.throughput_rps, p0.throughput_rps), p50_diff_us: p.latency_us.p50 - p0.latency_us.p50,
            p99_diff_us: p.latency_us.p99 - p0.latency_us.p99, cpu_pct: pct(p.cpu.server_us_per_req, p0.cpu.server_us_per_req) });
        }
        result.before_after.push({ load: lp, after: id, before: id0,
          throughput_change_pct: pct(x.throughput_rps.median, x0.throughput_rps.median),
          cpu_per_req_change_pct: pct(x.server_cpu_us_per_req.median, x0.server_cpu_us_per_req.median),
          added_p50_diff_us: +(x.added_p50_us.median - x0.added_p50_us.median).toFixed(1),
          added_p99_diff_us: +(x.added_p99_us.median - x0.added_p99_us.median).toFixed(1),
          paired: { throughput_pct: stats(perRound.map((r) => r.throughput_pct)), p50_diff_us: stats(perRound.map((r) => r.p50_diff_us)),
            p99_diff_us: stats(perRound.map((r) => r.p99_diff_us)), cpu_pct: stats(perRound.map((r) => r.cpu_pct)) },
          rounds: perRound });
      }
    }
  }
  save('overhead', result);
  const rows = result.points.map((p) => {
    const bad = p.load.kind === 'closed' ? p.error_count : (p.completed - p.ok) + (p.unfinished ?? 0);
    return [...(ROUNDS > 1 ? [p.round + 1] : []), lpName(p.load), p.target,
      Math.round(p.throughput_rps), us(p.latency_us.p50), us(p.latency_us.p99), us(p.latency_us.p999), bad,
      us(p.cpu.server_us_per_req), p.cpu.simulator_us_per_req == null ? '-' : us(p.cpu.simulator_us_per_req), p.loadavg];
  });
  table(`Overhead: throughput and latency ((a) simulator, (r) do-nothing relay, (b) agent no history, (c) agent SQLite, (e) agent /v1/chat/completions, (d) Portkey /v1/chat/completions${BASELINE ? '; (b0), (c0) the baseline build' : ''})`,
    [...(ROUNDS > 1 ? ['round'] : []), 'load', 'target', 'req/s', 'p50', 'p99', 'p99.9', 'errors', 'CPU/req', 'sim CPU/req', 'loadavg'], rows);
  table('Added latency vs (a) at the same load',
    [...(ROUNDS > 1 ? ['round'] : []), 'load', 'target', '+p50', '+p99', '+p99.9'],
    result.overhead.map((o) => [...(ROUNDS > 1 ? [o.round + 1] : []), lpName(o.load), o.target,
      us(o.added_us.p50), us(o.added_us.p99), us(o.added_us.p999)]));
  if (ROUNDS > 1) {
    table(`Over ${ROUNDS} rounds: median (min … max)`,
      ['load', 'target', 'req/s', 'p50', 'p99', 'added p50', 'added p99', 'CPU/req', 'errors'],
      result.summary.map((x) => [lpName(x.load), x.target, range(x.throughput_rps, Math.round), range(x.p50_us, us), range(x.p99_us, us),
        x.added_p50_us ? range(x.added_p50_us, signedUs) : '-', x.added_p99_us ? range(x.added_p99_us, signedUs) : '-',
        range(x.server_cpu_us_per_req, us), x.errors]));
  }
  if (BASELINE) {
    table(`Before (${buildInfo(BASELINE).git}) and after (${buildInfo(BUILD).git}): medians; paired = after − before in the same round, median (min … max)`,
      ['load', 'history', 'req/s before', 'req/s after', 'change', 'paired change', 'added p50 before', 'after', 'added p99 before', 'after', 'CPU/req change', 'paired'],
      result.before_after.map((d) => {
        const sm = (id) => result.summary.find((x) => JSON.stringify(x.load) === JSON.stringify(d.load) && x.target === id);
        const x = sm(d.after), x0 = sm(d.before);
        const p = (v) => `${v > 0 ? '+' : ''}${v}%`;
        return [lpName(d.load), d.after === 'b' ? 'none' : 'SQLite', Math.round(x0.throughput_rps.median), Math.round(x.throughput_rps.median),
          p(d.throughput_change_pct), range(d.paired.throughput_pct, p), signedUs(x0.added_p50_us.median), signedUs(x.added_p50_us.median),
          signedUs(x0.added_p99_us.median), signedUs(x.added_p99_us.median), p(d.cpu_per_req_change_pct), range(d.paired.cpu_pct, p)];
      }));
  }
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

// One burst of CONCURRENT chats at `agentBin` (the simulator is always this build's).
async function concurrencyOnce(agentBin, tag, threads = THREADS) {
  const simPort = await freePort();
  const sim = await startServer(`simulator-2s${tag}`, AGENT, ['simulate-bedrock', '--port', String(simPort), '--no-fault-header', '--ttft-ms', '2000'], { port: simPort, nofile: null });
  const port = await freePort();
  const history = CONC_HISTORY === 'sqlite' ? `sqlite:${path.join(TMP, `concurrency${tag}.db`)}` : 'none';
  const agent = await startServer(`agent-concurrency${tag}`, agentBin, ['serve', '--port', String(port), '--history', history,
    '--max-rpm', '1e9', '--max-tpm', '0', '--model-id', MODEL, ...threads], {
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
  await agent.stop();
  await sim.stop();
  return { agent: agentBin, threads: threads[1] ?? 'cores', history: CONC_HISTORY, concurrent: CONCURRENT, model_latency_ms: 2000, loadavg: load, ...r,
    agent_rss_idle_kb: idle.rss_kb, agent_rss_peak_sampled_kb: peakRss, agent_vmhwm_kb: st.hwm_kb, agent_rss_after_kb: st.rss_kb,
    simulator_peak_in_flight: simStats.peak_in_flight, simulator_requests: simStats.requests_total };
}

const concRow = (label, x) => [label, x.ok, x.completed - x.ok, JSON.stringify(x.statuses), JSON.stringify(x.errors), x.simulator_peak_in_flight,
  us(x.latency_us.p50), us(x.latency_us.p99), us(x.latency_us.max), `${(x.agent_rss_idle_kb / 1024).toFixed(1)} MB`,
  `${(x.agent_vmhwm_kb / 1024).toFixed(1)} MB`, x.loadavg];
const CONC_HEADER = ['run', 'ok', 'failed', 'statuses', 'errors', 'sim peak in flight', 'p50', 'p99', 'max', 'agent RSS idle', 'agent VmHWM', 'loadavg'];

async function concurrency() {
  if (!BASELINE) {
    const r = await concurrencyOnce(AGENT, '');
    delete r.agent;
    const result = { machine: machine(), ...r };
    save(CONC_HISTORY === 'none' ? 'concurrency' : `concurrency-${CONC_HISTORY}`, result);
    table(`Concurrency: ${CONCURRENT} chats at once, 2 s model latency, --history ${CONC_HISTORY}`, CONC_HEADER, [concRow('-', r)]);
    return result;
  }
  // Before and after, alternating (the first of each pair changes every round), a pause between runs for
  // the sockets of the last one to close.
  const runs = [];
  for (let round = 0; round < CONC_ROUNDS; ++round) {
    const pair = [['after', AGENT, THREADS], ['before', BASE_AGENT, BASE_THREADS]];
    if (round % 2 === 0) pair.reverse();
    for (const [which, bin, threads] of pair) {
      if (runs.length) await sleep(5000);
      const r = await concurrencyOnce(bin, `-${which}-${round}`, threads);
      runs.push({ round, build: which, ...r });
      log(`concurrency round ${round + 1}/${CONC_ROUNDS} ${which}: ok ${r.ok}/${r.completed} VmHWM ${(r.agent_vmhwm_kb / 1024).toFixed(1)} MB p50 ${us(r.latency_us.p50)} (load ${r.loadavg})`);
    }
  }
  const result = { machine: machine(), concurrent: CONCURRENT, model_latency_ms: 2000, rounds: CONC_ROUNDS, runs };
  save(`concurrency${CONC_HISTORY === 'none' ? '' : `-${CONC_HISTORY}`}`, result);
  table(`Concurrency: ${CONCURRENT} chats at once, 2 s model latency, --history ${CONC_HISTORY}; before = ${BASE_THREADS.length && !args['baseline-build'] ? `this build, ${BASE_THREADS.join(' ')}` : buildInfo(BASELINE).git}, after = ${buildInfo(BUILD).git} ${THREADS.join(' ')}`,
    CONC_HEADER, runs.map((x) => concRow(`${x.round + 1} ${x.build}`, x)));
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
  for (const f of [AGENT, LOADGEN, ...(BASE_AGENT ? [BASE_AGENT] : [])]) if (!fs.existsSync(f)) throw new Error(`${f} is missing: build it (make bench)`);
  log(`build ${BUILD}; ${BASELINE ? `baseline ${BASELINE} (${buildInfo(BASELINE).git}); ` : ''}rounds ${ROUNDS}; temp ${TMP}; load ${loadavg()}; pinning ${LOAD_CPUS ? `load on ${LOAD_CPUS}, servers on ${SERVER_CPUS}` : 'none'}`);
  console.log(JSON.stringify(machine()));
  if (ONLY.has('overhead') || ONLY.has('streaming')) {
    const stack = await startStack();
    if (ONLY.has('overhead')) await overhead(stack);
    if (ONLY.has('streaming')) await streaming(stack);
    for (const s of [stack.portkey, stack.relay, stack.sqlite0, stack.nohist0, stack.sqlite, stack.nohist, stack.sim]) if (s) await s.stop();
  }
  if (ONLY.has('concurrency')) await concurrency();
  if (ONLY.has('coldstart')) await coldstart();
}

const cleanup = () => { for (const c of children) if (c.exitCode === null) c.kill('SIGKILL'); };
process.on('exit', cleanup);
process.on('SIGINT', () => { cleanup(); process.exit(130); });
main().then(() => { cleanup(); fs.rmSync(TMP, { recursive: true, force: true }); }, (e) => { console.error(e); cleanup(); process.exit(1); });
