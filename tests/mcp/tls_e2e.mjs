// End-to-end over TLS, through the real binaries: the official MCP SDK client over https ->
// hsk-mcp-proxy --role agent (TLS listener) -> hsk-mcp-proxy --role service (TLS listener that
// requires client certificates) -> an HTTPS reverse proxy that also requires them (node's https
// module) -> @modelcontextprotocol/server-everything. Also: the SDK client over https straight to
// the service proxy; mTLS refusals at the handshake; plain http to a TLS port; wrong CA; a wrong CA
// for the upstream; malformed upstream URLs; certificate rotation with SIGHUP (the listener stays,
// new handshakes get the new certificate, a bad pair keeps the old one); `hsk registry serve` and
// `hsk oauth bridge` with TLS and mTLS. Certificates are made here with tests/tools/make_certs.sh (the openssl command).
//
// usage: node tls_e2e.mjs --hsk PATH --proxy PATH --make-certs PATH
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, writeFileSync, readFileSync, rmSync, copyFileSync, chmodSync } from 'node:fs';
import { createRequire } from 'node:module';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { Readable } from 'node:stream';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';

const arg = (name) => {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0 || i + 1 >= process.argv.length) throw new Error(`--${name} is required`);
  return process.argv[i + 1];
};
const HSK = arg('hsk');
const PROXY = arg('proxy');
const MAKE_CERTS = arg('make-certs');
const require = createRequire(import.meta.url);
const EVERYTHING = join(dirname(require.resolve('@modelcontextprotocol/server-everything/package.json')), 'dist', 'index.js');

const work = mkdtempSync(join(tmpdir(), 'hsk-mcp-tls-'));
const children = [];
let failures = 0;
let passed = 0;
process.on('exit', () => {
  for (const c of children) {
    try { c.kill('SIGTERM'); } catch { /* gone */ }
  }
  rmSync(work, { recursive: true, force: true });
});
setTimeout(() => { console.error('tls e2e: timed out'); process.exit(3); }, 150_000).unref();

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
  if (expect !== null && r.status !== expect) throw new Error(`hsk ${args.join(' ')} exited ${r.status} (want ${expect}): ${r.stderr}`);
  return r;
}
const file = (name) => join(work, name);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function waitFor(pred, ms, what) {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

// ---- certificates, identities, configuration -----------------------------------------------------
const certs = join(work, 'certs');
{
  const r = spawnSync('bash', [MAKE_CERTS, certs], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`make_certs.sh failed: ${r.stderr}`);
}
const cert = (name) => join(certs, name);
const pem = (name) => readFileSync(cert(name));
const fingerprint = (name) => new X509Certificate(pem(name)).fingerprint256;
const CA = pem('ca.pem');
const CLIENT = { cert: pem('client.pem'), key: pem('client.key') };

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
  '',
].join('\n'));
const CAP = 'everything.tools';
writeFileSync(file('tools.yaml'), ['unmapped: refuse', 'tools:', `  echo: {capability: "${CAP}:echo"}`, ''].join('\n'));
writeFileSync(file('chain.json'), hsk(['delegate', '--key', 'org.key', '--to', did.agent, '--capability', `${CAP}:*`]).stdout);
const serviceArgs = ['--role', 'service', '--config', file('service.yaml'), '--tools', file('tools.yaml')];
const agentArgs = ['--role', 'agent', '--key', file('agent.key'), '--chain', file('chain.json'), '--service-did', did.svc];

// ---- helpers ------------------------------------------------------------------------------------------
// A fetch for the MCP SDK over node's https module, with its own TLS options (CA, client certificate).
function tlsFetch(options) {
  return (url, init = {}) => new Promise((resolve, reject) => {
    const headers = {};
    new Headers(init.headers ?? {}).forEach((v, k) => { headers[k] = v; });
    const req = https.request(new URL(url), { method: init.method ?? 'GET', headers, agent: false, ...options }, (res) => {
      const h = new Headers();
      for (const [k, v] of Object.entries(res.headers)) {
        if (Array.isArray(v)) v.forEach((x) => h.append(k, x));
        else if (v !== undefined) h.set(k, v);
      }
      const empty = [204, 205, 304].includes(res.statusCode);
      if (empty) res.resume();
      resolve(new Response(empty ? null : Readable.toWeb(res), { status: res.statusCode, headers: h }));
    });
    req.on('error', reject);
    init.signal?.addEventListener('abort', () => req.destroy(new Error('aborted')), { once: true });
    req.end(init.body ?? undefined);
  });
}

// One https GET; resolves with {status, body}, rejects on a TLS or connection failure.
function httpsGet(url, options = {}) {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { agent: false, ...options }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
  });
}

// The certificate a TLS listener presents to a new handshake (SHA-256 fingerprint).
function servedFingerprint(port) {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, ca: CA, servername: undefined }, () => {
      const fp = s.getPeerCertificate().fingerprint256;
      s.end();
      resolve(fp);
    });
    s.on('error', reject);
  });
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

// Starts an HTTP-mode proxy; resolves with {url, proc, log} once it prints its listening line.
function startProxy(args) {
  return new Promise((resolve, reject) => {
    const p = spawn(PROXY, [...args, '--listen', '127.0.0.1:0'], { cwd: work, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(p);
    const log = { text: '' };
    p.stderr.on('data', (d) => {
      process.stderr.write(d);
      log.text += d;
      const m = log.text.match(/listening on (https?:\/\/\S+?) ->/);
      if (m) resolve({ url: m[1], proc: p, log });
    });
    p.on('exit', (code) => reject(new Error(`the proxy exited ${code}: ${log.text}`)));
  });
}
// Runs a proxy that must refuse to start; resolves with {code, stderr}.
function failedStart(args) {
  const r = spawnSync(PROXY, [...args, '--listen', '127.0.0.1:0'], { cwd: work, encoding: 'utf8', timeout: 10000 });
  return { code: r.status, stderr: r.stderr };
}

async function connect(url, options) {
  const client = new Client({ name: 'hsk-tls-e2e', version: '1.0.0' }, { capabilities: {} });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { fetch: tlsFetch(options) }));
  return client;
}

// ---- the upstream: server-everything behind an HTTPS reverse proxy that requires client certificates ---
const everythingPort = await freePort();
children.push(spawn(process.execPath, [EVERYTHING, 'streamableHttp'], { cwd: work,
  env: { ...process.env, PORT: String(everythingPort) }, stdio: ['ignore', 'ignore', 'inherit'] }));
await waitForPort(everythingPort);
const upstreamSeen = { authorized: 0, total: 0 };
const upstreamServer = https.createServer({ cert: pem('server.pem'), key: pem('server.key'), ca: CA, requestCert: true,
  rejectUnauthorized: true }, (req, res) => {
  upstreamSeen.total++;
  if (req.socket.authorized) upstreamSeen.authorized++;
  const headers = {};
  for (const [k, v] of Object.entries(req.headers)) {
    if (!['host', 'connection', 'keep-alive', 'transfer-encoding'].includes(k)) headers[k] = v;
  }
  const up = http.request({ host: '127.0.0.1', port: everythingPort, path: req.url, method: req.method, headers },
    (r) => { res.writeHead(r.statusCode, r.headers); r.pipe(res); });
  up.on('error', () => res.destroy());
  req.pipe(up);
});
await new Promise((r) => upstreamServer.listen(0, '127.0.0.1', r));
upstreamServer.unref();
const upstreamUrl = `https://127.0.0.1:${upstreamServer.address().port}/mcp`;

// The service proxy: TLS listener requiring client certificates from the test CA; the upstream over
// https with the test CA and a client certificate.
const service = await startProxy([...serviceArgs, '--tls-cert', cert('server.pem'), '--tls-key', cert('server.key'),
  '--tls-client-ca', cert('ca.pem'), '--upstream', upstreamUrl, '--ca-file', cert('ca.pem'),
  '--client-cert', cert('client.pem'), '--client-key', cert('client.key')]);
const servicePort = Number(new URL(service.url).port);
// The agent proxy: its own TLS listener on copies of the certificate files (rotated below), the
// service over https with mTLS.
copyFileSync(cert('server.pem'), file('agent-tls.pem'));
copyFileSync(cert('server.key'), file('agent-tls.key'));
chmodSync(file('agent-tls.key'), 0o600);
const agent = await startProxy([...agentArgs, '--tls-cert', file('agent-tls.pem'), '--tls-key', file('agent-tls.key'),
  '--upstream', service.url, '--ca-file', cert('ca.pem'), '--client-cert', cert('client.pem'),
  '--client-key', cert('client.key')]);
const agentPort = Number(new URL(agent.url).port);

await step('both proxies listen on https', async () => {
  assert.match(service.url, /^https:\/\/127\.0\.0\.1:\d+\/mcp$/);
  assert.match(agent.url, /^https:\/\/127\.0\.0\.1:\d+\/mcp$/);
});

await step('the SDK client over https -> agent proxy -> service proxy (mTLS) -> https upstream (mTLS): a verified call', async () => {
  const client = await connect(agent.url, { ca: CA });
  const { tools } = await client.listTools();
  const echo = tools.find((t) => t.name === 'echo');
  assert.equal(echo?._meta?.['ai.handshake/tool']?.capability, `${CAP}:echo`);
  const r = await client.callTool({ name: 'echo', arguments: { message: 'over tls' } });
  assert.equal(r.content[0].text, 'Echo: over tls');
  assert.ok(r._meta?.['ai.handshake/receipt'], 'the result carries a receipt');
  assert.equal(r._meta['ai.handshake/receipt'].iss, did.svc);
  await client.close();
  assert.ok(upstreamSeen.total > 0 && upstreamSeen.authorized === upstreamSeen.total,
    `every upstream request came with the service proxy's client certificate (${upstreamSeen.authorized}/${upstreamSeen.total})`);
});

await step('the SDK client over https straight to the service proxy, with a client certificate', async () => {
  const client = await connect(service.url, { ca: CA, ...CLIENT });
  const { tools } = await client.listTools();
  assert.ok(tools.some((t) => t.name === 'echo'), 'tools/list answered through the service proxy');
  // No handshake: the service refuses the call (a signed refusal), it does not reach the upstream.
  await assert.rejects(client.callTool({ name: 'echo', arguments: { message: 'x' } }), (e) => e instanceof McpError);
  await client.close();
});

await step('mTLS required: without a client certificate refused at the handshake, with one served', async () => {
  await assert.rejects(httpsGet(service.url, { ca: CA }), (e) => /certificate|alert|socket hang up|ECONNRESET/i.test(String(e.message ?? e)));
  // The same request with the client certificate reaches the MCP endpoint (a GET without a session).
  const r = await httpsGet(service.url, { ca: CA, ...CLIENT });
  assert.ok(r.status >= 200 && r.status < 500, `served: HTTP ${r.status}`);
});

await step('failed TLS handshakes are counted in /metrics (hsk_tls_handshake_failures_total)', async () => {
  const metricsUrl = new URL('/metrics', service.url).href;
  const failures = async () => {
    const r = await httpsGet(metricsUrl, { ca: CA, ...CLIENT });
    assert.equal(r.status, 200);
    const m = r.body.match(/^hsk_tls_handshake_failures_total (\d+)$/m);
    assert.ok(m, `the counter is exported: ${r.body.slice(0, 300)}`);
    return Number(m[1]);
  };
  const before = await failures();
  for (let i = 0; i < 3; i++) await assert.rejects(httpsGet(service.url, { ca: CA }));  // no client certificate
  const after = await failures();
  assert.ok(after >= before + 3, `three refused handshakes counted: ${before} -> ${after}`);
  const ready = await httpsGet(new URL('/readyz', service.url).href, { ca: CA, ...CLIENT });
  assert.equal(ready.status, 200, ready.body);
});

await step('the SDK client without a certificate cannot use the service proxy', async () => {
  await assert.rejects(connect(service.url, { ca: CA }));
});

await step('plain http to a TLS port is refused, never served', async () => {
  const r = await new Promise((resolve) => {
    const req = http.get(`http://127.0.0.1:${agentPort}/mcp`, { agent: false }, (res) => resolve({ status: res.statusCode }));
    req.on('error', (e) => resolve({ error: e }));
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
  });
  assert.ok(r.error, `plain http got an answer: HTTP ${r.status}`);
});

await step('a client trusting another CA refuses the proxy\'s certificate', async () => {
  await assert.rejects(httpsGet(agent.url, { ca: pem('other-ca.pem') }), (e) => /certificate|verify/i.test(e.message));
});

await step('an https upstream with a certificate the --ca-file does not trust: a clear error, nothing relayed', async () => {
  const wrong = await startProxy([...serviceArgs, '--upstream', upstreamUrl, '--ca-file', cert('other-ca.pem'),
    '--client-cert', cert('client.pem'), '--client-key', cert('client.key')]);
  const before = upstreamSeen.total;
  const res = await fetch(wrong.url, { method: 'POST', headers: { 'content-type': 'application/json',
    accept: 'application/json, text/event-stream' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18',
      capabilities: {}, clientInfo: { name: 'x', version: '1' } } }) });
  const text = await res.text();
  assert.match(text, /upstream unreachable/);
  assert.match(text + wrong.log.text, /certificate|verif/i);
  assert.equal(upstreamSeen.total, before, 'no request reached the upstream');
  wrong.proc.kill('SIGTERM');
});

await step('malformed or unusable upstream URLs and TLS flags: a clear start-up error', async () => {
  for (const bad of ['http://exa mple/mcp', 'ftp://127.0.0.1/mcp', 'http://user:pw@127.0.0.1/mcp', '127.0.0.1:80/mcp',
    'http://127.0.0.1:99999/mcp']) {
    const r = failedStart([...serviceArgs, '--upstream', bad]);
    assert.equal(r.code, 2, `--upstream ${bad}: exit ${r.code}: ${r.stderr}`);
    assert.match(r.stderr, /--upstream/, r.stderr);
  }
  let r = failedStart([...serviceArgs, '--upstream', 'https://127.0.0.1:1/mcp', '--ca-file', file('missing.pem')]);
  assert.equal(r.code, 2, r.stderr);
  r = failedStart([...serviceArgs, '--upstream', 'http://127.0.0.1:1/mcp', '--tls-cert', cert('server.pem')]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /tls-key/, r.stderr);
  r = failedStart([...serviceArgs, '--upstream', 'http://127.0.0.1:1/mcp', '--tls-cert', cert('server.pem'), '--tls-key', cert('client.key')]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /not the key/, r.stderr);
});

await step('SIGHUP rotates the certificate: new handshakes get it, the listener and its sessions stay', async () => {
  assert.equal(await servedFingerprint(agentPort), fingerprint('server.pem'));
  const client = await connect(agent.url, { ca: CA });
  copyFileSync(cert('server2.pem'), file('agent-tls.pem'));
  copyFileSync(cert('server2.key'), file('agent-tls.key'));
  const reloads = (agent.log.text.match(/reloaded/g) ?? []).length;
  agent.proc.kill('SIGHUP');
  await waitFor(() => (agent.log.text.match(/reloaded/g) ?? []).length > reloads, 5000, 'the agent proxy to reload');
  assert.equal(await servedFingerprint(agentPort), fingerprint('server2.pem'));
  assert.equal(agent.proc.exitCode, null, 'the proxy still runs');
  const r = await client.callTool({ name: 'echo', arguments: { message: 'after rotation' } });
  assert.equal(r.content[0].text, 'Echo: after rotation');
  await client.close();
  // A bad pair (a certificate with another key) keeps the current one.
  copyFileSync(cert('server.pem'), file('agent-tls.pem'));
  agent.proc.kill('SIGHUP');
  await waitFor(() => /reload failed/.test(agent.log.text), 5000, 'the failed reload to be logged');
  assert.equal(await servedFingerprint(agentPort), fingerprint('server2.pem'));
  assert.equal(agent.proc.exitCode, null, 'the proxy still runs');
});

// ---- hsk registry serve over TLS ---------------------------------------------------------------------
function startRegistry(extra) {
  return new Promise((resolve, reject) => {
    const p = spawn(HSK, ['registry', 'serve', '--key', file('registry.key'), '--db', file(`reg-${children.length}.db`),
      '--port', '0', ...extra], { cwd: work, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(p);
    const log = { text: '' };
    let out = '';
    p.stderr.on('data', (d) => { process.stderr.write(d); log.text += d; });
    p.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/listening on \S+?:(\d+)/);
      if (m) resolve({ port: Number(m[1]), proc: p, log });
    });
    p.on('exit', (code) => reject(new Error(`hsk registry serve exited ${code}: ${log.text}`)));
  });
}
hsk(['keygen', '--kind', 'svc', '--out', 'registry.key']);

await step('hsk registry serve over https; with --tls-client-ca only clients with a certificate; SIGHUP rotates', async () => {
  copyFileSync(cert('server.pem'), file('reg-tls.pem'));
  copyFileSync(cert('server.key'), file('reg-tls.key'));
  chmodSync(file('reg-tls.key'), 0o600);
  const reg = await startRegistry(['--tls-cert', file('reg-tls.pem'), '--tls-key', file('reg-tls.key')]);
  const r = await httpsGet(`https://127.0.0.1:${reg.port}/v1/tree-head`, { ca: CA });
  assert.equal(r.status, 200, r.body);
  assert.equal(await servedFingerprint(reg.port), fingerprint('server.pem'));
  copyFileSync(cert('server2.pem'), file('reg-tls.pem'));
  copyFileSync(cert('server2.key'), file('reg-tls.key'));
  reg.proc.kill('SIGHUP');
  await waitFor(() => /reloaded/.test(reg.log.text), 5000, 'the registry to reload');
  assert.equal(await servedFingerprint(reg.port), fingerprint('server2.pem'));
  assert.equal((await httpsGet(`https://127.0.0.1:${reg.port}/v1/tree-head`, { ca: CA })).status, 200);
  const mtls = await startRegistry(['--tls-cert', cert('server.pem'), '--tls-key', cert('server.key'),
    '--tls-client-ca', cert('ca.pem')]);
  await assert.rejects(httpsGet(`https://127.0.0.1:${mtls.port}/v1/tree-head`, { ca: CA }));
  assert.equal((await httpsGet(`https://127.0.0.1:${mtls.port}/v1/tree-head`, { ca: CA, ...CLIENT })).status, 200);
  reg.proc.kill('SIGTERM');
  mtls.proc.kill('SIGTERM');
});

// ---- hsk oauth bridge over TLS (its listener; introspection is not reached without a token) ---------
await step('hsk oauth bridge over https with mTLS: no certificate refused, with one served', async () => {
  writeFileSync(file('scopes.yaml'), ['unmapped_scopes: refuse', 'scopes:', '  - scope: "invoices:read"',
    '    capability: billing.invoices.read', ''].join('\n'));
  writeFileSync(file('bridge-secret'), 'secret\n', { mode: 0o600 });
  const bridge = await new Promise((resolve, reject) => {
    const p = spawn(HSK, ['oauth', 'bridge', '--key', file('org.key'), '--map', file('scopes.yaml'),
      '--introspection-url', 'http://127.0.0.1:1/introspect', '--client-id', 'b', '--client-secret-file', file('bridge-secret'),
      '--port', '0', '--tls-cert', cert('server.pem'), '--tls-key', cert('server.key'), '--tls-client-ca', cert('ca.pem')],
    { cwd: work, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(p);
    let out = '';
    let err = '';
    p.stderr.on('data', (d) => { err += d; });
    p.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/listening on \S+?:(\d+)/);
      if (m) resolve({ port: Number(m[1]), proc: p });
    });
    p.on('exit', (code) => reject(new Error(`hsk oauth bridge exited ${code}: ${err}`)));
  });
  const url = `https://127.0.0.1:${bridge.port}/.well-known/handshake/did.json`;
  await assert.rejects(httpsGet(url, { ca: CA }));
  const r = await httpsGet(url, { ca: CA, ...CLIENT });
  assert.equal(r.status, 200, r.body);
  assert.equal(JSON.parse(r.body).id, did.org);
  bridge.proc.kill('SIGTERM');
});

console.log(`${passed} passed, ${failures} failed`);
process.exit(failures === 0 ? 0 : 1);
