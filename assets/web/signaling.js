// Signaling: protocol v1, and v2's rooms (docs/protocol.md §1) over a WebSocket to the server that
// served this page.
// Knows the wire format and nothing about calls: it hands every server message to `onmessage`.
'use strict';

class Signaling {
  constructor() {
    this.ws = null;
    this.onmessage = () => {};
    this.onclose = () => {};
    // The server's secret for taking our registration over from a new connection (`resume`).
    this.resume = null;
  }

  // Same host and port as the page; wss:// when the page came over https.
  static url() {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    return `${scheme}//${location.host}/ws`;
  }

  // Opens the socket and registers (asking for `protocol` when given: 2 for rooms); resolves with
  // the `registered` message. `again`: the same ID after losing the connection, taking the old
  // registration (and its calls) over when the server still holds it.
  register(id, protocol, again = false) {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(Signaling.url());
      this.ws = ws;
      let registered = false;
      ws.onopen = () => {
        const message = again && id && this.resume
          ? { type: 'resume', id, token: this.resume }
          : { type: 'register' };
        if (id) message.id = id;
        if (protocol) message.protocol = protocol;
        this.send(message);
      };
      ws.onmessage = (event) => {
        let message;
        try {
          message = JSON.parse(event.data);
        } catch (e) {
          console.warn('ignoring a server frame that is not JSON', e);
          return;
        }
        if (!registered) {
          if (message.type === 'registered') {
            registered = true;
            this.resume = message.resume || null;
            resolve(message);
          } else if (message.type === 'error') {
            reject(new Error(Signaling.describeError(message)));
            ws.close();
          }
          return;
        }
        this.onmessage(message);
      };
      ws.onclose = (event) => {
        if (!registered) {
          reject(new Error(`cannot reach the signaling server at ${Signaling.url()}`));
        } else {
          this.onclose(event);
        }
      };
    });
  }

  send(message) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify(message));
    }
  }

  static describeError(message) {
    switch (message.code) {
      case 'id_taken': return 'That ID is taken: pick another.';
      case 'invalid_id': return 'An ID is 3 to 32 characters: a-z, 0-9, - and _.';
      case 'unknown_peer': return 'That peer is not online.';
      default: return message.message || message.code;
    }
  }
}
