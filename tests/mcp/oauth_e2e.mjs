// End-to-end: an unchanged OAuth MCP client (the official MCP SDK over Streamable HTTP with a
// Bearer token) -> hsk-mcp-proxy --role service --oauth -> server-everything, with a real
// authorization server (oidc-provider): client credentials -> introspection -> delegation ->
// a handshake-checked tools/call -> receipt; and every way the token can be wrong.
//
// usage: node oauth_e2e.mjs --hsk PATH --proxy PATH --as PATH/as.mjs [--tls PATH/make_certs.sh]
// With --tls the authorization server is served over https (test certificates made by
// make_certs.sh) and oauth.yaml trusts the test CA with its `tls:` block; a second gateway whose
// `tls:` trusts another CA answers 503, and a malformed introspection URL is a start-up error.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, rmSync, chmodSync } from 'node:fs';
import net from 'node:net';
import http from 'node:http';
import { Readable } from 'node:stream';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { createRequire } from 'node:module';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';

const arg = (name) => {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0 || i + 1 >= process.argv.length) throw new Error(`--${name} is required`);
  return process.argv[i + 1];
};
const optArg = (name) => (process.argv.includes(`--${name}`) ? arg(name) : undefined);
const MAKE_CERTS = optArg('tls');
let CERTS;
if (MAKE_CERTS) {
  // This process's fetch() must trust the test CA too: NODE_EXTRA_CA_CERTS is read at start-up,
  // so make the certificates and run again with it.
  if (!process.env.HSK_E2E_CERTS) {
    const dir = mkdtempSync(join(tmpdir(), 'hsk-mcp-oauth-certs-'));
    const made = spawnSync('bash', [MAKE_CERTS, dir], { stdio: 'inherit' });
    if (made.status !== 0) { console.error('make_certs.sh failed'); process.exit(1); }
    const again = spawnSync(process.execPath, process.argv.slice(1), { stdio: 'inherit',
      env: { ...process.env, HSK_E2E_CERTS: dir, NODE_EXTRA_CA_CERTS: join(dir, 'ca.pem') } });
    rmSync(dir, { recursive: true, force: true });
    process.exit(again.status ?? 1);
  }
  CERTS = process.env.HSK_E2E_CERTS;
}
const HSK = arg('hsk');
const PROXY = arg('proxy');
const AS_SCRIPT = arg('as');
const require = createRequire(import.meta.url);
const EVERYTHING = join(dirname(require.resolve('@modelcontextprotocol/server-everything/package.json')), 'dist', 'index.js');

const work = mkdtempSync(join(tmpdir(), 'hsk-mcp-oauth-'));
const children = [];
let failures = 0;
let passed = 0;
process.on('exit', () => {
  for (const c of children) {
    try { c.kill('SIGTERM'); } catch { /* gone */ }
  }
  rmSync(work, { recursive: true, force: true });
});
setTimeout(() => { console.error('e2e: timed out'); process.exit(3); }, 120_000).unref();

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
const writeJson = (name, value) => { writeFileSync(file(name), JSON.stringify(value)); return file(name); };
const freePort = () => new Promise((resolve, reject) => {
  const s = net.createServer();
  s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  s.on('error', reject);
});
async function waitForPort(port) {
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise((r) => { const c = net.connect(port, '127.0.0.1', () => { c.end(); r(true); }); c.on('error', () => r(false)); });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listens on ${port}`);
}
function startWithLine(command, args, prefix, stream = 'stdout') {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: work, stdio: ['pipe', 'pipe', 'pipe'] });
    children.push(child);
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`${command} did not start: ${buf}`)), 20_000);
    child[stream].on('data', (d) => {
      buf += d;
      const line = buf.split('\n').find((l) => l.includes(prefix));
      if (line) { clearTimeout(timer); resolve(line.slice(line.indexOf(prefix) + prefix.length).trim()); }
    });
    (stream === 'stdout' ? child.stderr : child.stdout).on('data', (d) => process.stderr.write(d));
  });
}

// ---- the authorization server, identities, configuration -------------------------------------------
const asUrl = await startWithLine('node', CERTS
  ? [AS_SCRIPT, '--tls-cert', join(CERTS, 'server.pem'), '--tls-key', join(CERTS, 'server.key')]
  : [AS_SCRIPT], 'AS_URL ');
if (CERTS) assert.match(asUrl, /^https:/);
const did = {};
for (const [who, kind] of [['org', 'org'], ['gateway', 'agent'], ['svc', 'svc']]) {
  did[who] = hsk(['keygen', '--kind', kind, '--out', `${who}.key`]).stdout.trim();
  writeFileSync(file(`${who}.did.json`), hsk(['did', `${who}.key`]).stdout);
}
const mcpPort = await freePort();
const proxyPort = await freePort();
const resource = `http://127.0.0.1:${proxyPort}/mcp`;
writeFileSync(file('service.yaml'), [
  'identity: svc.key',
  `trust_roots: [${did.org}]`,
  'did_documents: [org.did.json, gateway.did.json, svc.did.json]',
  '',
].join('\n'));
const CAP = 'everything.tools';
writeFileSync(file('tools.yaml'), [
  'unmapped: refuse',
  'tools:',
  `  echo: {capability: "${CAP}:echo"}`,
  `  get-sum: {capability: "${CAP}:get-sum", constraints: {max_a: arguments.a}}`,
  '',
].join('\n'));
writeFileSync(file('scopes.yaml'), [
  'unmapped_scopes: ignore',
  'scopes:',
  `  - {scope: "tools:call", capability: "${CAP}:*", constraints: {max_a: 50}}`,
  '',
].join('\n'));
writeFileSync(file('gateway.secret'), 'bridge-basic-secret\n');
chmodSync(file('gateway.secret'), 0o600);
writeFileSync(file('oauth.yaml'), [
  `resource: ${resource}`,
  `authorization_servers: [${asUrl}]`,
  'scopes_supported: [tools:call]',
  `introspection_endpoint: ${asUrl}/token/introspection`,
  'client_id: bridge-basic',
  'client_secret_file: gateway.secret',
  'scope_map: scopes.yaml',
  'bridge_key: org.key',
  'gateway_key: gateway.key',
  'max_ttl_seconds: 300',
  ...(CERTS ? ['tls:', `  ca_file: ${join(CERTS, 'ca.pem')}`] : []),
  '',
].join('\n'));

const everything = spawn(process.execPath, [EVERYTHING, 'streamableHttp'], { cwd: work, env: { ...process.env, PORT: String(mcpPort) },
  stdio: ['ignore', 'ignore', 'inherit'] });
children.push(everything);
await waitForPort(mcpPort);
// A pass-through in front of server-everything that records what the proxy sends upstream.
const upstreamAuth = [];
const tap = http.createServer(async (req, res) => {
  upstreamAuth.push(req.headers.authorization ?? null);
  const chunks = [];
  for await (const c of req) chunks.push(c);
  const headers = { ...req.headers };
  delete headers.host;
  delete headers['content-length'];
  const r = await fetch(`http://127.0.0.1:${mcpPort}${req.url}`, { method: req.method, headers,
    body: ['POST', 'PUT'].includes(req.method) ? Buffer.concat(chunks) : undefined });
  res.writeHead(r.status, Object.fromEntries(r.headers));
  if (r.body) Readable.fromWeb(r.body).pipe(res); else res.end();
});
await new Promise((r) => tap.listen(0, '127.0.0.1', r));
const tapPort = tap.address().port;
await startWithLine(PROXY, ['--role', 'service', '--config', file('service.yaml'), '--tools', file('tools.yaml'),
  '--oauth', file('oauth.yaml'), '--listen', `127.0.0.1:${proxyPort}`, '--upstream', `http://127.0.0.1:${tapPort}/mcp`],
  'listening on', 'stderr');

async function token(scope, res = resource) {
  const body = new URLSearchParams({ grant_type: 'client_credentials', scope });
  if (res) body.set('resource', res);
  const r = await fetch(`${asUrl}/token`, { method: 'POST', body,
    headers: { authorization: `Basic ${Buffer.from('agent-a:agent-a-secret').toString('base64')}` } });
  const j = await r.json();
  assert.ok(j.access_token, `token: ${JSON.stringify(j)}`);
  return j.access_token;
}
const post = (headers = {}) => fetch(resource, { method: 'POST', headers: { 'content-type': 'application/json',
  accept: 'application/json, text/event-stream', ...headers },
  body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25',
    capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }) });

// ---- resource-server duties ----------------------------------------------------------------------------
await step('protected resource metadata (RFC 9728) at the path-inserted well-known URL', async () => {
  const r = await fetch(`http://127.0.0.1:${proxyPort}/.well-known/oauth-protected-resource/mcp`);
  assert.equal(r.status, 200);
  const m = await r.json();
  assert.equal(m.resource, resource);
  assert.deepEqual(m.authorization_servers, [asUrl]);
});
await step('no token: 401 with WWW-Authenticate naming the metadata', async () => {
  const r = await post();
  assert.equal(r.status, 401);
  assert.match(r.headers.get('www-authenticate'), /^Bearer resource_metadata="http:\/\/127\.0\.0\.1:\d+\/\.well-known\/oauth-protected-resource\/mcp"/);
});
await step('a token for another resource (RFC 8707): 401 invalid_token', async () => {
  const r = await post({ authorization: `Bearer ${await token('tools:call', 'http://other.example/mcp')}` });
  assert.equal(r.status, 401);
  assert.match(r.headers.get('www-authenticate'), /error="invalid_token"/);
});
await step('a token whose scopes map to nothing: 403 insufficient_scope', async () => {
  const r = await post({ authorization: `Bearer ${await token('files:read')}` });
  assert.equal(r.status, 403);
  assert.match(r.headers.get('www-authenticate'), /insufficient_scope/);
});
await step('a revoked token: 401', async () => {
  const t = await token('tools:call');
  const rv = await fetch(`${asUrl}/token/revocation`, { method: 'POST', body: new URLSearchParams({ token: t }),
    headers: { authorization: `Basic ${Buffer.from('agent-a:agent-a-secret').toString('base64')}` } });
  assert.equal(rv.status, 200);
  assert.equal((await post({ authorization: `Bearer ${t}` })).status, 401);
});

// ---- an unchanged OAuth MCP client gets handshake-checked calls ---------------------------------------
const client = new Client({ name: 'oauth-client', version: '1.0.0' });
const access = await token('tools:call');
await client.connect(new StreamableHTTPClientTransport(new URL(resource),
  { requestInit: { headers: { Authorization: `Bearer ${access}` } } }));

await step('tools/call with only a Bearer token: the real result, an acceptance and a receipt', async () => {
  const r = await client.callTool({ name: 'echo', arguments: { message: 'hi' } });
  assert.equal(r.content[0].text, 'Echo: hi');
  const acceptance = r._meta?.['ai.handshake/acceptance'];
  const receipt = r._meta?.['ai.handshake/receipt'];
  assert.ok(acceptance && receipt, 'acceptance and receipt in _meta');
  assert.equal(acceptance.aud, did.gateway, 'the gateway signed the request under the token\'s delegation');
  assert.equal(receipt.iss, did.svc);
  const subject = { ...r };
  delete subject._meta;
  hsk(['receipt', 'verify', '--did-doc', file('svc.did.json'), '--result', writeJson('subject.json', subject),
    writeJson('receipt.json', receipt)]);
});
await step('a call beyond what the scope maps to: a signed scope_exceeded', async () => {
  try {
    await client.callTool({ name: 'get-sum', arguments: { a: 500, b: 1 } });
    assert.fail('not refused');
  } catch (e) {
    assert.ok(e instanceof McpError, String(e));
    const refusal = e.data?.['ai.handshake/refusal'];
    assert.equal(refusal?.reason?.code, 'scope_exceeded');
    hsk(['verify', '--did-doc', file('svc.did.json'), writeJson('refusal.json', refusal)]);
  }
});
await step('within it: accepted', async () => {
  const r = await client.callTool({ name: 'get-sum', arguments: { a: 40, b: 2 } });
  assert.match(JSON.stringify(r.content), /42/);
});

await step('the token never reached the MCP server (no token passthrough)', async () => {
  assert.ok(upstreamAuth.length > 0, 'requests went upstream');
  assert.deepEqual([...new Set(upstreamAuth)], [null]);
});
if (CERTS) {
  await step('a gateway whose tls block trusts another CA: 503, never an accept', async () => {
    const otherPort = await freePort();
    const yaml = readFileSync(file('oauth.yaml'), 'utf8')
      .replace(`ca_file: ${join(CERTS, 'ca.pem')}`, `ca_file: ${join(CERTS, 'other-ca.pem')}`)
      .replace(`resource: ${resource}`, `resource: http://127.0.0.1:${otherPort}/mcp`);
    writeFileSync(file('oauth-other-ca.yaml'), yaml);
    await startWithLine(PROXY, ['--role', 'service', '--config', file('service.yaml'), '--tools', file('tools.yaml'),
      '--oauth', file('oauth-other-ca.yaml'), '--listen', `127.0.0.1:${otherPort}`, '--upstream',
      `http://127.0.0.1:${tapPort}/mcp`], 'listening on', 'stderr');
    const r = await fetch(`http://127.0.0.1:${otherPort}/mcp`, { method: 'POST', headers: { 'content-type': 'application/json',
      accept: 'application/json, text/event-stream', authorization: `Bearer ${await token('tools:call', `http://127.0.0.1:${otherPort}/mcp`)}` },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25',
        capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }) });
    assert.equal(r.status, 503);
  });
  await step('a malformed introspection_endpoint: a start-up error', async () => {
    const yaml = readFileSync(file('oauth.yaml'), 'utf8')
      .replace(`introspection_endpoint: ${asUrl}/token/introspection`, 'introspection_endpoint: "https://127.0.0.1:99999/x"');
    writeFileSync(file('oauth-bad-url.yaml'), yaml);
    const r = spawnSync(PROXY, ['--role', 'service', '--config', file('service.yaml'), '--tools', file('tools.yaml'),
      '--oauth', file('oauth-bad-url.yaml'), '--listen', '127.0.0.1:0', '--upstream', `http://127.0.0.1:${tapPort}/mcp`],
    { encoding: 'utf8', timeout: 10_000 });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /url\.invalid/);
  });
}
tap.close();

console.log(`${passed} passed, ${failures} failed`);
process.exit(failures === 0 ? 0 : 1);
