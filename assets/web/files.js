// Files in a call (docs/protocol.md §3): an offer with name, size and SHA-256 on `system_channel`,
// the other person's answer, then the bytes on a data channel of their own (`file:<id>`), 64 KiB
// at a time with no more than 1 MiB queued. A received file is kept (as a download link) only
// when its size and SHA-256 match the offer.
// `FileTransfers` serves one call; it reports every change through `onchange()`. Every call's
// transfers are listed, as plain data, in `FILE_LIST` (newest last; `peercall.files`), and
// `FILE_OWNERS` says which call each belongs to.
'use strict';

const FILE_LIST = [];
const FILE_OWNERS = new Map();

const FILE_CHUNK = 64 * 1024;
const FILE_HIGH_WATER = 1024 * 1024;
const FILE_MAX_NAME = 255;
const FILE_MAX_AT_ONCE = 16;
const FILE_STALL_MS = 30000;
const FILE_KEPT_CHANNELS = 256;

async function sha256Hex(buffer) {
  const digest = await crypto.subtle.digest('SHA-256', buffer);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

function randomTransferId() {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

function validTransferId(id) {
  return typeof id === 'string' && /^[A-Za-z0-9_-]{1,64}$/.test(id);
}

// As peercall does: what follows the last separator, no leading dots, no control characters.
function safeFileName(name) {
  let base = String(name).split(/[/\\]/).pop() || '';
  base = base.replace(/[\u0000-\u001f\u007f:*?"<>|]/g, '_').replace(/^[. ]+/, '').replace(/[. ]+$/, '');
  return base || 'file';
}

class FileTransfers {
  // sendControl(message) says a control message; pc opens the bytes' channels.
  constructor({ pc, peer, sendControl, onchange, autoAccept }) {
    this.pc = pc;
    this.peer = peer;
    this.sendControl = sendControl;
    this.onchange = onchange;
    this.autoAccept = autoAccept;
    // What is not plain data (the file, the channel, the bytes so far), by transfer ID.
    this.live = new Map();
    this.closed = false;
  }

  find(id) {
    return FILE_OWNERS.get(id) === this ? FILE_LIST.find((t) => t.id === id) : undefined;
  }

  add(t) {
    FILE_LIST.push(t);
    FILE_OWNERS.set(t.id, this);
    this.live.set(t.id, {});
  }

  active() {
    return FILE_LIST.filter((t) => FILE_OWNERS.get(t.id) === this
      && ['offering', 'offered', 'accepted', 'sending', 'receiving', 'checking'].includes(t.state));
  }

  changed() {
    this.lastChange = performance.now();
    this.onchange();
  }

  // Bytes moved: redrawn ten times a second at most.
  progressed() {
    if (!this.lastChange || performance.now() - this.lastChange > 100) this.changed();
  }

  end(t, state, detail) {
    if (['done', 'declined', 'cancelled', 'failed'].includes(t.state)) return;
    t.state = state;
    t.detail = detail || null;
    const live = this.live.get(t.id) || {};
    if (live.channel && live.channel.readyState !== 'closed') live.channel.close();
    this.live.delete(t.id);
    this.changed();
  }

  // Offers `file` (a File or Blob with a name).
  async send(file) {
    if (this.active().length >= FILE_MAX_AT_ONCE) return null;
    const t = {
      id: randomTransferId(), peer: this.peer, direction: 'sent', name: file.name || 'file',
      size: file.size, bytes: 0, state: 'offering', sha256: null, startedAt: performance.now(),
    };
    this.add(t);
    this.live.get(t.id).file = file;
    this.changed();
    t.sha256 = await sha256Hex(await file.arrayBuffer());
    const offer = { code: 'file_offer', id: t.id, name: t.name.slice(0, FILE_MAX_NAME), size: t.size, sha256: t.sha256 };
    if (!this.sendControl(offer)) this.end(t, 'failed', 'the call is not connected');
    return t.id;
  }

  // A file_* control message; true when it was one.
  onControl(m) {
    if (!m || typeof m.code !== 'string' || !m.code.startsWith('file_')) return false;
    if (!validTransferId(m.id)) {
      console.warn('ignoring a file message with a bad id', m);
      return true;
    }
    const t = this.find(m.id);
    switch (m.code) {
      case 'file_offer':
        this.offered(m);
        break;
      case 'file_accept':
        if (t && t.direction === 'sent' && t.state === 'offering') this.sendBytes(t);
        break;
      case 'file_decline':
        if (t && t.direction === 'sent') this.end(t, 'declined');
        break;
      case 'file_cancel':
        if (t) this.end(t, 'cancelled', typeof m.reason === 'string' ? `by the other side: ${m.reason}` : 'by the other side');
        break;
      default:
        break;
    }
    return true;
  }

  offered(m) {
    const sane = typeof m.name === 'string' && m.name.length > 0 && m.name.length <= FILE_MAX_NAME
      && Number.isSafeInteger(m.size) && m.size >= 0
      && typeof m.sha256 === 'string' && /^[0-9a-fA-F]{64}$/.test(m.sha256);
    if (!sane) {
      console.warn('ignoring a malformed file offer', m);
      return;
    }
    if (FILE_OWNERS.has(m.id) || this.active().length >= FILE_MAX_AT_ONCE) {
      this.sendControl({ code: 'file_decline', id: m.id });
      return;
    }
    const t = {
      id: m.id, peer: this.peer, direction: 'received', name: safeFileName(m.name), size: m.size,
      bytes: 0, state: 'offered', sha256: m.sha256.toLowerCase(), startedAt: performance.now(),
    };
    this.add(t);
    this.changed();
    if (this.autoAccept) this.accept(t.id);
  }

  accept(id) {
    const t = this.find(id);
    if (!t || t.state !== 'offered') return;
    t.state = 'accepted';
    this.live.get(id).chunks = [];
    this.sendControl({ code: 'file_accept', id });
    this.changed();
  }

  decline(id) {
    const t = this.find(id);
    if (!t || t.state !== 'offered') return;
    this.sendControl({ code: 'file_decline', id });
    this.end(t, 'declined');
  }

  cancel(id) {
    const t = this.find(id);
    if (!t || !this.active().includes(t)) return;
    this.sendControl({ code: 'file_cancel', id, reason: 'cancelled' });
    this.end(t, 'cancelled', 'by us');
  }

  // A data channel the other side opened: the bytes of an offer we accepted.
  onChannel(channel) {
    const id = channel.label.slice('file:'.length);
    const t = this.find(id);
    if (!t || t.direction !== 'received' || t.state !== 'accepted') {
      channel.close();
      return;
    }
    const live = this.live.get(id);
    t.state = 'receiving';
    live.channel = channel;
    channel.binaryType = 'arraybuffer';
    let stall = setTimeout(() => this.fail(t, 'the transfer stalled'), FILE_STALL_MS);
    channel.onmessage = (event) => {
      if (t.state !== 'receiving') return;
      const data = event.data instanceof ArrayBuffer ? event.data : new TextEncoder().encode(String(event.data)).buffer;
      if (t.bytes + data.byteLength > t.size) {
        this.fail(t, `the sender sent more than the ${t.size} bytes it announced`);
        return;
      }
      live.chunks.push(data);
      t.bytes += data.byteLength;
      clearTimeout(stall);
      stall = setTimeout(() => this.fail(t, 'the transfer stalled'), FILE_STALL_MS);
      if (t.bytes === t.size) {
        clearTimeout(stall);
        this.finishReceiving(t);
      }
      this.progressed();
    };
    channel.onclose = () => {
      clearTimeout(stall);
      // A cancel on system_channel may still be coming: it says why.
      setTimeout(() => {
        if (t.state === 'receiving') this.end(t, 'failed', `the transfer ended after ${t.bytes} of ${t.size} bytes`);
      }, 500);
    };
    if (t.size === 0) this.finishReceiving(t);
  }

  fail(t, why) {
    if (t.state !== 'receiving' && t.state !== 'sending') return;
    this.sendControl({ code: 'file_cancel', id: t.id, reason: why });
    this.end(t, 'failed', why);
  }

  async finishReceiving(t) {
    const live = this.live.get(t.id);
    t.state = 'checking';
    const blob = new Blob(live.chunks);
    live.chunks = null;
    const got = await sha256Hex(await blob.arrayBuffer());
    if (got !== t.sha256) {
      t.state = 'receiving';
      this.fail(t, `the file's SHA-256 is ${got}, not the one announced`);
      return;
    }
    t.url = URL.createObjectURL(blob);
    t.secs = (performance.now() - t.startedAt) / 1000;
    t.state = 'done';
    // Left open until the call ends, as peercall does (docs/protocol.md §3): a closed stream's
    // id comes back at once, and a channel opened on a stream still being reset may not open.
    if (live.channel) this.keep(live.channel);
    this.live.delete(t.id);
    this.changed();
  }

  async sendBytes(t) {
    const live = this.live.get(t.id);
    t.state = 'sending';
    const channel = this.pc.createDataChannel(`file:${t.id}`, { ordered: true });
    live.channel = channel;
    channel.binaryType = 'arraybuffer';
    channel.bufferedAmountLowThreshold = FILE_HIGH_WATER / 4;
    channel.onclose = () => {
      setTimeout(() => {
        if (t.state === 'sending') this.end(t, 'failed', 'the connection closed');
      }, 500);
    };
    await new Promise((resolve) => { channel.onopen = resolve; });
    // Read a megabyte at a time (each read is a round trip through the browser), sent in chunks.
    const READ = 16 * FILE_CHUNK;
    for (let block = 0; block < t.size; block += READ) {
      const bytes = new Uint8Array(await live.file.slice(block, block + READ).arrayBuffer());
      for (let at = 0; at < bytes.byteLength; at += FILE_CHUNK) {
        if (t.state !== 'sending') return;
        if (channel.bufferedAmount > FILE_HIGH_WATER) {
          await new Promise((resolve) => { channel.onbufferedamountlow = resolve; });
          if (t.state !== 'sending') return;
        }
        try {
          channel.send(bytes.subarray(at, at + FILE_CHUNK));
        } catch (e) {
          this.end(t, 'failed', `cannot send: ${e.message}`);
          return;
        }
        t.bytes = Math.min(t.size, block + at + FILE_CHUNK);
        this.progressed();
      }
    }
    // The last bytes leave before the channel closes.
    while (channel.bufferedAmount > 0 && t.state === 'sending') {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    if (t.state !== 'sending') return;
    t.secs = (performance.now() - t.startedAt) / 1000;
    t.state = 'done';
    this.live.delete(t.id);
    this.changed();
    this.keep(channel);
  }

  // A finished transfer's channel stays open (idle) until the call ends; the oldest beyond
  // FILE_KEPT_CHANNELS is closed.
  keep(channel) {
    this.kept = this.kept || [];
    this.kept.push(channel);
    if (this.kept.length > FILE_KEPT_CHANNELS) this.kept.shift().close();
  }

  // The call ended: what is under way stops; nothing half-received is kept.
  close() {
    this.closed = true;
    for (const t of this.active()) this.end(t, 'failed', 'the call ended');
  }
}
