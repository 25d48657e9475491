// Local camera and microphone: asks for both, falls back to whichever works, and says in words what
// is missing. A call goes on with what there is (no camera: audio only; nothing: receive only).
'use strict';

const Media = {
  // Resolves with { stream, problems: [sentence…] }; never rejects.
  async open() {
    const problems = [];
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      problems.push(window.isSecureContext
        ? 'This browser cannot capture a camera or microphone.'
        : 'Camera and microphone need a secure page: open this page over https (peercall serve --tls-self-signed) or on localhost.');
      return { stream: new MediaStream(), problems };
    }
    const tracks = [];
    for (const kind of ['audio', 'video']) {
      try {
        const constraints = kind === 'video'
          ? { video: { width: { ideal: 640 }, height: { ideal: 480 } } }
          : { audio: true };
        const stream = await navigator.mediaDevices.getUserMedia(constraints);
        tracks.push(...stream.getTracks());
      } catch (e) {
        problems.push(Media.describe(kind, e));
      }
    }
    return { stream: new MediaStream(tracks), problems };
  },

  describe(kind, error) {
    const device = kind === 'video' ? 'camera' : 'microphone';
    switch (error && error.name) {
      case 'NotAllowedError':
      case 'SecurityError':
        return `No ${device}: permission was refused. Allow it in the address bar and reload.`;
      case 'NotFoundError':
      case 'OverconstrainedError':
        return `No ${device} found: the other side will not ${kind === 'video' ? 'see' : 'hear'} you.`;
      case 'NotReadableError':
      case 'AbortError':
        return `The ${device} is busy or broken (another program may be using it).`;
      default:
        return `No ${device}: ${error && error.message ? error.message : error}`;
    }
  },
};
