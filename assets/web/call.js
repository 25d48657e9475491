// One call's WebRTC side: an RTCPeerConnection with our camera/microphone and the `system_channel`
// control channel (docs/protocol.md §2). It knows SDP, candidates and control messages; who is
// ringing and what the page shows are app.js's business. It reports through `onevent(name, detail)`:
//   'track' (MediaStream), 'ice-connected' (a path was found), 'connected', 'failed' (reason),
//   'control-open', 'control' (message), 'first-frame' (the first video frame was decoded),
//   'path-lost' (ICE hears nothing from the other side: the network changed), 'control-closed'.
'use strict';

const CONTROL_LABEL = 'system_channel';
// `?relay=1`: only through a TURN server, so the other side never learns this computer's address.
const RELAY_ONLY = new URLSearchParams(location.search).get('relay') === '1';

class Call {
  // role: 'caller' | 'callee'; sendSignal(data) relays `data` to the other side as a `signal`.
  constructor({ role, iceServers, stream, sendSignal, onevent }) {
    this.role = role;
    this.stream = stream;
    this.sendSignal = sendSignal;
    this.onevent = onevent;
    this.muted = { audio: false, video: false };
    this.channel = null;
    this.closed = false;
    this.remoteDescriptionSet = false;
    this.offerApplied = false;
    this.pendingCandidates = [];
    // Remote signals are applied one after another, in arrival order.
    this.queue = Promise.resolve();
    this.pc = new RTCPeerConnection({
      iceServers: iceServers || [],
      iceTransportPolicy: RELAY_ONLY ? 'relay' : 'all',
    });
    this.remoteStream = new MediaStream();

    this.pc.onicecandidate = (event) => {
      if (event.candidate && event.candidate.candidate === '') return;
      // null: gathering is over, which the protocol says as {"candidate":null}.
      this.sendSignal({ candidate: event.candidate ? event.candidate.toJSON() : null });
    };
    this.pc.ontrack = (event) => {
      this.remoteStream.addTrack(event.track);
      this.onevent('track', this.remoteStream);
    };
    this.pc.onconnectionstatechange = () => {
      const state = this.pc.connectionState;
      if (state === 'connected') {
        this.onevent('connected');
        this.watchSilence();
      }
      if (state === 'failed') this.onevent('failed', 'the connection to the other side failed');
    };
    this.pc.oniceconnectionstatechange = () => {
      const state = this.pc.iceConnectionState;
      if (state === 'connected' || state === 'completed') this.onevent('ice-connected');
      if (state === 'disconnected') this.onevent('path-lost');
    };
    this.pc.ondatachannel = (event) => {
      if (event.channel.label === CONTROL_LABEL) this.adoptChannel(event.channel);
    };
    this.watchFirstFrame();
  }

  // Caller: control channel, media, then the (early) offer.
  async start() {
    this.adoptChannel(this.pc.createDataChannel(CONTROL_LABEL, { ordered: true }));
    this.addLocalMedia();
    const offer = await this.pc.createOffer();
    await this.pc.setLocalDescription(offer);
    this.sendSignal({ sdp: { type: offer.type, sdp: offer.sdp } });
  }

  // Our tracks, or a receive-only transceiver for a kind we cannot capture. After an offer was
  // applied, addTrack reuses the transceiver the offer created for that kind.
  addLocalMedia() {
    for (const kind of ['audio', 'video']) {
      const track = this.stream.getTracks().find((t) => t.kind === kind);
      if (track) {
        track.enabled = !this.muted[kind];
        this.pc.addTrack(track, this.stream);
      } else if (this.role === 'caller') {
        this.pc.addTransceiver(kind, { direction: 'recvonly' });
      }
    }
  }

  applySignal(data) {
    this.queue = this.queue
      .then(() => this.apply(data))
      .catch((e) => console.warn('ignoring a signal we could not apply', data, e));
    return this.queue;
  }

  async apply(data) {
    if (this.closed || !data || typeof data !== 'object') return;
    if (data.sdp) {
      await this.pc.setRemoteDescription(data.sdp);
      this.remoteDescriptionSet = true;
      if (this.role === 'callee' && data.sdp.type === 'offer') {
        this.offerApplied = true;
        this.addLocalMedia();
        const answer = await this.pc.createAnswer();
        await this.pc.setLocalDescription(answer);
        this.sendSignal({ sdp: { type: answer.type, sdp: answer.sdp } });
      }
      for (const c of this.pendingCandidates.splice(0)) await this.addCandidate(c);
    } else if ('candidate' in data) {
      if (data.candidate === null) return; // end of candidates: nothing to do
      if (!this.remoteDescriptionSet) this.pendingCandidates.push(data.candidate);
      else await this.addCandidate(data.candidate);
    }
  }

  async addCandidate(candidate) {
    try {
      await this.pc.addIceCandidate(candidate);
    } catch (e) {
      console.warn('ignoring a remote candidate', candidate, e);
    }
  }

  adoptChannel(channel) {
    this.channel = channel;
    channel.onclose = () => {
      if (!this.closed) this.onevent('control-closed');
    };
    channel.onopen = () => {
      this.onevent('control-open');
      // The other side learns a mute that happened before the channel opened.
      if (this.muted.audio) this.sendControl({ code: 'mute_audio', value: true });
      if (this.muted.video) this.sendControl({ code: 'mute_video', value: true });
    };
    channel.onmessage = (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch (e) {
        console.warn('ignoring a control message that is not JSON', event.data);
        return;
      }
      if (message && typeof message.code === 'string') this.onevent('control', message);
      else console.warn('ignoring a control message without a code', event.data);
    };
  }

  sendControl(message) {
    if (this.channel && this.channel.readyState === 'open') {
      this.channel.send(JSON.stringify(message));
      return true;
    }
    return false;
  }

  // Muting disables the track (the browser then sends silence / black at a trickle) and says so.
  setMuted(kind, muted) {
    this.muted[kind] = muted;
    for (const track of this.stream.getTracks()) {
      if (track.kind === kind) track.enabled = !muted;
    }
    this.sendControl({ code: kind === 'audio' ? 'mute_audio' : 'mute_video', value: muted });
  }

  // As peercall does: 2 s in which nothing at all arrives is a broken path ('path-lost'), said
  // sooner than the browser's own ICE timeout (about 6 s here).
  watchSilence() {
    if (this.silenceTimer) return;
    let last = -1;
    let quietSince = performance.now();
    this.silenceTimer = setInterval(async () => {
      if (this.closed) {
        clearInterval(this.silenceTimer);
        return;
      }
      const report = await this.pc.getStats().catch(() => null);
      if (!report) return;
      let received = 0;
      report.forEach((s) => {
        if (s.type === 'transport') received += s.bytesReceived || 0;
      });
      const now = performance.now();
      if (received !== last) {
        last = received;
        quietSince = now;
      } else if (now - quietSince >= 2000) {
        quietSince = now;
        this.onevent('path-lost');
      }
    }, 250);
  }

  // Polls the stats until the first video frame is decoded: the figure dial → first frame.
  watchFirstFrame() {
    const poll = async () => {
      if (this.closed) return;
      const stats = await this.mediaStats().catch(() => null);
      if (stats && stats.video && stats.video.framesDecoded > 0) {
        this.onevent('first-frame');
        return;
      }
      setTimeout(poll, 20);
    };
    setTimeout(poll, 20);
  }

  // What arrived, from getStats: inbound-rtp per kind with its codec; and what left (video).
  async mediaStats() {
    const report = await this.pc.getStats();
    const out = { video: null, audio: null, sent: null };
    report.forEach((s) => {
      if (s.type === 'outbound-rtp' && s.kind === 'video') {
        out.sent = {
          framesSent: s.framesSent || 0,
          frameWidth: s.frameWidth || 0,
          frameHeight: s.frameHeight || 0,
          targetBitrate: s.targetBitrate || 0,
        };
      }
      if (s.type !== 'inbound-rtp') return;
      const codec = s.codecId ? report.get(s.codecId) : null;
      out[s.kind] = {
        codec: codec ? codec.mimeType : null,
        packetsReceived: s.packetsReceived || 0,
        packetsLost: s.packetsLost || 0,
        bytesReceived: s.bytesReceived || 0,
        framesDecoded: s.framesDecoded || 0,
        freezeCount: s.freezeCount || 0,
        totalFreezesDuration: s.totalFreezesDuration || 0,
        nackCount: s.nackCount || 0,
        totalSamplesReceived: s.totalSamplesReceived || 0,
        concealedSamples: s.concealedSamples || 0,
        audioLevel: s.audioLevel || 0,
      };
    });
    return out;
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.silenceTimer);
    if (this.channel) this.channel.close();
    this.pc.close();
  }
}
