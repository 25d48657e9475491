// Shared helpers of the test pages (room.html, onev1.html here; tests/pages/call_code.html). No
// dependencies.
//
//   log(...args)            appends one line to window.testLog (tests print it on failure)
//   testStats(pc)           inbound media of a RTCPeerConnection, per kind, from getStats()
//   listenForTone(stream)   feeds a (remote) MediaStream's audio to an AnalyserNode
//   toneHz()                dominant frequency (Hz) of that audio, 0 when silent or none yet
//   attachVideo(id, stream) shows a stream in <video id=...> (muted, autoplay, inline)
'use strict';

(function () {
  window.testLog = [];

  function fmt(v) {
    if (typeof v === 'string') return v;
    if (v instanceof Error) return `${v.name}: ${v.message}`;
    try {
      const s = JSON.stringify(v);
      return s === undefined ? String(v) : s.length > 300 ? `${s.slice(0, 297)}...` : s;
    } catch (e) {
      return String(v);
    }
  }

  window.log = function log(...args) {
    const line = `${(performance.now() / 1000).toFixed(3)} ${args.map(fmt).join(' ')}`;
    window.testLog.push(line);
    console.log(line);
  };

  window.addEventListener('error', (e) => window.log('page error:', e.message));
  window.addEventListener('unhandledrejection', (e) => window.log('unhandled rejection:', e.reason));

  // {video: {framesDecoded, framesReceived, codec}, audio: {packetsReceived, totalSamplesReceived,
  // codec}} from the inbound-rtp reports; codec is the codec report's mimeType ("video/VP8",
  // "audio/opus"), or null. Zeros when there is no connection or no such report yet.
  window.testStats = async function testStats(pc) {
    const out = {
      video: { framesDecoded: 0, framesReceived: 0, codec: null },
      audio: { packetsReceived: 0, totalSamplesReceived: 0, codec: null },
    };
    if (!pc || pc.signalingState === 'closed') return out;
    const report = await pc.getStats();
    const byId = new Map();
    report.forEach((s) => byId.set(s.id, s));
    report.forEach((s) => {
      if (s.type !== 'inbound-rtp') return;
      const kind = s.kind || s.mediaType;
      const codec = s.codecId && byId.get(s.codecId) ? byId.get(s.codecId).mimeType || null : null;
      if (kind === 'video') {
        out.video.framesDecoded += s.framesDecoded || 0;
        out.video.framesReceived += s.framesReceived || 0;
        if (codec) out.video.codec = codec;
      } else if (kind === 'audio') {
        out.audio.packetsReceived += s.packetsReceived || 0;
        out.audio.totalSamplesReceived += s.totalSamplesReceived || 0;
        if (codec) out.audio.codec = codec;
      }
    });
    return out;
  };

  // Tone detection on the remote audio. Chromium delivers a remote WebRTC track to Web Audio only
  // while the track also plays in a media element, so the stream goes to a muted <audio> too.
  let audioCtx = null;
  let analyser = null;
  let source = null;
  let sink = null;

  window.listenForTone = function listenForTone(stream) {
    const tracks = stream.getAudioTracks();
    if (!tracks.length) return;
    const audioOnly = new MediaStream(tracks);
    if (!audioCtx) audioCtx = new AudioContext();
    if (audioCtx.state === 'suspended') audioCtx.resume().catch(() => {});
    if (source) source.disconnect();
    if (!sink) {
      sink = document.createElement('audio');
      sink.autoplay = true;
      sink.muted = true;
      sink.style.display = 'none';
      document.body.appendChild(sink);
    }
    sink.srcObject = audioOnly;
    sink.play().catch((e) => window.log('audio element play:', e));
    source = audioCtx.createMediaStreamSource(audioOnly);
    analyser = audioCtx.createAnalyser();
    analyser.fftSize = 8192;
    analyser.smoothingTimeConstant = 0;
    source.connect(analyser);
    window.log('tone detector on track', tracks[0].id, 'sample rate', audioCtx.sampleRate);
  };

  // The frequency (Hz, one decimal) of the loudest FFT bin, refined by parabolic interpolation;
  // 0 when there is no analyser yet or the loudest bin is below -70 dBFS (silence).
  window.toneHz = function toneHz() {
    if (!analyser) return 0;
    if (audioCtx.state === 'suspended') audioCtx.resume().catch(() => {});
    const bins = new Float32Array(analyser.frequencyBinCount);
    analyser.getFloatFrequencyData(bins);
    let best = 1;
    for (let i = 2; i < bins.length - 1; i++) if (bins[i] > bins[best]) best = i;
    if (!Number.isFinite(bins[best]) || bins[best] < -70) return 0;
    const a = bins[best - 1];
    const b = bins[best];
    const c = bins[best + 1];
    const denom = a - 2 * b + c;
    const shift = Number.isFinite(denom) && denom !== 0 ? (0.5 * (a - c)) / denom : 0;
    const hz = ((best + Math.max(-0.5, Math.min(0.5, shift))) * audioCtx.sampleRate) / analyser.fftSize;
    return Math.round(hz * 10) / 10;
  };

  window.attachVideo = function attachVideo(id, stream) {
    const el = document.getElementById(id);
    if (!el) return;
    el.muted = true;
    el.autoplay = true;
    el.playsInline = true;
    el.srcObject = stream;
    el.play().catch((e) => window.log(`video ${id} play:`, e));
  };
})();
