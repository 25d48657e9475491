// The test servers' static files: each serves its page and common.js from ./pages; anything else
// is 404. Shared by room_server.js, onev1_server.js and mesh_server.js.
'use strict';

const fs = require('fs');
const path = require('path');

const PAGES = path.join(__dirname, 'pages');

// A request handler for `names` (file names in ./pages, served at /NAME).
function staticPages(names) {
  const types = { '.html': 'text/html; charset=utf-8', '.js': 'application/javascript; charset=utf-8' };
  return (req, res) => {
    const name = new URL(req.url, 'http://localhost').pathname.slice(1);
    if (!names.includes(name) || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end('not found\n');
      return;
    }
    fs.readFile(path.join(PAGES, name), (err, body) => {
      if (err) {
        res.writeHead(500, { 'Content-Type': 'text/plain' });
        res.end(`${err.message}\n`);
        return;
      }
      res.writeHead(200, { 'Content-Type': types[path.extname(name)], 'Cache-Control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : body);
    });
  };
}

module.exports = { staticPages };
