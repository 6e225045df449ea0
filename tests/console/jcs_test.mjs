// The console page's JCS (cli/console/jcs.js) against the RFC 8785 vectors (input/ -> output/,
// byte for byte) and the reference conformance fixtures core is tested with, plus what it refuses.
// usage: node jcs_test.mjs --jcs PATH/jcs.js --vectors tests/vectors/public/jcs --fixtures jcs.json
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const arg = (name) => {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0 || i + 1 >= process.argv.length) throw new Error(`--${name} is required`);
  return process.argv[i + 1];
};
const { canonicalize, canonicalizeWithout } = await import(pathToFileURL(arg('jcs')).href);
let passed = 0, failed = 0;
function check(name, fn) {
  try { fn(); passed++; } catch (e) { failed++; console.log(`not ok - ${name}\n  ${e.message}`); }
}

const dir = arg('vectors');
const files = readdirSync(join(dir, 'input')).filter((f) => f.endsWith('.json')).sort();
assert.ok(files.length >= 6, `RFC 8785 vectors in ${dir}`);
for (const f of files) {
  check(`rfc8785 ${f}`, () => {
    const want = readFileSync(join(dir, 'output', f));
    const got = Buffer.from(canonicalize(JSON.parse(readFileSync(join(dir, 'input', f), 'utf8'))), 'utf8');
    assert.ok(got.equals(want), `${f}:\n got  ${got.toString('utf8')}\n want ${want.toString('utf8')}`);
  });
}
const fixtures = JSON.parse(readFileSync(arg('fixtures'), 'utf8')).fixtures.filter((x) => 'expected_canonical' in x);
assert.ok(fixtures.length > 0, 'reference fixtures with expected_canonical');
for (const x of fixtures) check(`fixture ${x.name}`, () => assert.equal(canonicalize(x.input), x.expected_canonical));

check('UTF-16 order, not code point order', () =>
  assert.equal(canonicalize({ '\u{1F600}': 1, '\uFFFD': 2, a: 3 }), '{"a":3,"\u{1F600}":1,"\uFFFD":2}'));
check('numbers in ECMAScript form', () => assert.equal(canonicalize([1e21, 1e-7, -0, 0.1 + 0.2, 100]),
  '[1e+21,1e-7,0,0.30000000000000004,100]'));
check('escapes: only quote, backslash and controls', () =>
  assert.equal(canonicalize('"\\\b\f\n\r\t\u0001\u001f\u007f\u2028é'), '"\\"\\\\\\b\\f\\n\\r\\t\\u0001\\u001f\u007f\u2028é"'));
check('signing input drops the signature', () =>
  assert.equal(canonicalizeWithout({ b: 1, signature: 'x', a: [true, null] }, 'signature'), '{"a":[true,null],"b":1}'));
for (const [name, bad] of [['NaN', NaN], ['Infinity', [Infinity]], ['lone high surrogate', '\uD800'],
  ['lone low surrogate', { '\uDC00': 1 }], ['undefined', { a: undefined }]]) {
  check(`refuses ${name}`, () => assert.throws(() => canonicalize(bad)));
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
