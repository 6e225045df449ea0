// docs/mcp.md's Quickstart, run as written: every ```sh block of the section under the
// "## Quickstart" heading (up to the next "## " heading), in order, as one `sh -e` script, in a
// fresh directory with the built binaries first on PATH. Blocks fenced without `sh` (output, a
// client's long-running command) are shown, not run. A wrong command in the doc fails this test.
//
// usage: node quickstart_doc_test.mjs --doc docs/mcp.md --hsk PATH --proxy PATH
// Runs from a directory whose node_modules (here or above) holds the pinned packages: the fresh
// directory is made below it, so the doc's `npx -y @modelcontextprotocol/server-everything`
// resolves the installed package, offline.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, dirname, resolve } from 'node:path';

const arg = (name) => {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0 || i + 1 >= process.argv.length) throw new Error(`--${name} is required`);
  return process.argv[i + 1];
};
const DOC = resolve(arg('doc'));
const HSK = resolve(arg('hsk'));
const PROXY = resolve(arg('proxy'));

// The Quickstart section and its ```sh blocks.
function quickstartBlocks(markdown) {
  const lines = markdown.split('\n');
  const start = lines.findIndex((l) => /^## Quickstart\s*$/.test(l));
  if (start < 0) throw new Error('no "## Quickstart" heading');
  const end = lines.findIndex((l, i) => i > start && /^## /.test(l));
  const section = lines.slice(start + 1, end < 0 ? lines.length : end);
  const blocks = [];
  let current = null;
  let fenced = false;
  for (const l of section) {
    if (!fenced && /^```/.test(l)) {
      fenced = true;
      current = /^```sh\s*$/.test(l) ? [] : null;
    } else if (fenced && /^```\s*$/.test(l)) {
      fenced = false;
      if (current) blocks.push(current.join('\n'));
      current = null;
    } else if (fenced && current) {
      current.push(l);
    }
  }
  if (fenced) throw new Error('an unterminated code block in the Quickstart');
  return blocks;
}

const blocks = quickstartBlocks(readFileSync(DOC, 'utf8'));
assert.ok(blocks.length >= 2, `the Quickstart has ${blocks.length} sh blocks`);
assert.match(blocks[0], /^hsk init mcp /m, 'the Quickstart starts with hsk init mcp');

const work = mkdtempSync(join(process.cwd(), 'quickstart-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));
const script = ['set -eu', ...blocks.map((b, i) => `echo '# --- block ${i + 1}' >&2\n${b}`), ''].join('\n');
writeFileSync(join(work, 'quickstart.sh'), script);
const env = { ...process.env, PATH: [dirname(HSK), dirname(PROXY), process.env.PATH].join(':'), npm_config_offline: 'true' };
const started = Date.now();
const r = spawnSync('/bin/sh', [join(work, 'quickstart.sh')], { cwd: work, env, encoding: 'utf8', timeout: 120_000 });
const seconds = ((Date.now() - started) / 1000).toFixed(1);
if (r.status !== 0) {
  console.log(`not ok - docs/mcp.md Quickstart (${blocks.length} sh blocks) exited ${r.status ?? r.signal} after ${seconds} s`);
  console.log(`--- script\n${script}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`);
  process.exit(1);
}
console.log(r.stdout);
console.log(`ok - docs/mcp.md Quickstart: ${blocks.length} sh blocks ran in ${seconds} s`);
