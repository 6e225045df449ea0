// End-to-end: the official MCP SDK client -> hsk-mcp-proxy --role agent -> hsk-mcp-proxy --role
// service -> @modelcontextprotocol/server-everything, over stdio or Streamable HTTP; and the SDK
// client -> agent proxy -> the C++ example server with the in-process middleware. In every mode the
// service restarts once under the client's session (restartable.mjs for stdio, a new process on the
// same port for HTTP): the agent's warm session is refused and retried cold, unseen by the client.
//
// usage: node e2e.mjs stdio|http|example --hsk PATH --proxy PATH --example-server PATH
// Runs from a directory whose node_modules holds the pinned packages (package-lock.json).
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, rmSync, existsSync, renameSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ListRootsRequestSchema, McpError } from '@modelcontextprotocol/sdk/types.js';

const mode = process.argv[2];
const arg = (name) => {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0 || i + 1 >= process.argv.length) throw new Error(`--${name} is required`);
  return process.argv[i + 1];
};
const HSK = arg('hsk');
const PROXY = arg('proxy');
const EXAMPLE = mode === 'example' ? arg('example-server') : null;
const require = createRequire(import.meta.url);
const EVERYTHING = join(dirname(require.resolve('@modelcontextprotocol/server-everything/package.json')), 'dist', 'index.js');
const RESTARTABLE = join(dirname(fileURLToPath(import.meta.url)), 'restartable.mjs');

const work = mkdtempSync(join(tmpdir(), 'hsk-mcp-e2e-'));
const children = [];
let failures = 0;
let passed = 0;

function cleanup() {
  for (const c of children) {
    try { c.kill('SIGTERM'); } catch { /* gone */ }
  }
  rmSync(work, { recursive: true, force: true });
}
process.on('exit', cleanup);
setTimeout(() => { console.error('e2e: timed out'); process.exit(3); }, 150_000).unref();

async function step(name, fn) {
  try {
    await fn();
    passed++;
    console.log(`ok - ${name}`);
  } catch (e) {
    failures++;
    console.log(`not ok - ${name}\n  ${String(e?.stack ?? e).split('\n').join('\n  ')}`);
  }
}

function hsk(args, { expect = 0 } = {}) {
  const r = spawnSync(HSK, args, { cwd: work, encoding: 'utf8' });
  if (expect !== null && r.status !== expect) {
    throw new Error(`hsk ${args.join(' ')} exited ${r.status} (want ${expect}): ${r.stderr}`);
  }
  return r;
}
const file = (name) => join(work, name);
const writeJson = (name, value) => { writeFileSync(file(name), JSON.stringify(value)); return file(name); };

// ---- identities, delegation, service configuration ------------------------------------------------
const did = {};
for (const who of ['org', 'agent', 'svc']) {
  did[who] = hsk(['keygen', '--kind', who, '--out', `${who}.key`]).stdout.trim();
  writeFileSync(file(`${who}.did.json`), hsk(['did', `${who}.key`]).stdout);
}
writeFileSync(file('service.yaml'), [
  'identity: svc.key',
  `trust_roots: [${did.org}]`,
  'did_documents: [org.did.json, agent.did.json, svc.did.json]',
  'session_ttl_seconds: 300',
  'clock_skew_seconds: 1',
  '',
].join('\n'));
const CAP = 'everything.tools';
writeFileSync(file('tools.yaml'), [
  'unmapped: refuse',
  'tools:',
  `  echo: {capability: "${CAP}:echo"}`,
  `  get-sum: {capability: "${CAP}:get-sum", constraints: {max_a: arguments.a}}`,
  `  get-roots-list: {capability: "${CAP}:get-roots-list"}`,
  `  list-invoices: {capability: "${CAP}:list-invoices", constraints: {max_invoices: arguments.limit}}`,
  `  fail: {capability: "${CAP}:fail"}`,
  '',
].join('\n'));
// One delegation for every tool (a resource glob), max_a at most 50, max_invoices at most 100.
writeFileSync(file('chain.json'), hsk(['delegate', '--key', 'org.key', '--to', did.agent, '--capability', `${CAP}:*`,
  '--constraints', '{"max_a":50,"max_invoices":100}']).stdout);
// A delegation that expires in one second (checked several seconds later).
writeFileSync(file('chain-short.json'), hsk(['delegate', '--key', 'org.key', '--to', did.agent, '--capability', `${CAP}:*`,
  '--ttl', '1']).stdout);
const shortChainExpiresAt = Date.now() + 1000;

const serviceArgs = ['--role', 'service', '--config', file('service.yaml'), '--tools', file('tools.yaml')];
const agentArgs = (chain, receipts) => ['--role', 'agent', '--key', file('agent.key'), '--chain', file(chain),
  '--service-did', did.svc, '--receipts', file(receipts)];

// ---- helpers ------------------------------------------------------------------------------------------
function newClient(rootsSeen) {
  const client = new Client({ name: 'hsk-e2e', version: '1.0.0' }, { capabilities: { roots: { listChanged: true } } });
  client.setRequestHandler(ListRootsRequestSchema, async () => {
    rootsSeen.count++;
    return { roots: [{ uri: `file://${work}`, name: 'hsk-e2e-root' }] };
  });
  return client;
}

// `log`, when given, collects what the process writes on stderr.
function stdioTransport(command, args, log = null) {
  // The whole environment (the SDK passes only a few variables by default): SOFTHSM2_CONF included.
  const t = new StdioClientTransport({ command, args, cwd: work, stderr: 'pipe', env: { ...process.env } });
  t.stderr?.on('data', (d) => {
    process.stderr.write(d);
    if (log) log.text += d;
  });
  return t;
}

// The agent proxy's cold retries, as it logs them (one line each).
const retriesIn = (log) => (log.text.match(/\[agent\]: .*retrying once with a cold handshake/g) ?? []).length;

// A stdio command wrapped in restartable.mjs; restart() restarts it and waits until it is back.
function restartableStdio(command, args) {
  const state = mkdtempSync(join(work, 'restartable-'));
  const count = () => (existsSync(join(state, 'restarts')) ? Number(readFileSync(join(state, 'restarts'), 'utf8')) : 0);
  return {
    command: [process.execPath, RESTARTABLE, '--state', state, '--', command, ...args],
    restart: async () => {
      const before = count();
      process.kill(Number(readFileSync(join(state, 'pid'), 'utf8')), 'SIGUSR2');
      await waitFor(() => count() > before, 20000, 'the service to restart');
    },
  };
}

async function refusalOf(promise) {
  try {
    await promise;
  } catch (e) {
    assert.ok(e instanceof McpError, `expected an MCP error, got ${e}`);
    assert.equal(e.code, -32010, `error code ${e.code}: ${e.message}`);
    const refusal = e.data?.['ai.handshake/refusal'];
    assert.ok(refusal, 'the error carries the signed refusal');
    assert.match(e.message, new RegExp(refusal.reason.code));
    // The refusal verifies offline with the service's DID Document.
    hsk(['verify', '--did-doc', file('svc.did.json'), writeJson('refusal.json', refusal)]);
    return refusal.reason.code;
  }
  assert.fail('the call was not refused');
}

let receiptN = 0;
// Checks a result's receipt offline with `hsk receipt verify`, against what the receipt commits to.
function verifyReceiptOffline(result, svc = { did: did.svc, doc: 'svc.did.json' }) {
  const meta = result._meta ?? {};
  const receipt = meta['ai.handshake/receipt'];
  assert.ok(receipt, 'the result carries a receipt');
  assert.ok(meta['ai.handshake/acceptance'], 'the result carries the acceptance');
  assert.equal(receipt.iss, svc.did);
  assert.equal(receipt.sub, did.agent);
  let subject;
  if (result.structuredContent !== undefined) {
    subject = result.structuredContent;
  } else {
    subject = structuredClone(result);
    delete subject._meta['ai.handshake/receipt'];
    delete subject._meta['ai.handshake/acceptance'];
    // The reference SDKs' answer (docs/interop.md) is not committed to either.
    if (subject._meta.handshake && typeof subject._meta.handshake === 'object') {
      delete subject._meta.handshake.receipt_id;
      if (Object.keys(subject._meta.handshake).length === 0) delete subject._meta.handshake;
    }
    if (Object.keys(subject._meta).length === 0) delete subject._meta;
  }
  const n = ++receiptN;
  const rFile = writeJson(`receipt-${n}.json`, receipt);
  hsk(['receipt', 'verify', '--did-doc', file(svc.doc), '--result', writeJson(`result-${n}.json`, subject), rFile]);
  // And a result it does not commit to is caught.
  hsk(['receipt', 'verify', '--did-doc', file(svc.doc), '--result', writeJson(`other-${n}.json`, { forged: true }), rFile],
    { expect: 1 });
  return receipt;
}

function request(capability, constraints, chain = 'chain.json') {
  return JSON.parse(hsk(['request', '--key', 'agent.key', '--chain', chain, '--to', did.svc, '--capability', capability,
    '--constraints', JSON.stringify(constraints)]).stdout);
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
        else setTimeout(attempt, 100);
      });
    };
    attempt();
  });
}

// Starts an HTTP-mode proxy on `listen` (default: a free port); resolves with its MCP URL (read
// from its stderr). `log`, when given, collects its stderr; `proc`, its process.
function startHttpProxy(args, { listen = '127.0.0.1:0', log = { text: '' }, proc = {} } = {}) {
  return new Promise((resolve, reject) => {
    const p = spawn(PROXY, [...args, '--listen', listen], { cwd: work, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(p);
    proc.current = p;
    let err = '';
    p.stdout.on('data', (d) => reject(new Error(`the proxy wrote to stdout: ${d}`)));
    p.stderr.on('data', (d) => {
      process.stderr.write(d);
      err += d;
      log.text += d;
      const m = err.match(/listening on (http:\/\/\S+?) ->/);
      if (m) resolve(m[1]);
    });
    p.on('exit', (code) => reject(new Error(`the proxy exited ${code}: ${err}`)));
  });
}

// Between the agent proxy and the service proxy: passes everything on, but turns a JSON reply to a
// POST into an SSE stream of one event (so the agent proxy meets refusals inside SSE too).
function startSseShim(target) {
  return new Promise((resolve) => {
    const server = createServer(async (req, res) => {
      try {
        const chunks = [];
        for await (const c of req) chunks.push(c);
        const headers = {};
        for (const [k, v] of Object.entries(req.headers)) {
          if (!['host', 'content-length', 'connection', 'accept-encoding'].includes(k)) headers[k] = v;
        }
        const up = await fetch(target, { method: req.method, headers,
          body: req.method === 'POST' ? Buffer.concat(chunks) : undefined });
        const out = {};
        up.headers.forEach((v, k) => {
          if (!['content-length', 'content-encoding', 'transfer-encoding', 'connection'].includes(k)) out[k] = v;
        });
        if (req.method === 'POST' && (up.headers.get('content-type') ?? '').startsWith('application/json')) {
          const text = await up.text();
          out['content-type'] = 'text/event-stream';
          res.writeHead(up.status, out).end(`event: message\ndata: ${text}\n\n`);
          return;
        }
        res.writeHead(up.status, out);
        res.flushHeaders();
        if (up.body) for await (const c of up.body) res.write(c);
        res.end();
      } catch {
        res.destroy();  // the upstream went away (a restart cuts GET streams)
      }
    });
    server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${server.address().port}/mcp`));
    server.unref();
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function waitFor(pred, ms, what) {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

// ---- the scenario, the same over every transport -------------------------------------------------------
// `restart` restarts the service; `log` collects the agent proxy's stderr.
async function throughAgent(client, rootsSeen, receiptsFile, { everything, restart, log }) {
  let tools;
  let firstSession;
  await step('tools/list shows the handshake metadata', async () => {
    ({ tools } = await client.listTools());
    const byName = Object.fromEntries(tools.map((t) => [t.name, t]));
    assert.equal(byName.echo._meta['ai.handshake/tool'].capability, `${CAP}:echo`);
    const sum = byName['get-sum']._meta['ai.handshake/tool'];
    assert.equal(sum.capability, `${CAP}:get-sum`);
    assert.deepEqual(sum.constraints.max_a, { type: 'numeric_max', from: 'arguments.a' });
  });
  await step('an allowed tools/call returns the real result and a receipt that verifies offline', async () => {
    const r = await client.callTool({ name: 'echo', arguments: { message: 'hi' } });
    assert.equal(r.content[0].text, 'Echo: hi');
    const receipt = verifyReceiptOffline(r);
    assert.equal(receipt.action, `${CAP}:echo`);
    assert.equal(receipt.result, 'ok');
    firstSession = r._meta['ai.handshake/acceptance'].session_token;
    assert.ok(firstSession, 'the service offered a warm session');
  });
  await step('the next call is warm (same session) and also returns a verified receipt', async () => {
    const r = await client.callTool({ name: 'echo', arguments: { message: 'again' } });
    assert.equal(r.content[0].text, 'Echo: again');
    assert.equal(r._meta['ai.handshake/acceptance'].session_token, firstSession);
    verifyReceiptOffline(r);
  });
  await step('the service restarts: the refused warm session is retried cold, and the client only sees the result', async () => {
    assert.equal(retriesIn(log), 0);
    await restart();
    const r = await client.callTool({ name: 'echo', arguments: { message: 'after restart' } });
    assert.equal(r.content[0].text, 'Echo: after restart');
    verifyReceiptOffline(r);
    const session = r._meta['ai.handshake/acceptance'].session_token;
    assert.ok(session && session !== firstSession, 'a new session: the answer is the cold retry\'s');
    await waitFor(() => retriesIn(log) === 1, 3000, 'the agent proxy to log one retry');
    // The new session is used warm, with no retry.
    const again = await client.callTool({ name: 'echo', arguments: { message: 'warm again' } });
    assert.equal(again._meta['ai.handshake/acceptance'].session_token, session);
  });
  await step('a call within the delegated scope with a constraint from its arguments', async () => {
    const r = await client.callTool({ name: 'get-sum', arguments: { a: 20, b: 22 } });
    assert.match(JSON.stringify(r.content), /42/);
    assert.equal(r._meta['ai.handshake/acceptance'].effective_scope.constraints.max_a, 20);
    verifyReceiptOffline(r);
  });
  await step('a call beyond the delegated scope gets a signed scope_exceeded (not retried)', async () => {
    assert.equal(await refusalOf(client.callTool({ name: 'get-sum', arguments: { a: 500, b: 1 } })), 'scope_exceeded');
    await sleep(200);
    assert.equal(retriesIn(log), 1, 'no retry for a refusal that does not end the session');
  });
  if (everything) {
    await step('the server\'s roots/list request reaches the client', async () => {
      await waitFor(() => rootsSeen.count > 0, 5000, 'roots/list');
      const r = await client.callTool({ name: 'get-roots-list', arguments: {} });
      assert.match(r.content[0].text, /hsk-e2e-root/);
      verifyReceiptOffline(r);
    });
  } else {
    await step('an isError result gets a receipt with result "error"', async () => {
      const r = await client.callTool({ name: 'fail', arguments: {} });
      assert.equal(r.isError, true);
      assert.equal(verifyReceiptOffline(r).result, 'error');
    });
    await step('structuredContent is what the receipt commits to', async () => {
      const r = await client.callTool({ name: 'list-invoices', arguments: { limit: 3 } });
      assert.equal(r.structuredContent.invoices.length, 3);
      verifyReceiptOffline(r);
    });
  }
  await step('a tool the map does not name is not listed (unmapped: refuse), and a call to it is refused (policy_denied)', async () => {
    assert.ok(tools.length > 0 && tools.every((t) => t._meta?.['ai.handshake/tool']), 'only mapped tools are listed');
    assert.equal(await refusalOf(client.callTool({ name: 'get-tiny-image', arguments: {} })), 'policy_denied');
  });
  await client.close();
  await step('the agent kept every verified receipt', async () => {
    await waitFor(() => existsSync(receiptsFile) && readFileSync(receiptsFile, 'utf8').trim().split('\n').length >= 3,
      3000, 'the receipts file');
    for (const line of readFileSync(receiptsFile, 'utf8').trim().split('\n')) {
      assert.equal(JSON.parse(line).receipt.kind, 'Receipt');
    }
  });
}

// Crafted requests straight at the service role: what a well-behaved agent proxy never sends.
async function directToService(client) {
  await step('tools/call without any handshake gets a signed policy_denied', async () => {
    assert.equal(await refusalOf(client.callTool({ name: 'echo', arguments: { message: 'x' } })), 'policy_denied');
  });
  await step('declaring max_a 10 and calling with 500 gets scope_exceeded (arguments are checked)', async () => {
    const req = request(`${CAP}:get-sum`, { max_a: 10 });
    assert.equal(await refusalOf(client.callTool({ name: 'get-sum', arguments: { a: 500, b: 1 },
      _meta: { 'ai.handshake/request': req } })), 'scope_exceeded');
  });
  await step('a replayed nonce gets replay_detected', async () => {
    const req = request(`${CAP}:echo`, {});
    const first = await client.callTool({ name: 'echo', arguments: { message: 'once' }, _meta: { 'ai.handshake/request': req } });
    assert.ok(first._meta['ai.handshake/receipt']);
    assert.equal(await refusalOf(client.callTool({ name: 'echo', arguments: { message: 'once' },
      _meta: { 'ai.handshake/request': req } })), 'replay_detected');
  });
  await step('the reference SDKs\' form: _meta.handshake.request_b64u in, _meta.handshake.receipt_id out', async () => {
    // base64url of JSON text whose member order is not JCS's (the signature is over JCS of the object).
    const req = request(`${CAP}:get-sum`, { max_a: 10 });
    const text = JSON.stringify(req, (k, x) => (x && typeof x === 'object' && !Array.isArray(x)
      ? Object.fromEntries(Object.entries(x).reverse()) : x));
    assert.notEqual(text, JSON.stringify(req));
    const handshake = { request_b64u: Buffer.from(text).toString('base64url'), spec_version: '0.2.3' };
    const r = await client.callTool({ name: 'get-sum', arguments: { a: 2, b: 3 }, _meta: { handshake } });
    assert.ok(r._meta['ai.handshake/receipt'], JSON.stringify(r));
    assert.equal(r._meta.handshake?.receipt_id, r._meta['ai.handshake/receipt'].id);
    verifyReceiptOffline(r);
    assert.equal(await refusalOf(client.callTool({ name: 'get-sum', arguments: { a: 2, b: 3 }, _meta: { handshake } })),
      'replay_detected');
    const padded = { request_b64u: Buffer.from(JSON.stringify(request(`${CAP}:echo`, {}))).toString('base64') + '=' };
    assert.equal(await refusalOf(client.callTool({ name: 'echo', arguments: { message: 'x' }, _meta: { handshake: padded } })),
      'protocol_version_unsupported');
  });
  await step('an expired delegation gets expired', async () => {
    // exp + clock skew (1 s) must have passed.
    await sleep(Math.max(0, shortChainExpiresAt + 2500 - Date.now()));
    const req = request(`${CAP}:echo`, {}, 'chain-short.json');
    assert.equal(await refusalOf(client.callTool({ name: 'echo', arguments: { message: 'late' },
      _meta: { 'ai.handshake/request': req } })), 'expired');
  });
  await client.close();
}

// ---- modes ----------------------------------------------------------------------------------------------
if (mode === 'stdio') {
  const rootsSeen = { count: 0 };
  const agentClient = newClient(rootsSeen);
  const service = restartableStdio(PROXY, [...serviceArgs, '--', process.execPath, EVERYTHING, 'stdio']);
  const log = { text: '' };
  await agentClient.connect(stdioTransport(PROXY, [...agentArgs('chain.json', 'receipts.jsonl'), '--', ...service.command], log));
  await throughAgent(agentClient, rootsSeen, file('receipts.jsonl'), { everything: true, restart: service.restart, log });

  const direct = newClient({ count: 0 });
  await direct.connect(stdioTransport(PROXY, [...serviceArgs, '--', process.execPath, EVERYTHING, 'stdio']));
  await directToService(direct);
  await step('an agent proxy pinned to another service DID sends no call to this one: -32011, locally', async () => {
    const c = newClient({ count: 0 });
    const args = ['--role', 'agent', '--key', file('agent.key'), '--chain', file('chain.json'), '--service-did', did.org];
    const log = { text: '' };
    await c.connect(stdioTransport(PROXY, [...args, '--', PROXY, ...serviceArgs, '--', process.execPath, EVERYTHING, 'stdio'], log));
    await c.listTools();
    await assert.rejects(c.callTool({ name: 'echo', arguments: { message: 'not for an impostor' } }),
      (e) => e.code === -32011 && e.message.includes(did.svc) && e.message.includes('--service-did'));
    await c.close();
  });
  await step('--check: a good configuration passes; a mapped tool the server lacks is a warning; a broken one fails', async () => {
    const check = (args) => spawnSync(PROXY, [...args, '--check', '--', process.execPath, EVERYTHING, 'stdio'],
      { cwd: work, encoding: 'utf8', timeout: 30000 });
    const good = check(serviceArgs);
    assert.equal(good.status, 0, good.stdout + good.stderr);
    assert.match(good.stdout, /^ok: the server offers \d+ tools$/m);
    assert.match(good.stdout, /^warning: .*tool 'list-invoices' is mapped but the server does not offer it/m);
    writeFileSync(file('tools-typo.yaml'), readFileSync(file('tools.yaml'), 'utf8').replace('  echo:', '  ech0:'));
    const typo = check(['--role', 'service', '--config', file('service.yaml'), '--tools', file('tools-typo.yaml')]);
    assert.equal(typo.status, 0);
    assert.match(typo.stdout, /^warning: .*tool 'ech0' is mapped but the server does not offer it \(a typo\?\)$/m);
    writeFileSync(file('service-broken.yaml'), 'identity: missing.key\ntrust_roots: [' + did.org + ']\n');
    const broken = check(['--role', 'service', '--config', file('service-broken.yaml'), '--tools', file('tools.yaml')]);
    assert.equal(broken.status, 1);
    assert.match(broken.stdout, /^error: .*service-broken\.yaml: .*missing\.key/m);
    const agent = spawnSync(PROXY, ['--role', 'agent', '--key', file('org.key'), '--chain', file('chain.json'), '--service-did', did.org,
      '--check', '--', PROXY, ...serviceArgs, '--', process.execPath, EVERYTHING, 'stdio'], { cwd: work, encoding: 'utf8', timeout: 30000 });
    assert.equal(agent.status, 1, agent.stdout);
    assert.match(agent.stdout, /^error: .*chain\.json\[0\] .*the chain's leaf is held by did:hsk:agent:\S+, not by did:hsk:org:/m);
    assert.match(agent.stdout, /^error: the service presents itself as did:hsk:svc:\S+, not --service-did did:hsk:org:/m);
  });
  await step('an agent added while the service runs: refused, then accepted after its DID Document and a SIGHUP', async () => {
    mkdirSync(file('dids'), { recursive: true });
    for (const who of ['org', 'svc']) writeFileSync(file(`dids/${who}.did.json`), readFileSync(file(`${who}.did.json`)));
    writeFileSync(file('service-dids.yaml'), readFileSync(file('service.yaml'), 'utf8')
      .replace(/^did_documents: .*$/m, 'did_documents: [dids]'));
    const newAgent = hsk(['keygen', '--kind', 'agent', '--out', 'agent2.key']).stdout.trim();
    writeFileSync(file('agent2.did.json'), hsk(['did', 'agent2.key']).stdout);
    writeFileSync(file('chain2.json'), hsk(['delegate', '--key', 'org.key', '--to', newAgent, '--capability', `${CAP}:*`]).stdout);
    const c = newClient({ count: 0 });
    const log = { text: '' };
    const t = stdioTransport(PROXY, ['--role', 'agent', '--key', file('agent2.key'), '--chain', file('chain2.json'), '--',
      PROXY, '--role', 'service', '--config', file('service-dids.yaml'), '--tools', file('tools.yaml'),
      '--metrics-listen', '127.0.0.1:0', '--audit-log', file('audit-stdio.jsonl'), '--',
      process.execPath, EVERYTHING, 'stdio'], log);
    await c.connect(t);
    await c.listTools();
    assert.equal(await refusalOf(c.callTool({ name: 'echo', arguments: { message: 'before' } })), 'signature_invalid');
    writeFileSync(file('dids/agent2.did.json'), readFileSync(file('agent2.did.json')));
    const service = spawnSync('pgrep', ['-P', String(t.pid)], { encoding: 'utf8' }).stdout.trim().split('\n')[0];
    process.kill(Number(service), 'SIGHUP');
    await sleep(500);
    const r = await c.callTool({ name: 'echo', arguments: { message: 'after' } });
    assert.match(r.content[0].text, /after/);
    assert.ok(r._meta?.['ai.handshake/receipt'], 'with a receipt');
    // A broken file on the next reload keeps the running keys (and says why on stderr).
    writeFileSync(file('dids/broken.did.json'), '{not json');
    process.kill(Number(service), 'SIGHUP');
    await waitFor(() => /reload failed, keeping the running configuration: .*broken\.did\.json/.test(log.text), 5000, 'the reload error');
    const again = await c.callTool({ name: 'echo', arguments: { message: 'still' } });
    assert.match(again.content[0].text, /still/);
    // A stdio proxy has no listener of its own: --metrics-listen serves /metrics, /healthz, /readyz.
    const port = Number(log.text.match(/metrics, health and readiness on http:\/\/127\.0\.0\.1:0 \(port (\d+)\)/)?.[1]);
    assert.ok(port > 0, `the metrics port is logged: ${log.text.slice(-500)}`);
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const count = (re) => [...metrics.matchAll(re)].reduce((a, m) => a + Number(m[1]), 0);
    assert.equal(count(/^hsk_decisions_total\{transport="mcp",outcome="accepted",[^}]*\} (\d+)$/gm), 2, metrics);
    assert.equal(count(/^hsk_decisions_total\{transport="mcp",outcome="refused",code="signature_invalid",[^}]*\} (\d+)$/gm), 1, metrics);
    assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200);
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
    assert.equal(ready.status, 200, await ready.text());
    const audit = readFileSync(file('audit-stdio.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(audit.map((l) => l.outcome), ['refused', 'accepted', 'accepted']);
    assert.equal(audit[0].code, 'signature_invalid');
    assert.ok(audit[1].receipt_id === r._meta['ai.handshake/receipt'].id, 'the audit line names the receipt');
    // SIGHUP reopened the audit log under its name: a rotated file gets the lines after the next reload.
    renameSync(file('audit-stdio.jsonl'), file('audit-stdio.jsonl.1'));
    process.kill(Number(service), 'SIGHUP');
    await waitFor(() => (log.text.match(/reload failed/g) ?? []).length >= 2, 5000, 'the second reload');
    rmSync(file('dids/broken.did.json'));
    process.kill(Number(service), 'SIGHUP');
    await waitFor(() => /: reloaded\n[^]*: reloaded\n/.test(log.text), 5000, 'a good reload');
    await c.callTool({ name: 'echo', arguments: { message: 'rotated' } });
    assert.ok(existsSync(file('audit-stdio.jsonl')), 'the audit log was reopened under its name');
    assert.equal(readFileSync(file('audit-stdio.jsonl'), 'utf8').trim().split('\n').length, 1);
    await c.close();
  });
  await step('the service proxy with its key in a PKCS#11 token (SoftHSM2): calls run, receipts verify', async () => {
    const hsm = file('hsm');
    mkdirSync(join(hsm, 'tokens'), { recursive: true });
    writeFileSync(join(hsm, 'softhsm2.conf'), `directories.tokendir = ${hsm}/tokens\nobjectstore.backend = file\nlog.level = ERROR\n`);
    process.env.SOFTHSM2_CONF = join(hsm, 'softhsm2.conf');  // this token only, for every process started below
    const init = spawnSync('softhsm2-util', ['--init-token', '--free', '--label', 'e2e', '--pin', '1234', '--so-pin', '12345678'],
      { encoding: 'utf8' });
    assert.equal(init.status, 0, init.stderr);
    writeFileSync(join(hsm, 'pin'), '1234\n', { mode: 0o600 });
    const uri = `pkcs11:token=e2e;object=svc?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:${join(hsm, 'pin')}`;
    const svcDid = hsk(['keygen', '--kind', 'svc', '--pkcs11', uri]).stdout.trim();
    writeFileSync(file('svc-hsm.did.json'), hsk(['did', uri]).stdout);
    writeFileSync(file('service-hsm.yaml'), readFileSync(file('service.yaml'), 'utf8').replace(/^identity: .*$/m, `identity: "${uri}"`));
    const c = newClient({ count: 0 });
    await c.connect(stdioTransport(PROXY, ['--role', 'agent', '--key', file('agent.key'), '--chain', file('chain.json'),
      '--service-did', svcDid, '--service-did-doc', file('svc-hsm.did.json'), '--receipts', file('receipts-hsm.jsonl'), '--',
      PROXY, '--role', 'service', '--config', file('service-hsm.yaml'), '--tools', file('tools.yaml'), '--',
      process.execPath, EVERYTHING, 'stdio']));
    await c.listTools();
    const r = await c.callTool({ name: 'echo', arguments: { message: 'signed in hardware' } });
    assert.match(r.content[0].text, /signed in hardware/);
    const receipt = r._meta?.['ai.handshake/receipt'];
    assert.ok(receipt, 'a receipt');
    verifyReceiptOffline(r, { did: svcDid, doc: 'svc-hsm.did.json' });
    await c.close();
    delete process.env.SOFTHSM2_CONF;
  });
  await step('a 5 MB argument is answered -32012 with the call\'s id: the SDK client gets an error, not a hang', async () => {
    const big = newClient({ count: 0 });
    await big.connect(stdioTransport(PROXY, [...serviceArgs, '--', process.execPath, EVERYTHING, 'stdio']));
    const t0 = Date.now();
    await assert.rejects(big.callTool({ name: 'echo', arguments: { message: 'x'.repeat(5 * 1024 * 1024) } }, undefined, { timeout: 15000 }),
      (e) => e.code === -32012 && /exceeds the limit/.test(e.message));
    assert.ok(Date.now() - t0 < 10000, 'answered promptly');
    await big.close();
  });

  await step('malformed and oversized lines get JSON-RPC errors, never a crash; stdout stays protocol-only', async () => {
    const big = JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'ping', params: { pad: 'x'.repeat(3000) } });
    const input = ['not json', big, JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }), ''].join('\n');
    const r = spawnSync(PROXY, [...serviceArgs, '--max-message-bytes', '2048', '--', process.execPath, EVERYTHING, 'stdio'],
      { cwd: work, input, encoding: 'utf8', timeout: 20000 });
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(lines[0].error.code, -32700);
    assert.equal(lines[1].error.code, -32012);
    assert.equal(lines[1].id, 9, 'the answer to an oversized request carries its id');
    assert.deepEqual(lines[2], { jsonrpc: '2.0', id: 1, result: {} });
    assert.equal(r.status, 0, `exit ${r.status} ${r.signal}`);
  });
  await step('SIGHUP does not stop the proxy (it answers after it); SIGTERM stops it and its server', async () => {
    const p = spawn(PROXY, [...serviceArgs, '--', process.execPath, EVERYTHING, 'stdio'], { cwd: work, stdio: ['pipe', 'pipe', 'pipe'] });
    let err = '', out = '';
    p.stderr.on('data', (d) => { err += d; });
    p.stdout.on('data', (d) => { out += d; });
    await waitFor(() => /ready/.test(err), 5000, 'the proxy');
    await sleep(300);
    const kids = spawnSync('pgrep', ['-P', String(p.pid)], { encoding: 'utf8' }).stdout.trim().split('\n').filter(Boolean);
    assert.equal(kids.length, 1, 'one child');
    p.kill('SIGHUP');
    await waitFor(() => /SIGHUP|reload/.test(err), 5000, 'the SIGHUP log line');
    p.stdin.write(JSON.stringify({ jsonrpc: '2.0', id: 41, method: 'ping' }) + '\n');
    await waitFor(() => /"id":41/.test(out), 5000, 'the answer after SIGHUP');
    assert.equal(p.exitCode, null, 'still running after SIGHUP');
    p.kill('SIGTERM');
    await new Promise((r) => p.on('exit', r));
    await sleep(200);
    assert.equal(spawnSync('kill', ['-0', kids[0]]).status, 1, 'the child is gone');
  });
} else if (mode === 'http') {
  const port = await freePort();
  const server = spawn(process.execPath, [EVERYTHING, 'streamableHttp'], { cwd: work, env: { ...process.env, PORT: String(port) },
    stdio: ['ignore', 'ignore', 'inherit'] });
  children.push(server);
  await waitForPort(port);
  // The service proxy on a fixed port, so that a new process can take its place (a restart).
  const servicePort = await freePort();
  const serviceProc = {};
  const startService = () => startHttpProxy([...serviceArgs, '--receipts', file('issued-http.jsonl'), '--upstream', `http://127.0.0.1:${port}/mcp`],
    { listen: `127.0.0.1:${servicePort}`, proc: serviceProc });
  const serviceUrl = await startService();
  const restart = async () => {
    const old = serviceProc.current;
    const gone = new Promise((r) => old.on('exit', r));
    old.kill('SIGTERM');
    await gone;
    await startService();
  };
  const log = { text: '' };
  const agentUrl = await startHttpProxy([...agentArgs('chain.json', 'receipts-http.jsonl'), '--upstream', serviceUrl], { log });

  const rootsSeen = { count: 0 };
  const client = newClient(rootsSeen);
  const transport = new StreamableHTTPClientTransport(new URL(agentUrl));
  await client.connect(transport);
  await step('the session id passes through both proxies', async () => {
    assert.ok(transport.sessionId, 'Mcp-Session-Id reached the client');
  });
  // Keep the session for DELETE: close() does not end it.
  const sessionTransport = transport;
  await throughAgent(client, rootsSeen, file('receipts-http.jsonl'), { everything: true, restart, log });
  await step('the service keeps every receipt it issued (and its refusals): the agent verified the same ones', async () => {
    const records = (name) => readFileSync(file(name), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const issued = records('issued-http.jsonl');
    const issuedIds = new Set(issued.filter((r) => r.kind === 'receipt').map((r) => r.receipt.id));
    const verified = records('receipts-http.jsonl').map((r) => r.receipt.id);
    assert.ok(verified.length >= 3, `${verified.length} receipts verified`);
    for (const id of verified) assert.ok(issuedIds.has(id), `receipt ${id} verified by the agent but not kept by the service`);
    for (const r of issued.filter((x) => x.kind === 'refusal')) assert.equal(r.refusal.kind, 'Refusal');
  });
  await step('DELETE ends the session through both proxies', async () => {
    const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream',
      'mcp-session-id': sessionTransport.sessionId, 'mcp-protocol-version': '2025-11-25' };
    const list = () => fetch(agentUrl, { method: 'POST', headers,
      body: JSON.stringify({ jsonrpc: '2.0', id: 5, method: 'ping' }) });
    const before = await list();
    assert.equal(before.status, 200, 'the session is alive before DELETE');
    await before.text();
    const r = await fetch(agentUrl, { method: 'DELETE', headers });
    assert.ok(r.status === 200 || r.status === 204, `DELETE answered ${r.status}`);
    const after = await list();
    // server-everything answers 400 "No valid session ID" for a session it no longer has.
    assert.ok(after.status === 404 || after.status === 400, `after DELETE: ${after.status}`);
    assert.match(JSON.stringify(await after.json()), /session/i);
  });
  await step('a refusal inside an SSE reply: the warm session lost in a restart is retried cold too', async () => {
    const sseLog = { text: '' };
    const viaShim = await startHttpProxy([...agentArgs('chain.json', 'receipts-sse.jsonl'), '--upstream',
      await startSseShim(serviceUrl)], { log: sseLog });
    const c = newClient({ count: 0 });
    await c.connect(new StreamableHTTPClientTransport(new URL(viaShim)));
    await c.listTools();
    const first = await c.callTool({ name: 'echo', arguments: { message: 'one' } });
    const session = first._meta['ai.handshake/acceptance'].session_token;
    const warm = await c.callTool({ name: 'echo', arguments: { message: 'two' } });
    assert.equal(warm._meta['ai.handshake/acceptance'].session_token, session, 'warm before the restart');
    await restart();
    const r = await c.callTool({ name: 'echo', arguments: { message: 'three' } });
    assert.equal(r.content[0].text, 'Echo: three');
    verifyReceiptOffline(r);
    assert.notEqual(r._meta['ai.handshake/acceptance'].session_token, session);
    await waitFor(() => retriesIn(sseLog) === 1, 3000, 'the agent proxy to log one retry');
    await c.close();
  });
  const direct = newClient({ count: 0 });
  await direct.connect(new StreamableHTTPClientTransport(new URL(serviceUrl)));
  await directToService(direct);
  await step('a malformed POST body gets a JSON-RPC parse error', async () => {
    const r = await fetch(serviceUrl, { method: 'POST', body: '{nope', headers: { 'content-type': 'application/json',
      accept: 'application/json, text/event-stream' } });
    assert.equal(r.status, 400);
    assert.equal((await r.json()).error.code, -32700);
  });
  await step('a body over the limit gets 413 with a JSON-RPC error saying so', async () => {
    const big = JSON.stringify({ jsonrpc: '2.0', id: 5, method: 'tools/call', params: { name: 'echo', arguments: { message: 'x'.repeat(5 * 1024 * 1024) } } });
    const r = await fetch(serviceUrl, { method: 'POST', body: big, headers: { 'content-type': 'application/json',
      accept: 'application/json, text/event-stream' } });
    assert.equal(r.status, 413);
    const body = await r.json();
    assert.equal(body.error.code, -32012);
    assert.match(body.error.message, /exceeds the limit of \d+ bytes/);
  });
} else if (mode === 'example') {
  // The C++ example server with the in-process middleware, behind the agent proxy.
  const rootsSeen = { count: 0 };
  const client = newClient(rootsSeen);
  const service = restartableStdio(EXAMPLE, ['--config', file('service.yaml'), '--tools', file('tools.yaml')]);
  const log = { text: '' };
  await client.connect(stdioTransport(PROXY, [...agentArgs('chain.json', 'receipts-example.jsonl'), '--', ...service.command], log));
  await throughAgent(client, rootsSeen, file('receipts-example.jsonl'), { everything: false, restart: service.restart, log });
  const direct = newClient({ count: 0 });
  await direct.connect(stdioTransport(EXAMPLE, ['--config', file('service.yaml'), '--tools', file('tools.yaml')]));
  await directToService(direct);
} else {
  console.error('usage: node e2e.mjs stdio|http|example --hsk PATH --proxy PATH [--example-server PATH]');
  process.exit(2);
}

console.log(`${passed} passed, ${failures} failed`);
process.exit(failures === 0 && passed > 0 ? 0 : 1);
