// The console page's checks (cli/console/verify.js) against the project's public vectors, under
// node's WebCrypto (the same crypto.subtle API the page uses): RFC 9162 inclusion paths, leaf
// hashes, base58btc, RFC 8032 Ed25519; and the DID self-certification rule and result hashes on
// keys and messages made with hsk itself. Each check has its negative twin.
// usage: node verify_test.mjs --verify PATH/verify.js --vectors tests/vectors/public --hsk PATH
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const arg = (name) => {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0 || i + 1 >= process.argv.length) throw new Error(`--${name} is required`);
  return process.argv[i + 1];
};
const v = await import(pathToFileURL(arg('verify')).href);
const VECTORS = arg('vectors');
const HSK = arg('hsk');
const vectors = (name) => JSON.parse(readFileSync(join(VECTORS, name), 'utf8'));
let passed = 0, failed = 0;
async function check(name, fn) {
  try { await fn(); passed++; } catch (e) { failed++; console.log(`not ok - ${name}\n  ${e.stack}`); }
}

const merkle = vectors('merkle_rfc6962.json');
await check('leaf hashes', async () => {
  for (const [i, input] of merkle.leaf_inputs.entries()) {
    assert.equal(v.hex(await v.leafHash(v.unhex(input))), merkle.leaf_hashes[i]);
  }
});
await check('every inclusion proof of trees 1..8 leads to its root; a changed one does not', async () => {
  assert.ok(merkle.inclusion_proofs.length >= 36);
  for (const p of merkle.inclusion_proofs) {
    const proof = p.proof.map(v.unhex);
    const root = await v.rootFromInclusionProof(p.leaf_index, p.tree_size, v.unhex(p.leaf_hash), proof);
    assert.equal(v.hex(root), p.root, `leaf ${p.leaf_index} of ${p.tree_size}`);
    if (proof.length) {
      const bad = proof.map((h) => h.slice());
      bad[0][0] ^= 1;
      assert.notEqual(v.hex(await v.rootFromInclusionProof(p.leaf_index, p.tree_size, v.unhex(p.leaf_hash), bad)), p.root);
      await assert.rejects(v.rootFromInclusionProof(p.leaf_index, p.tree_size, v.unhex(p.leaf_hash), proof.slice(1)));
    }
    await assert.rejects(v.rootFromInclusionProof(p.tree_size, p.tree_size, v.unhex(p.leaf_hash), proof));
  }
});
await check('base58btc', async () => {
  for (const t of vectors('base58btc_multibase.json').bitcoin_encode_decode) {
    assert.equal(v.base58btc(v.unhex(t.bytes_hex.toLowerCase())), t.base58btc);
  }
});
await check('Ed25519 (RFC 8032) through WebCrypto: valid, and a flipped bit is not', async () => {
  for (const t of vectors('ed25519_rfc8032.json').vectors) {
    const key = await crypto.subtle.importKey('raw', v.unhex(t.public_key), { name: 'Ed25519' }, false, ['verify']);
    assert.ok(await crypto.subtle.verify({ name: 'Ed25519' }, key, v.unhex(t.signature), v.unhex(t.message)), t.name);
    const bad = v.unhex(t.signature);
    bad[5] ^= 4;
    assert.ok(!(await crypto.subtle.verify({ name: 'Ed25519' }, key, bad, v.unhex(t.message))), t.name);
  }
});

// With hsk: a self-certifying DID Document, a signed message, a rotated key.
const work = mkdtempSync(join(tmpdir(), 'hsk-console-verify-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));
const hsk = (...args) => {
  const r = spawnSync(HSK, args, { cwd: work, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`hsk ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
};
const org = hsk('keygen', '--kind', 'org', '--out', 'org.key').trim();
const other = hsk('keygen', '--kind', 'org', '--out', 'other.key').trim();
const agent = hsk('keygen', '--kind', 'agent', '--out', 'agent.key').trim();
const orgDoc = JSON.parse(hsk('did', 'org.key'));
const otherDoc = JSON.parse(hsk('did', 'other.key'));
writeFileSync(join(work, 'org.did.json'), JSON.stringify(orgDoc));
const token = JSON.parse(hsk('delegate', '--key', 'org.key', '--to', agent, '--capability', 'demo.files:read'))[0];

await check('DID self-certification: the document of the DID proves its key; another key does not', async () => {
  const keys = await v.provenKeys(org, [otherDoc, orgDoc]);
  assert.equal(keys.length, 1);
  const forged = JSON.parse(JSON.stringify(otherDoc).split(other).join(org));
  await assert.rejects(v.provenKeys(org, [forged]), /does not hash to the identifier/);
  await assert.rejects(v.provenKeys('did:hsk:user:bob@acme.com', [orgDoc]), /not a self-certifying DID/);
});
await check('signatures over JCS(message without "signature")', async () => {
  assert.equal((await v.checkSignature(token, [orgDoc], token.iat)).state, 'valid');
  assert.equal((await v.checkSignature({ ...token, exp: token.iat }, [orgDoc], token.iat)).state, 'invalid');
  assert.equal((await v.checkSignature(token, [otherDoc], token.iat)).state, 'unknown', 'no document of the issuer');
});
await check('a rotated key: version 2 proven by version 1, used from its versionTime on', async () => {
  const v2 = JSON.parse(hsk('rotate', '--key', 'org.key', '--did-doc', 'org.did.json', '--out', 'org2.key',
    '--version-time', '2100-01-01T00:00:00Z'));
  const keys = await v.provenKeys(org, [orgDoc, v2]);
  assert.equal(keys.length, 2);
  assert.equal(v.keyAt(keys, '2000-01-01T00:00:00Z'), null, 'before version 1 began');
  assert.equal(v.keyAt(keys, new Date(Date.now() + 60000).toISOString()).version, 1);
  assert.equal(v.keyAt(keys, '2999-01-01T00:00:00Z').version, 2);
  const unsigned = { ...v2, previousVersionSignature: otherDoc.proof?.[0]?.proofValue ?? 'AAAA' };
  assert.equal((await v.provenKeys(org, [orgDoc, unsigned])).length, 1, 'an unproven version is not used');
});
await check('result hash: SHA-256(JCS(result)); a changed result or none at hand', async () => {
  const result = { content: [{ type: 'text', text: 'é 1e21' }], n: 1e21 };
  const receipt = { result_hash: { alg: 'sha-256', value: v.hex(await v.sha256(new TextEncoder().encode('{"content":[{"text":"é 1e21","type":"text"}],"n":1e+21}'))) } };
  assert.equal((await v.checkResultHash(receipt, result)).state, 'valid');
  assert.equal((await v.checkResultHash(receipt, { ...result, n: 2 })).state, 'invalid');
  assert.equal((await v.checkResultHash(receipt, undefined)).state, 'unknown');
});
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
