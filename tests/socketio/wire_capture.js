#!/usr/bin/env node
// Captures the raw Engine.IO / socket.io exchange of both reference servers over a direct
// WebSocket (no polling handshake first), as a hand-written client sees it. Prints Markdown
// transcripts to stdout (WIRE.md quotes them). Takes about 40 s: it waits for the real default
// ping of socket.io 3.1.2 (25 s) once; the timeout cases use servers with shortened timers.
//
//   node wire_capture.js            # everything
//   node wire_capture.js --quick    # skip the 25 s default-ping wait
'use strict';

const { spawn } = require('child_process');
const path = require('path');
const WebSocket = require('ws');

const quick = process.argv.includes('--quick');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const children = [];

function startServer(script, env = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(__dirname, script), '0'], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let out = '';
    child.stderr.on('data', () => {});
    child.stdout.on('data', (d) => {
      out += d;
      const m = /listening on (\d+)/.exec(out);
      if (m) resolve({ port: Number(m[1]), child });
    });
    child.on('exit', (code) => reject(new Error(`${script} exited ${code}`)));
  });
}

// One transcript shared by all connections of a scenario, in time order.
class Transcript {
  constructor(title) {
    this.title = title;
    this.t0 = Date.now();
    this.lines = [];
  }
  add(who, dir, text) {
    const ms = String(Date.now() - this.t0).padStart(6);
    this.lines.push(`${ms} ms  ${who} ${dir} ${text}`);
  }
  note(text) {
    this.lines.push(`          -- ${text}`);
  }
  print() {
    console.log(`\n### ${this.title}\n\n\`\`\`text`);
    for (const l of this.lines) console.log(l);
    console.log('```');
  }
}

function abbreviate(s) {
  return s.length > 400 ? `${s.slice(0, 400)}... (${s.length} chars)` : s;
}

// A raw WebSocket that records every frame in the transcript.
// Like a plain hand-written client, it offers no permessage-deflate unless asked to.
function connect(tr, who, url, { deflate = false } = {}) {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { perMessageDeflate: deflate });
    ws.on('upgrade', (res) => {
      if (deflate) tr.add(who, '   ', `offered permessage-deflate; Sec-WebSocket-Extensions in the 101: ${res.headers['sec-websocket-extensions'] || '(none)'}`);
    });
    const conn = { ws, who, received: [], open: false };
    conn.close = () => {
      conn.closing = true;
      ws.close();
    };
    conn.send = (text) => {
      tr.add(who, 'C->S', text);
      ws.send(text);
    };
    conn.waitFor = async (pred, ms = 3000) => {
      const end = Date.now() + ms;
      while (Date.now() < end) {
        const hit = conn.received.find(pred);
        if (hit) return hit;
        await sleep(20);
      }
      return null;
    };
    ws.on('open', () => {
      conn.open = true;
      tr.add(who, '   ', `websocket open: GET ${url.replace(/^ws:\/\/[^/]+/, '')}`);
      resolve(conn);
    });
    ws.on('message', (data, isBinary) => {
      const text = isBinary ? `<binary ${data.length} bytes>` : data.toString();
      conn.received.push(text);
      tr.add(who, 'S->C', abbreviate(text));
    });
    ws.on('ping', () => tr.add(who, 'S->C', '<websocket-level ping frame>'));
    ws.on('close', (code, reason) => {
      tr.add(who, '   ', `websocket closed (${conn.closing ? 'by the client' : 'by the server'}): code ${code}${reason.length ? ` reason "${reason}"` : ''}`);
      conn.closed = { code };
    });
    ws.on('unexpected-response', (req, res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => {
        tr.add(who, '   ', `upgrade refused: HTTP ${res.statusCode} ${res.statusMessage}, body ${body}`);
        resolve(conn);
      });
    });
    ws.on('error', (e) => {
      if (!/Unexpected server response/.test(e.message)) tr.add(who, '   ', `error: ${e.message}`);
    });
  });
}

async function v3Main(port) {
  const tr = new Transcript('socket.io 3.1.2 (room_server.js), EIO=4, direct websocket');
  const url = `ws://127.0.0.1:${port}/socket.io/?EIO=4&transport=websocket`;
  const a = await connect(tr, 'A', url);
  await a.waitFor((t) => t.startsWith('0'));
  await sleep(500);
  tr.note('500 ms later: nothing more from the server until the client sends 40');
  a.send('40');
  await a.waitFor((t) => t.startsWith('40'));
  a.send('42["create or join","wire"]');
  await a.waitFor((t) => t.startsWith('42["created"'));
  const b = await connect(tr, 'B', url);
  await b.waitFor((t) => t.startsWith('0'));
  b.send('40');
  await b.waitFor((t) => t.startsWith('40'));
  b.send('42["create or join","wire"]');
  await b.waitFor((t) => t.startsWith('42["ready"'));
  await a.waitFor((t) => t.startsWith('42["ready"'));
  a.send('42["message","got user media"]');
  await b.waitFor((t) => t === '42["message","got user media"]');
  b.send('42["message",{"type":"candidate","label":0,"id":"0","candidate":"candidate:1 1 udp 2122260223 127.0.0.1 5000 typ host"}]');
  await a.waitFor((t) => t.startsWith('42["message",{'));
  const c = await connect(tr, 'C', url);
  await c.waitFor((t) => t.startsWith('0'));
  c.send('40');
  await c.waitFor((t) => t.startsWith('40'));
  c.send('42["create or join","wire"]');
  await c.waitFor((t) => t.startsWith('42["full"'));
  tr.note('an event with an ack id (the server registered no ack callback, so no 43 comes back):');
  c.send('421["create or join","wire"]');
  await sleep(400);
  tr.note('a client-initiated Engine.IO ping to a v4 server ("invalid heartbeat direction"):');
  c.send('2');
  await sleep(300);
  if (!quick) {
    tr.note('waiting for the server\'s first ping (pingInterval 25000 ms); A answers, B does not');
    await a.waitFor((t) => t === '2', 27000);
    a.send('3');
    for (let i = 0; i < 80 && !b.closed; i++) await sleep(100);
    tr.note(`B after no pong: ${b.closed ? 'closed' : 'still open'}`);
  }
  a.send('41');
  await sleep(300);
  tr.note('after the client\'s 41 the server keeps the websocket open (Engine.IO session alive)');
  a.close();
  if (!b.closed) b.close();
  await sleep(100);
  tr.print();
}

async function v3Other(port) {
  const tr = new Transcript('socket.io 3.1.2: EIO=3 and no EIO on a direct websocket');
  const d = await connect(tr, 'D', `ws://127.0.0.1:${port}/socket.io/?EIO=3&transport=websocket`);
  await sleep(2000);
  tr.note(`2 s later D is ${d.closed ? 'closed' : 'still open'} and has received ${d.received.length} frame(s)`);
  if (!d.closed) d.close();
  const e = await connect(tr, 'E', `ws://127.0.0.1:${port}/socket.io/?transport=websocket`);
  await sleep(300);
  if (e.open) e.close();
  await sleep(100);
  tr.print();
}

async function v3Timeout() {
  const { port } = await startServer('room_server.js', { SIO_PING_INTERVAL: '1000', SIO_PING_TIMEOUT: '1000' });
  const tr = new Transcript('socket.io 3.1.2 with SIO_PING_INTERVAL=1000 SIO_PING_TIMEOUT=1000: a client that never pongs');
  const a = await connect(tr, 'A', `ws://127.0.0.1:${port}/socket.io/?EIO=4&transport=websocket`);
  a.send('40');
  for (let i = 0; i < 50 && !a.closed; i++) await sleep(100);
  tr.print();
}

async function v1Main(port) {
  const tr = new Transcript('socket.io 1.4.5 (onev1_server.js), EIO=3, direct websocket (no polling first)');
  const url = `ws://127.0.0.1:${port}/socket.io/?EIO=3&transport=websocket`;
  const a = await connect(tr, 'A', url);
  await a.waitFor((t) => t === '40');
  a.send('42["join",{"roomid":"wire","account":"alice"}]');
  await a.waitFor((t) => t.startsWith('42["joined"'));
  const b = await connect(tr, 'B', url);
  await b.waitFor((t) => t === '40');
  b.send('42["join",{"roomid":"wire","account":"bob"}]');
  await b.waitFor((t) => t.startsWith('42["joined"'));
  await sleep(100);
  a.send('2');
  await a.waitFor((t) => t === '3');
  a.send('2probe');
  await a.waitFor((t) => t === '3probe', 500);
  a.send('42["apply",{"account":"bob","self":"alice"}]');
  await b.waitFor((t) => t.startsWith('42["apply"'));
  b.send('42["reply",{"account":"alice","self":"bob","type":"1"}]');
  await a.waitFor((t) => t.startsWith('42["reply"'));
  tr.note('an unsolicited pong from the client is ignored:');
  a.send('3');
  await sleep(200);
  tr.note('now an event for an account that never joined: the handler throws');
  a.send('42["apply",{"account":"nobody","self":"alice"}]');
  await sleep(300);
  tr.note('A\'s Engine.IO session lives on (ping answered), but its events are dropped:');
  a.send('2');
  await sleep(200);
  a.send('42["apply",{"account":"bob","self":"alice"}]');
  await sleep(300);
  tr.note('(B received nothing.) A is no longer in room "wire": a new member\'s joined list reaches B only:');
  const c = await connect(tr, 'C', url);
  await c.waitFor((t) => t === '40');
  c.send('42["join",{"roomid":"wire","account":"carol"}]');
  await c.waitFor((t) => t.startsWith('42["joined"'));
  await sleep(200);
  tr.note('yet a direct forward to "alice" through the account map still reaches A:');
  b.send('42["1v1hangup",{"account":"alice","self":"bob"}]');
  await a.waitFor((t) => t.startsWith('42["1v1hangup"'));
  await sleep(100);
  tr.note('A sending 40 again does not revive it (its socket.io Client is detached from the connection):');
  a.send('40');
  await sleep(300);
  tr.note('a healthy client that sends 40 although the server already sent it gets a second 40:');
  c.send('40');
  await sleep(300);
  c.send('42["apply",{"account":"bob","self":"carol"}]');
  await b.waitFor((t) => t.includes('"self":"carol"'));
  await sleep(100);
  for (const x of [a, b, c]) x.close();
  await sleep(100);
  tr.print();
}

async function v1Other(port) {
  const tr = new Transcript('socket.io 1.4.5: EIO=4 and no EIO on a direct websocket');
  const d = await connect(tr, 'D', `ws://127.0.0.1:${port}/socket.io/?EIO=4&transport=websocket`);
  await sleep(300);
  if (d.open) d.close();
  const e = await connect(tr, 'E', `ws://127.0.0.1:${port}/socket.io/?transport=websocket`);
  await sleep(300);
  if (e.open) e.close();
  await sleep(100);
  tr.print();
}

// For comparison only: the first HTTP long-polling request (the handshake the official clients
// start with before upgrading).
function pollingHandshake(title, port, query) {
  return new Promise((resolve) => {
    const http = require('http');
    http.get(`http://127.0.0.1:${port}/socket.io/?${query}`, (res) => {
      let body = '';
      res.setEncoding('latin1');
      res.on('data', (d) => { body += d; });
      res.on('end', () => {
        const tr = new Transcript(title);
        tr.add('P', 'C->S', `GET /socket.io/?${query}`);
        tr.add('P', 'S->C', `HTTP ${res.statusCode}, Content-Type: ${res.headers['content-type']}, body: ${JSON.stringify(body)}`);
        tr.print();
        resolve();
      });
    });
  });
}

async function deflate(v1port, v3port) {
  const tr = new Transcript('a client that offers permessage-deflate (browsers do)');
  const a = await connect(tr, 'v1', `ws://127.0.0.1:${v1port}/socket.io/?EIO=3&transport=websocket`, { deflate: true });
  const b = await connect(tr, 'v3', `ws://127.0.0.1:${v3port}/socket.io/?EIO=4&transport=websocket`, { deflate: true });
  await sleep(200);
  a.close();
  b.close();
  await sleep(100);
  tr.print();
}

async function v1Timeout() {
  const { port } = await startServer('onev1_server.js', { SIO_PING_INTERVAL: '1000', SIO_PING_TIMEOUT: '1000' });
  const tr = new Transcript('socket.io 1.4.5 with SIO_PING_INTERVAL=1000 SIO_PING_TIMEOUT=1000: a client that never pings');
  const a = await connect(tr, 'A', `ws://127.0.0.1:${port}/socket.io/?EIO=3&transport=websocket`);
  for (let i = 0; i < 50 && !a.closed; i++) await sleep(100);
  tr.print();
}

(async () => {
  const v3 = await startServer('room_server.js');
  const v1 = await startServer('onev1_server.js');
  await Promise.all([
    v3Main(v3.port),
    (async () => {
      await v1Main(v1.port);
      await v1Other(v1.port);
      await v3Other(v3.port);
      await v3Timeout();
      await v1Timeout();
      await deflate(v1.port, v3.port);
      await pollingHandshake('socket.io 1.4.5: polling handshake (comparison)', v1.port, 'EIO=3&transport=polling&t=x');
      await pollingHandshake('socket.io 3.1.2: polling handshake (comparison)', v3.port, 'EIO=4&transport=polling&t=x');
    })(),
  ]);
})()
  .catch((e) => {
    console.error(e);
    process.exitCode = 1;
  })
  .finally(() => {
    for (const c of children) c.kill('SIGTERM');
  });
