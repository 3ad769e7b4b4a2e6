// Drives the real graphql-ws client against Issuegraph for
// server/wsconformance_test.go. It opens CLIENTS clients (one WebSocket
// each) to PRIMARY, each subscribing to PROJECT's events; every retry
// connects to SURVIVOR and resubscribes after the last cursor seen (the
// client resends the subscribe payload it was given, which the next
// handler updates). It prints "subscribed" once every client got its
// connection_ack, then reads "expect N" on stdin and prints one JSON line
// once every client holds N events (or after TIMEOUT_MS): what each saw.
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import readline from 'node:readline';

const { PRIMARY, SURVIVOR, TOKEN, PROJECT } = process.env;
const CLIENTS = Number(process.env.CLIENTS || 500);
const TIMEOUT_MS = Number(process.env.TIMEOUT_MS || 60000);
const query = `subscription($p:ID!,$a:String){ projectEvents(projectId:$p, after:$a){ cursor type } }`;

const results = [];
let acked = 0;
for (let i = 0; i < CLIENTS; i++) {
  const r = { cursors: [], completes: 0, errors: [], closes: [], connects: 0 };
  results.push(r);
  const payload = { query, variables: { p: PROJECT, a: null } };
  const client = createClient({
    url: () => (r.connects++ === 0 ? PRIMARY : SURVIVOR),
    webSocketImpl: WebSocket,
    connectionParams: { Authorization: `Bearer ${TOKEN}` },
    retryAttempts: 20,
    retryWait: () => new Promise((resolve) => setTimeout(resolve, 50 + Math.random() * 250)),
    shouldRetry: () => true,
    on: {
      connected: () => { if (r.connects === 1) acked++; },
      closed: (ev) => { r.closes.push(ev && ev.code); },
    },
  });
  r.client = client;
  client.subscribe(payload, {
    next: (res) => {
      if (res.errors) { r.errors.push(res.errors); return; }
      const ev = res.data.projectEvents;
      r.cursors.push(ev.cursor);
      payload.variables.a = ev.cursor; // resume after it on a retry
    },
    error: (err) => { r.errors.push(String(err && (err.code || err.message || err))); },
    complete: () => { r.completes++; },
  });
}

const started = Date.now();
const waitAcked = setInterval(() => {
  if (acked === CLIENTS) { clearInterval(waitAcked); console.log('subscribed'); }
  else if (Date.now() - started > TIMEOUT_MS) { clearInterval(waitAcked); finish(); }
}, 20);

function finish() {
  const out = results.map(({ cursors, completes, errors, closes, connects }) => ({ cursors, completes, errors, closes, connects }));
  process.stdout.write(JSON.stringify(out) + '\n', () => process.exit(0));
}

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  const m = /^expect (\d+)$/.exec(line.trim());
  if (!m) return;
  const n = Number(m[1]);
  const deadline = Date.now() + TIMEOUT_MS;
  const poll = setInterval(() => {
    if (results.every((r) => r.cursors.length >= n) || Date.now() > deadline) {
      clearInterval(poll);
      for (const r of results) r.client.dispose();
      finish();
    }
  }, 20);
});
