// A group call (protocol version 2, docs/protocol.md "Rooms"): one Call per other member, a full
// mesh. The later joiner dials everyone who was there; a leg from a member is taken at once.
// app.js hands it the room's messages and the signals of its legs; its state is plain data in
// `state` (window.peercall.room), so tests can read it.
'use strict';

class Room {
  // sendSignal is the signaling's send; stream our camera and microphone; muted our state.
  constructor({ name, signaling, iceServers, stream, muted, onchange }) {
    this.name = name;
    this.signaling = signaling;
    this.iceServers = iceServers;
    this.stream = stream;
    this.muted = { ...muted };
    this.onchange = onchange;
    this.legs = new Map(); // member ID → { callId, call }
    // What the page shows and tests read: who is here and how they are.
    this.state = { name, joined: false, members: {} };
  }

  join() {
    this.signaling.send({ type: 'join', room: this.name });
  }

  // Whether a server message is ours to handle.
  handles(m) {
    if (['room', 'member_joined', 'member_left'].includes(m.type)) return m.room === this.name;
    if (m.type === 'incoming') return m.room === this.name;
    if (m.type === 'error' && m.room === this.name && !m.call_id) return true;
    return Boolean(m.call_id) && this.legOf(m.call_id) !== null;
  }

  onmessage(m) {
    switch (m.type) {
      case 'room':
        this.state.joined = true;
        // Invited in, we already have a leg to whoever invited us.
        for (const member of m.members) if (!this.legs.has(member)) this.dial(member);
        break;
      case 'member_joined':
        this.member(m.id);
        break;
      case 'member_left':
        this.drop(m.id);
        delete this.state.members[m.id];
        break;
      case 'incoming':
        // A member's leg: taken without ringing.
        this.member(m.from);
        this.signaling.send({ type: 'accept', call_id: m.call_id });
        this.newLeg(m.from, m.call_id, 'callee');
        break;
      case 'signal':
        this.legs.get(this.legOf(m.call_id)).call.applySignal(m.data);
        break;
      case 'hangup':
      case 'rejected':
        this.drop(this.legOf(m.call_id));
        break;
      case 'error':
        if (m.call_id) this.drop(this.legOf(m.call_id));
        else this.state.error = m.message || m.code;
        break;
      default:
        break;
    }
    this.onchange();
  }

  member(id) {
    if (!this.state.members[id]) {
      this.state.members[id] = { connected: false, audioMuted: false, videoMuted: false };
    }
    return this.state.members[id];
  }

  dial(peer) {
    this.member(peer);
    const callId = randomCallId();
    this.signaling.send({ type: 'call', to: peer, call_id: callId, room: this.name });
    const leg = this.newLeg(peer, callId, 'caller');
    leg.call.start().catch((e) => console.warn(`could not call ${peer}`, e));
  }

  newLeg(peer, callId, role) {
    const call = new Call({
      role,
      peer,
      iceServers: this.iceServers,
      stream: this.stream,
      sendSignal: (data) => this.signaling.send({ type: 'signal', call_id: callId, data }),
      onevent: (name, detail) => this.legEvent(peer, call, name, detail),
    });
    call.muted = { ...this.muted };
    const leg = { callId, call };
    this.legs.set(peer, leg);
    return leg;
  }

  // Every leg's Call (a file goes to each).
  calls() {
    return [...this.legs.values()].map((leg) => leg.call);
  }

  legOf(callId) {
    for (const [peer, leg] of this.legs) if (leg.callId === callId) return peer;
    return null;
  }

  legEvent(peer, call, name, detail) {
    const leg = this.legs.get(peer);
    if (!leg || leg.call !== call) return; // a leg that was dropped
    const member = this.member(peer);
    switch (name) {
      case 'track':
        UI.showMember(peer, detail);
        break;
      case 'connected':
        member.connected = true;
        call.verificationCode().then((code) => {
          member.verificationCode = code;
          this.onchange();
        });
        break;
      case 'failed':
        this.signaling.send({ type: 'hangup', call_id: leg.callId });
        this.drop(peer);
        break;
      case 'control':
        if (detail.code === 'mute_audio' && typeof detail.value === 'boolean') member.audioMuted = detail.value;
        if (detail.code === 'mute_video' && typeof detail.value === 'boolean') member.videoMuted = detail.value;
        if (detail.code === 'reject') this.drop(peer);
        break;
      default:
        break;
    }
    this.onchange();
  }

  // Ends our leg with `peer` (they left, or it failed).
  drop(peer) {
    const leg = this.legs.get(peer);
    if (!leg) return;
    leg.call.close();
    this.legs.delete(peer);
    if (this.state.members[peer]) this.state.members[peer].connected = false;
    UI.removeMember(peer);
  }

  setMuted(kind, muted) {
    this.muted[kind] = muted;
    for (const track of this.stream.getTracks()) {
      if (track.kind === kind) track.enabled = !muted;
    }
    for (const leg of this.legs.values()) leg.call.setMuted(kind, muted);
  }

  // Out of the room: every leg hung up (data channel and signaling), then `leave`.
  leave() {
    for (const [peer, leg] of this.legs) {
      leg.call.sendControl({ code: 'reject' });
      this.signaling.send({ type: 'hangup', call_id: leg.callId });
      this.drop(peer);
    }
    this.signaling.send({ type: 'leave', room: this.name });
  }

  // Inbound media from each member, as getStats reports it.
  async stats() {
    const out = {};
    for (const [peer, leg] of this.legs) out[peer] = await leg.call.mediaStats();
    return out;
  }
}
