// End-to-end: `hsk gate` behind a real nginx (Debian's, its auth_request module) in front of a
// small HTTP API, as docs/gate.md configures it; the Envoy ext_authz HTTP contract with the
// requests Envoy sends; `hsk gate --upstream` as a reverse proxy signing receipts over bodies.
// Requests are made as the reference SDKs make them: header Handshake-Request (or
// x-handshake-request) = base64url, no padding, of JSON.stringify(request), member order as it comes.
//
// usage: node nginx_e2e.mjs --hsk PATH [--nginx PATH]
// Prints "N passed, M failed" last; exits 0 only when every step passed.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync, rmSync, existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0 || i + 1 >= process.argv.length) {
    if (fallback !== undefined) return fallback;
    console.error(`nginx_e2e: --${name} is required`);
    process.exit(2);
  }
  return process.argv[i + 1];
};
const HSK = arg('hsk');
const NGINX = arg('nginx', '/usr/sbin/nginx');
const work = mkdtempSync(join(tmpdir(), 'hsk-gate-e2e-'));
const file = (n) => join(work, n);
const children = [];
let passed = 0;
let failures = 0;

function cleanup() {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) { try { c.kill('SIGTERM'); } catch { /* gone */ } }
  rmSync(work, { recursive: true, force: true });
}
process.on('exit', cleanup);
setTimeout(() => { console.log('not ok - finished in time'); console.log(`${passed} passed, ${failures + 1} failed`); process.exit(3); }, 100_000).unref();

async function step(name, fn) {
  const t = performance.now();
  try {
    await fn();
    passed++;
    console.log(`ok - ${name} (${Math.round(performance.now() - t)} ms)`);
  } catch (e) {
    failures++;
    console.log(`not ok - ${name}\n  ${String(e?.stack ?? e).split('\n').join('\n  ')}`);
  }
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
function hsk(args, expect = 0) {
  const r = spawnSync(HSK, args, { cwd: work, encoding: 'utf8', timeout: 30000 });
  if (r.status !== expect) throw new Error(`hsk ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}
function freePort() {
  return new Promise((resolve) => { const s = net.createServer(); s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); }); });
}
function start(name, command, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: work, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let out = '';
    let err = '';
    child.stderr.on('data', (d) => { err += d; });
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/listening on ([\d.]+:\d+)/);
      if (m) resolve({ child, addr: m[1], log: () => err });
    });
    child.on('exit', (code) => reject(new Error(`${name} exited ${code}: ${err}`)));
    setTimeout(() => reject(new Error(`${name} did not start: ${err}`)), 15000);
  });
}
// One HTTP request; resolves {status, headers, body}.
function request(port, method, path, headers = {}, body) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers, agent: false }, (res) => {
      let data = '';
      res.on('data', (d) => { data += d; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: data }));
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}
const b64u = (text) => Buffer.from(text, 'utf8').toString('base64url');
const fromB64u = (text) => JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
// A signed request as the reference SDKs send it: JSON.stringify of the object as parsed.
const signed = (capability, constraints = {}) => JSON.parse(hsk(['request', '--key', 'agent.key', '--chain', 'chain.json',
  '--to', did.svc, '--capability', capability, '--constraints', JSON.stringify(constraints)]));
const header = (req) => ({ 'Handshake-Request': b64u(JSON.stringify(req)) });

// ---- set-up ------------------------------------------------------------------------------------------
const did = {};
for (const who of ['org', 'agent', 'svc']) {
  did[who] = hsk(['keygen', '--kind', who, '--out', `${who}.key`]).trim();
  writeFileSync(file(`${who}.did.json`), hsk(['did', `${who}.key`]));
}
writeFileSync(file('service.yaml'), [`identity: svc.key`, `trust_roots: [${did.org}]`,
  'did_documents: [org.did.json, agent.did.json]', ''].join('\n'));
writeFileSync(file('routes.yaml'), [
  'unmapped: refuse',
  'routes:',
  '  "GET /invoices": {capability: billing.api:read, constraints: {max_invoices: request.query.limit}}',
  '  "GET /invoices/{id}": {capability: billing.api:read}',
  '  "GET /text": {capability: billing.api:read}',
  '  "POST /payments/{account}": {capability: billing.api:pay, constraints: {max_amount: request.body.amount}}',
  '',
].join('\n'));
writeFileSync(file('routes-auth.yaml'), readFileSync(file('routes.yaml'), 'utf8').replace(/^.*POST \/payments.*\n/m, ''));
writeFileSync(file('chain.json'), hsk(['delegate', '--key', 'org.key', '--to', did.agent, '--capability', 'billing.api:*',
  '--constraints', '{"max_invoices":10,"max_amount":100}']));

// The API: records what reaches it.
const seen = [];
const api = http.createServer((req, res) => {
  let body = '';
  req.on('data', (d) => { body += d; });
  req.on('end', () => {
    seen.push({ method: req.method, url: req.url, headers: req.headers, body });
    const json = req.url.startsWith('/text') ? null : { ok: true, url: req.url, n: seen.length };
    res.writeHead(200, { 'content-type': json ? 'application/json' : 'text/plain' });
    res.end(json ? JSON.stringify(json) : 'plain bytes');
  });
});
await new Promise((r) => api.listen(0, '127.0.0.1', r));
const apiPort = api.address().port;

const gate = await start('hsk gate', HSK, ['gate', '--config', file('service.yaml'), '--routes', file('routes-auth.yaml'),
  '--port', '0', '--audit-log', file('audit.jsonl')]);
const gatePort = Number(gate.addr.split(':')[1]);

const nginxDir = mkdtempSync(join(work, 'nginx-'));
const nginxPort = await freePort();
writeFileSync(join(nginxDir, 'nginx.conf'), [
  ...(process.getuid?.() === 0 ? ['user root;'] : []),
  'daemon off;', 'worker_processes 1;', `pid ${nginxDir}/nginx.pid;`, `error_log ${nginxDir}/error.log notice;`,
  'events { worker_connections 64; }',
  'http {',
  `  access_log ${nginxDir}/access.log;`,
  ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${nginxDir}/${t};`),
  '  server {',
  `    listen 127.0.0.1:${nginxPort};`,
  '    location / {',
  '      auth_request /_handshake;',
  '      auth_request_set $hs_acceptance $upstream_http_handshake_acceptance;',
  '      auth_request_set $hs_refusal $upstream_http_handshake_refusal;',
  '      proxy_set_header Handshake-Acceptance $hs_acceptance;',
  '      proxy_set_header Handshake-Request "";',
  `      proxy_pass http://127.0.0.1:${apiPort};`,
  '      error_page 401 403 429 503 = @refused;',
  '    }',
  '    location = /_handshake {',
  '      internal;',
  `      proxy_pass http://127.0.0.1:${gatePort};`,
  '      proxy_pass_request_body off;',
  '      proxy_set_header Content-Length "";',
  '      proxy_set_header X-Original-Method $request_method;',
  '      proxy_set_header X-Original-URI $request_uri;',
  '    }',
  '    location /straight/ {',
  `      proxy_pass http://127.0.0.1:${apiPort}/;`,
  '    }',
  '    location @refused {',
  '      add_header Handshake-Refusal $hs_refusal always;',
  '      return 403 \'{"error":"handshake_refused"}\';',
  '    }',
  '  }',
  '}', ''].join('\n'));
const test = spawnSync(NGINX, ['-t', '-c', join(nginxDir, 'nginx.conf'), '-p', `${nginxDir}/`, '-e', `${nginxDir}/error.log`], { encoding: 'utf8' });
assert.equal(test.status, 0, `nginx -t: ${test.stderr}`);
const nginx = spawn(NGINX, ['-c', join(nginxDir, 'nginx.conf'), '-p', `${nginxDir}/`, '-e', `${nginxDir}/error.log`], { stdio: 'ignore' });
children.push(nginx);
for (let i = 0; i < 100; i++) { try { await request(nginxPort, 'GET', '/_probe'); break; } catch { await sleep(50); } }

// ---- nginx auth_request ------------------------------------------------------------------------------
await step('nginx auth_request: an allowed request reaches the API with the signed Acceptance', async () => {
  const req = signed('billing.api:read', { max_invoices: 5 });
  const before = seen.length;
  const r = await request(nginxPort, 'GET', '/invoices?limit=5', header(req));
  assert.equal(r.status, 200, r.body);
  assert.equal(seen.length, before + 1, 'the API was reached once');
  const got = seen.at(-1);
  assert.equal(got.url, '/invoices?limit=5');
  assert.equal(got.headers['handshake-request'], undefined, 'the request header is not passed on');
  const acceptance = fromB64u(got.headers['handshake-acceptance']);
  assert.equal(acceptance.kind, 'Acceptance');
  assert.equal(acceptance.request_id, req.id);
  writeFileSync(file('acceptance.json'), JSON.stringify(acceptance));
  hsk(['verify', '--did-doc', file('svc.did.json'), file('acceptance.json')]);
});

await step('a query value beyond the delegation: scope_exceeded, signed, and the API is never reached', async () => {
  const before = seen.length;
  const req = signed('billing.api:read', { max_invoices: 5 });
  const r = await request(nginxPort, 'GET', '/invoices?limit=500', header(req));
  assert.equal(r.status, 403);
  assert.equal(seen.length, before, 'not forwarded');
  const refusal = fromB64u(r.headers['handshake-refusal']);
  assert.equal(refusal.reason.code, 'scope_exceeded', JSON.stringify(refusal));
  assert.equal(refusal.request_id, req.id);
  writeFileSync(file('refusal.json'), JSON.stringify(refusal));
  hsk(['verify', '--did-doc', file('svc.did.json'), file('refusal.json')]);
});

await step('no header, a replay, a forged signature, a bad header, an unmapped route: refused, never forwarded', async () => {
  const before = seen.length;
  const none = await request(nginxPort, 'GET', '/invoices?limit=1');
  assert.equal(none.status, 403);
  assert.equal(fromB64u(none.headers['handshake-refusal']).reason.code, 'policy_denied');
  const req = signed('billing.api:read', { max_invoices: 1 });
  assert.equal((await request(nginxPort, 'GET', '/invoices?limit=1', header(req))).status, 200);
  const replay = await request(nginxPort, 'GET', '/invoices?limit=1', header(req));
  assert.equal(fromB64u(replay.headers['handshake-refusal']).reason.code, 'replay_detected');
  const forged = signed('billing.api:read', { max_invoices: 1 });
  forged.nonce = `${forged.nonce.slice(0, -2)}AA`;
  assert.equal(fromB64u((await request(nginxPort, 'GET', '/invoices?limit=1', header(forged))).headers['handshake-refusal']).reason.code,
    'signature_invalid');
  const bad = await request(nginxPort, 'GET', '/invoices?limit=1', { 'Handshake-Request': 'not base64url!' });
  assert.equal(fromB64u(bad.headers['handshake-refusal']).reason.code, 'protocol_version_unsupported');
  const dup = signed('billing.api:read', { max_invoices: 1 });
  const dupText = JSON.stringify(dup).replace(/^\{/, `{"aud":"did:hsk:svc:zOther",`);  // a duplicate member
  assert.equal(fromB64u((await request(nginxPort, 'GET', '/invoices?limit=1', { 'Handshake-Request': b64u(dupText) }))
    .headers['handshake-refusal']).reason.code, 'protocol_version_unsupported');
  const unmapped = await request(nginxPort, 'DELETE', '/invoices', header(signed('billing.api:read')));
  assert.equal(fromB64u(unmapped.headers['handshake-refusal']).reason.code, 'policy_denied');
  assert.equal(seen.length, before + 1, 'only the one accepted request reached the API');
});

await step('the Python SDK header x-handshake-request and a path parameter route', async () => {
  const req = signed('billing.api:read');
  const r = await request(nginxPort, 'GET', '/invoices/inv-42', { 'x-handshake-request': b64u(JSON.stringify(req)) });
  assert.equal(r.status, 200, r.body);
  assert.equal(seen.at(-1).url, '/invoices/inv-42');
});

// ---- Envoy ext_authz HTTP service: the requests Envoy sends ---------------------------------------------
await step('Envoy ext_authz: the original method and path (after path_prefix) with the headers; 200 or 403 with headers', async () => {
  const envoy = await start('hsk gate (envoy)', HSK, ['gate', '--config', file('service.yaml'), '--routes', file('routes-auth.yaml'),
    '--port', '0', '--path-prefix', '/ext_authz']);
  const port = Number(envoy.addr.split(':')[1]);
  // Envoy forwards the original method and path under path_prefix, with Content-Length 0 and no body.
  const ok = await request(port, 'GET', '/ext_authz/invoices?limit=3',
    { ...header(signed('billing.api:read', { max_invoices: 3 })), 'content-length': '0', 'x-forwarded-proto': 'http' });
  assert.equal(ok.status, 200, ok.body);
  assert.equal(fromB64u(ok.headers['handshake-acceptance']).kind, 'Acceptance');
  const denied = await request(port, 'GET', '/ext_authz/invoices?limit=11', { ...header(signed('billing.api:read')), 'content-length': '0' });
  assert.equal(denied.status, 403);
  assert.equal(JSON.parse(denied.body).reason.code, 'scope_exceeded', 'the body is the signed Refusal');
  assert.equal(fromB64u(denied.headers['handshake-refusal']).reason.code, 'scope_exceeded');
  const none = await request(port, 'POST', '/ext_authz/invoices', { 'content-length': '0' });
  assert.ok(none.status === 401 || none.status === 403, `no handshake: ${none.status}`);
  envoy.child.kill('SIGTERM');
});

await step('an authorization endpoint refuses a route map that reads the body it never gets', async () => {
  const r = spawnSync(HSK, ['gate', '--config', file('service.yaml'), '--routes', file('routes.yaml'), '--check'], { encoding: 'utf8' });
  assert.equal(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /reads the body/);
});

// ---- reverse proxy --------------------------------------------------------------------------------------
await step('hsk gate --upstream: forwards accepted calls and signs a receipt over the body (JSON and bytes)', async () => {
  const proxy = await start('hsk gate (proxy)', HSK, ['gate', '--config', file('service.yaml'), '--routes', file('routes.yaml'),
    '--port', '0', '--upstream', `http://127.0.0.1:${apiPort}`, '--receipts', file('receipts.jsonl')]);
  const port = Number(proxy.addr.split(':')[1]);
  const req = signed('billing.api:pay', { max_amount: 40 });
  const r = await request(port, 'POST', '/payments/acc-1', { ...header(req), 'content-type': 'application/json' },
    JSON.stringify({ amount: 40 }));
  assert.equal(r.status, 200, r.body);
  const receipt = fromB64u(r.headers['handshake-receipt']);
  assert.equal(r.headers['handshake-receipt-id'], receipt.id);
  assert.equal(receipt.handshake_id, req.id);
  assert.equal(receipt.result_summary.body, 'json');
  writeFileSync(file('receipt.json'), JSON.stringify(receipt));
  writeFileSync(file('body.json'), r.body);
  hsk(['receipt', 'verify', '--did-doc', file('svc.did.json'), '--result', file('body.json'), file('receipt.json')]);
  writeFileSync(file('other.json'), JSON.stringify({ ...JSON.parse(r.body), n: 999 }));
  hsk(['receipt', 'verify', '--did-doc', file('svc.did.json'), '--result', file('other.json'), file('receipt.json')], 1);
  // Over the delegation: refused, not forwarded.
  const before = seen.length;
  const over = await request(port, 'POST', '/payments/acc-1', { ...header(signed('billing.api:pay')), 'content-type': 'application/json' },
    JSON.stringify({ amount: 500 }));
  assert.equal(over.status, 403);
  assert.equal(JSON.parse(over.body).reason.code, 'scope_exceeded');
  assert.equal(seen.length, before);
  // A body that is not JSON: the receipt commits to {"body_sha256": hex of its bytes}.
  const t = await request(port, 'GET', '/text', header(signed('billing.api:read')));
  assert.equal(t.status, 200, t.body);
  const bytesReceipt = fromB64u(t.headers['handshake-receipt']);
  assert.equal(bytesReceipt.result_summary.body, 'bytes');
  writeFileSync(file('receipt-bytes.json'), JSON.stringify(bytesReceipt));
  writeFileSync(file('bytes-result.json'), JSON.stringify({ body_sha256: createHash('sha256').update(t.body).digest('hex') }));
  hsk(['receipt', 'verify', '--did-doc', file('svc.did.json'), '--result', file('bytes-result.json'), file('receipt-bytes.json')]);
  // SIGHUP: a new route map takes effect without a restart; a broken one keeps the running map.
  writeFileSync(file('routes.yaml'), readFileSync(file('routes.yaml'), 'utf8').replace(/^.*"GET \/text".*\n/m, ''));
  proxy.child.kill('SIGHUP');
  for (let i = 0; i < 50 && !/reloaded/.test(proxy.log()); i++) await sleep(20);
  const gone = await request(port, 'GET', '/text', header(signed('billing.api:read')));
  assert.equal(gone.status, 403, 'GET /text is no longer offered');
  assert.equal(JSON.parse(gone.body).reason.code, 'policy_denied');
  writeFileSync(file('routes.yaml'), 'routes: [broken\n');
  proxy.child.kill('SIGHUP');
  for (let i = 0; i < 50 && !/reload failed/.test(proxy.log()); i++) await sleep(20);
  assert.match(proxy.log(), /reload failed, keeping the running configuration/);
  const still = await request(port, 'GET', '/invoices/7', header(signed('billing.api:read')));
  assert.equal(still.status, 200, 'the running map was kept');
  proxy.child.kill('SIGTERM');
  const kept = readFileSync(file('receipts.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.ok(kept.some((k) => k.kind === 'receipt' && k.receipt.id === receipt.id), 'the receipt is kept');
  assert.ok(kept.some((k) => k.kind === 'refusal' && k.refusal.reason.code === 'scope_exceeded'), 'the refusal is kept');
});

await step('the audit log has one line per decision of the authorization endpoint', async () => {
  const lines = readFileSync(file('audit.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.ok(lines.length >= 8, `${lines.length} lines`);
  assert.ok(lines.every((l) => l.transport === 'http'));
  assert.ok(lines.some((l) => l.code === 'scope_exceeded') && lines.some((l) => l.outcome === 'accepted'));
});

// ---- latency: through nginx with auth_request against nginx straight to the API ------------------------
await step('latency: p50/p99 through nginx + auth_request + hsk gate, against the same nginx straight to the API', async () => {
  const N = 100;
  const headers = Array.from({ length: N }, () => header(signed('billing.api:read', { max_invoices: 1 })));
  const times = { gated: [], straight: [] };
  for (let i = 0; i < N; i++) {
    let t = performance.now();
    assert.equal((await request(nginxPort, 'GET', '/invoices?limit=1', headers[i])).status, 200);
    times.gated.push(performance.now() - t);
    t = performance.now();
    assert.equal((await request(nginxPort, 'GET', '/straight/invoices?limit=1')).status, 200);
    times.straight.push(performance.now() - t);
  }
  const pct = (v, p) => { const s = [...v].sort((a, b) => a - b); return s[Math.max(0, Math.ceil((p / 100) * s.length) - 1)]; };
  const g50 = pct(times.gated, 50), s50 = pct(times.straight, 50);
  console.log(`# ${N} requests each: through auth_request p50 ${g50.toFixed(2)} ms p99 ${pct(times.gated, 99).toFixed(2)} ms; ` +
    `straight p50 ${s50.toFixed(2)} ms p99 ${pct(times.straight, 99).toFixed(2)} ms; p50 ratio ${(g50 / s50).toFixed(2)}x`);
});

console.log(`${passed} passed, ${failures} failed`);
cleanup();
process.exit(failures === 0 && passed > 0 ? 0 : 1);
