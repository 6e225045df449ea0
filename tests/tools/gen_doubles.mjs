// Reference output for the JCS number test: prints "<16 hex digits of the IEEE-754 bits> <JS
// String(x)>" for a deterministic set of doubles, using the JavaScript engine's own
// Number::toString as the reference implementation.
// Usage: node gen_doubles.mjs COUNT SEED
const count = Number(process.argv[2] ?? 100000);
let state = BigInt.asUintN(64, BigInt(process.argv[3] ?? 1) * 0x9E3779B97F4A7C15n + 1n);
function next() {  // xorshift64*
  state ^= state >> 12n; state ^= BigInt.asUintN(64, state << 25n); state ^= state >> 27n;
  return BigInt.asUintN(64, state * 0x2545F4914F6CDD1Dn);
}
const view = new DataView(new ArrayBuffer(8));
const out = [];
function emit(bits) {
  view.setBigUint64(0, bits);
  const x = view.getFloat64(0);
  if (!Number.isFinite(x)) return;
  out.push(bits.toString(16).padStart(16, '0') + ' ' + String(x));
}
// Edges: zeros, subnormals, extremes, powers of ten and two around the format switch points.
const edges = [0, -0, 5e-324, -5e-324, 2.2250738585072014e-308, 2.225073858507201e-308,
  1.7976931348623157e308, -1.7976931348623157e308, 1e21, 1e-7, 1e-6, 999999999999999900000,
  9007199254740992, 9007199254740993, 0.1, 0.2, 0.30000000000000004, 123456789012345680000,
  1.5, -1.5, 4.35, 0.000001, 0.0000001, 1e20, 1e22, 333333333.3333333, 1e-27];
for (const e of edges) { view.setFloat64(0, e); emit(view.getBigUint64(0)); }
for (let p = -330; p <= 310; ++p) {
  for (const m of [1, 2, 5, 9.999999999999999]) {
    const x = m * Math.pow(10, p);
    if (Number.isFinite(x)) { view.setFloat64(0, x); emit(view.getBigUint64(0)); }
  }
}
for (let p = -1074; p <= 1023; ++p) { view.setFloat64(0, Math.pow(2, p)); emit(view.getBigUint64(0)); }
// Random bit patterns cover the whole range uniformly by exponent; random integers and short
// decimals cover the values people actually send.
for (let i = 0; i < count; ++i) {
  const r = next();
  switch (i % 4) {
    case 0: case 1: emit(r); break;
    case 2: { view.setFloat64(0, Number(r % 100000000000000000n) / 1000); emit(view.getBigUint64(0)); break; }
    case 3: { view.setFloat64(0, Number(BigInt.asIntN(64, r) >> BigInt(Number(r % 60n)))); emit(view.getBigUint64(0)); break; }
  }
}
process.stdout.write(out.join('\n') + '\n');
