// A stdio MCP server that can be restarted under a running client session, for e2e.mjs: runs
// COMMAND and relays newline-delimited JSON-RPC both ways; on SIGUSR2 it stops COMMAND and starts
// it again (a service instance restarting, its warm sessions gone), replaying the client's
// `initialize` (its response swallowed) and `notifications/initialized`, holding the client's
// lines meanwhile. Writes its pid to STATE/pid and, after each restart, their count to
// STATE/restarts.
//
// usage: node restartable.mjs --state DIR -- COMMAND [ARGS...]
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import readline from 'node:readline';

const sep = process.argv.indexOf('--');
const stateAt = process.argv.indexOf('--state');
if (sep < 0 || stateAt < 0 || stateAt > sep || sep + 1 >= process.argv.length) {
  console.error('usage: node restartable.mjs --state DIR -- COMMAND [ARGS...]');
  process.exit(2);
}
const state = process.argv[stateAt + 1];
const [command, ...args] = process.argv.slice(sep + 1);
writeFileSync(join(state, 'pid'), String(process.pid));

let initialize = null;   // the client's initialize request (text)
let initialized = null;  // its notifications/initialized (text)
let held = null;         // client lines held during a restart
let restarts = 0;
let closing = false;     // the client closed its end during a restart
let child = start();

function start() {
  const c = spawn(command, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  c.replayId = undefined;
  readline.createInterface({ input: c.stdout }).on('line', (line) => {
    if (c.replayId !== undefined) {
      let m = null;
      try { m = JSON.parse(line); } catch { /* not ours */ }
      if (m && m.id === c.replayId && m.method === undefined) {
        c.replayId = undefined;
        if (initialized) c.stdin.write(`${initialized}\n`);
        const lines = held;
        held = null;
        for (const l of lines) c.stdin.write(`${l}\n`);
        if (closing) c.stdin.end();
        writeFileSync(join(state, 'restarts'), String(++restarts));
        return;
      }
    }
    process.stdout.write(`${line}\n`);
  });
  c.on('exit', (code, signal) => {
    if (c === child && held === null) process.exit(code ?? (signal ? 1 : 0));
  });
  return c;
}

process.on('SIGUSR2', () => {
  if (held !== null || !initialize) return;
  held = [];
  const old = child;
  old.on('exit', () => {
    child = start();
    child.replayId = `hsk-restart-${restarts + 1}`;
    child.stdin.write(`${JSON.stringify({ ...JSON.parse(initialize), id: child.replayId })}\n`);
  });
  old.stdin.end();
  old.kill('SIGTERM');
});

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  try {
    const m = JSON.parse(line);
    if (m.method === 'initialize' && !initialize) initialize = line;
    if (m.method === 'notifications/initialized' && !initialized) initialized = line;
  } catch { /* passed on as it is */ }
  if (held !== null) held.push(line);
  else child.stdin.write(`${line}\n`);
}).on('close', () => {
  if (held === null) child.stdin.end();
  else closing = true;
});
for (const s of ['SIGTERM', 'SIGINT']) {
  process.on(s, () => {
    child.kill('SIGTERM');
    process.exit(0);
  });
}
