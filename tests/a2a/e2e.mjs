// End-to-end: the official A2A SDK client (@a2a-js/sdk, v1.0 and its v0.3 transport) ->
// hsk-a2a-proxy --role agent -> hsk-a2a-proxy --role service -> an unchanged @a2a-js/sdk agent
// (server.mjs) with three skills, one of them an AP2 payment (v0.1 and v0.2 SD-JWT mandates; the paid
// task's receipt is anchored in a registry started here and bundled for dispute, then verified
// offline). The service proxy restarts under a running agent proxy, whose warm session is then
// refused and retried cold, unseen by the client. Every process is started here and stopped at the
// end.
//
// usage: node e2e.mjs --hsk PATH --proxy PATH
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, randomBytes, sign as signWith } from 'node:crypto';
import { spawn, spawnSync } from 'node:child_process';
import { createServer, request as httpRequest } from 'node:http';
import { mkdtempSync, writeFileSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Role, TaskState } from '@a2a-js/sdk';
import { ClientFactory, ClientFactoryOptions, JsonRpcTransportFactory, ServiceParameters, withA2AExtensions } from '@a2a-js/sdk/client';
import { LegacyJsonRpcTransport } from '@a2a-js/sdk/compat/v0_3/client';

const arg = (name) => {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0 || i + 1 >= process.argv.length) throw new Error(`--${name} is required`);
  return process.argv[i + 1];
};
const HSK = arg('hsk');
const PROXY = arg('proxy');
const HERE = dirname(fileURLToPath(import.meta.url));
const EXT = 'https://handshake.ai/ext/a2a/v1';

const work = mkdtempSync(join(tmpdir(), 'hsk-a2a-e2e-'));
const children = [];
let failures = 0;
let passed = 0;
process.on('exit', () => {
  for (const c of children) {
    try { c.kill('SIGTERM'); } catch { /* gone */ }
  }
  rmSync(work, { recursive: true, force: true });
});
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
  if (expect !== null && r.status !== expect) throw new Error(`hsk ${args.join(' ')} exited ${r.status} (want ${expect}): ${r.stderr}`);
  return r;
}
const file = (name) => join(work, name);
const writeJson = (name, value) => { writeFileSync(file(name), JSON.stringify(value)); return file(name); };

// Starts a child and waits for the stdout line that starts with `prefix`; returns its rest.
// opts.log (an object) collects its stderr in log.text; opts.proc.current is set to the child.
function start(command, args, prefix, opts = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: opts.cwd ?? work, stdio: ['pipe', 'pipe', opts.log ? 'pipe' : 'inherit'] });
    children.push(child);
    if (opts.proc) opts.proc.current = child;
    child.stderr?.on('data', (d) => {
      process.stderr.write(d);
      opts.log.text += d;
    });
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`${command} did not start`)), 20_000);
    child.stdout.on('data', (d) => {
      buf += d;
      const line = buf.split('\n').find((l) => l.startsWith(prefix));
      if (line) { clearTimeout(timer); resolve(line.slice(prefix.length).trim()); }
    });
    child.on('exit', (code) => reject(new Error(`${command} exited ${code}`)));
  });
}

// ---- identities, delegations, configuration ------------------------------------------------------
const did = {};
for (const who of ['org', 'agent', 'svc', 'registry']) {
  did[who] = hsk(['keygen', '--kind', who === 'registry' ? 'svc' : who, '--out', `${who}.key`]).stdout.trim();
  writeFileSync(file(`${who}.did.json`), hsk(['did', `${who}.key`]).stdout);
}
writeFileSync(file('service.yaml'), [
  'identity: svc.key',
  `trust_roots: [${did.org}]`,
  'did_documents: [org.did.json, agent.did.json, svc.did.json]',
  'session_ttl_seconds: 300',
  'clock_skew_seconds: 1',
  'capabilities: caps.json',
  '',
].join('\n'));
writeFileSync(file('caps.json'), hsk(['ap2', 'capabilities']).stdout);
const CAP = 'invoices.agent';
writeFileSync(file('skills.yaml'), [
  'unmapped: refuse',
  'skills:',
  `  list-invoices: {capability: "${CAP}:list-invoices", constraints: {max_invoices: data.limit}}`,
  `  echo: {capability: "${CAP}:echo"}`,
  '  pay: {capability: pay.transfer}',
  '',
].join('\n'));
writeFileSync(file('chain.json'), hsk(['delegate', '--key', 'org.key', '--to', did.agent, '--capability', `${CAP}:*`,
  '--constraints', '{"max_invoices":100}']).stdout);
writeFileSync(file('chain-short.json'), hsk(['delegate', '--key', 'org.key', '--to', did.agent, '--capability', `${CAP}:*`,
  '--ttl', '1']).stdout);
const shortExpires = Date.now() + 1000;
// AP2: at most 200.00 EUR, only Example Shoes, within this week.
const day = (d) => new Date(Date.now() + d * 86400000).toISOString().slice(0, 10);
writeFileSync(file('chain-pay.json'), hsk(['delegate', '--key', 'org.key', '--to', did.agent, '--capability', 'pay.transfer',
  '--constraints', JSON.stringify({ max_amount: 20000, currency: ['EUR'], payee: ['Example Shoes', 'merchant-example-shoes'],
                                    execution_window: [day(-3), day(3)] })]).stdout);
// The issuer of v0.2 SD-JWT payment mandates (the user's credential provider): an ES256 key.
const issuer = generateKeyPairSync('ec', { namedCurve: 'P-256' });
writeFileSync(file('issuer.jwk'), JSON.stringify(issuer.publicKey.export({ format: 'jwk' })));

const upstream = await start('node', [join(HERE, 'server.mjs')], 'A2A_URL ', { cwd: HERE });
const serviceProc = {};
const startService = (listen) => start(PROXY, ['--role', 'service', '--config', file('service.yaml'), '--skills',
  file('skills.yaml'), '--ap2-skill', 'pay', '--ap2-issuer-key', file('issuer.jwk'), '--listen', listen,
  '--receipts', file('issued.jsonl'), '--audit-log', file('audit.jsonl'), '--upstream', upstream], 'listening on ',
  { proc: serviceProc });
const serviceListen = await startService('127.0.0.1:0');
const serviceAt = `http://${serviceListen}/`;
// A new service process on the same address: the warm sessions of the old one are gone.
async function restartService() {
  const old = serviceProc.current;
  const gone = new Promise((r) => old.on('exit', r));
  old.kill('SIGTERM');
  await gone;
  await startService(serviceListen);
}
const agentAt = async (chain, receipts, extra = [], log = undefined) => `http://${await start(PROXY, ['--role', 'agent', '--key',
  file('agent.key'), '--chain', file(chain), '--listen', '127.0.0.1:0', '--upstream', serviceAt, '--service-did', did.svc,
  '--receipts', file(receipts), ...extra], 'listening on ', { log })}/`;
const agentProxy = await agentAt('chain.json', 'receipts.jsonl');

// ---- helpers ----------------------------------------------------------------------------------------
const factory = new ClientFactory(ClientFactoryOptions.createFrom(ClientFactoryOptions.default,
  { transports: [new JsonRpcTransportFactory()] }));
const dataPart = (value) => ({ content: { $case: 'data', value }, mediaType: 'application/json', filename: '', metadata: undefined });
const textPart = (value) => ({ content: { $case: 'text', value }, mediaType: 'text/plain', filename: '', metadata: undefined });
const send = (parts, skill) => ({
  tenant: '', metadata: {}, configuration: undefined,
  message: { messageId: crypto.randomUUID(), role: Role.ROLE_USER, taskId: '', contextId: '', parts, extensions: [],
             metadata: skill ? { [EXT]: { skill } } : {}, referenceTaskIds: [] },
});
const opts = { serviceParameters: ServiceParameters.create(withA2AExtensions(EXT)) };

// A raw JSON-RPC exchange (the wire form), for offline checks and hand-made requests.
async function rpc(url, body, { version = '1.0', extensions = [EXT] } = {}) {
  const headers = { 'Content-Type': 'application/json' };
  if (version) headers['A2A-Version'] = version;
  if (extensions.length) headers[version === '1.0' ? 'A2A-Extensions' : 'X-A2A-Extensions'] = extensions.join(', ');
  const r = await fetch(url, { method: 'POST', headers, body: JSON.stringify(body) });
  return { status: r.status, headers: r.headers, body: await r.json() };
}
const ext = (o) => o?.metadata?.[EXT];
// Checks a receipt offline with the service's DID Document against what it commits to.
function verifyReceiptOffline(receipt, subject, n) {
  hsk(['receipt', 'verify', '--did-doc', file('svc.did.json'), '--result', writeJson(`subject-${n}.json`, subject),
    writeJson(`receipt-${n}.json`, receipt)]);
  hsk(['receipt', 'verify', '--did-doc', file('svc.did.json'), '--result', writeJson(`forged-${n}.json`, { ...subject, state: 'x' }),
    file(`receipt-${n}.json`)], { expect: 1 });
}
// What a receipt commits to drops our metadata member, and "metadata" when nothing else is left.
const withoutExt = (o) => {
  const c = structuredClone(o);
  if (c.metadata) {
    delete c.metadata[EXT];
    if (Object.keys(c.metadata).length === 0) delete c.metadata;
  }
  return c;
};
function refusalCode(task) {
  const refusal = ext(task.status.message).refusal;
  assert.ok(refusal, 'the rejected task carries the signed refusal');
  hsk(['verify', '--did-doc', file('svc.did.json'), writeJson('refusal.json', refusal)]);
  return refusal.reason.code;
}

// ---- v1.0 through both proxies with the SDK client ---------------------------------------------------
const client = await factory.createFromUrl(agentProxy);

await step('the Agent Card declares the Handshake extension with its skills', async () => {
  const card = await (await fetch(`${agentProxy}.well-known/agent-card.json`)).json();
  const e = card.capabilities.extensions.find((x) => x.uri === EXT);
  assert.ok(e, 'extension declared');
  assert.equal(e.required, true);
  assert.equal(e.params.service_did, did.svc);
  assert.equal(e.params.skills['list-invoices'].capability, `${CAP}:list-invoices`);
  assert.equal(e.params.skills['list-invoices'].constraints.max_invoices.from, 'data.limit');
  assert.equal(card.supportedInterfaces[0].url, agentProxy, 'the card sends clients back through the proxy');
});

await step('an accepted task returns the agent\'s real result, the acceptance and a receipt', async () => {
  const task = await client.sendMessage(send([dataPart({ limit: 5 })], 'list-invoices'), opts);
  assert.equal(task.status.state, TaskState.TASK_STATE_COMPLETED);
  assert.equal(task.artifacts[0].parts[0].content.value.invoices.length, 5);
  assert.ok(ext(task.status.message).acceptance, 'acceptance in the status message');
  const receipt = ext(task).receipt;
  assert.ok(receipt, 'receipt in the task metadata');
  assert.equal(receipt.handshake_id, ext(task.status.message).acceptance.request_id);
  assert.deepEqual(ext(task.artifacts[0]).receipt, receipt, 'and on the artifact');
});

await step('the receipt verifies offline against the task as it travelled (wire form)', async () => {
  const r = await rpc(agentProxy, { jsonrpc: '2.0', id: 7, method: 'SendMessage', params: { message: {
    messageId: crypto.randomUUID(), role: 'ROLE_USER', parts: [{ data: { limit: 2 } }], metadata: { [EXT]: { skill: 'list-invoices' } } } } });
  const task = r.body.result.task;
  assert.equal(r.headers.get('A2A-Extensions'), EXT, 'the activated extension is echoed');
  const subject = { a2a_task_id: task.id, a2a_context_id: task.contextId, state: task.status.state,
                    artifacts: task.artifacts.map(withoutExt) };
  verifyReceiptOffline(ext(task).receipt, subject, 1);
});

await step('a direct message reply carries acceptance and receipt', async () => {
  const msg = await client.sendMessage(send([textPart('hello')], 'echo'), opts);
  assert.equal(msg.parts[0].content.value, 'echo: hello');
  assert.ok(ext(msg).acceptance);
  assert.ok(ext(msg).receipt);
});

await step('more than the delegation allows: a rejected task with a signed scope_exceeded', async () => {
  const task = await client.sendMessage(send([dataPart({ limit: 500 })], 'list-invoices'), opts);
  assert.equal(task.status.state, TaskState.TASK_STATE_REJECTED);
  assert.equal(refusalCode(task), 'scope_exceeded');
});

await step('streaming: events relayed, the final status update carries the receipt', async () => {
  const kinds = [];
  let receipt = null;
  for await (const ev of client.sendMessageStream(send([dataPart({ limit: 3 })], 'list-invoices'), opts)) {
    kinds.push(ev.payload?.$case);
    if (ev.payload?.$case === 'statusUpdate' && ext(ev.payload.value)?.receipt) receipt = ext(ev.payload.value).receipt;
  }
  assert.ok(kinds.includes('artifactUpdate'), `events: ${kinds}`);
  assert.ok(receipt, 'receipt on the final status update');
});

// A peer that frames its event streams with CRLF (allowed by the SSE format): a pass-through in
// front of `target` that turns every LF of a text/event-stream body into CRLF as the bytes pass.
function crlfFraming(target) {
  const t = new URL(target);
  const server = createServer((req, res) => {
    const up = httpRequest({ host: t.hostname, port: t.port, path: req.url, method: req.method,
      headers: { ...req.headers, host: t.host } }, (r) => {
      const sse = String(r.headers['content-type'] ?? '').startsWith('text/event-stream');
      const headers = { ...r.headers };
      if (sse) delete headers['content-length'];
      res.writeHead(r.statusCode, headers);
      r.on('data', (chunk) => res.write(sse ? Buffer.from(chunk.toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1') : chunk));
      r.on('end', () => res.end());
    });
    up.on('error', () => { res.writeHead(502); res.end(); });
    req.pipe(up);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    children.push({ kill: () => server.close() });
    resolve(`http://127.0.0.1:${server.address().port}`);
  }));
}

await step('streaming with CRLF framing on both hops: events relayed one by one, the receipt verifies', async () => {
  // agent proxy -> CRLF -> service proxy -> CRLF -> the A2A SDK server
  const toAgent = await crlfFraming(upstream);
  const crlfService = await start(PROXY, ['--role', 'service', '--config', file('service.yaml'), '--skills',
    file('skills.yaml'), '--listen', '127.0.0.1:0', '--upstream', toAgent], 'listening on ');
  const toService = await crlfFraming(`http://${crlfService}/`);
  const crlfAgent = await start(PROXY, ['--role', 'agent', '--key', file('agent.key'), '--chain', file('chain.json'),
    '--listen', '127.0.0.1:0', '--upstream', `${toService}/`, '--service-did', did.svc], 'listening on ');
  const c = await factory.createFromUrl(`http://${crlfAgent}/`);
  const kinds = [];
  let receipt = null;
  for await (const ev of c.sendMessageStream(send([dataPart({ limit: 3 })], 'list-invoices'), opts)) {
    kinds.push(ev.payload?.$case);
    if (ev.payload?.$case === 'statusUpdate' && ext(ev.payload.value)?.receipt) receipt = ext(ev.payload.value).receipt;
  }
  assert.ok(kinds.length >= 3, `events: ${kinds}`);
  assert.ok(kinds.includes('artifactUpdate'), `events: ${kinds}`);
  assert.ok(receipt, 'receipt on the final status update (the agent proxy verified it)');
});

await step('the agent proxy kept every verified receipt', async () => {
  const lines = readFileSync(file('receipts.jsonl'), 'utf8').trim().split('\n');
  assert.ok(lines.length >= 4, `${lines.length} receipts`);
  for (const l of lines) assert.equal(JSON.parse(l).receipt.iss, did.svc);
});

// ---- v0.3 through both proxies with the SDK's v0.3 transport ----------------------------------------
await step('v0.3: an accepted task with its receipt', async () => {
  const legacy = new LegacyJsonRpcTransport({ endpoint: agentProxy });
  const res = await legacy.sendMessage(send([dataPart({ limit: 4 })], 'list-invoices'),
    { serviceParameters: { 'X-A2A-Extensions': EXT } });
  const task = res.payload?.$case === 'task' ? res.payload.value : res;
  assert.equal(task.status.state, TaskState.TASK_STATE_COMPLETED);
  assert.ok(ext(task).receipt, 'receipt');
});

await step('v0.3 wire form: receipt verifies offline; over the limit is rejected', async () => {
  const ok = await rpc(agentProxy, { jsonrpc: '2.0', id: 8, method: 'message/send', params: { message: {
    kind: 'message', messageId: crypto.randomUUID(), role: 'user', parts: [{ kind: 'data', data: { limit: 1 } }],
    metadata: { [EXT]: { skill: 'list-invoices' } } } } }, { version: null });
  const task = ok.body.result;
  assert.equal(task.kind, 'task');
  assert.equal(task.status.state, 'completed');
  verifyReceiptOffline(ext(task).receipt, { a2a_task_id: task.id, a2a_context_id: task.contextId,
    state: 'completed', artifacts: task.artifacts.map(withoutExt) }, 2);
  const no = await rpc(agentProxy, { jsonrpc: '2.0', id: 9, method: 'message/send', params: { message: {
    kind: 'message', messageId: crypto.randomUUID(), role: 'user', parts: [{ kind: 'data', data: { limit: 101 } }],
    metadata: { [EXT]: { skill: 'list-invoices' } } } } }, { version: null });
  assert.equal(no.body.result.status.state, 'rejected');
  assert.equal(refusalCode(no.body.result), 'scope_exceeded');
});

// ---- a service restart under a running agent proxy: warm sessions refused, retried cold ------------
{
  const log = { text: '' };
  const retries = () => (log.text.match(/retrying once with a cold handshake/g) ?? []).length;
  const proxy = await agentAt('chain.json', 'receipts-restart.jsonl', [], log);
  const c = await factory.createFromUrl(proxy);
  const session = (task) => ext(task.status.message)?.acceptance?.session_token;
  let before;
  await step('restart: a warm send the new service instance refuses is retried cold; the client gets the task', async () => {
    const first = await c.sendMessage(send([dataPart({ limit: 2 })], 'list-invoices'), opts);
    before = session(first);
    assert.ok(before, 'a warm session was offered');
    const warm = await c.sendMessage(send([dataPart({ limit: 2 })], 'list-invoices'), opts);
    assert.equal(session(warm), before, 'the second send was warm');
    await restartService();
    const task = await c.sendMessage(send([dataPart({ limit: 3 })], 'list-invoices'), opts);
    assert.equal(task.status.state, TaskState.TASK_STATE_COMPLETED, JSON.stringify(task.status));
    assert.equal(task.artifacts[0].parts[0].content.value.invoices.length, 3);
    assert.ok(ext(task).receipt, 'receipt');
    assert.ok(session(task) && session(task) !== before, 'a new session: the answer is the cold retry\'s');
    assert.equal(retries(), 1);
  });
  await step('restart: a streamed warm send is retried cold; no rejected event reaches the client', async () => {
    await restartService();
    const states = [];
    let receipt = null;
    for await (const ev of c.sendMessageStream(send([dataPart({ limit: 2 })], 'list-invoices'), opts)) {
      const v = ev.payload?.value;
      if (v?.status?.state !== undefined) states.push(v.status.state);
      if (ev.payload?.$case === 'statusUpdate' && ext(v)?.receipt) receipt = ext(v).receipt;
    }
    assert.ok(!states.includes(TaskState.TASK_STATE_REJECTED), `states: ${states}`);
    assert.ok(receipt, 'receipt on the final status update');
    assert.equal(retries(), 2);
  });
  await step('restart: a refusal that does not end the session is not retried', async () => {
    const task = await c.sendMessage(send([dataPart({ limit: 500 })], 'list-invoices'), opts);
    assert.equal(refusalCode(task), 'scope_exceeded');
    assert.equal(retries(), 2);
  });
}

// ---- refusal paths, straight at the service proxy ----------------------------------------------------
function signedRequest(constraints, chain = 'chain.json') {
  return JSON.parse(hsk(['request', '--key', 'agent.key', '--chain', chain, '--to', did.svc, '--capability',
    `${CAP}:list-invoices`, '--constraints', JSON.stringify(constraints)]).stdout);
}
const handMade = (request, limit = 1) => ({ jsonrpc: '2.0', id: 10, method: 'SendMessage', params: { message: {
  messageId: crypto.randomUUID(), role: 'ROLE_USER', parts: [{ data: { limit } }],
  metadata: { [EXT]: request ? { skill: 'list-invoices', request } : { skill: 'list-invoices' } } } } });

await step('without activating the required extension: -32008', async () => {
  const r = await rpc(serviceAt, handMade(null), { extensions: [] });
  assert.equal(r.body.error?.code, -32008);
});
await step('activated but without a handshake: a signed policy_denied', async () => {
  const r = await rpc(serviceAt, handMade(null));
  assert.equal(refusalCode(r.body.result.task), 'policy_denied');
});
await step('a replayed request: replay_detected', async () => {
  const req = signedRequest({ max_invoices: 1 });
  const first = await rpc(serviceAt, handMade(req));
  assert.equal(first.body.result.task.status.state, 'TASK_STATE_COMPLETED');
  const again = await rpc(serviceAt, handMade(req));
  assert.equal(refusalCode(again.body.result.task), 'replay_detected');
});
// The reference SDKs' forms (docs/interop.md): no extension URI, the request in a header or in the
// JSON-RPC envelope's metadata, its JSON text in a member order that is not JCS's.
const reversedText = (v) => JSON.stringify(v, (k, x) => (x && typeof x === 'object' && !Array.isArray(x)
  ? Object.fromEntries(Object.entries(x).reverse()) : x));
const bare = (limit = 1) => ({ jsonrpc: '2.0', id: 11, method: 'SendMessage', params: { message: {
  messageId: crypto.randomUUID(), role: 'ROLE_USER', parts: [{ data: { limit } }] } } });
async function rawPost(body, headers = {}) {
  const r = await fetch(serviceAt, { method: 'POST', body: JSON.stringify(body),
    headers: { 'Content-Type': 'application/json', 'A2A-Version': '1.0', ...headers } });
  return { headers: r.headers, body: await r.json() };
}
await step('the reference Python SDK form: X-Handshake-Request in, X-Handshake-Receipt out', async () => {
  const req = signedRequest({ max_invoices: 1 });
  const text = reversedText(req);
  assert.notEqual(text, JSON.stringify(req));
  const r = await rawPost(bare(), { 'X-Handshake-Request': Buffer.from(text).toString('base64url') });
  assert.equal(r.body.result.task.status.state, 'TASK_STATE_COMPLETED', JSON.stringify(r.body));
  const receipt = ext(r.body.result.task).receipt;
  assert.ok(receipt?.id);
  assert.equal(r.headers.get('x-handshake-receipt'), receipt.id);
  const again = await rawPost(bare(), { 'X-Handshake-Request': Buffer.from(text).toString('base64url') });
  assert.equal(refusalCode(again.body.result.task), 'replay_detected');
  assert.equal(again.headers.get('x-handshake-receipt'), null);
  const padded = Buffer.from(reversedText(signedRequest({ max_invoices: 1 }))).toString('base64') + '=';
  const bad = await rawPost(bare(), { 'X-Handshake-Request': padded });
  assert.equal(refusalCode(bad.body.result.task), 'protocol_version_unsupported');
});
await step('the reference TypeScript SDK form: metadata.handshake in the envelope, receipt_id in the answer', async () => {
  const body = { ...bare(), metadata: { handshake: { request: signedRequest({ max_invoices: 1 }), spec_version: '0.2.3' } } };
  const r = await rawPost(body);
  assert.equal(r.body.result.task.status.state, 'TASK_STATE_COMPLETED', JSON.stringify(r.body));
  assert.equal(r.body.metadata?.handshake?.receipt_id, ext(r.body.result.task).receipt.id);
});
await step('a request declaring 10 for a call that asks 50: scope_exceeded from the real data', async () => {
  const r = await rpc(serviceAt, handMade(signedRequest({ max_invoices: 10 }), 50));
  assert.equal(refusalCode(r.body.result.task), 'scope_exceeded');
});
await step('an expired delegation: expired', async () => {
  const wait = shortExpires + 2500 - Date.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  const proxy = await agentAt('chain-short.json', 'receipts-short.jsonl');
  const c = await factory.createFromUrl(proxy);
  const task = await c.sendMessage(send([dataPart({ limit: 1 })], 'list-invoices'), opts);
  assert.equal(refusalCode(task), 'expired');
});
await step('an unmapped skill: policy_denied', async () => {
  const task = await client.sendMessage(send([textPart('x')], 'delete-everything'), opts);
  assert.equal(task.status.state, TaskState.TASK_STATE_REJECTED);
  assert.equal(refusalCode(task), 'policy_denied');
});
await step('the service proxy kept the receipts it issued and the refusals it signed', async () => {
  const records = readFileSync(file('issued.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const receipts = records.filter((r) => r.kind === 'receipt');
  const refusals = records.filter((r) => r.kind === 'refusal');
  assert.ok(receipts.length >= 4, `${receipts.length} receipts kept`);
  for (const r of receipts) assert.equal(r.receipt.iss, did.svc);
  const codes = refusals.map((r) => r.refusal.reason.code);
  for (const code of ['scope_exceeded', 'replay_detected', 'policy_denied']) assert.ok(codes.includes(code), `refusals kept: ${codes}`);
});

await step('operations: /metrics counts a2a decisions by code, /readyz is ready, the audit log names every receipt', async () => {
  const metrics = await (await fetch(`${serviceAt}metrics`)).text();
  const sum = (re) => [...metrics.matchAll(re)].reduce((a, m) => a + Number(m[1]), 0);
  for (const code of ['replay_detected', 'scope_exceeded', 'policy_denied']) {
    assert.ok(sum(new RegExp(`^hsk_decisions_total\\{transport="a2a",outcome="refused",code="${code}",[^}]*\\} (\\d+)$`, 'gm')) >= 1,
      `${code} counted:\n${metrics}`);
  }
  assert.ok(/^hsk_verification_seconds_count\{transport="a2a",path="cold"\} [1-9]/m.test(metrics), 'verification latency');
  const ready = await fetch(`${serviceAt}readyz`);
  assert.equal(ready.status, 200, await ready.text());
  const audit = readFileSync(file('audit.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const audited = new Set(audit.map((l) => l.receipt_id).filter(Boolean));
  const issued = readFileSync(file('issued.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l))
    .filter((r) => r.kind === 'receipt').map((r) => r.receipt.id);
  for (const id of issued) assert.ok(audited.has(id), `receipt ${id} has its audit line`);
  assert.ok(audit.every((l) => l.transport === 'a2a' && (l.outcome === 'accepted' || l.code)), 'every line has its outcome');
});

await step('--check: both roles against the running agents; a mapped skill the card lacks is a warning; mistakes fail', async () => {
  const check = (args) => spawnSync(PROXY, [...args, '--check'], { cwd: work, encoding: 'utf8', timeout: 30000 });
  writeFileSync(file('skills-typo.yaml'), readFileSync(file('skills.yaml'), 'utf8').replace('  echo:', '  ech0:'));
  const svc = check(['--role', 'service', '--config', file('service.yaml'), '--skills', file('skills-typo.yaml'),
    '--listen', '127.0.0.1:0', '--upstream', upstream]);
  assert.equal(svc.status, 0, svc.stdout + svc.stderr);
  assert.match(svc.stdout, /^ok: the upstream agent offers 3 skills$/m);
  assert.match(svc.stdout, /^warning: .*skill 'ech0' is mapped but the upstream's Agent Card does not offer it/m);
  const agent = check(['--role', 'agent', '--key', file('agent.key'), '--chain', file('chain.json'), '--listen', '127.0.0.1:0',
    '--upstream', serviceAt, '--service-did', did.svc]);
  assert.equal(agent.status, 0, agent.stdout + agent.stderr);
  assert.match(agent.stdout, /^ok: the service's Agent Card \(Handshake extension, service DID\)$/m);
  const wrong = check(['--role', 'agent', '--key', file('svc.key'), '--chain', file('chain.json'), '--listen', '127.0.0.1:0',
    '--upstream', serviceAt, '--service-did', did.org]);
  assert.equal(wrong.status, 1);
  assert.match(wrong.stdout, /^error: .*chain\.json\[0\] .*held by did:hsk:agent:\S+, not by did:hsk:svc:/m);
  const bare = check(['--role', 'agent', '--key', file('agent.key'), '--chain', file('chain.json'), '--listen', '127.0.0.1:0',
    '--upstream', upstream, '--service-did', did.svc]);
  assert.equal(bare.status, 1);
  assert.match(bare.stdout, /^error: the service's Agent Card .*does not declare the Handshake extension/m);
});

await step('malformed JSON gets a JSON-RPC parse error', async () => {
  const r = await fetch(serviceAt, { method: 'POST', headers: { 'Content-Type': 'application/json', 'A2A-Version': '1.0' },
                                     body: '{"jsonrpc":"2.0","id":1,"id":2}' });
  assert.equal((await r.json()).error.code, -32700);
});

// ---- AP2: payment mandates over the same path, receipts bound to them, dispute bundles --------------
// The agent proxy knows "pay" is a payment skill: it checks those receipts against the mandate it
// sent and the PaymentReceipt it got back.
const payProxy = await agentAt('chain-pay.json', 'receipts-pay.jsonl', ['--ap2-skill', 'pay']);
const mandate = (value, merchant, when) => ({ 'ap2.mandates.PaymentMandate': { payment_mandate_contents: {
  payment_mandate_id: crypto.randomUUID().replace(/-/g, ''), payment_details_id: 'order_shoes_123',
  payment_details_total: { label: 'Total', amount: { currency: 'EUR', value }, pending: null, refund_period: 30 },
  payment_response: { request_id: 'order_shoes_123', method_name: 'CARD', details: { token: { value: 'tok_7Hc9' } } },
  merchant_agent: merchant, timestamp: when }, user_authorization: null } });
const b64u = (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
// A v0.2 payment mandate: an SD-JWT VC (vct mandate.payment.1, ES256) whose payee and amount are
// selectively disclosed.
function sdJwtMandate(amount, payee = 'merchant-example-shoes', date = day(0)) {
  const disclosures = [['payee', { id: payee, name: 'Example Shoes' }], ['payment_amount', { amount, currency: 'EUR' }]]
    .map(([k, v]) => b64u([randomBytes(16).toString('base64url'), k, v]));
  const now = Math.floor(Date.now() / 1000);
  const payload = { vct: 'mandate.payment.1', iat: now - 5, exp: now + 3600, transaction_id: `tx_${randomBytes(8).toString('hex')}`,
    payment_instrument: { id: 'card_1', type: 'card' }, execution_date: date, _sd_alg: 'sha-256',
    _sd: disclosures.map((d) => createHash('sha256').update(d).digest('base64url')) };
  const input = `${b64u({ alg: 'ES256', typ: 'dc+sd-jwt' })}.${b64u(payload)}`;
  const signature = signWith('sha256', Buffer.from(input), { key: issuer.privateKey, dsaEncoding: 'ieee-p1363' });
  return { 'ap2.mandates.PaymentMandateSdJwt': `${input}.${signature.toString('base64url')}~${disclosures.join('~')}~` };
}
const pay = (m) => rpc(payProxy, { jsonrpc: '2.0', id: 20, method: 'SendMessage', params: { message: {
  messageId: crypto.randomUUID(), role: 'ROLE_USER', parts: [{ data: m }], metadata: { [EXT]: { skill: 'pay' } } } } });
const nowIso = new Date().toISOString();
const registryAt = `http://${await start(HSK, ['registry', 'serve', '--key', file('registry.key'), '--db', file('log.db'),
  '--port', '0', '--did-doc', file('svc.did.json')], 'listening on ')}`;
const bundleDocs = ['--did-doc', file('org.did.json'), '--did-doc', file('agent.did.json'), '--did-doc', file('svc.did.json'),
  '--registry-did-doc', file('registry.did.json'), '--trust-root', did.org, '--issuer-key', file('issuer.jwk'),
  '--require-registry'];

// A paid task: the receipt beside the mandate and the merchant's PaymentReceipt, committing to both;
// anchored in the registry, bundled with the delegation chain and the acceptance, verified offline.
function disputeBundle(r, n) {
  const task = r.body.result?.task;
  assert.equal(task?.status.state, 'TASK_STATE_COMPLETED', JSON.stringify(r.body));
  const pr = task.artifacts[0].parts[0].data['ap2.PaymentReceipt'];
  assert.ok(pr, 'the merchant\'s PaymentReceipt');
  const { receipt, ap2 } = ext(task);
  assert.ok(receipt && ap2, 'the receipt and, beside it, what it commits to');
  assert.deepEqual(ap2.payment_receipt, pr);
  assert.deepEqual(ext(task.artifacts[0]).receipt, receipt, 'the receipt rides on the payment artifact too');
  assert.equal(receipt.result_summary.ap2_payment_status, 'success');
  verifyReceiptOffline(receipt, ap2.result, `pay-${n}`);
  writeJson(`mandate-${n}.json`, { [ap2.mandate_key]: ap2.mandate });
  writeJson(`pr-${n}.json`, pr);
  writeJson(`acc-${n}.json`, ext(task.status.message).acceptance);
  writeJson(`rc-${n}.json`, receipt);
  writeFileSync(file(`anchor-${n}.json`), hsk(['registry', 'anchor', '--url', registryAt, file(`rc-${n}.json`)]).stdout);
  hsk(['ap2', 'bundle', '--mandate', file(`mandate-${n}.json`), '--chain', file('chain-pay.json'), '--acceptance',
    file(`acc-${n}.json`), '--receipt', file(`rc-${n}.json`), '--payment-receipt', file(`pr-${n}.json`), '--anchor',
    file(`anchor-${n}.json`), '--out', file(`bundle-${n}.json`)]);
  const verdict = hsk(['verify', 'bundle', ...bundleDocs, file(`bundle-${n}.json`)]).stdout;
  assert.match(verdict, /^valid: /, verdict);
  // HSK_A2A_EXAMPLE_DIR=DIR keeps the exchange and its bundle (docs/a2a.md and docs/ap2.md show them).
  if (process.env.HSK_A2A_EXAMPLE_DIR) {
    writeFileSync(join(process.env.HSK_A2A_EXAMPLE_DIR, `paid-task-${n}.json`), JSON.stringify(r.body, null, 2));
    writeFileSync(join(process.env.HSK_A2A_EXAMPLE_DIR, `bundle-${n}.json`), readFileSync(file(`bundle-${n}.json`)));
    writeFileSync(join(process.env.HSK_A2A_EXAMPLE_DIR, `verdict-${n}.txt`), verdict);
  }
  return { task, receipt, bundle: JSON.parse(readFileSync(file(`bundle-${n}.json`), 'utf8')) };
}
function tamperedBundleRefused(bundle, edit, reason, n) {
  const b = structuredClone(bundle);
  edit(b);
  const r = hsk(['verify', 'bundle', ...bundleDocs, writeJson(`tampered-${n}.json`, b)], { expect: 1 });
  assert.match(r.stderr, reason);
}

await step('AP2 v0.1: a mandate within the delegation is paid; its dispute bundle verifies offline', async () => {
  const { receipt, bundle } = disputeBundle(await pay(mandate(125.0, 'Example Shoes', nowIso)), 'v01');
  const kept = readFileSync(file('receipts-pay.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).receipt.id);
  assert.ok(receipt.id && kept.includes(receipt.id), 'the agent proxy verified the payment receipt and kept it');
  tamperedBundleRefused(bundle, (b) => { b.payment_receipt.amount.value = 12.5; }, /ap2.receipt_mismatch/, 'v01-pr');
  tamperedBundleRefused(bundle, (b) => { b.mandate.value.payment_mandate_contents.merchant_agent = 'Mallory Mart'; },
    /ap2.bundle_chain: scope_exceeded/, 'v01-merchant');
});
await step('AP2 v0.2: an SD-JWT payment mandate within the delegation is paid; its bundle verifies offline', async () => {
  const { bundle } = disputeBundle(await pay(sdJwtMandate(12500)), 'v02');
  // Another genuine mandate of the same amount is not the one the receipt commits to.
  tamperedBundleRefused(bundle, (b) => { b.mandate.value = sdJwtMandate(12500)['ap2.mandates.PaymentMandateSdJwt']; },
    /receipt.result_mismatch/, 'v02-other');
});
await step('AP2: over the amount, another merchant, outside the window (v0.1 and v0.2): signed scope_exceeded', async () => {
  for (const m of [mandate(250.0, 'Example Shoes', nowIso), mandate(10.0, 'Other Shop', nowIso),
                   mandate(10.0, 'Example Shoes', new Date(Date.now() + 30 * 86400000).toISOString()),
                   sdJwtMandate(25000), sdJwtMandate(1000, 'merchant-other'), sdJwtMandate(1000, undefined, day(30))]) {
    const r = await pay(m);
    assert.equal(r.body.result?.task?.status.state, 'TASK_STATE_REJECTED', JSON.stringify(r.body));
    assert.equal(refusalCode(r.body.result.task), 'scope_exceeded');
  }
});
await step('AP2: no mandate, or an SD-JWT mandate with a bad signature: a signed policy_denied bound to the request', async () => {
  const forged = sdJwtMandate(1000);
  const sd = forged['ap2.mandates.PaymentMandateSdJwt'];
  const dot = sd.lastIndexOf('.', sd.indexOf('~'));
  forged['ap2.mandates.PaymentMandateSdJwt'] = `${sd.slice(0, dot + 1)}${sd[dot + 1] === 'A' ? 'B' : 'A'}${sd.slice(dot + 2)}`;
  for (const m of [{ note: 'no mandate' }, forged]) {
    const r = await pay(m);
    // The refusal names the request, so the agent proxy verifies it and passes the rejected task on.
    assert.equal(r.body.result?.task?.status.state, 'TASK_STATE_REJECTED', JSON.stringify(r.body));
    assert.equal(refusalCode(r.body.result.task), 'policy_denied');
    assert.notEqual(ext(r.body.result.task.status.message).refusal.request_id, 'hs_00000000000000000000000000');
  }
});

console.log(`${passed} passed, ${failures} failed`);
process.exit(failures === 0 ? 0 : 1);
