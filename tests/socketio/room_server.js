#!/usr/bin/env node
// A reference "room" signaling server in the dialect of the Google WebRTC codelab /
// "webrtc_primer" (express + socket.io; here socket.io 3.1.2 = Engine.IO v4, plain node http(s)).
//
//   node room_server.js PORT [CERT.pem KEY.pem]
//
// PORT 0 picks a free port. With CERT and KEY it serves https (and wss), else http (ws).
// Prints exactly one line `listening on PORT` to stdout once it listens; logs to stderr.
//
// Rules (default namespace "/"):
//   `create or join` ROOM:
//     empty room     -> the socket joins and gets `created` (ROOM, socket.id): the initiator
//     one member     -> `join` (ROOM) to the member already there, then the socket joins and gets
//                       `joined` (ROOM, socket.id), then `ready` (no args) to the whole room
//     two or more    -> `full` (ROOM) to the socket only
//   `message` PAYLOAD: forwarded as `message` PAYLOAD to the other member(s) of the sender's
//     room(s), never back to the sender.
//   disconnect: nothing (the room just loses the member).
// Like the codelab, the server also sends its own `log` events (an array of strings) to the
// socket that sent an event: real clients of this dialect receive them and must ignore them.
// Set ROOM_SERVER_NO_LOG_EVENTS=1 to turn them off. SIO_PING_INTERVAL / SIO_PING_TIMEOUT (ms)
// override Engine.IO's 25000 / 5000.
//
// Static files on the same server: /room.html, /common.js (from ./pages); the socket.io client
// bundle is served by socket.io itself at /socket.io/socket.io.js.
'use strict';

const fs = require('fs');
const http = require('http');
const https = require('https');
const path = require('path');
const { Server } = require('socket.io');
const { staticPages } = require('./static_pages');

const args = process.argv.slice(2);
if (args.length !== 1 && args.length !== 3) {
  process.stderr.write('usage: node room_server.js PORT [CERT.pem KEY.pem]\n');
  process.exit(2);
}
const port = Number(args[0]);
const tls = args.length === 3 ? { cert: fs.readFileSync(args[1]), key: fs.readFileSync(args[2]) } : null;
const clientLogEvents = process.env.ROOM_SERVER_NO_LOG_EVENTS !== '1';

function log(...parts) {
  process.stderr.write(`[room_server] ${parts.map((p) => (typeof p === 'string' ? p : JSON.stringify(p))).join(' ')}\n`);
}

function brief(payload) {
  const s = typeof payload === 'string' ? JSON.stringify(payload) : JSON.stringify(payload) || String(payload);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

const serveStatic = staticPages(['room.html', 'common.js']);

const server = tls ? https.createServer(tls, serveStatic) : http.createServer(serveStatic);
// Engine.IO v4 defaults: the server pings every 25 s and wants the pong within 5 s. Tests may
// shorten them: SIO_PING_INTERVAL / SIO_PING_TIMEOUT (milliseconds).
const engineOpts = {};
if (process.env.SIO_PING_INTERVAL) engineOpts.pingInterval = Number(process.env.SIO_PING_INTERVAL);
if (process.env.SIO_PING_TIMEOUT) engineOpts.pingTimeout = Number(process.env.SIO_PING_TIMEOUT);
const io = new Server(server, engineOpts);

io.sockets.on('connection', (socket) => {
  log('connect', socket.id);

  // The codelab's "convenience function to log server messages on the client".
  function clientLog(...parts) {
    if (clientLogEvents) socket.emit('log', ['Message from server:', ...parts]);
  }

  socket.on('message', (message) => {
    log('message from', socket.id, brief(message));
    clientLog('Client said: ', message);
    // Room-only, unlike the codelab's socket.broadcast.emit: every room of the sender but its own.
    let target = null;
    for (const room of socket.rooms) {
      if (room === socket.id) continue;
      target = (target || socket).to(room);
    }
    if (target) target.emit('message', message);
  });

  socket.on('create or join', (room) => {
    log('create or join', socket.id, JSON.stringify(room));
    clientLog(`Received request to create or join room ${room}`);
    const members = io.sockets.adapter.rooms.get(room);
    const numClients = members ? members.size : 0;
    clientLog(`Room ${room} now has ${numClients} client(s)`);
    if (numClients === 0) {
      socket.join(room);
      clientLog(`Client ID ${socket.id} created room ${room}`);
      socket.emit('created', room, socket.id);
      log('created', JSON.stringify(room), 'by', socket.id);
    } else if (numClients === 1) {
      clientLog(`Client ID ${socket.id} joined room ${room}`);
      io.sockets.in(room).emit('join', room);
      socket.join(room);
      socket.emit('joined', room, socket.id);
      io.sockets.in(room).emit('ready');
      log('joined', JSON.stringify(room), 'by', socket.id, '(ready sent)');
    } else {
      socket.emit('full', room);
      log('full', JSON.stringify(room), 'for', socket.id);
    }
  });

  socket.on('disconnect', (reason) => {
    log('disconnect', socket.id, reason);
  });
});

server.listen(port, () => {
  process.stdout.write(`listening on ${server.address().port}\n`);
  log(`${tls ? 'https' : 'http'} on port ${server.address().port}`);
});

function stop() {
  io.close();
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 500).unref();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
