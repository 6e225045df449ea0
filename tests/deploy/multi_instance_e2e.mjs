// End-to-end: several service instances sharing one PostgreSQL, behind nginx (docs/deploy.md).
//
//   official MCP SDK client (StreamableHTTPClientTransport)
//     -> hsk-mcp-proxy --role agent (HTTP)
//     -> nginx (round robin over three)
//     -> three hsk-mcp-proxy --role service (HTTP; one service.yaml, one service key, one session
//        ticket key; nonces, rate limits and revocations in ONE PostgreSQL database)
//     -> @modelcontextprotocol/server-everything (one, Streamable HTTP)
//
// Steps: every call accepted with a verified receipt; warm calls accepted by instances that did
// not issue the session (nginx access log: $upstream_addr and the signed request of every POST);
// a rate limit that holds in total across the instances; one revocation refusing at every
// instance (propagation p50/p99); kill -9 of an instance under load; PostgreSQL halted under load
// and resumed.
//
// usage: node multi_instance_e2e.mjs --hsk PATH --proxy PATH --pg-cluster PATH/pg_cluster.sh [--nginx PATH]
// Runs from a directory whose node_modules holds the pinned peers (tests/peers/package-lock.json).
// Prints "N passed, M failed" last; exits 0 only when every step passed. HSK_E2E_VERBOSE=1 echoes
// the children's stderr as it comes (otherwise their last lines are printed when a step fails).
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';

const started = performance.now();
const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0 || i + 1 >= process.argv.length) {
    if (fallback !== undefined) return fallback;
    console.error(`multi_instance_e2e: --${name} is required`);
    process.exit(2);
  }
  return process.argv[i + 1];
};
const HSK = arg('hsk');
const PROXY = arg('proxy');
const PG_CLUSTER = arg('pg-cluster');
const NGINX = arg('nginx', '/usr/sbin/nginx');
const VERBOSE = !!process.env.HSK_E2E_VERBOSE;
const require = createRequire(import.meta.url);
const EVERYTHING = join(dirname(require.resolve('@modelcontextprotocol/server-everything/package.json')), 'dist', 'index.js');

const CAP = 'everything.tools';
const INSTANCES = 3;
const RATE_N = 12;          // rate limit: RATE_N calls of get-sum per agent per 60 s window, in total
const RATE_CALLS = 24;      // sent through nginx: ~8 per instance, fewer than RATE_N at any one instance
const REVOCATION_ROUNDS = 5;  // delegations revoked one by one: 5 x 3 instances = 15 propagation samples
const CALL_TIMEOUT_MS = 8000;

// ---- bookkeeping, cleanup on every exit path ---------------------------------------------------------
const work = mkdtempSync(join(tmpdir(), 'hsk-deploy-e2e-'));
const pgDir = join(tmpdir(), `hsk-deploy-pg-${process.pid}-${randomBytes(4).toString('hex')}`);
const pidsFile = join(work, 'pids');
const children = [];  // {name, proc, log}
let pgStarted = false;
let watchdog = null;
let failures = 0;
let passed = 0;
let cleanedUp = false;

function recordPids() {
  writeFileSync(pidsFile, children.filter((c) => c.proc.exitCode === null && c.proc.signalCode === null)
    .map((c) => `${c.proc.pid}\n`).join(''));
}

// Synchronous: also runs from process.on('exit'). nginx gets SIGTERM (its master stops its workers).
function cleanup() {
  if (cleanedUp) return;
  cleanedUp = true;
  for (const c of children) {
    if (c.proc.exitCode === null && c.proc.signalCode === null) {
      try { c.proc.kill('SIGTERM'); } catch { /* gone */ }
    }
  }
  rmSync(pidsFile, { force: true });
  if (pgStarted) spawnSync('bash', [PG_CLUSTER, 'stop', pgDir], { stdio: 'ignore', timeout: 30000 });
  rmSync(pgDir, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
  if (watchdog) { try { process.kill(watchdog.pid, 'SIGKILL'); } catch { /* gone */ } }
}
process.on('exit', cleanup);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => { console.log(`multi_instance_e2e: ${sig}`); process.exit(4); });
}
// Under ctest's TIMEOUT (240 s) so that our own cleanup runs first.
setTimeout(() => {
  console.log('not ok - the whole run finished in time\n  timed out after 180 s');
  console.log(`${passed} passed, ${failures + 1} failed`);
  dumpLogs();
  process.exit(3);
}, 180_000).unref();

// If this process is killed outright (SIGKILL), a detached watchdog stops what it started.
function startWatchdog() {
  const script = `while kill -0 ${process.pid} 2>/dev/null; do sleep 0.5; done
if [ -f '${pidsFile}' ]; then while read -r p; do kill -TERM "$p" 2>/dev/null; done < '${pidsFile}'; fi
bash '${PG_CLUSTER}' stop '${pgDir}' >/dev/null 2>&1
rm -rf '${work}' '${pgDir}'`;
  watchdog = spawn('bash', ['-c', script], { detached: true, stdio: 'ignore' });
  watchdog.unref();
}

function dumpLogs() {
  for (const c of children) {
    const lines = c.log.text.trim().split('\n').filter(Boolean);
    if (lines.length === 0) continue;
    process.stderr.write(`---- ${c.name} (last ${Math.min(lines.length, 30)} of ${lines.length} stderr lines)\n`);
    process.stderr.write(lines.slice(-30).join('\n') + '\n');
  }
}

async function step(name, fn) {
  const t = performance.now();
  try {
    await fn();
    passed++;
    console.log(`ok - ${name} (${Math.round(performance.now() - t)} ms)`);
    return true;
  } catch (e) {
    failures++;
    console.log(`not ok - ${name}\n  ${String(e?.stack ?? e).split('\n').join('\n  ')}`);
    return false;
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const file = (name) => join(work, name);
const writeJson = (name, value) => { writeFileSync(file(name), JSON.stringify(value)); return file(name); };

function hsk(args, { expect = 0 } = {}) {
  const r = spawnSync(HSK, args, { cwd: work, encoding: 'utf8', timeout: 30000 });
  if (expect !== null && r.status !== expect) {
    throw new Error(`hsk ${args.join(' ')} exited ${r.status} (want ${expect}): ${r.stderr}`);
  }
  return r;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
    s.on('error', reject);
  });
}

function waitForPort(port, ms = 15000) {
  const deadline = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const sock = net.connect(port, '127.0.0.1');
      sock.on('connect', () => { sock.destroy(); resolve(); });
      sock.on('error', () => {
        sock.destroy();
        if (Date.now() > deadline) reject(new Error(`port ${port} never opened`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

function startChild(name, command, args, options = {}) {
  const proc = spawn(command, args, { cwd: work, stdio: ['ignore', 'pipe', 'pipe'], ...options });
  const child = { name, proc, log: { text: '' } };
  children.push(child);
  recordPids();
  proc.stdout.on('data', () => {});  // server-everything chats on stdout; nothing there is needed
  proc.stderr.on('data', (d) => {
    child.log.text += d;
    if (VERBOSE) process.stderr.write(`[${name}] ${d}`);
  });
  proc.on('exit', () => recordPids());
  return child;
}

// An HTTP-mode hsk-mcp-proxy on a free port; resolves with {child, url} once it prints its address.
function startHttpProxy(name, args) {
  return new Promise((resolve, reject) => {
    const child = startChild(name, PROXY, [...args, '--listen', '127.0.0.1:0']);
    const timer = setTimeout(() => reject(new Error(`${name} did not start in 15 s: ${child.log.text}`)), 15000);
    const onData = () => {
      const m = child.log.text.match(/listening on (http:\/\/\S+?) ->/);
      if (m) { clearTimeout(timer); child.proc.stderr.off('data', onData); resolve({ child, url: m[1] }); }
    };
    child.proc.stderr.on('data', onData);
    child.proc.on('exit', (code, sig) => { clearTimeout(timer); reject(new Error(`${name} exited ${code ?? sig}: ${child.log.text}`)); });
  });
}

async function stopChild(child, signal = 'SIGTERM') {
  const p = child.proc;
  if (p.exitCode !== null || p.signalCode !== null) return;
  const gone = new Promise((r) => p.once('exit', r));
  p.kill(signal);
  if (await Promise.race([gone.then(() => true), sleep(5000).then(() => false)])) return;
  p.kill('SIGKILL');
  await gone;
}

// Nearest-rank percentile.
function percentile(values, p) {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.max(0, Math.ceil((p / 100) * s.length) - 1)];
}
const fmt = (ms) => `${ms.toFixed(1)} ms`;

// ---- operations: /metrics through the Prometheus project's own parser, /readyz, audit lines ---------
const PROM_PARSE = `
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = []
for f in text_string_to_metric_families(sys.stdin.read()):
    for s in f.samples:
        out.append({"family": f.name, "type": f.type, "name": s.name, "labels": s.labels, "value": s.value})
print(json.dumps(out))
`;
async function scrape(addr) {
  const res = await fetch(`http://${addr}/metrics`);
  assert.equal(res.status, 200, `/metrics of ${addr}`);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  const r = spawnSync('/usr/bin/python3', ['-c', PROM_PARSE], { input: text, encoding: 'utf8', timeout: 20000 });
  assert.equal(r.status, 0, `the Prometheus parser refused /metrics of ${addr}: ${r.stderr}\n${text.slice(0, 2000)}`);
  return { text, samples: JSON.parse(r.stdout) };
}
const total = (m, name, pred = () => true) => m.samples.filter((s) => s.name === name && pred(s.labels))
  .reduce((a, s) => a + s.value, 0);
// Every histogram: buckets cumulative (non-decreasing in le), +Inf bucket equal to _count.
function checkHistograms(m) {
  const series = new Map();
  for (const s of m.samples.filter((x) => x.type === 'histogram')) {
    const { le, ...rest } = s.labels;
    const key = `${s.family}|${JSON.stringify(Object.entries(rest).sort())}`;
    if (!series.has(key)) series.set(key, { buckets: [], count: null });
    const e = series.get(key);
    if (s.name.endsWith('_bucket')) e.buckets.push([le === '+Inf' ? Infinity : Number(le), s.value]);
    if (s.name.endsWith('_count')) e.count = s.value;
  }
  for (const [key, e] of series) {
    e.buckets.sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < e.buckets.length; i++) assert.ok(e.buckets[i][1] >= e.buckets[i - 1][1], `${key}: buckets cumulative`);
    assert.equal(e.buckets.at(-1)?.[0], Infinity, `${key}: a +Inf bucket`);
    assert.equal(e.buckets.at(-1)[1], e.count, `${key}: +Inf bucket = _count`);
  }
  return series.size;
}
async function readyz(addr) {
  const res = await fetch(`http://${addr}/readyz`);
  return { status: res.status, body: await res.json() };
}
const auditLines = (i) => (existsSync(file(`audit-${i}.jsonl`))
  ? readFileSync(file(`audit-${i}.jsonl`), 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) : []);
async function waitForLog(child, pattern, count, ms = 5000) {
  const deadline = Date.now() + ms;
  while ((child.log.text.match(pattern) ?? []).length < count) {
    if (Date.now() > deadline) throw new Error(`${child.name} did not log ${pattern} (${count}) in ${ms} ms`);
    await sleep(20);
  }
}

// ---- MCP client helpers ------------------------------------------------------------------------------
async function connectClient(url, name) {
  const client = new Client({ name, version: '1.0.0' }, { capabilities: {} });
  const transport = new StreamableHTTPClientTransport(new URL(url));
  await client.connect(transport, { timeout: CALL_TIMEOUT_MS });
  const { tools } = await client.listTools(undefined, { timeout: CALL_TIMEOUT_MS });
  assert.equal(tools.find((t) => t.name === 'echo')?._meta?.['ai.handshake/tool']?.capability, `${CAP}:echo`,
    'tools/list carries the handshake metadata of echo');
  return client;
}

// One tools/call: {ok: true, result, requestId, session} | {ok: false, refusal, code, requestId} |
// {ok: false, error} (anything else: transport errors, timeouts, unverifiable answers).
async function call(client, name, args, options = {}) {
  const t0 = performance.now();
  try {
    const result = await client.callTool({ name, arguments: args }, undefined, { timeout: CALL_TIMEOUT_MS, ...options });
    const acceptance = result._meta?.['ai.handshake/acceptance'];
    return { ok: true, result, requestId: acceptance?.request_id, session: acceptance?.session_token,
      t0, t1: performance.now() };
  } catch (e) {
    const refusal = e instanceof McpError && e.code === -32010 ? e.data?.['ai.handshake/refusal'] : undefined;
    if (refusal) {
      return { ok: false, refusal, code: refusal.reason?.code, requestId: refusal.request_id, message: e.message,
        t0, t1: performance.now() };
    }
    return { ok: false, error: `${e?.constructor?.name}: ${e?.code ?? ''} ${e?.message ?? e}`, t0, t1: performance.now() };
  }
}

const describe = (r) => (r.ok ? 'accepted' : r.refusal ? `refused ${r.code}: ${r.refusal.reason?.detail}`
  : r.error.replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ').trim().slice(0, 160));

let receiptN = 0;
// The result's receipt, checked offline with `hsk receipt verify` against what it commits to.
function verifyReceiptOffline(result, agentDid, { negative = false } = {}) {
  const meta = result._meta ?? {};
  const receipt = meta['ai.handshake/receipt'];
  assert.ok(receipt, 'the result carries a receipt');
  assert.ok(meta['ai.handshake/acceptance'], 'the result carries the acceptance');
  assert.equal(receipt.iss, did.svc);
  assert.equal(receipt.sub, agentDid);
  assert.equal(receipt.handshake_id, meta['ai.handshake/acceptance'].request_id);
  let subject;
  if (result.structuredContent !== undefined) {
    subject = result.structuredContent;
  } else {
    subject = structuredClone(result);
    delete subject._meta['ai.handshake/receipt'];
    delete subject._meta['ai.handshake/acceptance'];
    if (Object.keys(subject._meta).length === 0) delete subject._meta;
  }
  const n = ++receiptN;
  const rFile = writeJson(`receipt-${n}.json`, receipt);
  hsk(['receipt', 'verify', '--did-doc', file('svc.did.json'), '--result', writeJson(`result-${n}.json`, subject), rFile]);
  if (negative) {
    hsk(['receipt', 'verify', '--did-doc', file('svc.did.json'), '--result', writeJson(`other-${n}.json`, { forged: n }), rFile],
      { expect: 1 });
  }
  return receipt;
}

function verifyRefusalOffline(refusal) {
  hsk(['verify', '--did-doc', file('svc.did.json'), writeJson(`refusal-${++receiptN}.json`, refusal)]);
}

function receiptIdsIn(path) {
  if (!existsSync(path)) return new Set();
  return new Set(readFileSync(path, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l).receipt.id));
}

// ---- nginx access log: which instance answered which signed request ---------------------------------
// One JSON object per request: $upstream_addr (every instance tried, the last one answered), the
// statuses, and the request body (the JSON-RPC message with its signed HandshakeRequest).
function readAccessLog() {
  const path = join(nginxPrefix, 'access.log');
  if (!existsSync(path)) return [];
  const out = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    const e = JSON.parse(line);
    // "A, B" lists every server tried; " : " separates internal redirects.
    const tried = e.up ? e.up.split(/\s*,\s*|\s+:\s+/).map((s) => s.trim()).filter(Boolean) : [];
    const entry = { method: e.m, status: e.st, tried, answered: tried.at(-1) ?? null, lastEventId: e.lei, time: e.rt };
    if (e.b) {
      try {
        const msg = JSON.parse(e.b);
        entry.rpc = msg.method;
        const req = msg.params?._meta?.['ai.handshake/request'];
        if (req) {
          entry.requestId = req.id;
          entry.warmToken = req.agent_attestation?.['handshake:session_token'] ?? null;
          entry.chainLength = req.delegation_chain?.length;
          entry.tool = msg.params?.name;
        }
      } catch { /* a body that is not JSON: not ours */ }
    }
    out.push(entry);
  }
  return out;
}
const byRequestId = (log) => new Map(log.filter((e) => e.requestId).map((e) => [e.requestId, e]));

// ---- the deployment -------------------------------------------------------------------------------------
const did = {};
let pgUrl;
let everythingUrl;
const instances = [];  // {child, url, addr}
let nginxPrefix;
let nginxUrl;
let main;  // {child, url, client, receipts}

async function setUp() {
  for (const [what, path] of [['hsk', HSK], ['hsk-mcp-proxy', PROXY], ['nginx', NGINX], ['pg_cluster.sh', PG_CLUSTER]]) {
    assert.ok(existsSync(path), `${what} not found at ${path}`);
  }
  startWatchdog();

  // PostgreSQL: one database for every store of every instance.
  const pg = spawnSync('bash', [PG_CLUSTER, 'start', pgDir], { encoding: 'utf8', timeout: 60000 });
  pgStarted = true;
  assert.equal(pg.status, 0, `pg_cluster.sh start failed: ${pg.stderr}`);
  const pgPort = Number(pg.stdout.trim());
  assert.ok(pgPort > 0, `pg_cluster.sh printed no port: ${pg.stdout}`);
  pgUrl = `postgresql://hsk@127.0.0.1:${pgPort}/postgres`;

  for (const who of ['org', 'agent', 'rlagent', 'svc']) {
    const kind = who === 'rlagent' ? 'agent' : who;
    did[who] = hsk(['keygen', '--kind', kind, '--out', `${who}.key`]).stdout.trim();
    writeFileSync(file(`${who}.did.json`), hsk(['did', `${who}.key`]).stdout);
  }
  const help = hsk(['--help'], { expect: null });
  assert.match(help.stdout + help.stderr, /session-key/, '`hsk session-key` exists (hsk --help)');
  hsk(['session-key', '--out', 'session.key']);
  writeFileSync(file('service.yaml'), [
    'identity: svc.key',
    `trust_roots: [${did.org}]`,
    'did_documents: [org.did.json, agent.did.json, rlagent.did.json, svc.did.json]',
    'session_ttl_seconds: 300',
    'session_keys: [session.key]',
    'clock_skew_seconds: 2',
    `nonce_store: {type: postgres, url: "${pgUrl}"}`,
    `rate_limit_store: {type: postgres, url: "${pgUrl}"}`,
    'revocations:',
    `  postgres: {url: "${pgUrl}"}`,
    // Only get-sum is limited (step 3); echo (every other step) is not.
    `rate_limits: [{capability: "${CAP}:get-sum", count: ${RATE_N}, per_seconds: 60, per: agent}]`,
    '',
  ].join('\n'));
  writeFileSync(file('tools.yaml'), [
    'unmapped: refuse',
    'tools:',
    `  echo: {capability: "${CAP}:echo"}`,
    `  get-sum: {capability: "${CAP}:get-sum"}`,
    `  trigger-long-running-operation: {capability: "${CAP}:trigger-long-running-operation"}`,
    '',
  ].join('\n'));
  writeFileSync(file('chain.json'), hsk(['delegate', '--key', 'org.key', '--to', did.agent, '--capability', `${CAP}:*`]).stdout);
  writeFileSync(file('chain-rl.json'), hsk(['delegate', '--key', 'org.key', '--to', did.rlagent, '--capability', `${CAP}:*`]).stdout);

  // server-everything, one for all instances (the MCP session lives there, so any instance relays it).
  const evPort = await freePort();
  startChild('server-everything', process.execPath, [EVERYTHING, 'streamableHttp'], { env: { ...process.env, PORT: String(evPort) } });
  await waitForPort(evPort);
  everythingUrl = `http://127.0.0.1:${evPort}/mcp`;

  // Three service instances, the same files; they start together (tables created under an advisory lock).
  const started3 = await Promise.all(Array.from({ length: INSTANCES }, (_, i) => startHttpProxy(`service-${i}`,
    ['--role', 'service', '--config', file('service.yaml'), '--tools', file('tools.yaml'), '--upstream', everythingUrl,
      '--audit-log', file(`audit-${i}.jsonl`)])));
  for (const s of started3) instances.push({ ...s, addr: new URL(s.url).host });

  // nginx: round robin over the three, as docs/deploy.md, logging each request's upstream and body.
  nginxPrefix = mkdtempSync(join(work, 'nginx-'));
  const nginxPort = await freePort();
  const conf = join(nginxPrefix, 'nginx.conf');
  writeFileSync(conf, [
    ...(process.getuid?.() === 0 ? ['user root;'] : []),
    'daemon off;',
    'worker_processes 1;',
    `pid ${nginxPrefix}/nginx.pid;`,
    `error_log ${nginxPrefix}/error.log notice;`,
    'events { worker_connections 512; }',
    'http {',
    `  log_format hsk escape=json '{"m":"$request_method","st":"$status","up":"$upstream_addr","ust":"$upstream_status","lei":"$http_last_event_id","rt":"$request_time","b":"$request_body"}';`,
    `  access_log ${nginxPrefix}/access.log hsk;`,
    `  client_body_temp_path ${nginxPrefix}/client_body;`,
    `  proxy_temp_path ${nginxPrefix}/proxy;`,
    `  fastcgi_temp_path ${nginxPrefix}/fastcgi;`,
    `  uwsgi_temp_path ${nginxPrefix}/uwsgi;`,
    `  scgi_temp_path ${nginxPrefix}/scgi;`,
    '  upstream handshake_service {',
    ...instances.map((s) => `    server ${s.addr};`),
    '    keepalive 32;',
    '  }',
    '  server {',
    `    listen 127.0.0.1:${nginxPort};`,
    '    client_body_buffer_size 1m;',   // the body stays in memory, so $request_body is logged
    '    client_max_body_size 4m;',
    '    location /mcp {',
    '      proxy_pass http://handshake_service;',
    '      proxy_http_version 1.1;',
    '      proxy_set_header Connection "";',
    '      proxy_buffering off;',
    '      proxy_read_timeout 300s;',
    '      proxy_next_upstream error timeout;',
    '    }',
    '  }',
    '}',
    '',
  ].join('\n'));
  const test = spawnSync(NGINX, ['-t', '-c', conf, '-p', `${nginxPrefix}/`, '-e', `${nginxPrefix}/error.log`], { encoding: 'utf8' });
  assert.equal(test.status, 0, `nginx -t: ${test.stderr}`);
  startChild('nginx', NGINX, ['-c', conf, '-p', `${nginxPrefix}/`, '-e', `${nginxPrefix}/error.log`]);
  await waitForPort(nginxPort);
  nginxUrl = `http://127.0.0.1:${nginxPort}/mcp`;

  // The agent proxy in front of nginx, and the SDK client in front of it.
  const agent = await startHttpProxy('agent-main', ['--role', 'agent', '--key', file('agent.key'), '--chain', file('chain.json'),
    '--service-did', did.svc, '--receipts', file('receipts-main.jsonl'), '--upstream', nginxUrl]);
  main = { ...agent, receipts: file('receipts-main.jsonl') };
  main.client = await connectClient(agent.url, 'hsk-deploy-main');
  console.log(`# PostgreSQL ${pgUrl}; nginx ${nginxUrl}; instances ${instances.map((s) => s.addr).join(', ')}; ` +
    `server-everything ${everythingUrl}`);
}

const instanceOf = (addr) => instances.findIndex((s) => s.addr === addr);
const retriesIn = (child) => (child.log.text.match(/retrying once with a cold handshake/g) ?? []).length;

// ---- the scenario ---------------------------------------------------------------------------------------
const setUpOk = await step('set-up: PostgreSQL, server-everything, three service instances, nginx, agent proxy, SDK client',
  setUp);

if (setUpOk) {
  let step1 = [];
  await step('1. 30 tools/call of echo through agent proxy -> nginx -> 3 instances: all accepted, receipts verified', async () => {
    for (let i = 0; i < 30; i++) {
      const r = await call(main.client, 'echo', { message: `m-${i}` });
      assert.ok(r.ok, `call ${i}: ${describe(r)}`);
      assert.equal(r.result.content?.[0]?.text, `Echo: m-${i}`);
      verifyReceiptOffline(r.result, did.agent, { negative: i < 2 });
      step1.push(r);
    }
    // The agent proxy verified and kept the same receipts.
    const kept = receiptIdsIn(main.receipts);
    for (const r of step1) {
      assert.ok(kept.has(r.result._meta['ai.handshake/receipt'].id), `receipt of ${r.requestId} in --receipts`);
    }
  });

  await step('2. warm calls are accepted by instances that did not issue the session (nginx $upstream_addr + signed requests)', async () => {
    assert.equal(step1.length, 30, 'step 1 ran');
    const log = byRequestId(readAccessLog());
    const first = step1[0];
    const cold = log.get(first.requestId);
    assert.ok(cold, `the first call ${first.requestId} is in nginx's log`);
    assert.equal(cold.warmToken, null, 'the first call was a cold handshake (no session token in its request)');
    assert.ok(first.session, 'the cold Acceptance issued a session');
    const issuer = instanceOf(cold.answered);
    assert.ok(issuer >= 0, `the cold call was answered by an instance (${cold.answered})`);
    const warmBy = [0, 0, 0];
    for (const r of step1.slice(1)) {
      const e = log.get(r.requestId);
      assert.ok(e, `call ${r.requestId} is in nginx's log`);
      assert.equal(e.warmToken, first.session, `${r.requestId} was sent warm with the first session's token`);
      assert.equal(e.chainLength, 1, 'a warm request carries only the leaf link');
      assert.equal(e.status, '200');
      assert.equal(r.session, first.session, 'and accepted warm: the Acceptance hands back the same token');
      assert.equal(e.tried.length, 1, `answered by the first instance nginx tried (${e.tried})`);
      warmBy[instanceOf(e.answered)]++;
    }
    const others = warmBy.filter((_, i) => i !== issuer);
    console.log(`# session issued by service-${issuer}; warm calls accepted per instance: ${warmBy.join('/')}`);
    assert.ok(others.every((n) => n >= 5), `both other instances accepted warm calls of that session: ${warmBy}`);
    // No warm call was refused and retried cold anywhere (the agent proxy logs each retry).
    assert.equal(retriesIn(main.child), 0, 'the agent proxy retried no warm call');
    for (const s of instances) assert.doesNotMatch(s.child.log.text, /refused tools\/call/, `${s.child.name} refused nothing`);
  });

  await step(`3. a rate limit of ${RATE_N} per 60 s holds in total across the three instances (${RATE_CALLS} calls, 6 at a time)`, async () => {
    const agent = await startHttpProxy('agent-rl', ['--role', 'agent', '--key', file('rlagent.key'), '--chain', file('chain-rl.json'),
      '--service-did', did.svc, '--receipts', file('receipts-rl.jsonl'), '--upstream', nginxUrl]);
    const client = await connectClient(agent.url, 'hsk-deploy-rl');
    // Windows are aligned to the epoch: start with at least 5 s of the window left (the burst takes
    // well under a second; that it stayed in one window is checked below).
    const into = (Date.now() / 1000) % 60;
    if (into > 55) await sleep((60 - into) * 1000 + 300);
    const windowAt = () => Math.floor(Date.now() / 60000);
    const window0 = windowAt();
    const results = [];
    let next = 0;
    await Promise.all(Array.from({ length: 6 }, async () => {
      while (next < RATE_CALLS) {
        const i = next++;
        results.push({ i, r: await call(client, 'get-sum', { a: i, b: 1000 }) });
      }
    }));
    assert.equal(windowAt(), window0, 'the burst stayed within one rate-limit window');
    const accepted = results.filter(({ r }) => r.ok);
    const refused = results.filter(({ r }) => !r.ok);
    for (const { r } of refused) assert.ok(r.refusal, `every other call is a signed refusal, not: ${describe(r)}`);
    const codes = refused.map(({ r }) => r.code);
    console.log(`# rate limit: ${accepted.length} accepted, ${refused.length} refused (${[...new Set(codes)].join(', ')})`);
    assert.equal(accepted.length, RATE_N, `exactly ${RATE_N} accepted`);
    assert.equal(refused.length, RATE_CALLS - RATE_N);
    assert.ok(codes.every((c) => c === 'rate_limited'), `every refusal is rate_limited: ${codes}`);
    for (const { i, r } of accepted) {
      assert.match(r.result.content?.[0]?.text ?? '', new RegExp(`\\b${i + 1000}\\b`));
      verifyReceiptOffline(r.result, did.rlagent);
    }
    for (const { r } of refused) {
      assert.match(r.message, /rate_limited/);
      verifyRefusalOffline(r.refusal);
    }
    // Where the calls went: every instance got some, none got as many as the limit, so a limiter
    // counting per instance would have let all of them through.
    const log = byRequestId(readAccessLog());
    const per = [0, 0, 0];
    const acceptedPer = [0, 0, 0];
    for (const { r } of results) {
      const e = log.get(r.requestId);
      assert.ok(e, `get-sum ${r.requestId} is in nginx's log`);
      per[instanceOf(e.answered)]++;
      if (r.ok) acceptedPer[instanceOf(e.answered)]++;
    }
    console.log(`# get-sum calls per instance: ${per.join('/')}; accepted per instance: ${acceptedPer.join('/')}`);
    assert.ok(per.every((n) => n > 0 && n < RATE_N), `each instance got some calls, fewer than ${RATE_N}: ${per}`);
    await client.close();
    await stopChild(agent.child);
  });

  const propagation = [];
  await step(`4. one revocation refuses at every instance (${REVOCATION_ROUNDS} delegations revoked one by one; warm and cold)`, async () => {
    // Per round: a delegation of its own, and one agent proxy per instance (bypassing nginx).
    const rounds = [];
    for (let k = 0; k < REVOCATION_ROUNDS; k++) {
      const chainFile = `chain-rev-${k}.json`;
      const chain = JSON.parse(hsk(['delegate', '--key', 'org.key', '--to', did.agent, '--capability', `${CAP}:*`]).stdout);
      writeJson(chainFile, chain);
      const dt = (Array.isArray(chain) ? chain.at(-1) : chain).id;
      assert.match(dt, /^dt_/);
      writeFileSync(file(`revocation-${k}.json`), hsk(['revoke', '--key', 'org.key', '--delegation', dt]).stdout);
      rounds.push({ k, dt, chainFile, agents: [] });
    }
    await Promise.all(rounds.flatMap((round) => instances.map(async (s, i) => {
      const a = await startHttpProxy(`agent-rev-${round.k}-${i}`, ['--role', 'agent', '--key', file('agent.key'),
        '--chain', file(round.chainFile), '--service-did', did.svc, '--upstream', s.url]);
      const client = await connectClient(a.url, `hsk-deploy-rev-${round.k}-${i}`);
      // A cold call, then a warm one: each instance holds a live warm session of this delegation.
      const c = await call(client, 'echo', { message: 'before' });
      assert.ok(c.ok, `round ${round.k} instance ${i} before revocation: ${describe(c)}`);
      const w = await call(client, 'echo', { message: 'before, warm' });
      assert.ok(w.ok && w.session === c.session, `round ${round.k} instance ${i}: warm before revocation: ${describe(w)}`);
      round.agents[i] = { ...a, client };
    })));

    const revokeMs = [];
    const toVerify = [];
    for (const round of rounds) {
      const before = performance.now();
      const r = spawnSync(HSK, ['service', 'revoke', '--config', file('service.yaml'), file(`revocation-${round.k}.json`)],
        { cwd: work, encoding: 'utf8', timeout: 30000 });
      const t0 = performance.now();
      revokeMs.push(t0 - before);
      assert.equal(r.status, 0, `hsk service revoke: ${r.stderr}`);
      // Each instance polled with warm calls until refused; nothing in this loop blocks the others.
      await Promise.all(round.agents.map(async (a, i) => {
        let polls = 0;
        let acceptedAfter = 0;
        for (;;) {
          const p = await call(a.client, 'echo', { message: `poll-${polls++}` });
          if (p.ok) {
            acceptedAfter++;
            assert.ok(performance.now() - t0 < 5000, `instance ${i} still accepts delegation ${round.dt} 5 s after the revocation`);
            continue;
          }
          assert.equal(p.code, 'credential_revoked', `instance ${i}: ${describe(p)}`);
          propagation.push({ round: round.k, instance: i, ms: p.t1 - t0, sentMs: p.t0 - t0, acceptedAfter });
          toVerify.push(p.refusal);
          break;
        }
        // The refused warm call ended the session; the cold handshake is refused too.
        const cold = await call(a.client, 'echo', { message: 'cold after' });
        assert.equal(cold.code, 'credential_revoked', `instance ${i}, cold after the revocation: ${describe(cold)}`);
        toVerify.push(cold.refusal);
      }));
    }
    for (const refusal of toVerify) verifyRefusalOffline(refusal);
    // The revocation was of those delegations only: the main one still works, through nginx.
    const still = await call(main.client, 'echo', { message: 'unrevoked' });
    assert.ok(still.ok, `another delegation is still accepted: ${describe(still)}`);
    const ms = propagation.map((p) => p.ms);
    const sent = propagation.map((p) => p.sentMs);
    console.log(`# revocation propagation, ${ms.length} samples (${REVOCATION_ROUNDS} revocations x ${INSTANCES} instances), ` +
      `from \`hsk service revoke\` returning (it took p50 ${fmt(percentile(revokeMs, 50))}) to the first refusal received: ` +
      `p50 ${fmt(percentile(ms, 50))}, p99 ${fmt(percentile(ms, 99))}, max ${fmt(Math.max(...ms))}; ` +
      `that refused call was sent after p50 ${fmt(percentile(sent, 50))}, p99 ${fmt(percentile(sent, 99))}; ` +
      `warm calls still accepted after the revoke returned: ${propagation.reduce((n, p) => n + p.acceptedAfter, 0)}`);
    assert.equal(propagation.length, REVOCATION_ROUNDS * INSTANCES);
    await Promise.all(rounds.flatMap((round) => round.agents.map(async (a) => {
      try { await a.client.close(); } catch { /* gone */ }
      await stopChild(a.child);
    })));
  });

  let killed = -1;
  await step('5a. kill -9 of one instance with calls in flight: the others keep answering, every accepted call has a verified receipt', async () => {
    const results = [];
    let stop = false;
    const receiptsBefore = receiptIdsIn(main.receipts);
    // Twelve calls of 2 s each, one after the other (round robin: four at each instance), so that
    // some are in flight at the instance killed; then echo calls from four workers.
    const long = [];
    for (let j = 0; j < 12; j++) {
      long.push(call(main.client, 'trigger-long-running-operation', { duration: 2, steps: 4 }, { onprogress: () => {}, timeout: 5000 })
        .then((r) => { r.long = true; results.push(r); }));
      await sleep(20);
    }
    const workers = Array.from({ length: 4 }, async (_, w) => {
      for (let n = 0; !stop && n < 1000; n++) results.push(await call(main.client, 'echo', { message: `load-${w}-${n}` }));
    });
    await sleep(400);
    killed = 1;
    const killAt = performance.now();
    instances[killed].child.proc.kill('SIGKILL');
    await sleep(1500);
    stop = true;
    await Promise.all([...workers, ...long]);
    await sleep(300);  // nginx logs a request when it ends

    const receipted = (r) => !!(r.result?._meta?.['ai.handshake/receipt'] && r.result?._meta?.['ai.handshake/acceptance']);
    const inFlight = results.filter((r) => r.t0 < killAt && r.t1 > killAt);
    const after = results.filter((r) => r.t0 > killAt + 100);
    const accepted = results.filter((r) => r.ok && receipted(r));
    const unverified = results.filter((r) => r.ok && !receipted(r));
    const failed = results.filter((r) => !r.ok);
    const all = readAccessLog();
    const log = byRequestId(all);
    const deadAddr = instances[killed].addr;
    // Calls the dead instance did not finish: a 502, or a 2 s operation whose stream ended early.
    const cutAtDead = all.filter((e) => e.rpc === 'tools/call' && e.answered === deadAddr &&
      (e.status === '502' || (e.tool === 'trigger-long-running-operation' && Number(e.time) < 1.9)));
    const resumptions = all.filter((e) => e.method === 'GET' && e.lastEventId);
    console.log(`# kill -9 service-${killed}: ${results.length} calls, ${accepted.length} accepted with receipts, ` +
      `${unverified.length} results WITHOUT acceptance/receipt, ${failed.length} failed ` +
      `(${[...new Set(failed.map(describe))].join('; ') || 'none'}); ${inFlight.length} in flight at the kill ` +
      `(${cutAtDead.length} of them cut at the dead instance, per nginx), ${after.length} started after; ` +
      `SSE resumptions (GET with Last-Event-ID) ended so far: ${resumptions.length}`);
    const keptNow = receiptIdsIn(main.receipts);
    const keptHere = [...keptNow].filter((k) => !receiptsBefore.has(k)).length;
    for (const r of unverified) console.log(`#   unverified result reached the client: ${JSON.stringify(r.result).slice(0, 200)}`);
    console.log(`# the agent proxy verified and kept ${keptHere} receipts in this step; the client got ${accepted.length} receipted results`);
    const answeredBy = [0, 0, 0];
    let skipped = 0;
    for (const r of after.filter((x) => x.requestId)) {
      const e = log.get(r.requestId);
      assert.ok(e, `${r.requestId} in nginx's log`);
      answeredBy[instanceOf(e.answered)]++;
      if (e.tried.length > 1) skipped++;
    }
    console.log(`# after the kill: accepted per instance ${answeredBy.join('/')}; ${skipped} calls tried the dead one first`);

    assert.ok(inFlight.length > 0, 'calls were in flight when the instance was killed');
    for (const r of failed) assert.ok(r.t0 < killAt + 100, `a call started after the kill failed: ${describe(r)}`);
    assert.ok(after.length >= 20 && after.every((r) => r.ok), `every call started after the kill was answered (${after.length})`);
    assert.equal(answeredBy[killed], 0, 'nothing answered by the dead instance');
    assert.ok(answeredBy.filter((n, i) => i !== killed).every((n) => n > 0), 'both survivors answered');
    // What the client saw as a result must be a verified one: the agent proxy checked it (acceptance
    // and receipt present, kept in --receipts) and it verifies offline.
    assert.equal(unverified.length, 0, `${unverified.length} tool results reached the SDK client without an acceptance or ` +
      'a receipt (delivered on a resumed SSE stream: GET with Last-Event-ID, relayed unchecked)');
    // Every accepted result was verified by the agent proxy and kept in its --receipts file; the long
    // calls and every fifth echo are also verified offline here (each is a process spawn).
    const kept = receiptIdsIn(main.receipts);
    for (const r of accepted) assert.ok(kept.has(r.result._meta['ai.handshake/receipt'].id), 'the agent proxy verified and kept it');
    for (const [n, r] of accepted.entries()) if (r.long || n % 5 === 0) verifyReceiptOffline(r.result, did.agent);
    assert.ok([...receiptsBefore].every((k) => kept.has(k)), 'the receipts file only grew');
  });

  await step('5b. PostgreSQL halted under load: signed service_unavailable, never accepted; resumed: accepts within 5 s, no restart', async () => {
    const survivors = instances.map((_, i) => i).filter((i) => i !== killed);
    for (let i = 0; i < 4; i++) {
      let r = await call(main.client, 'echo', { message: `pre-halt-${i}` });
      // A kept-alive connection the agent proxy closed as idle (5 s) just as the client reused it
      // fails in the client's fetch before anything is sent: a transport race, not a refusal. One
      // retry; what this step checks (the halt) comes after.
      if (!r.ok && /fetch failed/.test(describe(r))) r = await call(main.client, 'echo', { message: `pre-halt-${i}-again` });
      assert.ok(r.ok, `before the halt: ${describe(r)}`);
    }
    for (const i of survivors) assert.equal((await readyz(instances[i].addr)).status, 200, `service-${i} ready before the halt`);
    const halt = spawnSync('bash', [PG_CLUSTER, 'halt', pgDir], { encoding: 'utf8', timeout: 30000 });
    assert.equal(halt.status, 0, `pg_cluster.sh halt: ${halt.stderr}`);
    const haltedAt = performance.now();
    // A load balancer asking /readyz now is told why not.
    for (const i of survivors) {
      const r = await readyz(instances[i].addr);
      assert.equal(r.status, 503, `service-${i} /readyz while PostgreSQL is down: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.status, 'not ready');
      assert.notEqual(r.body.checks.postgres, 'ok', 'the postgres check names the failure');
      assert.equal(r.body.checks.signing_key, 'ok');
      if (i === survivors[0]) console.log(`# /readyz while down: 503 ${JSON.stringify(r.body.checks)}`);
    }
    const during = [];
    let stop = false;
    const workers = Array.from({ length: 3 }, async (_, w) => {
      for (let n = 0; !stop && n < 300; n++) {
        during.push(await call(main.client, 'echo', { message: `halted-${w}-${n}` }));
        await sleep(10);
      }
    });
    await sleep(1500);
    stop = true;
    await Promise.all(workers);
    const codes = {};
    for (const r of during) codes[describe(r).split(':')[0]] = (codes[describe(r).split(':')[0]] ?? 0) + 1;
    console.log(`# PostgreSQL down ${Math.round(performance.now() - haltedAt)} ms: ${during.length} calls: ${JSON.stringify(codes)}`);
    assert.ok(during.length >= 10, 'calls were made while the database was down');
    for (const r of during) {
      assert.ok(!r.ok, `a call was accepted while PostgreSQL was down: ${r.requestId}`);
      assert.ok(r.refusal, `not a signed refusal: ${describe(r)}`);
      assert.equal(r.code, 'service_unavailable', describe(r));
    }
    for (const r of during.slice(0, 6)) verifyRefusalOffline(r.refusal);
    console.log(`# refusals while down: ${[...new Set(during.map(describe))].join(' | ')}`);
    const log = byRequestId(readAccessLog());
    const refusedBy = new Set(during.map((r) => instanceOf(log.get(r.requestId)?.answered)));
    assert.deepEqual([...refusedBy].sort(), survivors, 'both surviving instances refused while it was down');

    const resume = spawnSync('bash', [PG_CLUSTER, 'resume', pgDir], { encoding: 'utf8', timeout: 30000 });
    assert.equal(resume.status, 0, `pg_cluster.sh resume: ${resume.stderr}`);
    const resumedAt = performance.now();
    const acceptedIds = [];
    const acceptedBy = () => {
      const log = byRequestId(readAccessLog());
      return new Set(acceptedIds.map((id) => instanceOf(log.get(id)?.answered)).filter((i) => i >= 0));
    };
    let firstAccept = null;
    let polls = 0;
    const recovering = new Set();
    while (acceptedBy().size < survivors.length && performance.now() - resumedAt < 5000) {
      const r = await call(main.client, 'echo', { message: `resume-${polls++}` });
      if (r.ok) {
        firstAccept ??= performance.now() - resumedAt;
        acceptedIds.push(r.requestId);
      } else {
        recovering.add(describe(r));
        assert.ok(r.refusal && r.code === 'service_unavailable', `while recovering: ${describe(r)}`);
        await sleep(50);
      }
    }
    const everyone = performance.now() - resumedAt;
    await sleep(200);
    const back = acceptedBy();
    console.log(`# after resume: first accept ${firstAccept === null ? 'never' : fmt(firstAccept)}, ` +
      `both survivors accepting ${back.size === survivors.length ? fmt(everyone) : 'not within 5 s'} (${polls} calls; ` +
      `refused meanwhile: ${[...recovering].join(' | ') || 'none'})`);
    assert.ok(firstAccept !== null && firstAccept <= 5000, 'accepts resumed within 5 s');
    assert.deepEqual([...back].sort(), survivors, 'both surviving instances accept again within 5 s');
    for (let i = 0; i < 10; i++) {
      const r = await call(main.client, 'echo', { message: `resumed-${i}` });
      assert.ok(r.ok, `after recovery: ${describe(r)}`);
      verifyReceiptOffline(r.result, did.agent);
    }
    for (const i of survivors) assert.equal(instances[i].child.proc.exitCode, null, `service-${i} was never restarted`);
    for (const i of survivors) {
      let r = await readyz(instances[i].addr);
      for (let n = 0; r.status !== 200 && n < 50; n++) { await sleep(100); r = await readyz(instances[i].addr); }
      assert.equal(r.status, 200, `service-${i} /readyz back to 200 after the resume: ${JSON.stringify(r.body)}`);
    }
  });

  await step('6. /metrics parsed by the Prometheus parser: every family, counters rise with traffic, histograms consistent; audit lines', async () => {
    const survivors = instances.map((_, i) => i).filter((i) => i !== killed);
    const before = await Promise.all(survivors.map((i) => scrape(instances[i].addr)));
    const families = ['hsk_decisions_total', 'hsk_verification_seconds_count', 'hsk_upstream_seconds_count',
      'hsk_sessions_issued_total', 'hsk_nonce_store_entries', 'hsk_tls_handshake_failures_total', 'hsk_build_info',
      'hsk_audit_write_failures_total'];
    for (const m of before) {
      for (const f of families) assert.ok(m.samples.some((s) => s.name === f), `${f} is exported`);
      assert.ok(checkHistograms(m) >= 2, 'histograms present');
      assert.ok(!/did:hsk|hs_[0-9A-Z]{26}|rc_[0-9A-Z]{26}/.test(m.text), 'no DID or id as a label value');
    }
    const accepted = (ms) => ms.reduce((a, m) => a + total(m, 'hsk_decisions_total', (l) => l.outcome === 'accepted'), 0);
    const refusedCodes = new Set(before.flatMap((m) => m.samples.filter((s) => s.name === 'hsk_decisions_total' &&
      s.labels.outcome === 'refused').map((s) => s.labels.code)));
    for (const code of ['rate_limited', 'credential_revoked', 'service_unavailable']) {
      assert.ok(refusedCodes.has(code), `refusals by code: ${code} (${[...refusedCodes].join(', ')})`);
    }
    const marker = `metrics-probe-${randomBytes(6).toString('hex')}`;
    const ids = [];
    for (let i = 0; i < 8; i++) {
      const r = await call(main.client, 'echo', { message: `${marker}-${i}` });
      assert.ok(r.ok, describe(r));
      ids.push(r.result._meta['ai.handshake/receipt'].id);
    }
    const after = await Promise.all(survivors.map((i) => scrape(instances[i].addr)));
    for (const m of after) checkHistograms(m);
    assert.ok(accepted(after) - accepted(before) >= 8, `accepted decisions rose by 8: ${accepted(before)} -> ${accepted(after)}`);
    const upstream = (ms) => ms.reduce((a, m) => a + total(m, 'hsk_upstream_seconds_count'), 0);
    assert.ok(upstream(after) - upstream(before) >= 8, 'the upstream latency histogram counted the calls');
    console.log(`# metrics: ${after[0].samples.length} samples at one instance; accepted ${accepted(before)} -> ${accepted(after)}`);
    // One audit line per decision, with the receipt's id; no arguments (§18).
    const lines = survivors.flatMap((i) => auditLines(i));
    const byReceipt = new Map(lines.filter((l) => l.receipt_id).map((l) => [l.receipt_id, l]));
    for (const id of ids) {
      const l = byReceipt.get(id);
      assert.ok(l, `an audit line names receipt ${id}`);
      assert.equal(l.outcome, 'accepted');
      assert.equal(l.agent, did.agent);
      assert.equal(l.root_principal, did.org);
      assert.equal(l.capability, `${CAP}:echo`);
      assert.ok(l.verify_seconds > 0 && l.upstream_seconds > 0, 'latencies');
    }
    assert.ok(lines.some((l) => l.outcome === 'refused' && l.code === 'rate_limited'), 'refusals are audited too');
    for (const i of survivors) {
      assert.ok(!readFileSync(file(`audit-${i}.jsonl`), 'utf8').includes(marker), 'no call arguments in the audit log');
    }
  });

  await step('7. SIGHUP: a broken tool map keeps the running one; a new one changes decisions without a restart', async () => {
    const survivors = instances.map((_, i) => i).filter((i) => i !== killed);
    const original = readFileSync(file('tools.yaml'), 'utf8');
    const reloads = (i, re) => (instances[i].child.log.text.match(re) ?? []).length;
    const hup = async (re) => {
      const seen = survivors.map((i) => reloads(i, re));
      for (const i of survivors) instances[i].child.proc.kill('SIGHUP');
      for (const [k, i] of survivors.entries()) await waitForLog(instances[i].child, re, seen[k] + 1);
    };
    const echoes = async (n, tag) => {
      const out = [];
      for (let i = 0; i < n; i++) out.push(await call(main.client, 'echo', { message: `${tag}-${i}` }));
      return out;
    };
    writeFileSync(file('tools.yaml'), 'tools: [unclosed\n');
    await hup(/reload failed, keeping the running configuration/g);
    for (const r of await echoes(4, 'after-broken')) assert.ok(r.ok, `the running map was kept: ${describe(r)}`);
    writeFileSync(file('tools.yaml'), original.replace(/^ {2}echo: .*\n/m, ''));
    await hup(/: reloaded$/gm);
    for (const r of await echoes(6, 'unmapped')) {
      assert.ok(!r.ok && r.code === 'policy_denied', `echo is no longer offered: ${describe(r)}`);
      verifyRefusalOffline(r.refusal);
    }
    const sum = await call(main.client, 'get-sum', { a: 2, b: 3 });
    assert.ok(sum.ok || sum.code === 'rate_limited', `get-sum still mapped: ${describe(sum)}`);
    writeFileSync(file('tools.yaml'), original);
    await hup(/: reloaded$/gm);
    for (const r of await echoes(4, 'remapped')) assert.ok(r.ok, `echo offered again: ${describe(r)}`);
    for (const i of survivors) assert.equal(instances[i].child.proc.exitCode, null, `service-${i} kept running`);
  });

  await step('8. SIGTERM under load: the listener closes, calls in flight finish with verified receipts, exit 0', async () => {
    const survivors = instances.map((_, i) => i).filter((i) => i !== killed);
    const target = instances[survivors.at(-1)];
    const direct = await startHttpProxy('agent-direct', ['--role', 'agent', '--key', file('agent.key'), '--chain',
      file('chain.json'), '--service-did', did.svc, '--upstream', `http://${target.addr}/mcp`]);
    const client = await connectClient(direct.url, 'hsk-deploy-drain');
    const inFlight = [];
    for (let i = 0; i < 3; i++) {
      inFlight.push(call(client, 'trigger-long-running-operation', { duration: 2, steps: 4 }, { onprogress: () => {}, timeout: 8000 }));
    }
    for (let i = 0; i < 3; i++) inFlight.push(call(client, 'echo', { message: `drain-${i}` }));
    await sleep(700);
    const exited = new Promise((r) => target.child.proc.once('exit', (code, sig) => r({ code, sig })));
    const stoppedAt = performance.now();
    target.child.proc.kill('SIGTERM');
    await waitForLog(target.child, /SIGTERM: no new connections/g, 1);
    const refusedConnect = await new Promise((resolve) => {
      const sock = net.connect(Number(target.addr.split(':')[1]), '127.0.0.1');
      sock.on('connect', () => { sock.destroy(); resolve(false); });
      sock.on('error', () => resolve(true));
    });
    assert.ok(refusedConnect, 'no new connections after SIGTERM');
    const results = await Promise.all(inFlight);
    for (const r of results) {
      assert.ok(r.ok, `a call in flight at SIGTERM was lost: ${describe(r)}`);
      verifyReceiptOffline(r.result, did.agent);
    }
    const { code, sig } = await exited;
    console.log(`# SIGTERM: ${results.length} calls in flight finished; exit ${code ?? sig} after ${fmt(performance.now() - stoppedAt)}`);
    assert.equal(code, 0, 'drained and exited 0');
    try { await client.close(); } catch { /* gone */ }
    await stopChild(direct.child);
  });

  try { await main.client.close(); } catch { /* gone */ }
}

// Orderly shutdown (cleanup() on exit is the backstop).
for (const c of [...children].reverse()) await stopChild(c);
if (nginxPrefix) {
  const gets = readAccessLog().filter((e) => e.method === 'GET');
  console.log(`# nginx logged ${gets.length} GET streams, ${gets.filter((e) => e.lastEventId).length} of them SSE resumptions ` +
    '(Last-Event-ID)');
}
if (failures > 0) dumpLogs();
cleanup();
console.log(`# run time ${((performance.now() - started) / 1000).toFixed(1)} s`);
console.log(`${passed} passed, ${failures} failed`);
process.exit(failures === 0 && passed > 0 ? 0 : 1);
