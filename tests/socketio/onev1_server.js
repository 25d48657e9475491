#!/usr/bin/env node
// A reference "1v1" signaling server in the dialect of a well-known Koa + koa-socket WebRTC demo
// whose koa-socket pulled in socket.io 1.4.5 (Engine.IO v3). Koa is left out: the original's
// handlers are registered on the raw socket.io server (`app._io`), so plain node http +
// socket.io 1.4.5 behaves the same on the wire.
//
//   node onev1_server.js PORT
//
// PORT 0 picks a free port. Prints exactly one line `listening on PORT` to stdout once it
// listens; logs to stderr. Plain http only. SIO_PING_INTERVAL / SIO_PING_TIMEOUT (ms) override
// Engine.IO's 25000 / 60000.
//
// Rules (every payload is an object; default namespace "/"):
//   `join` {roomid, account}: the socket joins room `roomid`; {account, id: socket.id} is appended
//     to the room's user list unless that account is listed already (then its FIRST id stays);
//     the account -> socket map (one map for all rooms, as in the original) points at this
//     socket. Then `joined` (USERS, account, socket.id) goes to the whole room, sender included.
//     Nothing ever leaves the list: the original's clean-up was registered as
//     `app._io.on('disconnect', ...)`, a namespace event that socket.io never fires.
//   `apply` {account: TO, self: ME}            -> `apply`     to TO's socket, unchanged
//   `reply` {account: CALLER, self: TO, type}  -> `reply`     to CALLER ('1' accept, '2' decline, '3' busy)
//   `1v1offer`  {account, self, sdp}           -> `1v1offer`  to `account`
//   `1v1answer` {account, self, sdp}           -> `1v1answer` to `account`
//   `1v1ICE`    {account, self, sdp: candidate}-> `1v1ICE`    to `account`
//   `1v1hangup` {account, self}                -> `1v1hangup` to `account`
//
// Faithful fragility: the forwarders do `sockS[data.account].emit(...)` exactly like the
// original, so a target that never joined throws a TypeError inside the handler. socket.io 1.4.5
// catches it in Client#ondata, prints "Missing error handler on `socket`." and the stack, and
// closes that client's socket.io layer ("client error"): the sender's socket leaves its rooms
// and every later event it sends is dropped, while its Engine.IO connection stays open (pings
// go on, the sender sees no disconnect) and direct emits to it through the map still arrive.
// The process does not die. See WIRE.md and selfcheck.js.
//
// Static files: /onev1.html and /common.js (from ./pages); the client bundle at
// /socket.io/socket.io.js is socket.io-client 1.4.5's, served by socket.io 1.4.5 itself.
'use strict';

const http = require('http');
const socketio = require('socket.io-v1');
const { staticPages } = require('./static_pages');

const args = process.argv.slice(2);
if (args.length !== 1) {
  process.stderr.write('usage: node onev1_server.js PORT\n');
  process.exit(2);
}
const port = Number(args[0]);

function log(...parts) {
  process.stderr.write(`[onev1_server] ${parts.map((p) => (typeof p === 'string' ? p : JSON.stringify(p))).join(' ')}\n`);
}

function brief(payload) {
  const s = JSON.stringify(payload) || String(payload);
  return s.length > 100 ? `${s.slice(0, 97)}...` : s;
}

const serveStatic = staticPages(['onev1.html', 'common.js']);

const server = http.createServer(serveStatic);
// Engine.IO v3 (1.6.8) defaults: the CLIENT pings every pingInterval (25 s) and the server
// drops it after pingInterval + pingTimeout (25 s + 60 s) without any packet. Tests may shorten
// them: SIO_PING_INTERVAL / SIO_PING_TIMEOUT (milliseconds).
const engineOpts = {};
if (process.env.SIO_PING_INTERVAL) engineOpts.pingInterval = Number(process.env.SIO_PING_INTERVAL);
if (process.env.SIO_PING_TIMEOUT) engineOpts.pingTimeout = Number(process.env.SIO_PING_TIMEOUT);
const io = socketio(server, engineOpts);

const users = {}; // roomid -> [{account, id}], never shrinks
const sockS = {}; // account -> socket (the last one that joined as that account, any room)

io.on('connection', (sock) => {
  log('connect', sock.id);

  sock.on('join', (data) => {
    log('join', sock.id, brief(data));
    sock.join(data.roomid, () => {
      if (!users[data.roomid]) users[data.roomid] = [];
      const known = users[data.roomid].filter((v) => v.account === data.account);
      if (!known.length) users[data.roomid].push({ account: data.account, id: sock.id });
      sockS[data.account] = sock;
      io.in(data.roomid).emit('joined', users[data.roomid], data.account, sock.id);
    });
  });

  // The original's forwarders, one per event: no check that the target exists.
  for (const event of ['apply', 'reply', '1v1offer', '1v1answer', '1v1ICE', '1v1hangup']) {
    sock.on(event, (data) => {
      log(event, 'from', sock.id, brief(data));
      sockS[data.account].emit(event, data);
    });
  }

  sock.on('disconnect', (reason) => {
    log('disconnect', sock.id, reason);
  });
});

server.listen(port, () => {
  process.stdout.write(`listening on ${server.address().port}\n`);
  log(`http on port ${server.address().port} (socket.io ${require('socket.io-v1/package.json').version})`);
});

function stop() {
  try { io.close(); } catch (e) { /* already closed */ }
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 500).unref();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
