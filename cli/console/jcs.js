// RFC 8785 JSON Canonicalization Scheme for the console page, written to match core/src/json.cpp:
// object members sorted by their names' UTF-16 code units, numbers in ECMAScript's
// Number::toString form, strings with only '"', '\\' and controls escaped, no whitespace.
// Refused (an Error thrown): non-finite numbers, lone surrogates (not representable in UTF-8),
// and anything that is not JSON (undefined, functions, ...).

function string(s) {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1);
      if (!(d >= 0xdc00 && d <= 0xdfff)) throw new Error('jcs.invalid_utf8: lone surrogate');
      i++;
    } else if (c >= 0xdc00 && c <= 0xdfff) {
      throw new Error('jcs.invalid_utf8: lone surrogate');
    }
  }
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0);
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (c < 0x20) {
      const named = { 8: '\\b', 9: '\\t', 10: '\\n', 12: '\\f', 13: '\\r' }[c];
      out += named ?? '\\u' + c.toString(16).padStart(4, '0');
    } else out += ch;
  }
  return out + '"';
}

function number(n) {
  if (!Number.isFinite(n)) throw new Error('jcs.non_finite: NaN and Infinity have no JSON form');
  if (Object.is(n, -0)) return '0';
  return String(n);  // ECMAScript Number::toString, which RFC 8785 adopts
}

// UTF-16 code unit order, which is what < on JavaScript strings compares.
const byCodeUnits = (a, b) => (a < b ? -1 : a > b ? 1 : 0);

export function canonicalize(value) {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'boolean': return value ? 'true' : 'false';
    case 'number': return number(value);
    case 'string': return string(value);
    case 'object':
      if (Array.isArray(value)) return '[' + value.map(canonicalize).join(',') + ']';
      return '{' + Object.keys(value).sort(byCodeUnits)
        .map((k) => string(k) + ':' + canonicalize(value[k])).join(',') + '}';
    default:
      throw new Error(`jcs.not_json: ${typeof value}`);
  }
}

// The signing input of a signed message: JCS of the object without `omit` members.
export function canonicalizeWithout(object, ...omit) {
  const copy = { ...object };
  for (const k of omit) delete copy[k];
  return canonicalize(copy);
}
