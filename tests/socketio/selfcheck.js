#!/usr/bin/env node
// Checks the rules of room_server.js (socket.io 3.1.2) and onev1_server.js (socket.io 1.4.5)
// with the matching official node clients and with raw WebSockets, and the https mode of
// room_server.js when openssl is there. Starts and stops its own servers on free ports.
//
//   node selfcheck.js      (exit 0 when every check passes; ends with "N passed, N failed")
'use strict';

const { spawn, spawnSync } = require('child_process');
const fs = require('fs');
const http = require('http');
const https = require('https');
const os = require('os');
const path = require('path');
const WebSocket = require('ws');
const ioV3 = require('socket.io-client');
const ioV1 = require('socket.io-client-v1');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const children = [];
const clients = [];
let passed = 0;
let failed = 0;
let skipped = 0;

function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}
function eq(actual, expected, msg) {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new Error(`${msg}: expected ${e}, got ${a}`);
}

async function check(name, fn) {
  try {
    await Promise.race([
      fn(),
      sleep(20000).then(() => { throw new Error('timed out after 20 s'); }),
    ]);
    passed++;
    console.log(`ok - ${name}`);
  } catch (e) {
    failed++;
    console.log(`not ok - ${name}\n    ${e.stack ? e.stack.split('\n').slice(0, 3).join('\n    ') : e}`);
  }
}

function startServer(script, extraArgs = [], env = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(__dirname, script), '0', ...extraArgs], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    const srv = { child, stdout: '', stderr: '', exited: null };
    child.stdout.on('data', (d) => {
      srv.stdout += d;
      const m = /^listening on (\d+)\n/.exec(srv.stdout);
      if (m && !srv.port) {
        srv.port = Number(m[1]);
        resolve(srv);
      }
    });
    child.stderr.on('data', (d) => { srv.stderr += d; });
    child.on('exit', (code, signal) => {
      srv.exited = { code, signal };
      reject(new Error(`${script} exited (${code}, ${signal}) before listening:\n${srv.stderr}`));
    });
  });
}

// Records every event a client receives: [{ev, args}].
function recorder(socket, v1) {
  const rec = [];
  if (v1) {
    const orig = socket.onevent;
    socket.onevent = function (packet) {
      rec.push({ ev: packet.data[0], args: packet.data.slice(1) });
      return orig.call(this, packet);
    };
  } else {
    socket.onAny((ev, ...args) => rec.push({ ev, args }));
  }
  socket.rec = rec;
  socket.events = (name) => rec.filter((r) => r.ev === name);
  socket.waitEvent = async (name, n = 1, ms = 5000) => {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      const hits = socket.events(name);
      if (hits.length >= n) return hits[n - 1].args;
      await sleep(10);
    }
    throw new Error(`no ${n > 1 ? `#${n} ` : ''}${name} event within ${ms} ms (got ${JSON.stringify(rec.map((r) => r.ev))})`);
  };
  return socket;
}

function connected(socket) {
  return new Promise((resolve, reject) => {
    if (socket.connected) return resolve(socket);
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', (e) => reject(new Error(`connect_error: ${e && e.message}`)));
  });
}

async function clientV3(url, opts = {}) {
  const s = ioV3(url, { forceNew: true, reconnection: false, ...opts });
  clients.push(s);
  recorder(s, false);
  return connected(s);
}

async function clientV1(url) {
  const s = ioV1(url, { forceNew: true, multiplex: false, reconnection: false });
  clients.push(s);
  recorder(s, true);
  return connected(s);
}

function fetchUrl(url, opts = {}) {
  return new Promise((resolve, reject) => {
    const mod = url.startsWith('https:') ? https : http;
    mod.get(url, opts, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
    }).on('error', reject);
  });
}

// A raw WebSocket: resolves with the frames received within `ms` after sending `send`.
function rawFrames(url, { send = [], ms = 400, wsOpts = {} } = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, wsOpts);
    const frames = [];
    ws.on('message', (d) => frames.push(d.toString()));
    ws.on('error', reject);
    ws.on('open', async () => {
      await sleep(ms);
      for (const f of send) {
        ws.send(f);
        await sleep(ms);
      }
      ws.close();
      resolve(frames);
    });
  });
}

// ---------------------------------------------------------------------------------------------
async function roomChecks(baseUrl, label, clientOpts = {}) {
  const room = `room-${label}`;
  let a;
  let b;
  let c;
  await check(`${label}: the first socket creates the room (created: room, socket.id)`, async () => {
    a = await clientV3(baseUrl, clientOpts);
    a.emit('create or join', room);
    const args = await a.waitEvent('created');
    eq(args, [room, a.id], 'created args');
  });
  await check(`${label}: the second joins: join to the first, joined (room, id), ready to both`, async () => {
    b = await clientV3(baseUrl, clientOpts);
    b.emit('create or join', room);
    eq(await b.waitEvent('joined'), [room, b.id], 'joined args');
    eq(await a.waitEvent('join'), [room], 'join args');
    eq(await a.waitEvent('ready'), [], 'ready args (first)');
    eq(await b.waitEvent('ready'), [], 'ready args (second)');
    await sleep(100);
    eq(b.events('join').length, 0, 'join events at the joiner');
    eq(b.events('created').length, 0, 'created events at the joiner');
    // The server's own `log` events, as the codelab sends them.
    const logs = b.events('log').map((e) => e.args[0]);
    assert(logs.some((l) => l[0] === 'Message from server:'), `log events: ${JSON.stringify(logs)}`);
    const order = a.rec.filter((r) => r.ev !== 'log').map((r) => r.ev);
    eq(order, ['created', 'join', 'ready'], 'event order at the initiator');
    const orderB = b.rec.filter((r) => r.ev !== 'log').map((r) => r.ev);
    eq(orderB, ['joined', 'ready'], 'event order at the joiner');
  });
  await check(`${label}: a third socket gets full (room) and the members hear nothing`, async () => {
    c = await clientV3(baseUrl, clientOpts);
    c.emit('create or join', room);
    eq(await c.waitEvent('full'), [room], 'full args');
    await sleep(150);
    eq(a.events('join').length + b.events('join').length, 1, 'join events');
    eq(a.events('ready').length + b.events('ready').length, 2, 'ready events');
  });
  await check(`${label}: messages reach only the other member, unchanged`, async () => {
    const payloads = [
      'got user media',
      { type: 'offer', sdp: 'v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n' },
      { type: 'candidate', label: 0, id: '0', candidate: 'candidate:1 1 udp 2122260223 127.0.0.1 5000 typ host' },
      'bye',
    ];
    for (const p of payloads) a.emit('message', p);
    for (let i = 0; i < payloads.length; i++) eq(await b.waitEvent('message', i + 1), [payloads[i]], `message ${i}`);
    b.emit('message', { type: 'answer', sdp: 'v=0\r\n' });
    eq(await a.waitEvent('message'), [{ type: 'answer', sdp: 'v=0\r\n' }], 'answer at the initiator');
    await sleep(200);
    eq(a.events('message').length, 1, 'messages echoed to the sender');
    eq(c.events('message').length, 0, 'messages at the socket that got full');
  });
  await check(`${label}: another room is separate`, async () => {
    const d = await clientV3(baseUrl, clientOpts);
    d.emit('create or join', `${room}-other`);
    eq(await d.waitEvent('created'), [`${room}-other`, d.id], 'created in the other room');
    d.emit('message', 'got user media');
    c.emit('message', 'from a socket in no room');
    await sleep(200);
    eq(a.events('message').length, 1, 'messages at A');
    eq(b.events('message').length, 4, 'messages at B');
    d.close();
  });
  await check(`${label}: after a member leaves, the next socket joins the one left`, async () => {
    b.close();
    await sleep(200);
    const e = await clientV3(baseUrl, clientOpts);
    e.emit('create or join', room);
    eq(await e.waitEvent('joined'), [room, e.id], 'joined after a departure');
    eq(await a.waitEvent('join', 2), [room], 'second join at the initiator');
    a.close();
    c.close();
    e.close();
  });
}

async function roomStatic(baseUrl, label, opts = {}) {
  await check(`${label}: serves /room.html, /common.js, /socket.io/socket.io.js (v3.1.2), 404 otherwise`, async () => {
    const page = await fetchUrl(`${baseUrl}/room.html`, opts);
    eq(page.status, 200, 'room.html status');
    assert(/text\/html/.test(page.headers['content-type']), 'room.html content type');
    assert(page.body.includes('/socket.io/socket.io.js') && page.body.includes('sendDataChannel'), 'room.html body');
    const common = await fetchUrl(`${baseUrl}/common.js`, opts);
    eq(common.status, 200, 'common.js status');
    assert(common.body.includes('testStats') && common.body.includes('toneHz'), 'common.js body');
    const lib = await fetchUrl(`${baseUrl}/socket.io/socket.io.js`, opts);
    eq(lib.status, 200, 'socket.io.js status');
    assert(lib.body.includes('Socket.IO v3.1.2'), 'the socket.io 3.1.2 client bundle');
    eq((await fetchUrl(`${baseUrl}/onev1.html`, opts)).status, 404, 'a page of the other server');
  });
}

async function roomRaw(wsBase, label, wsOpts = {}) {
  await check(`${label}: raw EIO=4 websocket: open packet, 40 only after the client's 40, events as 42[...]`, async () => {
    const url = `${wsBase}/socket.io/?EIO=4&transport=websocket`;
    const frames = await rawFrames(url, { send: ['40', '42["create or join","raw-room"]'], wsOpts });
    assert(frames.length >= 3, `frames: ${JSON.stringify(frames)}`);
    const open = JSON.parse(frames[0].slice(1));
    assert(frames[0][0] === '0' && typeof open.sid === 'string', `open packet ${frames[0]}`);
    eq([open.upgrades, open.pingInterval, open.pingTimeout], [[], 25000, 5000], 'open packet fields');
    assert(/^40\{"sid":"[^"]+"\}$/.test(frames[1]), `connect reply ${frames[1]}`);
    const sid = JSON.parse(frames[1].slice(2)).sid;
    assert(sid !== open.sid, 'socket.io id differs from the Engine.IO sid');
    eq(frames[frames.length - 1], `42["created","raw-room","${sid}"]`, 'created frame');
  });
  await check(`${label}: raw EIO=4: a client ping (2) closes the connection (v4 heartbeat goes server -> client)`, async () => {
    const url = `${wsBase}/socket.io/?EIO=4&transport=websocket`;
    const closed = await new Promise((resolve, reject) => {
      const ws = new WebSocket(url, wsOpts);
      ws.on('error', reject);
      ws.on('open', () => ws.send('2'));
      ws.on('close', (code) => resolve(code));
      setTimeout(() => resolve('still open'), 2000);
    });
    eq(closed, 1005, 'close code');
  });
}

async function roomHttps() {
  const openssl = spawnSync('openssl', ['version'], { encoding: 'utf8' });
  if (openssl.status !== 0) {
    skipped++;
    console.log('ok - room_server https # SKIP openssl not found');
    return;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'peercall-sio-tls-'));
  const cert = path.join(dir, 'c.pem');
  const key = path.join(dir, 'k.pem');
  const gen = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
    '-nodes', '-days', '1', '-subj', '/CN=localhost', '-keyout', key, '-out', cert], { encoding: 'utf8' });
  if (gen.status !== 0) throw new Error(`openssl req failed: ${gen.stderr}`);
  const srv = await startServer('room_server.js', [cert, key]);
  const base = `https://localhost:${srv.port}`;
  const tlsOpts = { rejectUnauthorized: false };
  await roomStatic(base, 'room https', tlsOpts);
  await roomChecks(base, 'room https', tlsOpts);
  await roomRaw(`wss://localhost:${srv.port}`, 'room https', tlsOpts);
  await check('room https: plain http to the https port is refused', async () => {
    const r = await fetchUrl(`http://127.0.0.1:${srv.port}/room.html`).catch((e) => ({ error: e.code || e.message }));
    assert(r.error || r.status !== 200, `plain http got ${JSON.stringify(r.status)}`);
  });
  srv.child.kill('SIGTERM');
  fs.rmSync(dir, { recursive: true, force: true });
}

// ---------------------------------------------------------------------------------------------
async function onev1Checks(srv) {
  const base = `http://127.0.0.1:${srv.port}`;
  const room = 'onev1-room';
  let alice;
  let bob;
  let carol;
  let bobId;
  await check('onev1: serves /onev1.html, /common.js, the socket.io 1.4.5 client, 404 otherwise', async () => {
    const page = await fetchUrl(`${base}/onev1.html`);
    eq(page.status, 200, 'onev1.html status');
    assert(page.body.includes('1v1offer'), 'onev1.html body');
    eq((await fetchUrl(`${base}/common.js`)).status, 200, 'common.js status');
    const lib = await fetchUrl(`${base}/socket.io/socket.io.js`);
    eq(lib.status, 200, 'socket.io.js status');
    eq(lib.headers.etag, '1.4.5', 'client version (ETag)');
    eq((await fetchUrl(`${base}/room.html`)).status, 404, 'a page of the other server');
  });
  await check('onev1: join -> joined (users, account, id) to the whole room, sender included', async () => {
    alice = await clientV1(base);
    alice.emit('join', { roomid: room, account: 'alice' });
    const args = await alice.waitEvent('joined');
    const aliceId = `/#${alice.io.engine.id}`;
    eq(args, [[{ account: 'alice', id: aliceId }], 'alice', aliceId], 'joined args');
    bob = await clientV1(base);
    bob.emit('join', { roomid: room, account: 'bob' });
    bobId = `/#${bob.io.engine.id}`;
    const list = [{ account: 'alice', id: aliceId }, { account: 'bob', id: bobId }];
    eq(await bob.waitEvent('joined'), [list, 'bob', bobId], 'joined at bob');
    eq(await alice.waitEvent('joined', 2), [list, 'bob', bobId], 'joined at alice');
  });
  await check('onev1: apply, reply, 1v1offer, 1v1answer, 1v1ICE, 1v1hangup reach only `account`, unchanged', async () => {
    const toBob = [
      ['apply', { account: 'bob', self: 'alice' }],
      ['1v1offer', { account: 'bob', self: 'alice', sdp: { type: 'offer', sdp: 'v=0\r\n' } }],
      ['1v1ICE', { account: 'bob', self: 'alice', sdp: { candidate: 'candidate:1 1 udp 2122260223 127.0.0.1 5000 typ host', sdpMid: '0', sdpMLineIndex: 0, usernameFragment: 'abcd' } }],
      ['1v1hangup', { account: 'bob', self: 'alice' }],
    ];
    const toAlice = [
      ['reply', { account: 'alice', self: 'bob', type: '1' }],
      ['1v1answer', { account: 'alice', self: 'bob', sdp: { type: 'answer', sdp: 'v=0\r\n' } }],
      ['1v1ICE', { account: 'alice', self: 'bob', sdp: { candidate: 'candidate:2 1 udp 2122260223 127.0.0.1 5001 typ host', sdpMid: '0', sdpMLineIndex: 0 } }],
    ];
    for (const [ev, data] of toBob) alice.emit(ev, data);
    for (const [ev, data] of toAlice) bob.emit(ev, data);
    for (const [ev, data] of toBob) eq(await bob.waitEvent(ev), [data], `${ev} at bob`);
    for (const [ev, data] of toAlice) eq(await alice.waitEvent(ev), [data], `${ev} at alice`);
    await sleep(200);
    for (const ev of ['apply', '1v1offer', '1v1hangup']) eq(alice.events(ev).length, 0, `${ev} echoed to alice`);
    for (const ev of ['reply', '1v1answer']) eq(bob.events(ev).length, 0, `${ev} echoed to bob`);
    eq(bob.events('1v1ICE').length, 1, '1v1ICE at bob');
  });
  await check('onev1: the user list never shrinks: a departed account stays listed', async () => {
    bob.close();
    await sleep(300);
    carol = await clientV1(base);
    carol.emit('join', { roomid: room, account: 'carol' });
    const [users] = await carol.waitEvent('joined');
    eq(users.map((u) => u.account), ['alice', 'bob', 'carol'], 'accounts');
    eq(users[1].id, bobId, 'bob keeps his id');
  });
  await check('onev1: an event for a departed account is dropped quietly; the sender carries on', async () => {
    alice.emit('apply', { account: 'bob', self: 'alice' });
    alice.emit('apply', { account: 'carol', self: 'alice' });
    eq(await carol.waitEvent('apply'), [{ account: 'carol', self: 'alice' }], 'apply at carol');
  });
  await check('onev1: a rejoining account keeps its first id in the list, but events reach its new socket', async () => {
    const bob2 = await clientV1(base);
    bob2.emit('join', { roomid: room, account: 'bob' });
    const [users, who] = await bob2.waitEvent('joined');
    eq(who, 'bob', 'joined account');
    eq(users.map((u) => u.account), ['alice', 'bob', 'carol'], 'no duplicate');
    eq(users[1].id, bobId, 'the stale id stays');
    carol.emit('apply', { account: 'bob', self: 'carol' });
    eq(await bob2.waitEvent('apply'), [{ account: 'bob', self: 'carol' }], 'apply at the new bob');
    bob2.close();
  });
  await check('onev1: an unknown account breaks the sender only; the server lives on', async () => {
    const before = srv.stderr.length;
    const joinedBefore = carol.events('joined').length;
    const disconnects = [];
    carol.on('disconnect', (r) => disconnects.push(r));
    carol.emit('apply', { account: 'nobody', self: 'carol' });
    await sleep(300);
    const log = srv.stderr.slice(before);
    assert(log.includes('Missing error handler on `socket`.'), `server log: ${log}`);
    assert(log.includes("TypeError: Cannot read properties of undefined (reading 'emit')"), `server log: ${log}`);
    assert(/disconnect \/#\S+ client error/.test(log), `server-side disconnect: ${log}`);
    assert(srv.exited === null, 'server exited');
    // Every later event from carol is dropped...
    carol.emit('apply', { account: 'alice', self: 'carol' });
    carol.emit('join', { roomid: room, account: 'carol' });
    await sleep(400);
    eq(alice.events('apply').filter((e) => e.args[0].self === 'carol').length, 0, 'apply from the broken sender');
    eq(carol.events('joined').length, joinedBefore, 'joined after the breakage');
    // ...while carol's client notices nothing: connected, no disconnect, pings answered.
    eq(disconnects, [], 'disconnect events at carol');
    assert(carol.connected && carol.io.engine.readyState === 'open', 'carol still connected');
    // A newcomer's joined list no longer reaches carol (she left the room server-side)...
    const dave = await clientV1(base);
    dave.emit('join', { roomid: room, account: 'dave' });
    const [users] = await dave.waitEvent('joined');
    eq(users.map((u) => u.account), ['alice', 'bob', 'carol', 'dave'], 'accounts');
    await alice.waitEvent('joined', 5);
    await sleep(200);
    eq(carol.events('joined').length, joinedBefore, 'joined broadcasts reaching carol');
    // ...but a forward addressed to her account still does (the account map keeps her socket).
    alice.emit('1v1hangup', { account: 'carol', self: 'alice' });
    eq(await carol.waitEvent('1v1hangup'), [{ account: 'carol', self: 'alice' }], 'forward to the broken socket');
    // Everyone else carries on.
    dave.emit('apply', { account: 'alice', self: 'dave' });
    eq((await alice.waitEvent('apply', 1)), [{ account: 'alice', self: 'dave' }], 'apply from dave');
    dave.close();
  });
  await check('onev1: raw EIO=3 websocket without polling: open packet and 40 unasked; client ping 2 -> 3', async () => {
    const frames = await rawFrames(`ws://127.0.0.1:${srv.port}/socket.io/?EIO=3&transport=websocket`, {
      send: ['2', '42["join",{"roomid":"raw","account":"raw"}]'],
    });
    const open = JSON.parse(frames[0].slice(1));
    assert(frames[0][0] === '0' && typeof open.sid === 'string', `open packet ${frames[0]}`);
    eq([open.upgrades, open.pingInterval, open.pingTimeout], [[], 25000, 60000], 'open packet fields');
    eq(frames.slice(1), ['40', '3', `42["joined",[{"account":"raw","id":"/#${open.sid}"}],"raw","/#${open.sid}"]`], 'frames');
  });
  for (const s of [alice, carol]) s.close();
}

// ---------------------------------------------------------------------------------------------
(async () => {
  const room = await startServer('room_server.js');
  await roomStatic(`http://127.0.0.1:${room.port}`, 'room http');
  await roomChecks(`http://127.0.0.1:${room.port}`, 'room http');
  await roomChecks(`http://127.0.0.1:${room.port}`, 'room http websocket-only', { transports: ['websocket'] });
  await roomRaw(`ws://127.0.0.1:${room.port}`, 'room http');
  await check('room: an EIO=3 client gets nothing from socket.io 3.1.2', async () => {
    const frames = await rawFrames(`ws://127.0.0.1:${room.port}/socket.io/?EIO=3&transport=websocket`, { ms: 500 });
    eq(frames, [], 'frames');
  });
  await roomHttps().catch((e) => {
    failed++;
    console.log(`not ok - room https setup\n    ${e.message}`);
  });
  const onev1 = await startServer('onev1_server.js');
  await onev1Checks(onev1);
  await check('both servers still running', async () => {
    assert(room.exited === null && onev1.exited === null, `room ${JSON.stringify(room.exited)}, onev1 ${JSON.stringify(onev1.exited)}`);
  });
})()
  .catch((e) => {
    failed++;
    console.log(`not ok - setup\n    ${e.stack}`);
  })
  .finally(async () => {
    for (const s of clients) {
      try { s.close(); } catch (e) { /* closed */ }
    }
    for (const c of children) c.kill('SIGTERM');
    await sleep(200);
    console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
    process.exit(failed ? 1 : 0);
  });
