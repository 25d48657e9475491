// The page: draws `window.peercall` and turns clicks into its actions. No call logic here.
'use strict';

const MAX_CHAT_LINES = 200; // also the most chat lines app.js keeps

const $ = (id) => document.getElementById(id);

const UI = {
  bind(app) {
    $('register-form').addEventListener('submit', (e) => {
      e.preventDefault();
      app.goOnline($('my-id').value.trim());
    });
    $('dial-form').addEventListener('submit', (e) => {
      e.preventDefault();
      app.dial($('dial-id').value.trim());
    });
    $('peers').addEventListener('click', (e) => {
      const peer = e.target.dataset && e.target.dataset.peer;
      if (peer) app.dial(peer);
    });
    $('accept').addEventListener('click', () => app.accept());
    $('decline').addEventListener('click', () => app.decline());
    $('hangup').addEventListener('click', () => app.hangup());
    $('mute-audio').addEventListener('click', () => app.muteAudio(!app.local.audioMuted));
    $('mute-video').addEventListener('click', () => app.muteVideo(!app.local.videoMuted));
    $('chat-form').addEventListener('submit', (e) => {
      e.preventDefault();
      if (app.sendChat($('chat-text').value)) $('chat-text').value = '';
    });
  },

  render(app) {
    const status = {
      offline: 'offline',
      idle: `online as ${app.id}`,
      in_room: app.room ? `in room ${app.room.name} with ${Object.keys(app.room.members).join(', ') || 'nobody yet'}` : '',
      outgoing: `calling ${app.peer}…`,
      ringing: `${app.peer} is calling`,
      in_call: app.connected
        ? `in a call with ${app.peer}`
        : app.reconnecting
          ? `reconnecting to ${app.peer}… (network changed)`
          : `connecting to ${app.peer}…`,
    }[app.state];
    $('status').textContent = status;
    if (app.id && document.activeElement !== $('my-id')) $('my-id').value = app.id;

    const peers = $('peers');
    peers.replaceChildren();
    if (app.peers.length === 0) {
      const li = document.createElement('li');
      li.className = 'empty';
      li.textContent = 'nobody else yet';
      peers.append(li);
    }
    for (const p of app.peers) {
      const li = document.createElement('li');
      const name = document.createElement('span');
      name.textContent = p;
      const button = document.createElement('button');
      button.textContent = 'Call';
      button.dataset.peer = p;
      button.disabled = app.state !== 'idle';
      li.append(name, button);
      peers.append(li);
    }

    $('ringing').hidden = app.state !== 'ringing';
    $('ringing-text').textContent = `${app.peer} is calling you`;
    const inCall = app.state === 'outgoing' || app.state === 'in_call' || app.state === 'in_room';
    $('hangup').disabled = !inCall;
    $('hangup').textContent = app.state === 'outgoing' ? 'Cancel' : 'Hang up';
    $('mute-audio').disabled = !app.media.audio;
    $('mute-audio').textContent = app.local.audioMuted ? 'Unmute mic' : 'Mute mic';
    $('mute-audio').classList.toggle('on', app.local.audioMuted);
    $('mute-video').disabled = !app.media.video;
    $('mute-video').textContent = app.local.videoMuted ? 'Camera on' : 'Camera off';
    $('mute-video').classList.toggle('on', app.local.videoMuted);
    const chatOpen = app.state === 'in_call' && app.connected;
    $('chat-text').disabled = !chatOpen;
    $('chat-form').querySelector('button').disabled = !chatOpen;

    $('remote-label').textContent = inCall ? app.peer : '';
    $('remote-label').hidden = !inCall;
    const flags = $('remote-flags');
    flags.replaceChildren();
    if (inCall && app.remote.audioMuted) flags.append(UI.flag('mic muted'));
    if (inCall && app.remote.videoMuted) flags.append(UI.flag('camera off'));

    const warning = $('media-warning');
    warning.hidden = app.problems.length === 0;
    warning.textContent = app.problems.join(' ');
    const error = $('error');
    const ended = app.lastEnd && app.state === 'idle'
      ? `Call ended (${app.lastEnd.by === 'remote' ? 'by the other side' : 'by you'}: ${app.lastEnd.reason}).`
      : null;
    error.hidden = !(app.error || ended);
    error.textContent = app.error || ended || '';
  },

  flag(text) {
    const span = document.createElement('span');
    span.textContent = text;
    return span;
  },

  showLocal(stream) {
    $('local-video').srcObject = stream.getVideoTracks().length ? stream : null;
  },

  showRemote(stream) {
    const video = $('remote-video');
    if (video.srcObject !== stream) video.srcObject = stream;
    if (stream) video.play().catch(() => {}); // autoplay may wait for a click; the call goes on
  },

  // A room member's video, in a tile of its own with their name.
  showMember(id, stream) {
    let tile = document.querySelector(`#members [data-member="${CSS.escape(id)}"]`);
    if (!tile) {
      tile = document.createElement('div');
      tile.className = 'member';
      tile.dataset.member = id;
      const video = document.createElement('video');
      video.autoplay = true;
      video.playsInline = true;
      const label = document.createElement('div');
      label.className = 'label';
      label.textContent = id;
      tile.append(video, label);
      $('members').append(tile);
    }
    const video = tile.querySelector('video');
    if (video.srcObject !== stream) video.srcObject = stream;
    video.play().catch(() => {});
  },

  removeMember(id) {
    const tile = document.querySelector(`#members [data-member="${CSS.escape(id)}"]`);
    if (tile) tile.remove();
  },

  ring() {
    // Bring the tab to the user's attention without sound files.
    document.title = 'peercall: incoming call';
    setTimeout(() => { document.title = 'peercall'; }, 5000);
  },

  chatLine(from, text) {
    const li = document.createElement('li');
    li.className = from;
    li.textContent = `${from === 'me' ? 'you' : 'them'}: ${text}`;
    const log = $('chat-log');
    log.append(li);
    // The newest lines only: a chatty (or hostile) peer must not grow the page without end.
    while (log.children.length > MAX_CHAT_LINES) log.firstElementChild.remove();
    li.scrollIntoView({ block: 'nearest' });
  },
};
