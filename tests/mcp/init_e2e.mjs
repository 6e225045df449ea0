// End-to-end of a newcomer's first hour: `hsk init mcp DIR`, then the official MCP SDK client through
// hsk-mcp-proxy --role agent -> hsk-mcp-proxy --role service -> @modelcontextprotocol/server-everything
// over stdio, started with exactly the command init printed (parsed from its stdout and run by
// /bin/sh, so a wrong printed command fails here). The mapped echo tool runs with a receipt, an
// unmapped tool is refused, get-sum's arguments are checked against the delegation, and the printed
// renewal command works. Also: `hsk init a2a`, `--ttl`, `hsk init http` with hsk gate in front of a small API, a non-empty DIR refused,
// and `hsk demo --keep DIR`.
//
// usage: node init_e2e.mjs --hsk PATH --proxy PATH
// Runs from a directory whose node_modules (here or above) holds the pinned packages: the printed
// `npx -y @modelcontextprotocol/server-everything` resolves the installed package from there.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import http from 'node:http';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, rmSync, existsSync, statSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';

const arg = (name) => {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0 || i + 1 >= process.argv.length) throw new Error(`--${name} is required`);
  return process.argv[i + 1];
};
const HSK = resolve(arg('hsk'));
const PROXY = resolve(arg('proxy'));
// The printed commands name the binaries; they are found on PATH, as after an install. npx must
// not reach the network: the package is installed next to this script.
const ENV = { ...process.env, PATH: [dirname(HSK), dirname(PROXY), process.env.PATH].join(':'), npm_config_offline: 'true' };

const work = mkdtempSync(join(tmpdir(), 'hsk-init-e2e-'));
let client = null;
let failures = 0;
let passed = 0;
process.on('exit', () => rmSync(work, { recursive: true, force: true }));
setTimeout(() => { console.error('init_e2e: timed out'); process.exit(3); }, 150_000).unref();

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
  const r = spawnSync(HSK, args, { cwd: work, encoding: 'utf8', env: ENV });
  if (expect !== null && r.status !== expect) {
    throw new Error(`hsk ${args.join(' ')} exited ${r.status} (want ${expect}): ${r.stderr}${r.stdout}`);
  }
  return r;
}
const sh = (line) => spawnSync('/bin/sh', ['-c', line], { cwd: process.cwd(), encoding: 'utf8', env: ENV });
// The printed command that starts with `prefix` (indented by two spaces in init's output).
function printed(stdout, prefix) {
  const lines = stdout.split('\n').filter((l) => l.startsWith(`  ${prefix}`)).map((l) => l.slice(2));
  assert.equal(lines.length, 1, `one printed command starting with "${prefix}" in:\n${stdout}`);
  return lines[0];
}
const mode = (p) => (statSync(p).mode & 0o777).toString(8);
const json = (p) => JSON.parse(readFileSync(p, 'utf8'));

async function refusalOf(promise) {
  try {
    await promise;
  } catch (e) {
    assert.ok(e instanceof McpError, `expected an MCP error, got ${e}`);
    assert.equal(e.code, -32010, `error code ${e.code}: ${e.message}`);
    const refusal = e.data?.['ai.handshake/refusal'];
    assert.ok(refusal, 'the error carries the signed refusal');
    return refusal;
  }
  assert.fail('the call was not refused');
}

// ---- hsk init mcp -------------------------------------------------------------------------------------
const dir = join(work, 'my first service');  // a space: the printed commands must quote it
let init;
await step('hsk init mcp writes keys (0600), DID Documents, configuration, tool map and chain', async () => {
  init = hsk(['init', 'mcp', dir]);
  for (const k of ['org.key', 'agent.key', 'svc.key']) assert.equal(mode(join(dir, k)), '600', k);
  assert.deepEqual(readdirSync(join(dir, 'dids')).sort(), ['agent.did.json', 'org.did.json', 'svc.did.json']);
  for (const f of ['service.yaml', 'tools.yaml', 'capabilities.json', 'revoked.json', 'chain.json']) {
    assert.ok(existsSync(join(dir, f)), f);
  }
  const yaml = readFileSync(join(dir, 'service.yaml'), 'utf8');
  const org = json(join(dir, 'dids', 'org.did.json')).id;
  assert.match(yaml, new RegExp(`trust_roots: \\[${org}\\]`));
  assert.match(yaml, /did_documents: \[dids\]/);
  assert.match(yaml, /revocations: \{files: \[revoked\.json\]/);
  assert.match(yaml, /# .*svc\.key/);
  assert.match(readFileSync(join(dir, 'tools.yaml'), 'utf8'), /^unmapped: refuse/m);
  const chain = json(join(dir, 'chain.json'));
  assert.equal(chain.length, 1);
  assert.equal(chain[0].iss, org);
  assert.equal(chain[0].sub, json(join(dir, 'dids', 'agent.did.json')).id);
  assert.equal((Date.parse(chain[0].exp) - Date.parse(chain[0].iat)) / 1000, 600);
  // Every document proves itself.
  for (const who of ['org', 'agent', 'svc']) hsk(['verify', join(dir, 'dids', `${who}.did.json`)]);
});

const did = (who) => json(join(dir, 'dids', `${who}.did.json`)).id;
const receiptsFile = join(dir, 'receipts.jsonl');

await step('the printed agent command: SDK client -> agent proxy -> service proxy -> server-everything', async () => {
  const agentLine = printed(init.stdout, 'hsk-mcp-proxy --role agent');
  const serviceLine = printed(init.stdout, 'hsk-mcp-proxy --role service');
  assert.ok(agentLine.endsWith(` -- ${serviceLine}`), 'the agent role starts the printed service role');
  assert.match(serviceLine, / -- npx -y @modelcontextprotocol\/server-everything stdio$/);
  const transport = new StdioClientTransport({ command: '/bin/sh', args: ['-c', `exec ${agentLine}`], cwd: process.cwd(),
                                               env: ENV, stderr: 'pipe' });
  transport.stderr?.on('data', (d) => process.stderr.write(d));
  client = new Client({ name: 'hsk-init-e2e', version: '1.0.0' });
  await client.connect(transport);
  const { tools } = await client.listTools();
  const byName = Object.fromEntries(tools.map((t) => [t.name, t]));
  assert.equal(byName.echo?._meta?.['ai.handshake/tool']?.capability, 'everything.tools:echo');
  assert.equal(byName['get-sum']?._meta?.['ai.handshake/tool']?.capability, 'everything.tools:get-sum');
  // Unmapped tools are not gated: hidden from the list, or listed without a capability.
  for (const t of tools.filter((x) => !['echo', 'get-sum'].includes(x.name))) {
    assert.equal(t._meta?.['ai.handshake/tool'], undefined, t.name);
  }
});

await step('the mapped echo tool runs, with an acceptance and a receipt that verifies offline', async () => {
  const result = await client.callTool({ name: 'echo', arguments: { message: 'hello from init' } });
  assert.ok(!result.isError, JSON.stringify(result));
  assert.equal(result.content[0].text, 'Echo: hello from init');
  const receipt = result._meta['ai.handshake/receipt'];
  assert.ok(result._meta['ai.handshake/acceptance']);
  assert.equal(receipt.iss, did('svc'));
  assert.equal(receipt.sub, did('agent'));
  const subject = structuredClone(result);
  delete subject._meta['ai.handshake/receipt'];
  delete subject._meta['ai.handshake/acceptance'];
  if (Object.keys(subject._meta).length === 0) delete subject._meta;
  writeFileSync(join(work, 'receipt.json'), JSON.stringify(receipt));
  writeFileSync(join(work, 'result.json'), JSON.stringify(subject));
  hsk(['receipt', 'verify', '--did-doc', join(dir, 'dids', 'svc.did.json'), '--result', join(work, 'result.json'),
    join(work, 'receipt.json')]);
  const lines = readFileSync(receiptsFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(lines.at(-1).kind, 'receipt');
  assert.equal(lines.at(-1).action, 'echo');
  assert.equal(lines.at(-1).receipt.id, receipt.id);
});

await step('get-sum within the delegation runs; beyond it (a: 500 > 100) is refused scope_exceeded', async () => {
  const ok = await client.callTool({ name: 'get-sum', arguments: { a: 2, b: 3 } });
  assert.ok(!ok.isError, JSON.stringify(ok));
  assert.match(ok.content[0].text, /5/);
  const refusal = await refusalOf(client.callTool({ name: 'get-sum', arguments: { a: 500, b: 1 } }));
  assert.equal(refusal.reason.code, 'scope_exceeded');
});

await step('an unmapped tool (get-env) is refused policy_denied, signed by the service', async () => {
  const refusal = await refusalOf(client.callTool({ name: 'get-env', arguments: {} }));
  assert.equal(refusal.reason.code, 'policy_denied');
  assert.equal(refusal.iss, did('svc'));
  writeFileSync(join(work, 'refusal.json'), JSON.stringify(refusal));
  hsk(['verify', '--did-doc', join(dir, 'dids', 'svc.did.json'), join(work, 'refusal.json')]);
});

if (client) await client.close();

await step('the printed renewal command replaces chain.json with a fresh delegation', async () => {
  const before = json(join(dir, 'chain.json'))[0];
  const renew = printed(init.stdout, 'hsk delegate');
  const r = sh(renew);
  assert.equal(r.status, 0, r.stderr);
  const after = json(join(dir, 'chain.json'));
  assert.equal(after.length, 1);
  assert.notEqual(after[0].id, before.id);
  assert.equal(after[0].sub, before.sub);
  assert.deepEqual(after[0].capabilities, before.capabilities);
  // The service accepts a request under the renewed chain.
  const request = hsk(['request', '--key', join(dir, 'agent.key'), '--chain', join(dir, 'chain.json'), '--to', did('svc'),
    '--capability', 'everything.tools:echo']).stdout;
  writeFileSync(join(work, 'request.json'), request);
  hsk(['service', 'verify', '--config', join(dir, 'service.yaml'), join(work, 'request.json')]);
});

// ---- the other forms ----------------------------------------------------------------------------------
await step('hsk init a2a: skills.yaml, a working service.yaml, both hsk-a2a-proxy roles printed', async () => {
  const a2a = join(work, 'a2a');
  const r = hsk(['init', 'a2a', a2a]);
  assert.match(readFileSync(join(a2a, 'skills.yaml'), 'utf8'), /^skills:/m);
  assert.match(printed(r.stdout, 'hsk-a2a-proxy --role service'), /--skills \S+skills\.yaml --listen 127\.0\.0\.1:8081 --upstream/);
  assert.match(printed(r.stdout, 'hsk-a2a-proxy --role agent'), /--listen 127\.0\.0\.1:8082 --upstream http:\/\/127\.0\.0\.1:8081\//);
  const svc = json(join(a2a, 'dids', 'svc.did.json')).id;
  writeFileSync(join(work, 'a2a-request.json'), hsk(['request', '--key', join(a2a, 'agent.key'), '--chain',
    join(a2a, 'chain.json'), '--to', svc, '--capability', 'agent.skills:list-invoices', '--constraints', '{"max_invoices":5}']).stdout);
  hsk(['service', 'verify', '--config', join(a2a, 'service.yaml'), join(work, 'a2a-request.json')]);
});

await step('hsk init mcp --ttl 3600: the chain lives an hour and the service allows it', async () => {
  const d = join(work, 'ttl');
  hsk(['init', 'mcp', d, '--ttl', '3600']);
  const [link] = json(join(d, 'chain.json'));
  assert.equal((Date.parse(link.exp) - Date.parse(link.iat)) / 1000, 3600);
  assert.match(readFileSync(join(d, 'service.yaml'), 'utf8'), /^max_delegation_ttl_seconds: 3600$/m);
  writeFileSync(join(work, 'ttl-request.json'), hsk(['request', '--key', join(d, 'agent.key'), '--chain', join(d, 'chain.json'),
    '--to', json(join(d, 'dids', 'svc.did.json')).id, '--capability', 'everything.tools:echo']).stdout);
  hsk(['service', 'verify', '--config', join(d, 'service.yaml'), join(work, 'ttl-request.json')]);
  hsk(['init', 'mcp', join(work, 'ttl0'), '--ttl', '0'], { expect: 2 });
});

await step('hsk init http: hsk gate with its route map runs; within the delegation 200 with a receipt, beyond 403', async () => {
  const d = join(work, 'http');
  const out = hsk(['init', 'http', d]).stdout;
  assert.match(out, /hsk gate --config/);
  for (const f of ['routes.yaml', 'nginx.conf', 'service.yaml', 'chain.json', 'capabilities.json']) assert.ok(existsSync(join(d, f)), f);
  if (existsSync('/usr/sbin/nginx')) {  // the server block is valid nginx configuration
    const conf = join(work, 'nginx-check.conf');
    writeFileSync(conf, `pid ${work}/nginx.pid;\nevents {}\nhttp {\n  include ${join(d, 'nginx.conf')};\n}\n`);
    const t = spawnSync('/usr/sbin/nginx', ['-t', '-c', conf, '-p', `${work}/`, '-e', `${work}/nginx-error.log`], { encoding: 'utf8' });
    assert.equal(t.status, 0, t.stderr);
  }
  const api = http.createServer((req, res) => { res.writeHead(200, { 'content-type': 'application/json' }); res.end('{"invoices":[]}'); });
  await new Promise((r) => api.listen(0, '127.0.0.1', r));
  const gate = spawn(HSK, ['gate', '--config', join(d, 'service.yaml'), '--routes', join(d, 'routes.yaml'), '--port', '0',
    '--upstream', `http://127.0.0.1:${api.address().port}`], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const port = await new Promise((resolveP, reject) => {
      let buf = '';
      gate.stdout.on('data', (c) => { buf += c; const m = buf.match(/listening on [\d.]+:(\d+)/); if (m) resolveP(Number(m[1])); });
      gate.on('exit', (code) => reject(new Error(`hsk gate exited ${code}`)));
    });
    const svc = json(join(d, 'dids', 'svc.did.json')).id;
    const ask = (limit) => fetch(`http://127.0.0.1:${port}/invoices?limit=${limit}`, { headers: { 'Handshake-Request':
      Buffer.from(hsk(['request', '--key', join(d, 'agent.key'), '--chain', join(d, 'chain.json'), '--to', svc,
        '--capability', 'api.routes:list-invoices', '--constraints', JSON.stringify({ max_invoices: limit })]).stdout.trim())
        .toString('base64url') } });
    const ok = await ask(5);
    assert.equal(ok.status, 200, await ok.clone().text());
    assert.ok(ok.headers.get('handshake-receipt-id')?.startsWith('rc_'), 'a receipt');
    const over = await ask(500);
    assert.equal(over.status, 403);
    assert.equal((await over.json()).reason.code, 'scope_exceeded');
  } finally {
    gate.kill('SIGTERM');
    api.close();
  }
  hsk(['init', 'grpc', join(work, 'grpc')], { expect: 2 });
});

await step('a non-empty DIR is refused unless --force', async () => {
  const d = join(work, 'busy');
  mkdirSync(d);
  writeFileSync(join(d, 'notes.txt'), 'mine');
  const r = hsk(['init', 'mcp', d], { expect: 1 });
  assert.match(r.stderr, /not empty/);
  assert.ok(!existsSync(join(d, 'org.key')));
  hsk(['init', 'mcp', d, '--force']);
  assert.equal(readFileSync(join(d, 'notes.txt'), 'utf8'), 'mine');
  assert.equal(mode(join(d, 'org.key')), '600');
  // An initialized DIR is not empty either: a second init would replace its keys.
  hsk(['init', 'mcp', dir], { expect: 1 });
});

await step('hsk demo --keep DIR leaves its keys and messages there; they verify offline', async () => {
  const d = join(work, 'demo');
  const r = hsk(['demo', '--keep', d]);
  assert.match(r.stdout, /Demo complete/);
  for (const k of ['org.key', 'agent.key', 'svc.key']) assert.equal(mode(join(d, k)), '600', k);
  for (const f of ['org.did.json', 'agent.did.json', 'svc.did.json', 'chain.json', 'request.json', 'acceptance.json',
    'result.json', 'receipt.json', 'refusal-replayed.json', 'refusal-tampered.json', 'nonces.db']) {
    assert.ok(existsSync(join(d, f)), f);
  }
  hsk(['receipt', 'verify', '--did-doc', join(d, 'svc.did.json'), '--result', join(d, 'result.json'), join(d, 'receipt.json')]);
  hsk(['verify', '--did-doc', join(d, 'svc.did.json'), join(d, 'acceptance.json')]);
  hsk(['demo', '--keep', d], { expect: 1 });  // not empty now
});

console.log(`# ${passed} passed, ${failures} failed`);
process.exit(failures ? 1 : 0);
