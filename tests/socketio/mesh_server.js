#!/usr/bin/env node
// A reference "mesh room" signaling server in the dialect of the widespread socket.io mesh demos
// (here socket.io 3.1.2 = Engine.IO v4, plain node http).
//
//   node mesh_server.js PORT
//
// PORT 0 picks a free port. Prints exactly one line `listening on PORT` once it listens; logs to
// stderr.
//
// Rules (default namespace "/"):
//   `room` '{"id":ME,"room":ROOM}' (a JSON string): the socket joins ROOM as ME; `new` ME goes
//     to everyone else in the room (who then offer to the newcomer).
//   `webrtc` '{"id":FROM,"to":TO,"type":"offer"|"answer"|"candidate","data":…}' (a JSON string):
//     to the member TO of the sender's room, or to the whole room but the sender without `to`.
//   disconnect: `leave` ME to the room.
//
// Static files: /mesh.html, /common.js (from ./pages); the socket.io client bundle is served by
// socket.io itself at /socket.io/socket.io.js.
'use strict';

const http = require('http');
const { Server } = require('socket.io');
const { staticPages } = require('./static_pages');

const port = Number(process.argv[2] || 0);

function log(...parts) {
  process.stderr.write(`[mesh_server] ${parts.join(' ')}\n`);
}

const serveStatic = staticPages(['mesh.html', 'common.js']);

const server = http.createServer(serveStatic);
const io = new Server(server);

function parse(text) {
  try {
    return typeof text === 'string' ? JSON.parse(text) : null;
  } catch (e) {
    return null;
  }
}

io.sockets.on('connection', (socket) => {
  socket.on('room', (text) => {
    const m = parse(text);
    if (!m || typeof m.id !== 'string' || typeof m.room !== 'string') return;
    socket.meshId = m.id;
    socket.meshRoom = m.room;
    socket.join(m.room);
    log('room', m.room, 'new', m.id);
    socket.to(m.room).emit('new', m.id);
  });

  socket.on('webrtc', (text) => {
    const m = parse(text);
    const room = socket.meshRoom;
    if (!m || !room) return;
    if (typeof m.to === 'string') {
      for (const [, other] of io.sockets.sockets) {
        if (other.meshRoom === room && other.meshId === m.to) other.emit('webrtc', text);
      }
    } else {
      socket.to(room).emit('webrtc', text);
    }
  });

  socket.on('disconnect', () => {
    if (socket.meshRoom) {
      log('leave', socket.meshId);
      socket.to(socket.meshRoom).emit('leave', socket.meshId);
    }
  });
});

server.listen(port, () => {
  process.stdout.write(`listening on ${server.address().port}\n`);
});

function stop() {
  io.close();
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 500).unref();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
