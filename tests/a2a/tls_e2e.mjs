// End-to-end over TLS: the official A2A SDK client (@a2a-js/sdk) over https -> hsk-a2a-proxy
// --role agent (TLS listener) -> hsk-a2a-proxy --role service (TLS listener requiring client
// certificates) -> an HTTPS reverse proxy that requires them too (node's https module) -> the
// unchanged A2A agent (server.mjs). A message and a stream pass with acceptance and receipt; the
// service's card names its https URL; a client without a certificate is refused at the handshake;
// a malformed upstream URL is a start-up error; SIGHUP rotates the certificate. Certificates from
// tests/tools/make_certs.sh.
//
// usage: node tls_e2e.mjs --hsk PATH --proxy PATH --make-certs PATH
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, writeFileSync, readFileSync, rmSync, copyFileSync, chmodSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { Role } from '@a2a-js/sdk';
import { ClientFactory, ClientFactoryOptions, DefaultAgentCardResolver, JsonRpcTransportFactory, ServiceParameters,
  withA2AExtensions } from '@a2a-js/sdk/client';

const arg = (name) => {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0 || i + 1 >= process.argv.length) throw new Error(`--${name} is required`);
  return process.argv[i + 1];
};
const HSK = arg('hsk');
const PROXY = arg('proxy');
const MAKE_CERTS = arg('make-certs');
const HERE = dirname(fileURLToPath(import.meta.url));
const EXT = 'https://handshake.ai/ext/a2a/v1';

const work = mkdtempSync(join(tmpdir(), 'hsk-a2a-tls-'));
const children = [];
let failures = 0;
let passed = 0;
process.on('exit', () => {
  for (const c of children) {
    try { c.kill('SIGTERM'); } catch { /* gone */ }
  }
  rmSync(work, { recursive: true, force: true });
});
setTimeout(() => { console.error('tls e2e: timed out'); process.exit(3); }, 120_000).unref();

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
function hsk(args) {
  const r = spawnSync(HSK, args, { cwd: work, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`hsk ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
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

// Starts a child and waits for the stdout line that starts with `prefix`; resolves with
// {rest, proc, log}.
function start(command, args, prefix, opts = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: opts.cwd ?? work, stdio: ['pipe', 'pipe', 'pipe'] });
    children.push(child);
    const log = { text: '' };
    child.stderr.on('data', (d) => { process.stderr.write(d); log.text += d; });
    let buf = '';
    child.stdout.on('data', (d) => {
      buf += d;
      const line = buf.split('\n').find((l) => l.startsWith(prefix));
      if (line) resolve({ rest: line.slice(prefix.length).trim(), proc: child, log });
    });
    child.on('exit', (code) => reject(new Error(`${command} exited ${code}: ${log.text}`)));
  });
}

// ---- certificates, identities, configuration -----------------------------------------------------
const certs = join(work, 'certs');
{
  const r = spawnSync('bash', [MAKE_CERTS, certs], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`make_certs.sh failed: ${r.stderr}`);
}
const cert = (name) => join(certs, name);
const pem = (name) => readFileSync(cert(name));
const CA = pem('ca.pem');
const CLIENT = { cert: pem('client.pem'), key: pem('client.key') };
const did = {};
for (const who of ['org', 'agent', 'svc']) {
  did[who] = hsk(['keygen', '--kind', who, '--out', `${who}.key`]).stdout.trim();
  writeFileSync(file(`${who}.did.json`), hsk(['did', `${who}.key`]).stdout);
}
writeFileSync(file('service.yaml'), ['identity: svc.key', `trust_roots: [${did.org}]`,
  'did_documents: [org.did.json, agent.did.json, svc.did.json]', 'session_ttl_seconds: 300', ''].join('\n'));
const CAP = 'invoices.agent';
writeFileSync(file('skills.yaml'), ['unmapped: refuse', 'skills:',
  `  list-invoices: {capability: "${CAP}:list-invoices", constraints: {max_invoices: data.limit}}`,
  `  echo: {capability: "${CAP}:echo"}`, ''].join('\n'));
writeFileSync(file('chain.json'), hsk(['delegate', '--key', 'org.key', '--to', did.agent, '--capability', `${CAP}:*`,
  '--constraints', '{"max_invoices":100}']).stdout);

// A fetch over node's https module with its own TLS options (for the SDK's fetchImpl).
function tlsFetch(options) {
  return (input, init = {}) => new Promise((resolve, reject) => {
    const url = typeof input === 'string' || input instanceof URL ? String(input) : input.url;
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
function httpsGet(url, options = {}) {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { agent: false, ...options }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
  });
}
function servedFingerprint(port) {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, ca: CA }, () => {
      const fp = s.getPeerCertificate().fingerprint256;
      s.end();
      resolve(fp);
    });
    s.on('error', reject);
  });
}

// ---- the chain -----------------------------------------------------------------------------------------
const agentUpstream = (await start('node', [join(HERE, 'server.mjs')], 'A2A_URL ', { cwd: HERE })).rest;
const seen = { total: 0, authorized: 0 };
const reverse = https.createServer({ cert: pem('server.pem'), key: pem('server.key'), ca: CA, requestCert: true,
  rejectUnauthorized: true }, (req, res) => {
  seen.total++;
  if (req.socket.authorized) seen.authorized++;
  const headers = {};
  for (const [k, v] of Object.entries(req.headers)) {
    if (!['host', 'connection', 'keep-alive', 'transfer-encoding'].includes(k)) headers[k] = v;
  }
  const up = http.request(new URL(req.url, agentUpstream), { method: req.method, headers },
    (r) => { res.writeHead(r.statusCode, r.headers); r.pipe(res); });
  up.on('error', () => res.destroy());
  req.pipe(up);
});
await new Promise((r) => reverse.listen(0, '127.0.0.1', r));
reverse.unref();
const upstreamUrl = `https://127.0.0.1:${reverse.address().port}/`;

const service = await start(PROXY, ['--role', 'service', '--config', file('service.yaml'), '--skills', file('skills.yaml'),
  '--listen', '127.0.0.1:0', '--upstream', upstreamUrl, '--ca-file', cert('ca.pem'), '--client-cert', cert('client.pem'),
  '--client-key', cert('client.key'), '--tls-cert', cert('server.pem'), '--tls-key', cert('server.key'),
  '--tls-client-ca', cert('ca.pem')], 'listening on ');
const serviceAt = `https://${service.rest}/`;
copyFileSync(cert('server.pem'), file('agent-tls.pem'));
copyFileSync(cert('server.key'), file('agent-tls.key'));
chmodSync(file('agent-tls.key'), 0o600);
const agent = await start(PROXY, ['--role', 'agent', '--key', file('agent.key'), '--chain', file('chain.json'),
  '--listen', '127.0.0.1:0', '--upstream', serviceAt, '--service-did', did.svc, '--ca-file', cert('ca.pem'),
  '--client-cert', cert('client.pem'), '--client-key', cert('client.key'), '--tls-cert', file('agent-tls.pem'),
  '--tls-key', file('agent-tls.key')], 'listening on ');
const agentAt = `https://${agent.rest}/`;
const agentPort = Number(agent.rest.split(':').pop());

const fetchImpl = tlsFetch({ ca: CA });
const factory = new ClientFactory(ClientFactoryOptions.createFrom(ClientFactoryOptions.default,
  { transports: [new JsonRpcTransportFactory({ fetchImpl })], cardResolver: new DefaultAgentCardResolver({ fetchImpl }) }));
const textPart = (value) => ({ content: { $case: 'text', value }, mediaType: 'text/plain', filename: '', metadata: undefined });
const dataPart = (value) => ({ content: { $case: 'data', value }, mediaType: 'application/json', filename: '', metadata: undefined });
const send = (parts, skill) => ({
  tenant: '', metadata: {}, configuration: undefined,
  message: { messageId: crypto.randomUUID(), role: Role.ROLE_USER, taskId: '', contextId: '', parts, extensions: [],
             metadata: { [EXT]: { skill } }, referenceTaskIds: [] },
});
const opts = { serviceParameters: ServiceParameters.create(withA2AExtensions(EXT)) };
const ext = (o) => o?.metadata?.[EXT];

await step('the service proxy\'s card, over https with a client certificate, names its https URL', async () => {
  const r = await httpsGet(`${serviceAt}.well-known/agent-card.json`, { ca: CA, ...CLIENT });
  assert.equal(r.status, 200, r.body);
  const card = JSON.parse(r.body);
  assert.equal(card.supportedInterfaces[0].url, serviceAt);
  assert.ok(seen.total > 0 && seen.authorized === seen.total, 'the upstream saw the proxy\'s client certificate');
});

const client = await factory.createFromUrl(agentAt);
await step('the A2A SDK client over https -> agent proxy -> service proxy (mTLS) -> https upstream: acceptance and receipt', async () => {
  const msg = await client.sendMessage(send([textPart('over tls')], 'echo'), opts);
  assert.equal(msg.parts[0].content.value, 'echo: over tls');
  assert.ok(ext(msg)?.acceptance, 'acceptance');
  assert.equal(ext(msg)?.receipt?.iss, did.svc);
});

await step('streaming over TLS: events relayed, the final status update carries the receipt', async () => {
  let events = 0;
  let receipt = null;
  for await (const ev of client.sendMessageStream(send([dataPart({ limit: 3 })], 'list-invoices'), opts)) {
    events++;
    if (ev.payload?.$case === 'statusUpdate' && ext(ev.payload.value)?.receipt) receipt = ext(ev.payload.value).receipt;
  }
  assert.ok(events >= 2, `${events} events`);
  assert.ok(receipt, 'a receipt on the final status update');
});

await step('mTLS required: a client without a certificate is refused at the handshake', async () => {
  await assert.rejects(httpsGet(`${serviceAt}.well-known/agent-card.json`, { ca: CA }));
});

await step('a malformed upstream URL is a start-up error', async () => {
  for (const bad of ['http://exa mple/', 'ftp://127.0.0.1/', '127.0.0.1:80']) {
    const r = spawnSync(PROXY, ['--role', 'agent', '--key', file('agent.key'), '--chain', file('chain.json'),
      '--listen', '127.0.0.1:0', '--upstream', bad], { cwd: work, encoding: 'utf8', timeout: 10000 });
    assert.equal(r.status, 2, `${bad}: exit ${r.status}: ${r.stderr}`);
    assert.match(r.stderr, /--upstream/);
  }
});

await step('SIGHUP rotates the agent proxy\'s certificate; the listener stays', async () => {
  const fp = (name) => new X509Certificate(pem(name)).fingerprint256;
  assert.equal(await servedFingerprint(agentPort), fp('server.pem'));
  copyFileSync(cert('server2.pem'), file('agent-tls.pem'));
  copyFileSync(cert('server2.key'), file('agent-tls.key'));
  agent.proc.kill('SIGHUP');
  await waitFor(() => /reloaded/.test(agent.log.text), 5000, 'the reload');
  assert.equal(await servedFingerprint(agentPort), fp('server2.pem'));
  const msg = await client.sendMessage(send([textPart('rotated')], 'echo'), opts);
  assert.equal(msg.parts[0].content.value, 'echo: rotated');
});

console.log(`${passed} passed, ${failures} failed`);
process.exit(failures === 0 ? 0 : 1);
