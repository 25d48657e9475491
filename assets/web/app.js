// The page's call state machine: idle → outgoing | ringing → in_call → idle, driven by the user,
// the signaling server and the Call. Its state is `window.peercall` (plain data, so tests can read
// it), and the same object carries the actions (dial, accept, …) the buttons and tests call.
//
// URL parameters: ?id=NAME registers as NAME; ?autoaccept=1 takes every call at once;
// ?room=NAME joins that room (a group call, room.js) once online.
'use strict';

const params = new URLSearchParams(location.search);

const peercall = {
  state: 'offline', // offline | idle | outgoing | ringing | in_call | in_room
  room: null, // in a group call: room.js's state (name, members and how each is)
  id: null,
  peers: [],
  peer: null,
  callId: null,
  accepted: false,
  connected: false,
  controlOpen: false, // the system_channel is open: mutes and chat reach the other side
  local: { audioMuted: false, videoMuted: false, sharing: false },
  remote: { audioMuted: false, videoMuted: false },
  chat: [], // { from: 'me' | 'them', text }
  lastEnd: null, // { by: 'local' | 'remote', reason }
  problems: [], // what is missing, in words (no camera, …)
  error: null,
  media: { audio: false, video: false },
  timing: { callStartedAt: null, firstFrameMs: null },
  autoaccept: params.get('autoaccept') === '1',
  files: FILE_LIST, // every file sent or offered, plain data (files.js)
  verificationCode: null, // read it to the other side: the same there means nobody in the middle
};
window.peercall = peercall;

const signaling = new Signaling();
let iceServers = [];
let call = null; // the Call while outgoing or in_call
let room = null; // the Room while in_room
let early = []; // signals that arrive while ringing, applied on accept
let newOfferTimer = null; // a callee whose connection failed waits this long for a new offer
let awaitingOffer = false; // our connection was closed; the caller's new offer is what comes next
let dtlsTimer = null; // a caller whose path was found waits this long for the connection
let sharedScreen = null; // our shared screen while we share: { track, stream }
let attempts = 0; // connections started in this call (the caller starts over at most twice)
const MAX_ATTEMPTS = 3;
const DTLS_SETUP_MS = 5000;
const MAX_EARLY_SIGNALS = 100;
const MAX_CHAT_TEXT = 4000; // characters of one chat line kept
const mediaReady = Media.open().then(({ stream, problems }) => {
  peercall.problems = problems;
  peercall.media = {
    audio: stream.getAudioTracks().length > 0,
    video: stream.getVideoTracks().length > 0,
  };
  UI.showLocal(stream);
  UI.render(peercall);
  return stream;
});

function randomCallId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

function setError(text) {
  peercall.error = text;
  UI.render(peercall);
}

async function goOnline(id) {
  clearTimeout(reconnectTimer);
  peercall.error = null;
  if (signaling.ws) signaling.ws.onclose = null;
  if (signaling.ws) signaling.ws.close();
  try {
    // Version 2: the page joins rooms, and can be invited into one.
    const registered = await signaling.register(id || undefined, 2);
    peercall.id = registered.id;
    iceServers = registered.ice_servers || [];
    refreshIceLater(registered.ice_ttl);
    peercall.state = 'idle';
  } catch (e) {
    peercall.state = 'offline';
    peercall.error = e.message;
  }
  UI.render(peercall);
}

// The server went away. A connected call (or room) goes on peer to peer; one still being set up
// cannot. The page connects again with growing pauses, keeping its ID (and, when the server still
// holds the old registration, its calls: `resume`).
let reconnectTimer = null;
signaling.onclose = () => {
  const connectedCall = call && peercall.connected;
  if (call && !connectedCall) endCall('local', 'the signaling server went away');
  if (!connectedCall && !room) peercall.state = 'offline';
  peercall.signalingLost = true;
  peercall.peers = [];
  setError('Lost the signaling server: connecting again…');
  reconnectSignaling(500);
};

function reconnectSignaling(wait) {
  clearTimeout(reconnectTimer);
  reconnectTimer = setTimeout(async () => {
    try {
      const registered = await signaling.register(peercall.id, 2, true);
      peercall.id = registered.id;
      iceServers = registered.ice_servers || [];
      if (room) room.iceServers = iceServers;
      refreshIceLater(registered.ice_ttl);
      peercall.signalingLost = false;
      peercall.error = null;
      if (peercall.state === 'offline') peercall.state = 'idle';
      UI.render(peercall);
    } catch (e) {
      reconnectSignaling(Math.min(wait * 2, 5000));
    }
  }, wait);
}

// TURN credentials from the server expire: ask for fresh ones at three quarters of their life.
let iceRefresh = null;
function refreshIceLater(ttl) {
  clearTimeout(iceRefresh);
  if (ttl) iceRefresh = setTimeout(() => signaling.send({ type: 'refresh_ice' }), Math.max(10, ttl * 0.75) * 1000);
}

signaling.onmessage = (m) => {
  if (m.type === 'ice_servers') {
    // Rooms read the list when they open a leg: give them the fresh one too.
    iceServers = m.ice_servers || [];
    if (room) room.iceServers = iceServers;
    refreshIceLater(m.ice_ttl);
    return;
  }
  if (room && room.handles(m)) {
    room.onmessage(m);
    return;
  }
  switch (m.type) {
    case 'peers':
      peercall.peers = m.peers.slice().sort();
      break;
    case 'peer_joined':
      if (!peercall.peers.includes(m.id)) peercall.peers = [...peercall.peers, m.id].sort();
      break;
    case 'peer_left':
      peercall.peers = peercall.peers.filter((p) => p !== m.id);
      break;
    case 'incoming':
      onIncoming(m);
      break;
    case 'accepted':
      if (m.call_id === peercall.callId && peercall.state === 'outgoing') {
        peercall.accepted = true;
        peercall.state = 'in_call';
      }
      break;
    case 'rejected':
      if (m.call_id === peercall.callId) endCall('remote', m.reason === 'busy' ? 'busy' : 'declined');
      break;
    case 'signal':
      if (m.call_id !== peercall.callId) break;
      // Held until the user accepts.
      if (peercall.state === 'ringing') holdEarly(m.data);
      // A new offer: the caller starts the connection over (it never came up, or its path
      // broke mid-call), whether we closed ours already or not; with the ICE credentials in
      // use it only changes what the connection carries (a screen shared).
      else if (isOffer(m.data) && (awaitingOffer || (call && call.offerApplied && !renegotiates(call, m.data)))) {
        restartCallee(m.data);
      }
      // Held while our Call is still being made (media opening).
      else if (!call) holdEarly(m.data);
      else call.applySignal(m.data);
      break;
    case 'hangup':
      if (m.call_id === peercall.callId) endCall('remote', m.reason || 'hung up');
      break;
    case 'error':
      if (m.call_id && m.call_id === peercall.callId) {
        endCall('local', Signaling.describeError(m));
        setError(Signaling.describeError(m));
      } else if (!m.call_id) {
        setError(Signaling.describeError(m));
      }
      break;
    default:
      break; // newer servers may say more
  }
  UI.render(peercall);
};

function onIncoming(m) {
  if (peercall.state !== 'idle') {
    // Already busy: the protocol's automatic answer.
    signaling.send({ type: 'reject', call_id: m.call_id, reason: 'busy' });
    return;
  }
  peercall.state = 'ringing';
  peercall.peer = m.from;
  peercall.callId = m.call_id;
  // An invitation into a group call: accepting joins the room (the server puts us in it).
  peercall.invitedTo = m.room || null;
  peercall.lastEnd = null;
  early = [];
  UI.ring();
  if (peercall.autoaccept) peercall.accept();
}

// A chat line, kept among the newest MAX_CHAT_LINES (ui.js) and shown.
function pushChat(from, text) {
  peercall.chat.push({ from, text: text.slice(0, MAX_CHAT_TEXT) });
  if (peercall.chat.length > MAX_CHAT_LINES) peercall.chat.splice(0, peercall.chat.length - MAX_CHAT_LINES);
  UI.chatLine(from, text.slice(0, MAX_CHAT_TEXT));
}

// Signals held while ringing (the early offer and candidates), at most; a real caller sends one
// offer and a handful of candidates.
function holdEarly(data) {
  if (early.length < MAX_EARLY_SIGNALS) early.push(data);
  else console.warn('too many signals while ringing: one is dropped');
}

function isOffer(data) {
  return Boolean(data && data.sdp && data.sdp.type === 'offer');
}

function iceUfrag(sdp) {
  const match = /a=ice-ufrag:(\S+)/.exec(sdp || '');
  return match ? match[1] : null;
}

// An offer with the ICE credentials the connection uses: a renegotiation, not a restart.
function renegotiates(c, data) {
  const current = c.pc.remoteDescription;
  const ufrag = iceUfrag(data.sdp.sdp);
  return Boolean(current && ufrag && iceUfrag(current.sdp) === ufrag);
}

// A new connection for the caller's new offer, in the same call (docs/protocol.md §1).
function restartCallee(offer) {
  const callId = peercall.callId;
  clearTimeout(newOfferTimer);
  awaitingOffer = false;
  clearTimeout(closedTimer);
  if (peercall.connected) {
    // Mid-call: the caller's path broke before ours said so.
    peercall.connected = false;
    peercall.reconnecting = true;
  }
  if (call) call.close();
  call = null;
  early = [offer];
  newCall('callee').then((c) => {
    if (peercall.callId !== callId || call) {
      c.close();
      return;
    }
    call = c;
    for (const data of early.splice(0)) c.applySignal(data);
  });
}

// Our connection as the caller never came up: a new one, with a new offer, in the same call
// (docs/protocol.md §1, "Starting over"); the callee replaces its own.
function restartCaller(reason) {
  clearTimeout(dtlsTimer);
  dtlsTimer = null;
  if (attempts >= MAX_ATTEMPTS) {
    peercall.hangup();
    setError(reason);
    return;
  }
  const callId = peercall.callId;
  console.warn(`starting the connection over (${reason})`);
  if (call) call.close();
  call = null;
  attempts += 1;
  newCall('caller').then(async (c) => {
    if (peercall.callId !== callId || call) {
      c.close();
      return;
    }
    call = c;
    await c.start();
  }).catch((e) => console.warn('could not start over', e));
}

// The callee's connection failed before it ever connected: the caller may start it over.
function awaitNewOffer(reason, wait = 10000) {
  const callId = peercall.callId;
  if (call) call.close();
  call = null;
  awaitingOffer = true;
  newOfferTimer = setTimeout(() => {
    if (peercall.callId === callId && !peercall.connected) {
      peercall.hangup();
      setError(reason);
    }
  }, wait);
}

function newCall(role) {
  const callId = peercall.callId;
  return mediaReady.then((stream) => {
    const c = new Call({
      role,
      peer: peercall.peer,
      iceServers,
      stream,
      sendSignal: (data) => signaling.send({ type: 'signal', call_id: callId, data }),
      onevent: (name, detail) => {
        if (call === c) onCallEvent(name, detail);
      },
    });
    c.muted = { audio: peercall.local.audioMuted, video: peercall.local.videoMuted };
    // A connection made again shares the screen again (once it is set up).
    if (sharedScreen) c.shareScreen(sharedScreen.track, sharedScreen.stream);
    return c;
  });
}

// A connected call's path broke (docs/protocol.md §1, "Connecting again"): the caller makes a new
// connection at once; the callee closes its own and waits for that offer.
const RESTART_WAIT_MS = 7000;
const CONTROL_CLOSED_GRACE_MS = 400;
let closedTimer = null;

function pathLost(why) {
  if (!peercall.connected || !call) return;
  // The other side sends no media at all: quiet is expected, not a broken path.
  if (why.startsWith('no packets') && peercall.remote.audioMuted && peercall.remote.videoMuted) return;
  console.warn(`the path broke (${why}): connecting again`);
  peercall.connected = false;
  peercall.reconnecting = true;
  UI.render(peercall);
  if (call.role === 'caller') {
    attempts = 0;
    restartCaller(why);
    const callId = peercall.callId;
    newOfferTimer = setTimeout(() => {
      if (peercall.callId === callId && !peercall.connected) {
        peercall.hangup();
        setError('the connection was lost and could not be made again');
      }
    }, RESTART_WAIT_MS);
  } else {
    awaitNewOffer('the connection was lost and the caller did not connect again', RESTART_WAIT_MS);
  }
}

function onCallEvent(name, detail) {
  switch (name) {
    case 'path-lost':
      pathLost('no packets from the other side');
      break;
    case 'control-closed':
      // The other side closed without a hang-up reaching us (yet): its path broke.
      clearTimeout(closedTimer);
      closedTimer = setTimeout(() => pathLost('the other side closed its connection'), CONTROL_CLOSED_GRACE_MS);
      break;
    case 'track':
      UI.showRemote(detail);
      break;
    case 'share-track':
      UI.showShare(detail);
      break;
    case 'share-ended':
      peercall.stopSharing();
      break;
    case 'ice-connected':
      // As peercall does: a path without a connection after 5 s is started over.
      if (call && call.role === 'caller' && !peercall.connected && !dtlsTimer) {
        dtlsTimer = setTimeout(() => {
          dtlsTimer = null;
          if (!peercall.connected) restartCaller('the connection did not come up over the path found');
        }, DTLS_SETUP_MS);
      }
      break;
    case 'connected':
      clearTimeout(dtlsTimer);
      dtlsTimer = null;
      clearTimeout(newOfferTimer);
      if (peercall.reconnecting) peercall.restarts = (peercall.restarts || 0) + 1;
      call.verificationCode().then((code) => {
        peercall.verificationCode = code;
        UI.render(peercall);
      });
      peercall.reconnecting = false;
      peercall.connected = true;
      UI.render(peercall);
      break;
    case 'control-open':
      peercall.controlOpen = true;
      break;
    case 'failed':
      if (call && call.role === 'callee' && !peercall.connected) awaitNewOffer(detail);
      else if (call && call.role === 'caller' && !peercall.connected && attempts < MAX_ATTEMPTS) {
        restartCaller(detail);
      } else {
        peercall.hangup();
        setError(detail);
      }
      break;
    case 'first-frame':
      // From the dial (caller) or the accept (callee), not from when the Call object was made.
      peercall.timing.firstFrameMs = performance.now() - peercall.timing.callStartedAt;
      break;
    case 'control':
      onControl(detail);
      break;
    default:
      break;
  }
  UI.render(peercall);
}

function onControl(message) {
  switch (message.code) {
    case 'mute_audio':
      if (typeof message.value === 'boolean') peercall.remote.audioMuted = message.value;
      break;
    case 'mute_video':
      if (typeof message.value === 'boolean') peercall.remote.videoMuted = message.value;
      break;
    case 'screen_share':
      if (typeof message.value === 'boolean') peercall.remote.sharing = message.value;
      break;
    case 'chat':
      if (typeof message.text === 'string') {
        pushChat('them', message.text);
      }
      break;
    case 'reject':
      endCall('remote', 'hung up');
      break;
    default:
      break; // unknown codes are ignored (§2)
  }
}

// Back to idle, closing the connection; sends nothing (the callers send what they must first).
function endCall(by, reason) {
  clearTimeout(newOfferTimer);
  awaitingOffer = false;
  clearTimeout(closedTimer);
  peercall.reconnecting = false;
  clearTimeout(dtlsTimer);
  dtlsTimer = null;
  attempts = 0;
  if (call) call.close();
  call = null;
  early = [];
  peercall.state = peercall.state === 'offline' ? 'offline' : 'idle';
  peercall.peer = null;
  peercall.callId = null;
  peercall.accepted = false;
  peercall.connected = false;
  peercall.controlOpen = false;
  peercall.remote = { audioMuted: false, videoMuted: false };
  if (sharedScreen) sharedScreen.track.stop();
  sharedScreen = null;
  peercall.local.sharing = false;
  UI.showShare(null);
  peercall.verificationCode = null;
  peercall.lastEnd = { by, reason };
  UI.showRemote(null);
  UI.render(peercall);
}

peercall.goOnline = goOnline;

// Joins (or opens) a room: everyone in it is in the call.
peercall.joinRoom = async (name) => {
  if (peercall.state !== 'idle' || !name) return false;
  peercall.state = 'in_room';
  peercall.lastEnd = null;
  await openRoom(name);
  room.join();
  UI.render(peercall);
  return true;
};

// Inbound media from each room member, as getStats reports it.
peercall.roomStats = async () => (room ? room.stats() : {});

peercall.dial = async (peer) => {
  if (peercall.state !== 'idle' || !peer) return false;
  peercall.state = 'outgoing';
  peercall.peer = peer;
  peercall.callId = randomCallId();
  peercall.lastEnd = null;
  peercall.error = null;
  peercall.timing = { callStartedAt: performance.now(), firstFrameMs: null };
  signaling.send({ type: 'call', to: peer, call_id: peercall.callId });
  UI.render(peercall);
  const callId = peercall.callId;
  const c = await newCall('caller');
  if (peercall.callId !== callId) {
    c.close(); // cancelled meanwhile
    return false;
  }
  call = c;
  attempts = 1;
  try {
    await c.start(); // the early offer, right after `call`
  } catch (e) {
    peercall.hangup();
    setError(`Could not start the call: ${e.message}`);
    return false;
  }
  return true;
};

peercall.accept = async () => {
  if (peercall.state !== 'ringing') return false;
  if (peercall.invitedTo) return acceptInvitation();
  peercall.state = 'in_call';
  peercall.accepted = true;
  peercall.timing = { callStartedAt: performance.now(), firstFrameMs: null };
  signaling.send({ type: 'accept', call_id: peercall.callId });
  UI.render(peercall);
  const callId = peercall.callId;
  const c = await newCall('callee');
  if (peercall.callId !== callId) {
    c.close(); // hung up meanwhile
    return false;
  }
  call = c;
  for (const data of early.splice(0)) c.applySignal(data);
  return true;
};

// Our side of a room: the Room with our camera and microphone, shown as `peercall.room`.
async function openRoom(name) {
  const stream = await mediaReady;
  room = new Room({
    name,
    signaling,
    iceServers,
    stream,
    muted: { audio: peercall.local.audioMuted, video: peercall.local.videoMuted },
    onchange: () => UI.render(peercall),
  });
  peercall.room = room.state;
}

// Accepting an invitation: the server puts us in the room; the one who invited us is our first
// leg (they offer), and we dial the other members when the room's list comes.
async function acceptInvitation() {
  const { invitedTo: name, peer: from, callId } = peercall;
  peercall.invitedTo = null;
  peercall.state = 'in_room';
  signaling.send({ type: 'accept', call_id: callId });
  // Until the room holds the leg, its signals are held as a ringing call's are.
  await mediaReady;
  if (peercall.callId !== callId) return false; // hung up meanwhile
  peercall.peer = null;
  peercall.callId = null;
  const held = early.splice(0);
  await openRoom(name);
  room.member(from);
  const leg = room.newLeg(from, callId, 'callee');
  for (const data of held) leg.call.applySignal(data);
  UI.render(peercall);
  return true;
}

peercall.decline = () => {
  if (peercall.state !== 'ringing') return;
  signaling.send({ type: 'reject', call_id: peercall.callId, reason: 'declined' });
  endCall('local', 'declined');
};

peercall.hangup = () => {
  if (peercall.state === 'in_room') {
    room.leave();
    room = null;
    peercall.room = null;
    peercall.state = 'idle';
    peercall.lastEnd = { by: 'local', reason: 'left the room' };
    UI.render(peercall);
    return undefined;
  }
  if (peercall.state === 'ringing') return peercall.decline();
  if (peercall.state !== 'outgoing' && peercall.state !== 'in_call') return undefined;
  // Both ways, as peercall does: the data channel is quickest, signaling is sure.
  if (call && peercall.accepted) call.sendControl({ code: 'reject' });
  signaling.send({ type: 'hangup', call_id: peercall.callId });
  endCall('local', peercall.accepted ? 'hung up' : 'cancelled');
  return undefined;
};

peercall.muteAudio = (muted) => {
  peercall.local.audioMuted = muted;
  if (call) call.setMuted('audio', muted);
  if (room) room.setMuted('audio', muted);
  UI.render(peercall);
};

peercall.muteVideo = (muted) => {
  peercall.local.videoMuted = muted;
  if (call) call.setMuted('video', muted);
  if (room) room.setMuted('video', muted);
  UI.render(peercall);
};

// Our screen to the other side (docs/protocol.md §5). The browser asks which screen, window or
// tab; stopping it from the browser's own bar stops the share too.
peercall.shareScreen = async () => {
  if (!call || peercall.local.sharing) return false;
  // Only an app that said it takes a renegotiated connection gets a shared screen.
  if (!call.remoteFeatures.includes('screen_share')) {
    setError(`${peercall.peer}'s app cannot show a shared screen.`);
    UI.render(peercall);
    return false;
  }
  let stream;
  try {
    stream = await navigator.mediaDevices.getDisplayMedia({
      video: { width: { max: 1920 }, height: { max: 1080 }, frameRate: { max: 15 } },
      audio: false,
    });
  } catch (e) {
    setError(`The screen cannot be shared: ${e.message || e.name}`);
    UI.render(peercall);
    return false;
  }
  const track = stream.getVideoTracks()[0];
  if (!call || !track) {
    stream.getTracks().forEach((t) => t.stop());
    return false;
  }
  // Text wants sharpness more than motion.
  track.contentHint = 'detail';
  sharedScreen = { track, stream };
  peercall.local.sharing = true;
  UI.render(peercall);
  await call.shareScreen(track, stream);
  return true;
};

peercall.stopSharing = async () => {
  if (!sharedScreen) return;
  const { track } = sharedScreen;
  sharedScreen = null;
  peercall.local.sharing = false;
  UI.render(peercall);
  if (call) await call.stopSharing();
  track.stop();
};

// The other side's shared screen as it shows now, as a PNG data URL (for tests).
peercall.shareSnapshot = () => UI.snapshot('share-video');

peercall.sendChat = (text) => {
  if (!call || !text || !call.sendControl({ code: 'chat', text })) return false;
  pushChat('me', text);
  return true;
};

// Files (files.js): to everyone in the call; answered or stopped by transfer ID.
peercall.sendFile = (file) => {
  const calls = call ? [call] : room ? room.calls() : [];
  const ids = calls.filter((c) => c.channel && c.channel.readyState === 'open')
    .map((c) => c.files.send(file));
  UI.render(peercall);
  return ids.length > 0;
};
const fileOwner = (id) => FILE_OWNERS.get(id);
peercall.acceptFile = (id) => fileOwner(id) && fileOwner(id).accept(id);
peercall.declineFile = (id) => fileOwner(id) && fileOwner(id).decline(id);
peercall.cancelFile = (id) => fileOwner(id) && fileOwner(id).cancel(id);

// Inbound media as getStats reports it (tests and the measure script read this).
peercall.stats = async () => (call ? call.mediaStats() : { video: null, audio: null });

UI.bind(peercall);
UI.render(peercall);
goOnline(params.get('id')).then(() => {
  if (params.get('room') && peercall.state === 'idle') peercall.joinRoom(params.get('room'));
});
