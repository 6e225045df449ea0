// Every check the console shows, computed here in the browser with WebCrypto (Ed25519, SHA-256)
// and jcs.js; nothing the console's server says is taken as a verdict. Rules as core implements
// them: signatures are Ed25519 over JCS(message without "signature"); agent/svc/org DIDs are
// self-certifying (identifier = "z" + base58btc(SHA-256(raw key))), later DID Document versions
// signed by the version before (previousVersionSignature); a receipt's registry leaf is
// SHA-256(0x00 || SHA-256(JCS(receipt without "signature" and "registry_anchor"))) with RFC 9162
// inclusion paths; tree heads are signed like messages by the registry (their log_id).
import { canonicalize, canonicalizeWithout } from './jcs.js';

const utf8 = (s) => new TextEncoder().encode(s);

export function b64uDecode(s) {
  if (typeof s !== 'string' || !/^[A-Za-z0-9_-]*$/.test(s)) throw new Error('not base64url');
  const b = atob(s.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (s.length % 4)) % 4));
  return Uint8Array.from(b, (c) => c.charCodeAt(0));
}
export const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
export function unhex(s) {
  if (typeof s !== 'string' || !/^([0-9a-f]{2})*$/.test(s)) throw new Error('not lowercase hex');
  return Uint8Array.from(s.match(/../g) ?? [], (h) => parseInt(h, 16));
}
const B58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
export function base58btc(bytes) {
  let n = 0n;
  for (const b of bytes) n = n * 256n + BigInt(b);
  let out = '';
  while (n > 0n) { out = B58[Number(n % 58n)] + out; n /= 58n; }
  for (const b of bytes) { if (b !== 0) break; out = '1' + out; }
  return out;
}

export async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
}
async function ed25519Verify(rawKey, signature, message) {
  const key = await crypto.subtle.importKey('raw', rawKey, { name: 'Ed25519' }, false, ['verify']);
  return crypto.subtle.verify({ name: 'Ed25519' }, key, signature, message);
}
// Ed25519 over JCS(message without "signature" and `alsoOmit`).
export async function signatureValid(message, rawKey, ...alsoOmit) {
  if (message?.alg !== undefined && message.alg !== 'EdDSA') return false;
  const sig = b64uDecode(message.signature ?? '');
  if (sig.length !== 64) return false;
  return ed25519Verify(rawKey, sig, utf8(canonicalizeWithout(message, 'signature', ...alsoOmit)));
}

// ---- DID Documents ------------------------------------------------------------------------------

function firstKey(doc) {
  const jwk = doc?.verificationMethod?.[0]?.publicKeyJwk;
  if (jwk?.kty !== 'OKP' || jwk?.crv !== 'Ed25519') throw new Error('no Ed25519 key');
  const raw = b64uDecode(jwk.x);
  if (raw.length !== 32) throw new Error('key is not 32 bytes');
  return raw;
}
const versionOf = (doc) => Number(doc?.versionId ?? 1);

// The keys of `did` proven by `documents` (any order, any source): version 1 must hash to the
// DID's identifier; version N+1 must carry previousVersionSignature by version N's key. Returns
// [{version, from (ms, -Infinity for v1 without versionTime), key}] oldest first, or throws why not.
export async function provenKeys(did, documents) {
  const m = /^did:hsk:(agent|svc|org):(z[1-9A-HJ-NP-Za-km-z]+)$/.exec(did ?? '');
  if (!m) throw new Error(`${did}: not a self-certifying DID (it proves nothing by itself)`);
  const mine = documents.filter((d) => d?.id === did).sort((a, b) => versionOf(a) - versionOf(b));
  const v1 = mine.find((d) => versionOf(d) === 1);
  if (!v1) throw new Error(`${did}: no DID Document at hand`);
  let key = firstKey(v1);
  if ('z' + base58btc(await sha256(key)) !== m[2]) throw new Error(`${did}: its DID Document's key does not hash to the identifier`);
  const out = [{ version: 1, from: v1.versionTime ? Date.parse(v1.versionTime) : -Infinity, key }];
  for (let v = 2; ; v++) {
    const next = mine.find((d) => versionOf(d) === v);
    if (!next) break;
    const sig = b64uDecode(next.previousVersionSignature ?? '');
    const body = utf8(canonicalizeWithout(next, 'proof', 'previousVersionSignature'));
    if (sig.length !== 64 || !(await ed25519Verify(key, sig, body))) break;  // an unproven version ends the history
    key = firstKey(next);
    out.push({ version: v, from: Date.parse(next.versionTime), key });
  }
  return out;
}
// The key valid at `when` (RFC 3339): the newest proven version that had begun by then.
export function keyAt(keys, when) {
  const t = Date.parse(when);
  let found = null;
  for (const k of keys) if (!(k.from > t)) found = k;
  return found;
}

// ---- Merkle (RFC 9162) ------------------------------------------------------------------------

async function prefixed(prefix, ...parts) {
  const len = parts.reduce((n, p) => n + p.length, 1);
  const buf = new Uint8Array(len);
  buf[0] = prefix;
  let o = 1;
  for (const p of parts) { buf.set(p, o); o += p.length; }
  return sha256(buf);
}
export const leafHash = (data) => prefixed(0x00, data);
export const nodeHash = (l, r) => prefixed(0x01, l, r);

// RFC 9162 §2.1.3.2: the root implied by an inclusion path.
export async function rootFromInclusionProof(index, size, leaf, proof) {
  if (!(index < size)) throw new Error('leaf index not below the tree size');
  let fn = BigInt(index), sn = BigInt(size) - 1n, r = leaf;
  for (const p of proof) {
    if (sn === 0n) throw new Error('proof longer than the tree is deep');
    if ((fn & 1n) === 1n || fn === sn) {
      r = await nodeHash(p, r);
      if ((fn & 1n) === 0n) while ((fn & 1n) === 0n && fn !== 0n) { fn >>= 1n; sn >>= 1n; }
    } else {
      r = await nodeHash(r, p);
    }
    fn >>= 1n; sn >>= 1n;
  }
  if (sn !== 0n) throw new Error('proof shorter than the tree is deep');
  return r;
}

export async function receiptLeaf(receipt) {
  return leafHash(await sha256(utf8(canonicalizeWithout(receipt, 'signature', 'registry_anchor'))));
}

// ---- verdicts -----------------------------------------------------------------------------------
// Each is {state: 'valid'|'invalid'|'unknown', why}.
const valid = (why) => ({ state: 'valid', why });
const invalid = (why) => ({ state: 'invalid', why });
const unknown = (why) => ({ state: 'unknown', why });

// `documents`: every DID Document at hand (the page fetched them; each proves itself or not).
export async function checkSignature(message, documents, when) {
  try {
    const keys = await provenKeys(message.iss, documents);
    const k = keyAt(keys, when ?? message.executed_at ?? message.iat);
    if (!k) return invalid('no key of the issuer was valid then');
    return (await signatureValid(message, k.key)) ? valid(`signed by ${message.iss} (key version ${k.version})`)
      : invalid('signature does not verify');
  } catch (e) {
    return /no DID Document at hand|not a self-certifying/.test(e.message) ? unknown(e.message) : invalid(e.message);
  }
}

export async function checkResultHash(receipt, result) {
  if (result === undefined) return unknown('result not at hand');
  const rh = receipt.result_hash;
  if (rh?.alg !== 'sha-256') return unknown(`result hash algorithm ${rh?.alg} not checked here`);
  return hex(await sha256(utf8(canonicalize(result)))) === rh.value ? valid('SHA-256(JCS(result)) matches')
    : invalid('result does not match result_hash');
}

// `answer`: the registry's /v1/proofs/inclusion answer for this receipt's leaf (as given);
// `registryKeys`: the proven keys of the registry DID.
export async function checkInclusion(receipt, answer, registryKeys) {
  try {
    const leaf = await receiptLeaf(receipt);
    const head = answer.tree_head;
    const root = await rootFromInclusionProof(answer.leaf_index, answer.tree_size, leaf, answer.inclusion_proof.map(unhex));
    if (answer.tree_size !== head.tree_size) return unknown('proof is for an older tree than the head given');
    if (hex(root) !== head.root_hash) return invalid('inclusion proof does not lead to the tree head root');
    const k = keyAt(registryKeys, head.timestamp);
    if (!k || !(await signatureValid(head, k.key))) return invalid('tree head signature does not verify');
    return valid(`leaf ${answer.leaf_index} of ${head.tree_size}, tree head signed by ${head.log_id}`);
  } catch (e) {
    return invalid(e.message);
  }
}

export async function checkTreeHead(head, registryKeys) {
  try {
    const k = keyAt(registryKeys, head.timestamp);
    return Boolean(k) && (await signatureValid(head, k.key));
  } catch {
    return false;
  }
}
