// hsk console in a real browser over a real run. The run: a three-link delegation chain (root ->
// deployer -> team -> agent, made with hsk delegate), the official MCP SDK client -> hsk-mcp-proxy
// --role agent (receipts kept in SQLite, with their chain) -> hsk-mcp-proxy --role service
// (receipts anchored in a real hsk registry serve) -> server-everything. Then hsk console over
// that store and registry, and Debian's chromium driven by playwright-core: every receipt listed
// and checked valid in the page, the chain drawn with three edges, the registry's tree size
// charted; then the same records served from a JSON Lines store in which one byte of one receipt
// was changed: the page flags that receipt (and only it) although the server serves it as
// stored. Every request the page makes goes to the console's own loopback origin. A screenshot
// of each page is kept in --artifacts.
//
// usage: node e2e.mjs --hsk PATH --proxy PATH --chromium /usr/bin/chromium --artifacts DIR
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, rmSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { chromium } from 'playwright-core';

const arg = (name) => {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0 || i + 1 >= process.argv.length) throw new Error(`--${name} is required`);
  return process.argv[i + 1];
};
const HSK = arg('hsk');
const PROXY = arg('proxy');
const CHROMIUM = arg('chromium');
const ARTIFACTS = arg('artifacts');
const require = createRequire(import.meta.url);
const EVERYTHING = join(dirname(require.resolve('@modelcontextprotocol/server-everything/package.json')), 'dist', 'index.js');

const work = mkdtempSync(join(tmpdir(), 'hsk-console-e2e-'));
const children = [];
let browser = null;
let failures = 0, passed = 0;
function cleanup() {
  for (const c of children) { try { c.kill('SIGTERM'); } catch { /* gone */ } }
  rmSync(work, { recursive: true, force: true });
}
process.on('exit', cleanup);
setTimeout(() => { console.error('console e2e: timed out'); process.exit(3); }, 240_000).unref();

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
  return r.stdout;
}
const file = (name) => join(work, name);
// A long-running hsk process; resolves with its port once it prints 'listening on HOST:PORT'.
function serve(args, name) {
  return new Promise((resolve, reject) => {
    const p = spawn(HSK, args, { cwd: work, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(p);
    let out = '', err = '';
    p.stdout.on('data', (d) => {
      out += d;
      const m = /listening on [^:]+:(\d+)/.exec(out);
      if (m) resolve({ port: Number(m[1]), process: p });
    });
    p.stderr.on('data', (d) => { err += d; });
    p.on('exit', (code) => reject(new Error(`${name} exited ${code}: ${err}`)));
  });
}
const getJson = async (url) => {
  const r = await fetch(url);
  assert.equal(r.status, 200, `${url}: ${r.status}`);
  return r.json();
};

// ---- the run ----------------------------------------------------------------------------------
const did = {};
for (const [who, kind] of [['root', 'org'], ['deployer', 'org'], ['team', 'org'], ['agent', 'agent'], ['svc', 'svc'],
  ['registry', 'svc']]) {
  did[who] = hsk(['keygen', '--kind', kind, '--out', `${who}.key`]).trim();
  writeFileSync(file(`${who}.did.json`), hsk(['did', `${who}.key`]));
}
const CAP = 'everything.tools';
const limits = ['--constraints', '{"max_a":50}'];
writeFileSync(file('c1.json'), hsk(['delegate', '--key', 'root.key', '--to', did.deployer, '--capability', `${CAP}:*`,
  ...limits, '--delegable', '--depth', '2']));
writeFileSync(file('c2.json'), hsk(['delegate', '--key', 'deployer.key', '--to', did.team, '--capability', `${CAP}:*`,
  ...limits, '--delegable', '--parent', 'c1.json']));
writeFileSync(file('chain.json'), hsk(['delegate', '--key', 'team.key', '--to', did.agent, '--capability', `${CAP}:*`,
  ...limits, '--parent', 'c2.json']));
const chain = JSON.parse(readFileSync(file('chain.json'), 'utf8'));
writeFileSync(file('service.yaml'), [
  'identity: svc.key',
  `trust_roots: [${did.root}]`,
  'did_documents: [root.did.json, deployer.did.json, team.did.json, agent.did.json, svc.did.json]',
  '',
].join('\n'));
writeFileSync(file('tools.yaml'), ['unmapped: refuse', 'tools:', `  echo: {capability: "${CAP}:echo"}`,
  `  get-sum: {capability: "${CAP}:get-sum", constraints: {max_a: arguments.a}}`, ''].join('\n'));

const registry = await serve(['registry', 'serve', '--key', 'registry.key', '--db', file('log.db'), '--port', '0',
  '--did-doc', 'svc.did.json'], 'registry');
const registryUrl = `http://127.0.0.1:${registry.port}`;

const calls = [['echo', { message: 'one' }], ['echo', { message: 'two' }], ['get-sum', { a: 2, b: 3 }], ['echo', { message: 'three' }]];
await step('a real run: MCP client -> agent proxy -> service proxy -> server-everything, receipts anchored', async () => {
  assert.equal(chain.length, 3, 'a three-link chain');
  const client = new Client({ name: 'hsk-console-e2e', version: '1.0.0' });
  const transport = new StdioClientTransport({
    command: PROXY,
    args: ['--role', 'agent', '--key', file('agent.key'), '--chain', file('chain.json'), '--service-did', did.svc,
      '--receipts-db', file('agent-receipts.db'), '--',
      PROXY, '--role', 'service', '--config', file('service.yaml'), '--tools', file('tools.yaml'), '--registry', registryUrl,
      '--receipts-db', file('service-issued.db'),
      '--', process.execPath, EVERYTHING, 'stdio'],
    cwd: work, stderr: 'pipe', env: { ...process.env },
  });
  transport.stderr?.on('data', (d) => process.stderr.write(d));
  await client.connect(transport);
  await client.listTools();  // the agent proxy learns from tools/list which tools need a handshake
  for (const [name, args] of calls) {
    const r = await client.callTool({ name, arguments: args });
    assert.ok(!r.isError, `${name}: ${JSON.stringify(r)}`);
  }
  // Beyond the delegation's max_a: the service's signed Refusal (kept in the service's store).
  await assert.rejects(client.callTool({ name: 'get-sum', arguments: { a: 500, b: 1 } }), /scope_exceeded/);
  await client.close();
  // Anchoring runs in the background of the service proxy: wait for the leaves.
  for (let i = 0; i < 100; i++) {
    if ((await getJson(`${registryUrl}/v1/tree-head`)).tree_size >= calls.length) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal((await getJson(`${registryUrl}/v1/tree-head`)).tree_size, calls.length);
});

// ---- the console in chromium --------------------------------------------------------------------
let firstOrigin = null;
const didDocs = ['root', 'deployer', 'team', 'agent', 'svc'].flatMap((w) => ['--did-doc', `${w}.did.json`]);
async function openConsole(storeArgs, name) {
  const c = await serve(['console', ...storeArgs, '--registry', registryUrl, ...didDocs, '--port', '0',
    '--sample-seconds', '1'], name);
  return `http://127.0.0.1:${c.port}`;
}
// Loads the page, waits for its verdicts, returns what it shows and every URL it asked for.
async function visit(origin, shot) {
  const page = await browser.newPage();
  const requests = [];
  page.on('request', (r) => requests.push(r.url()));
  const response = await page.goto(`${origin}/`);
  const csp = response.headers()['content-security-policy'] ?? '';
  await page.waitForSelector('#status[data-ready="true"]', { timeout: 30000 });
  await page.waitForSelector('#sth[data-samples]', { timeout: 30000 });
  const rows = await page.$$eval('tr.record', (trs) => trs.map((tr) => ({ id: tr.dataset.id, signature: tr.dataset.signature,
    result: tr.dataset.result, inclusion: tr.dataset.inclusion })));
  return { page, requests, csp, rows };
}
function onlyLoopback(requests, origin) {
  assert.ok(requests.length >= 5, `the page made its requests: ${requests}`);
  for (const u of requests) assert.ok(u.startsWith(`${origin}/`), `a request off the console's origin: ${u}`);
}

await step('console: lists the run, checks every receipt valid in the page, draws the 3-link chain', async () => {
  const origin = await openConsole(['--receipts-db', file('agent-receipts.db')], 'console');
  firstOrigin = origin;
  const api = await getJson(`${origin}/api/records`);
  assert.equal(api.count, calls.length, 'the store holds one receipt per call');
  assert.deepEqual(api.records[0].delegation_chain, chain, 'kept with its delegation chain');
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
  const { page, requests, csp, rows } = await visit(origin);
  assert.match(csp, /default-src 'self'/);
  assert.equal(rows.length, api.count, 'one row per stored record');
  assert.deepEqual(new Set(rows.map((r) => r.id)), new Set(api.records.map((r) => r.message.id)));
  for (const r of rows) {
    assert.equal(r.signature, 'valid', `${r.id} signature`);
    assert.equal(r.inclusion, 'valid', `${r.id} inclusion`);
    assert.equal(r.result, 'unknown', `${r.id}: the agent's store has no result at hand`);
  }
  await page.click('tr.record');
  await page.waitForSelector('#chain svg');
  assert.equal(await page.$$eval('#chain svg g.edge', (e) => e.length), 3, 'three delegation edges');
  assert.equal(await page.$$eval('#chain svg g.node', (e) => e.length), 4, 'root, deployer, team, agent');
  assert.equal(await page.$$eval('#chain svg g.edge.valid', (e) => e.length), 3, 'each link signed by its issuer');
  assert.equal(await page.$$eval('#dag svg g.node.selected', (e) => e.length), 1, 'the receipt in the DAG');
  assert.ok(Number(await page.$eval('#sth', (e) => e.dataset.samples)) >= 1, 'tree size samples charted');
  assert.equal(await page.$$eval('#sth circle.sample.valid', (e) => e.length) >= 1, true, 'tree heads verified');
  // Filters go to the store: one capability.
  await page.fill('input[name=capability]', `${CAP}:get-sum`);
  await page.click('#filters button');
  await page.waitForSelector('#status[data-count="1"]');
  await page.fill('input[name=capability]', '');
  await page.click('#filters button');
  await page.waitForSelector(`#status[data-count="${calls.length}"]`);
  await page.click('tr.record');
  mkdirSync(ARTIFACTS, { recursive: true });
  const shot = join(ARTIFACTS, 'console.png');
  await page.screenshot({ path: shot, fullPage: true });
  console.log(`# screenshot: ${shot}`);
  onlyLoopback(requests, origin);
  await page.close();
});

await step('console: a receipt with one byte changed in the store is shown invalid', async () => {
  assert.ok(browser, 'the browser started');
  // The same records in a JSON Lines store (the format hsk-mcp-proxy --receipts writes), one hex
  // digit of one receipt's result_hash changed.
  const api = await getJson(`${firstOrigin}/api/records`);
  const victim = api.records[1].message.id;
  const lines = api.records.reverse().map((r) => {
    let text = JSON.stringify({ kind: 'receipt', action: r.action, receipt: r.message, acceptance: r.acceptance,
      delegation_chain: r.delegation_chain });
    if (r.message.id === victim) {
      const at = text.indexOf('"value":"') + 9;
      text = text.slice(0, at) + (text[at] === '0' ? '1' : '0') + text.slice(at + 1);
    }
    return text;
  });
  writeFileSync(file('tampered.jsonl'), lines.join('\n') + '\n');
  const origin = await openConsole(['--receipts', file('tampered.jsonl')], 'console-tampered');
  const served = await getJson(`${origin}/api/records`);
  assert.equal(served.count, calls.length, 'the server serves the tampered receipt like the others');
  const { page, requests, rows } = await visit(origin);
  assert.equal(rows.length, calls.length);
  for (const r of rows) {
    const want = r.id === victim ? 'invalid' : 'valid';
    assert.equal(r.signature, want, `${r.id} signature`);
    assert.equal(r.inclusion, want, `${r.id} inclusion`);
  }
  assert.equal(await page.$eval('#status', (e) => e.dataset.invalid), '1');
  await page.click(`tr.record[data-id="${victim}"]`);
  await page.screenshot({ path: join(ARTIFACTS, 'console-tampered.png'), fullPage: true });
  console.log(`# screenshot: ${join(ARTIFACTS, 'console-tampered.png')}`);
  onlyLoopback(requests, origin);
  await page.close();
});

await step('console: a DID Document that does not certify itself gives no key', async () => {
  assert.ok(browser, 'the browser started');
  // The service's DID over another key (the registry's): a server substituting the issuer's key.
  writeFileSync(file('fake-svc.did.json'), readFileSync(file('registry.did.json'), 'utf8').split(did.registry).join(did.svc));
  const c = await serve(['console', '--receipts-db', file('agent-receipts.db'), '--did-doc', 'fake-svc.did.json',
    ...['root', 'deployer', 'team'].flatMap((w) => ['--did-doc', `${w}.did.json`]), '--port', '0'], 'console-fake-key');
  const origin = `http://127.0.0.1:${c.port}`;
  const { page, requests, rows } = await visit(origin);
  assert.equal(rows.length, calls.length);
  for (const r of rows) assert.equal(r.signature, 'invalid', `${r.id} signature with a substituted key`);
  await page.click('tr.record');
  assert.match(await page.textContent('#verdicts'), /does not hash to the identifier/);
  assert.equal(await page.$$eval('#chain svg g.edge.valid', (e) => e.length), 3, 'the chain is still proven');
  onlyLoopback(requests, origin);
  await page.close();
});

await step('console: the service\'s store, receipts and its refusal, filtered by code', async () => {
  assert.ok(browser, 'the browser started');
  const origin = await openConsole(['--receipts-db', file('service-issued.db')], 'console-service');
  const { page, requests, rows } = await visit(origin);
  assert.equal(rows.length, calls.length + 1, 'four receipts and one refusal');
  for (const r of rows) assert.equal(r.signature, 'valid', `${r.id} signature`);
  await page.fill('input[name=code]', 'scope_exceeded');
  await page.click('#filters button');
  await page.waitForSelector('#status[data-count="1"]');
  assert.deepEqual(await page.$$eval('tr.record', (trs) => trs.map((t) => [t.className, t.dataset.signature])),
    [['record refusal', 'valid']]);
  await page.click('tr.record');
  assert.match(await page.textContent('#chain'), /no delegation chain kept/, 'a service keeps no chain');
  onlyLoopback(requests, origin);
  await page.close();
});

await step('hsk console: usage errors, --check, the API refuses what it does not serve', async () => {
  const run = (...args) => spawnSync(HSK, ['console', ...args], { cwd: work, encoding: 'utf8' });
  assert.equal(run().status, 2, 'no store');
  assert.equal(run('--receipts', 'a.jsonl', '--receipts-db', file('agent-receipts.db')).status, 2, 'two stores');
  assert.equal(run('--receipts-db', file('agent-receipts.db'), '--ca-file', 'ca.pem').status, 2, 'TLS flags without --registry');
  assert.equal(run('--receipts-db', file('agent-receipts.db'), '--port', 'x').status, 2);
  const missing = run('--receipts-db', file('no-such.db'));
  assert.equal(missing.status, 1, 'a misspelt store is not created');
  assert.match(missing.stderr, /no such file/);
  const check = run('--receipts-db', file('agent-receipts.db'), '--registry', registryUrl, '--check');
  assert.equal(check.status, 0, check.stderr);
  assert.match(check.stdout, /--check: not started/);
  assert.match(run('--help').stdout, /checks every receipt itself/);
  const origin = firstOrigin;
  assert.equal((await fetch(`${origin}/api/records?since=yesterday`)).status, 400);
  assert.equal((await fetch(`${origin}/api/records?kind=other`)).status, 400);
  const notProxied = await fetch(`${origin}/api/registry/v1/revocations/statements`);
  assert.equal(notProxied.status, 404, 'only the registry reads the page needs');
  assert.match(notProxied.headers.get('content-security-policy') ?? '', /default-src 'self'/);
  assert.equal((await fetch(`${origin}/no-such-asset.js`)).status, 404);
  assert.equal((await getJson(`${origin}/api/records?capability=${CAP}:get-sum`)).count, 1);
  assert.equal((await getJson(`${origin}/api/records?limit=2`)).count, 2);
});

if (browser) await browser.close();
console.log(`${passed} passed, ${failures} failed`);
process.exit(failures ? 1 : 0);
