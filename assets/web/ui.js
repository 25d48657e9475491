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
    $('share-screen').addEventListener('click', () => {
      if (app.local.sharing) app.stopSharing();
      else app.shareScreen();
    });
    $('chat-form').addEventListener('submit', (e) => {
      e.preventDefault();
      if (app.sendChat($('chat-text').value)) $('chat-text').value = '';
    });
    $('send-file').addEventListener('click', () => $('file-input').click());
    $('file-input').addEventListener('change', () => {
      for (const file of $('file-input').files) app.sendFile(file);
      $('file-input').value = '';
    });
    // A file dropped anywhere on the call goes to everyone in it.
    const panel = $('call-panel');
    panel.addEventListener('dragover', (e) => {
      if (!$('send-file').disabled) e.preventDefault();
    });
    panel.addEventListener('drop', (e) => {
      e.preventDefault();
      if ($('send-file').disabled) return;
      for (const file of e.dataTransfer.files) app.sendFile(file);
    });
    $('file-list').addEventListener('click', (e) => {
      const { action, id } = e.target.dataset || {};
      if (action === 'accept') app.acceptFile(id);
      if (action === 'decline') app.declineFile(id);
      if (action === 'cancel') app.cancelFile(id);
    });
  },

  // One line per transfer: who, name, size, progress, and what can be done with it.
  renderFiles(app) {
    const list = $('file-list');
    list.replaceChildren();
    for (const t of app.files.slice(-20)) {
      const li = document.createElement('li');
      li.dataset.file = t.id;
      const arrow = t.direction === 'sent' ? `to ${t.peer}` : `from ${t.peer}`;
      const text = document.createElement('span');
      text.textContent = `${t.name} (${UI.bytes(t.size)}) ${arrow}: ${t.state}${t.detail ? ` (${t.detail})` : ''}`;
      li.append(text);
      if (t.state === 'sending' || t.state === 'receiving') {
        const bar = document.createElement('progress');
        bar.max = t.size || 1;
        bar.value = t.bytes;
        li.append(bar);
      }
      const button = (label, action) => {
        const b = document.createElement('button');
        b.textContent = label;
        b.dataset.action = action;
        b.dataset.id = t.id;
        li.append(b);
      };
      if (t.state === 'offered') {
        button('Accept', 'accept');
        button('Decline', 'decline');
      }
      if (['offering', 'accepted', 'sending', 'receiving'].includes(t.state)) button('Cancel', 'cancel');
      if (t.state === 'done' && t.url) {
        const a = document.createElement('a');
        a.href = t.url;
        a.download = t.name;
        a.textContent = 'Save';
        li.append(a);
      }
      list.append(li);
    }
  },

  bytes(n) {
    if (n < 1024) return `${n} B`;
    if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
    return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  },

  render(app) {
    const status = {
      offline: 'offline',
      idle: `online as ${app.id}`,
      in_room: app.room ? `in room ${app.room.name} with ${Object.keys(app.room.members).join(', ') || 'nobody yet'}` : '',
      outgoing: `calling ${app.peer}…`,
      ringing: `${app.peer} is calling`,
      in_call: app.connected
        ? `in a call with ${app.peer}${app.verificationCode ? ` · verify ${app.verificationCode}` : ''}`
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
    $('share-screen').disabled = !chatOpen || !navigator.mediaDevices.getDisplayMedia;
    $('share-screen').textContent = app.local.sharing ? 'Stop sharing' : 'Share screen';
    $('share-screen').classList.toggle('on', Boolean(app.local.sharing));
    const showingShare = inCall && Boolean(app.remote.sharing) && Boolean($('share-video').srcObject);
    $('share-video').hidden = !showingShare;
    $('videos').classList.toggle('sharing', showingShare);
    $('chat-text').disabled = !chatOpen;
    $('chat-form').querySelector('button').disabled = !chatOpen;
    $('send-file').disabled = !(chatOpen || (app.state === 'in_room' && app.room));
    UI.renderFiles(app);

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

  // The other side's shared screen (null: none).
  showShare(stream) {
    const video = $('share-video');
    if (video.srcObject !== stream) video.srcObject = stream;
    if (stream) video.play().catch(() => {});
  },

  // What a video element shows now, as a PNG data URL.
  snapshot(id) {
    const video = $(id);
    if (!video || !video.videoWidth) return null;
    const canvas = document.createElement('canvas');
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    canvas.getContext('2d').drawImage(video, 0, 0);
    return canvas.toDataURL('image/png');
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
