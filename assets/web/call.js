// One call's WebRTC side: an RTCPeerConnection with our camera/microphone and the `system_channel`
// control channel (docs/protocol.md §2). It knows SDP, candidates and control messages; who is
// ringing and what the page shows are app.js's business. It reports through `onevent(name, detail)`:
//   'track' (MediaStream), 'ice-connected' (a path was found), 'connected', 'failed' (reason),
//   'control-open', 'control' (message), 'first-frame' (the first video frame was decoded),
//   'path-lost' (ICE hears nothing from the other side: the network changed), 'control-closed',
//   'files' (a file transfer moved on: files.js), 'share-track' (MediaStream: the other side's
//   shared screen), 'share-ended' (the browser stopped our shared screen).
// Screen sharing (docs/protocol.md §5) renegotiates this connection: an offer with the ICE
// credentials in use adds or removes a track; one with new credentials is a restart (app.js).
// `?autofiles=1` takes every offered file without asking (for tests).
'use strict';

const CONTROL_LABEL = 'system_channel';
// `?relay=1`: only through a TURN server, so the other side never learns this computer's address.
const RELAY_ONLY = new URLSearchParams(location.search).get('relay') === '1';
const AUTO_ACCEPT_FILES = new URLSearchParams(location.search).get('autofiles') === '1';

class Call {
  // role: 'caller' | 'callee'; sendSignal(data) relays `data` to the other side as a `signal`.
  constructor({ role, peer, iceServers, stream, sendSignal, onevent }) {
    this.role = role;
    this.stream = stream;
    this.sendSignal = sendSignal;
    this.onevent = onevent;
    this.muted = { audio: false, video: false };
    this.channel = null;
    this.closed = false;
    this.remoteDescriptionSet = false;
    this.offerApplied = false;
    this.remoteFeatures = []; // what the other side's app announced it can do
    this.pendingCandidates = [];
    // Remote signals are applied one after another, in arrival order.
    this.queue = Promise.resolve();
    this.pc = new RTCPeerConnection({
      iceServers: iceServers || [],
      iceTransportPolicy: RELAY_ONLY ? 'relay' : 'all',
    });
    this.remoteStream = new MediaStream();
    this.files = new FileTransfers({
      pc: this.pc,
      peer,
      sendControl: (m) => this.sendControl(m),
      onchange: () => this.onevent('files'),
      autoAccept: AUTO_ACCEPT_FILES,
    });

    this.pc.onicecandidate = (event) => {
      if (event.candidate && event.candidate.candidate === '') return;
      // null: gathering is over, which the protocol says as {"candidate":null}.
      this.sendSignal({ candidate: event.candidate ? event.candidate.toJSON() : null });
    };
    this.pc.ontrack = (event) => {
      const track = event.track;
      // peercall names its tracks (video-…, screen-…); from others the first video is the
      // camera and a later one a shared screen.
      const screen = track.kind === 'video' && (track.id.startsWith('screen-')
        || (!track.id.startsWith('video-') && this.remoteStream.getVideoTracks().length > 0));
      if (screen) {
        this.shareStream = new MediaStream([track]);
        this.onevent('share-track', this.shareStream);
        return;
      }
      this.remoteStream.addTrack(track);
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
      else if (event.channel.label.startsWith('file:')) this.files.onChannel(event.channel);
      else event.channel.close();
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
      const offer = data.sdp.type === 'offer';
      if (offer && this.pc.signalingState === 'have-local-offer') {
        // Both sides offered at once: the caller's offer goes first. The callee's browser
        // takes its own back (implicit rollback) and offers again once this one is answered.
        if (this.role === 'caller') return;
        this.negotiationPending = true;
      }
      await this.pc.setRemoteDescription(data.sdp);
      this.remoteDescriptionSet = true;
      if (offer) {
        if (this.role === 'callee' && !this.offerApplied) {
          this.offerApplied = true;
          this.addLocalMedia();
        }
        const answer = await this.pc.createAnswer();
        await this.pc.setLocalDescription(answer);
        this.sendSignal({ sdp: { type: answer.type, sdp: answer.sdp } });
      }
      for (const c of this.pendingCandidates.splice(0)) await this.addCandidate(c);
      if (this.negotiationPending && this.pc.signalingState === 'stable') {
        this.negotiationPending = false;
        setTimeout(() => this.renegotiate(), 0);
      }
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

  // Our screen goes to the other side as a second video track (a renegotiation), and says so.
  // The track is app.js's: a connection made again (a restart) shares it anew.
  shareScreen(track, stream) {
    this.stopSharing();
    this.screen = { track, sender: this.pc.addTrack(track, stream) };
    track.onended = () => this.onevent('share-ended');
    this.sendControl({ code: 'screen_share', value: true });
    return this.renegotiate();
  }

  stopSharing() {
    if (!this.screen) return Promise.resolve();
    const { track, sender } = this.screen;
    this.screen = null;
    try {
      this.pc.removeTrack(sender);
    } catch (e) {
      console.warn('removing the screen track', e);
    }
    track.onended = null;
    this.sendControl({ code: 'screen_share', value: false });
    return this.renegotiate();
  }

  // A new offer on this connection (same ICE credentials), after any exchange under way.
  renegotiate() {
    this.queue = this.queue
      .then(async () => {
        if (this.closed) return;
        if (!this.remoteDescriptionSet || this.pc.signalingState !== 'stable') {
          this.negotiationPending = true;
          return;
        }
        const offer = await this.pc.createOffer();
        await this.pc.setLocalDescription(offer);
        this.sendSignal({ sdp: { type: offer.type, sdp: offer.sdp } });
      })
      .catch((e) => console.warn('renegotiation failed', e));
    return this.queue;
  }

  adoptChannel(channel) {
    this.channel = channel;
    channel.onclose = () => {
      if (!this.closed) this.onevent('control-closed');
    };
    channel.onopen = () => {
      // What this page can do beyond the protocol's core (docs/protocol.md §5).
      this.sendControl({ code: 'features', features: ['screen_share'] });
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
      if (!message || typeof message.code !== 'string') {
        console.warn('ignoring a control message without a code', event.data);
        return;
      }
      if (message.code === 'features') {
        if (Array.isArray(message.features)) {
          this.remoteFeatures = message.features.filter((f) => typeof f === 'string').slice(0, 32);
        }
        return;
      }
      if (!this.files.onControl(message)) this.onevent('control', message);
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

  // What arrived, from getStats: inbound-rtp per kind with its codec; what left (video); and the
  // path media takes (the selected candidate pair's types, as in peercall's report).
  async mediaStats() {
    const report = await this.pc.getStats();
    const out = { video: null, audio: null, sent: null, path: null, share: null, sentShare: null };
    const shareId = this.shareStream ? this.shareStream.getVideoTracks()[0].id : null;
    const ourScreen = this.screen ? this.screen.track.id : null;
    report.forEach((s) => {
      if (s.type === 'transport' && s.selectedCandidatePairId) {
        const pair = report.get(s.selectedCandidatePairId);
        const local = pair && report.get(pair.localCandidateId);
        const remote = pair && report.get(pair.remoteCandidateId);
        if (local && remote) {
          out.path = {
            local_type: local.candidateType,
            remote_type: remote.candidateType,
            protocol: local.protocol,
          };
        }
      }
      const source = s.mediaSourceId ? report.get(s.mediaSourceId) : null;
      if (s.type === 'outbound-rtp' && s.kind === 'video' && source && source.trackIdentifier === ourScreen) {
        out.sentShare = {
          framesSent: s.framesSent || 0,
          frameWidth: s.frameWidth || 0,
          frameHeight: s.frameHeight || 0,
        };
        return;
      }
      if (s.type === 'outbound-rtp' && s.kind === 'video') {
        out.sent = {
          framesSent: s.framesSent || 0,
          frameWidth: s.frameWidth || 0,
          frameHeight: s.frameHeight || 0,
          targetBitrate: s.targetBitrate || 0,
        };
      }
      if (s.type !== 'inbound-rtp') return;
      if (s.kind === 'video' && shareId && s.trackIdentifier === shareId) {
        out.share = {
          framesDecoded: s.framesDecoded || 0,
          frameWidth: s.frameWidth || 0,
          frameHeight: s.frameHeight || 0,
        };
        return;
      }
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

  // The code both sides show (docs/protocol.md §4): from the negotiated offer's and answer's
  // fingerprints. The same on the other side means nobody sits in the middle.
  async verificationCode() {
    const local = this.pc.localDescription;
    const remote = this.pc.remoteDescription;
    if (!local || !remote) return null;
    const [offer, answer] = local.type === 'offer' ? [local.sdp, remote.sdp] : [remote.sdp, local.sdp];
    const fingerprint = (sdp) => {
      const line = sdp.split(/\r?\n/).find((l) => l.trim().startsWith('a=fingerprint:'));
      if (!line) return null;
      const [algorithm, hash] = line.trim().slice('a=fingerprint:'.length).trim().split(/\s+/);
      return hash ? `${algorithm.toLowerCase()} ${hash.toUpperCase()}` : null;
    };
    const [a, b] = [fingerprint(offer), fingerprint(answer)];
    if (!a || !b) return null;
    const text = new TextEncoder().encode(`peercall-verify-1\n${a}\n${b}`);
    const digest = new DataView(await crypto.subtle.digest('SHA-256', text));
    const digits = String(digest.getUint32(0) % 1000000000).padStart(9, '0');
    return `${digits.slice(0, 3)} ${digits.slice(3, 6)} ${digits.slice(6)}`;
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    this.files.close();
    clearInterval(this.silenceTimer);
    if (this.channel) this.channel.close();
    this.pc.close();
  }
}
