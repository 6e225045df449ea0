// The audit console page: lists what the console's server hands out, checks all of it here
// (verify.js), draws delegation chains, the receipt DAG and the registry's tree size (SVG).
import * as v from './verify.js';

const $ = (sel) => document.querySelector(sel);
const SVG = 'http://www.w3.org/2000/svg';
const state = { records: [], documents: [], registryKeys: null, registryWhy: 'no registry', verdicts: new Map() };

async function getJson(path) {
  const r = await fetch(path, { headers: { Accept: 'application/json' }, credentials: 'same-origin' });
  const body = await r.json().catch(() => null);
  if (!r.ok) throw new Error(body?.error?.message ?? `${path}: HTTP ${r.status}`);
  return body;
}
function el(tag, attrs = {}, ...children) {
  const e = tag.startsWith('svg:') ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
  for (const [k, val] of Object.entries(attrs)) e.setAttribute(k, val);
  for (const c of children) e.append(c);
  return e;
}
const short = (s) => (typeof s === 'string' && s.length > 30 ? s.slice(0, 18) + '…' + s.slice(-8) : String(s ?? ''));
const idOf = (rec) => (rec.kind === 'receipt' ? rec.message.id : rec.message.request_id);
const timeOf = (rec) => (rec.kind === 'receipt' ? rec.message.executed_at : rec.message.iat);
const badge = (verdict) => el('span', { class: verdict.state, title: verdict.why }, verdict.state);

// ---- DID Documents: from --did-doc, and the registry's history of each DID asked about --------------
const askedRegistry = new Set();
async function documentsFor(did) {
  if (state.config.registry && did && !askedRegistry.has(did) && !state.documents.some((d) => d?.id === did)) {
    askedRegistry.add(did);
    try {
      const h = await getJson(`/api/registry/v1/dids/${encodeURIComponent(did)}/versions`);
      for (const doc of h.versions ?? []) state.documents.push(doc);
    } catch { /* the registry does not know it: the check says so */ }
  }
  return state.documents;
}

async function loadRegistry() {
  if (!state.config.registry) return;
  try {
    const doc = await getJson('/api/registry/.well-known/handshake/did.json');
    state.registryDid = doc.id;
    state.registryKeys = await v.provenKeys(doc.id, [doc]);
  } catch (e) {
    state.registryWhy = `registry key not proven: ${e.message}`;
  }
}

async function verdictsFor(rec) {
  const m = rec.message;
  const out = {};
  out.signature = await v.checkSignature(m, await documentsFor(m.iss));
  if (rec.kind !== 'receipt') {
    out.result = { state: 'unknown', why: 'a refusal has no result' };
    out.inclusion = { state: 'unknown', why: 'refusals are not anchored' };
    return out;
  }
  out.result = await v.checkResultHash(m, rec.result);
  if (!state.registryKeys) {
    out.inclusion = { state: 'unknown', why: state.registryWhy };
  } else {
    const leaf = v.hex(await v.receiptLeaf(m));
    try {
      out.inclusion = await v.checkInclusion(m, await getJson(`/api/registry/v1/proofs/inclusion?leaf_hash=${leaf}`),
        state.registryKeys);
    } catch (e) {
      out.inclusion = { state: 'invalid', why: `not in the registry's log: ${e.message}` };
    }
  }
  // Each link of the delegation chain, as kept with the receipt.
  out.chain = [];
  for (const t of Array.isArray(rec.delegation_chain) ? rec.delegation_chain : []) {
    out.chain.push(await v.checkSignature(t, await documentsFor(t.iss), t.iat));
  }
  return out;
}

// ---- list -----------------------------------------------------------------------------------------
async function loadRecords() {
  const q = new URLSearchParams();
  for (const [k, val] of new FormData($('#filters'))) if (val) q.set(k, val);
  const answer = await getJson(`/api/records?${q}`);
  state.records = answer.records;
  const body = $('#records tbody');
  body.replaceChildren();
  let invalidCount = 0;
  for (const rec of state.records) {
    const m = rec.message;
    const vd = await verdictsFor(rec);
    state.verdicts.set(rec, vd);
    const bad = [vd.signature, vd.result, vd.inclusion].some((x) => x.state === 'invalid');
    if (bad) invalidCount++;
    const row = el('tr', { class: `record ${rec.kind}${bad ? ' bad' : ''}`, 'data-id': idOf(rec) ?? '',
      'data-signature': vd.signature.state, 'data-result': vd.result.state, 'data-inclusion': vd.inclusion.state },
    el('td', {}, rec.kind), el('td', {}, timeOf(rec) ?? ''), el('td', {}, m.action ?? rec.action),
    el('td', { class: 'mono', title: (rec.kind === 'receipt' ? m.sub : m.aud) ?? '' }, short(rec.kind === 'receipt' ? m.sub : m.aud)),
    el('td', {}, rec.kind === 'receipt' ? m.result ?? '' : m.reason?.code ?? ''),
    el('td', {}, badge(vd.signature)), el('td', {}, badge(vd.result)), el('td', {}, badge(vd.inclusion)));
    row.addEventListener('click', () => showDetail(rec, row));
    body.append(row);
  }
  $('#status').textContent = `${state.records.length} record(s), ${invalidCount} invalid`;
  $('#status').dataset.count = String(state.records.length);
  $('#status').dataset.invalid = String(invalidCount);
  $('#status').dataset.ready = 'true';
}

// ---- graphs -----------------------------------------------------------------------------------------
// A left-to-right graph: nodes [{id, label, cls}], edges [{from, to, label, cls}], laid out by
// longest path from the sources.
function drawGraph(nodes, edges) {
  const depth = new Map(nodes.map((n) => [n.id, 0]));
  for (let pass = 0; pass < nodes.length; pass++) {
    for (const e of edges) depth.set(e.to, Math.max(depth.get(e.to) ?? 0, (depth.get(e.from) ?? 0) + 1));
  }
  const columns = new Map();
  for (const n of nodes) {
    const d = depth.get(n.id);
    if (!columns.has(d)) columns.set(d, []);
    columns.get(d).push(n);
  }
  const W = 210, H = 56, GAP = 150, pos = new Map();
  let rows = 1;
  for (const [d, col] of columns) {
    col.forEach((n, i) => pos.set(n.id, { x: 10 + d * (W + GAP), y: 10 + i * (H + 24) }));
    rows = Math.max(rows, col.length);
  }
  const svg = el('svg:svg', { width: 20 + columns.size * (W + GAP), height: 20 + rows * (H + 24), role: 'img' });
  svg.append(el('svg:defs', {}, el('svg:marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 10, refY: 5,
    markerWidth: 7, markerHeight: 7, orient: 'auto' }, el('svg:path', { d: 'M0,0 L10,5 L0,10 z', fill: '#4a6fa5' }))));
  for (const e of edges) {
    const a = pos.get(e.from), b = pos.get(e.to);
    if (!a || !b) continue;
    const g = el('svg:g', { class: `edge ${e.cls ?? ''}` },
      el('svg:line', { x1: a.x + W, y1: a.y + H / 2, x2: b.x, y2: b.y + H / 2, 'marker-end': 'url(#arrow)' }),
      el('svg:text', { x: a.x + W + 6, y: (a.y + b.y) / 2 + H / 2 - 6 }, e.label ?? ''),
      el('svg:text', { x: a.x + W + 6, y: (a.y + b.y) / 2 + H / 2 + 14 }, e.sublabel ?? ''));
    g.append(el('svg:title', {}, e.title ?? ''));
    svg.append(g);
  }
  for (const n of nodes) {
    const p = pos.get(n.id);
    const g = el('svg:g', { class: `node ${n.cls ?? ''}`, transform: `translate(${p.x},${p.y})` },
      el('svg:rect', { width: W, height: H, rx: 6 }));
    n.label.forEach((line, i) => g.append(el('svg:text', { x: 8, y: 18 + i * 15 }, line)));
    g.append(el('svg:title', {}, n.id));
    svg.append(g);
  }
  return svg;
}

function chainGraph(rec, vd) {
  const chain = Array.isArray(rec.delegation_chain) ? rec.delegation_chain : [];
  if (!chain.length) return el('p', {}, 'no delegation chain kept with this record');
  const nodes = [], edges = [], seen = new Set();
  const node = (did) => {
    if (seen.has(did)) return;
    seen.add(did);
    nodes.push({ id: did, label: [did.split(':').slice(0, 3).join(':'), short(did.split(':')[3])] });
  };
  chain.forEach((t, i) => {
    node(t.iss); node(t.sub);
    const state = vd.chain?.[i]?.state ?? 'unknown';
    const caps = (t.capabilities ?? []).map((c) => c.name).join(', ');
    edges.push({ from: t.iss, to: t.sub, cls: state, label: caps.length > 20 ? caps.slice(0, 19) + '…' : caps,
      sublabel: `${t.id.slice(0, 11)}… ${state}`, title: `${t.id} ${caps}: ${state} (${vd.chain?.[i]?.why ?? ''})` });
  });
  return drawGraph(nodes, edges);
}

function dagGraph(rec) {
  const receipts = state.records.filter((r) => r.kind === 'receipt');
  const byId = new Map(receipts.map((r) => [r.message.id, r]));
  // The selected receipt's component: its upstream receipts and the ones naming it, transitively.
  const inComponent = new Set([rec.message.id]);
  for (let grew = true; grew;) {
    grew = false;
    for (const r of receipts) {
      for (const up of r.message.upstream_receipts ?? []) {
        if (inComponent.has(r.message.id) !== inComponent.has(up)) {
          inComponent.add(r.message.id); inComponent.add(up); grew = true;
        }
      }
    }
  }
  const nodes = [...inComponent].map((id) => {
    const r = byId.get(id);
    const vd = r && state.verdicts.get(r);
    return { id, cls: id === rec.message.id ? 'selected' : '',
      label: [short(id), r ? `${r.message.action} · ${vd?.signature.state}` : 'not in this list'] };
  });
  const edges = [];
  for (const id of inComponent) {
    for (const up of byId.get(id)?.message.upstream_receipts ?? []) edges.push({ from: up, to: id });
  }
  return drawGraph(nodes, edges);
}

function showDetail(rec, row) {
  document.querySelectorAll('tr.selected').forEach((r) => r.classList.remove('selected'));
  row.classList.add('selected');
  const vd = state.verdicts.get(rec);
  $('#detail').hidden = false;
  $('#detail-title').textContent = `${rec.kind} ${idOf(rec)}`;
  $('#verdicts').replaceChildren(
    ...[['signature', vd.signature], ['result hash', vd.result], ['inclusion', vd.inclusion]].map(([name, x]) =>
      el('li', {}, `${name}: `, badge(x), ` — ${x.why}`)));
  $('#chain').replaceChildren(chainGraph(rec, vd));
  $('#dag').replaceChildren(rec.kind === 'receipt' ? dagGraph(rec) : el('p', {}, 'refusals are not in the DAG'));
  $('#raw').textContent = JSON.stringify(rec, null, 2);
}

// ---- registry tree size over time -----------------------------------------------------------------
async function loadHistory() {
  if (!state.config.registry) {
    $('#sth').dataset.samples = '0';
    return $('#sth').replaceChildren(el('p', {}, 'no registry (hsk console --registry URL)'));
  }
  const { samples } = await getJson('/api/sth-history');
  const points = [];
  for (const s of samples) {
    const ok = state.registryKeys ? await v.checkTreeHead(s.tree_head, state.registryKeys) : false;
    points.push({ t: Date.parse(s.at), size: s.tree_head.tree_size, ok });
  }
  const W = 640, H = 200, pad = 40;
  const svg = el('svg:svg', { width: W, height: H, role: 'img' });
  svg.append(el('svg:line', { class: 'axis', x1: pad, y1: H - pad, x2: W - 10, y2: H - pad }),
    el('svg:line', { class: 'axis', x1: pad, y1: 10, x2: pad, y2: H - pad }));
  if (points.length) {
    const t0 = points[0].t, t1 = Math.max(points.at(-1).t, t0 + 1000);
    const max = Math.max(1, ...points.map((p) => p.size));
    const x = (t) => pad + ((t - t0) / (t1 - t0)) * (W - pad - 20), y = (s) => H - pad - (s / max) * (H - pad - 20);
    svg.append(el('svg:polyline', { class: 'series', points: points.map((p) => `${x(p.t)},${y(p.size)}`).join(' ') }));
    for (const p of points) {
      const c = el('svg:circle', { class: `sample ${p.ok ? 'valid' : 'invalid'}`, cx: x(p.t), cy: y(p.size), r: 3 });
      c.append(el('svg:title', {}, `${new Date(p.t).toISOString()}: ${p.size} leaves, signature ${p.ok ? 'valid' : 'not verified'}`));
      svg.append(c);
    }
    svg.append(el('svg:text', { x: 4, y: y(max) + 4 }, String(max)), el('svg:text', { x: 4, y: H - pad + 4 }, '0'),
      el('svg:text', { x: pad, y: H - 10 }, new Date(t0).toISOString()),
      el('svg:text', { x: W - 200, y: H - 10 }, new Date(t1).toISOString()));
  }
  $('#sth').replaceChildren(svg);
  $('#sth').dataset.samples = String(points.length);
}

async function start() {
  try {
    state.config = await getJson('/api/config');
    state.documents = (await getJson('/api/dids')).documents ?? [];
    await loadRegistry();
    await loadRecords();
    await loadHistory();
  } catch (e) {
    $('#status').textContent = `error: ${e.message}`;
    $('#status').dataset.ready = 'error';
  }
}
$('#filters').addEventListener('submit', (e) => {
  e.preventDefault();
  $('#status').dataset.ready = 'false';
  loadRecords().catch((err) => { $('#status').textContent = `error: ${err.message}`; });
});
start();
