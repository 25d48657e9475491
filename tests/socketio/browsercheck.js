#!/usr/bin/env node
// Browser-to-browser check of the test pages against the reference servers: headless Chromium
// (fake camera, fake microphone playing 880 Hz) driven over CDP with the `ws` package, two tabs
// per call. Proves the pages themselves work before peercall is put on one side.
//
//   node browsercheck.js [--only room|https|onev1]     (PEERCALL_CHROMIUM overrides /usr/bin/chromium)
//
// Exit 0 when every check passes; ends with "N passed, N failed".
'use strict';

const { spawn, spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const WebSocket = require('ws');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : null;
const children = [];
let passed = 0;
let failed = 0;
let skipped = 0;

function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

function startServer(script, extraArgs = []) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(__dirname, script), '0', ...extraArgs], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    const srv = { child, stdout: '', stderr: '' };
    child.stdout.on('data', (d) => {
      srv.stdout += d;
      const m = /^listening on (\d+)\n/.exec(srv.stdout);
      if (m && !srv.port) {
        srv.port = Number(m[1]);
        resolve(srv);
      }
    });
    child.stderr.on('data', (d) => { srv.stderr += d; });
    child.on('exit', (code) => reject(new Error(`${script} exited ${code}: ${srv.stderr}`)));
  });
}

function writeToneWav(file, hz = 880) {
  const rate = 48000;
  const n = rate * 4;
  const buf = Buffer.alloc(44 + n * 2);
  buf.write('RIFF', 0);
  buf.writeUInt32LE(36 + n * 2, 4);
  buf.write('WAVEfmt ', 8);
  buf.writeUInt32LE(16, 16);
  buf.writeUInt16LE(1, 20);
  buf.writeUInt16LE(1, 22);
  buf.writeUInt32LE(rate, 24);
  buf.writeUInt32LE(rate * 2, 28);
  buf.writeUInt16LE(2, 32);
  buf.writeUInt16LE(16, 34);
  buf.write('data', 36);
  buf.writeUInt32LE(n * 2, 40);
  for (let i = 0; i < n; i++) buf.writeInt16LE(Math.round(0.3 * Math.sin((2 * Math.PI * hz * i) / rate) * 32767), 44 + i * 2);
  fs.writeFileSync(file, buf);
}

// A minimal CDP client: one browser connection, flat sessions per tab.
class Browser {
  static async launch() {
    const exe = process.env.PEERCALL_CHROMIUM || '/usr/bin/chromium';
    const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'peercall-sio-chromium-'));
    const tone = path.join(profile, 'tone.wav');
    writeToneWav(tone);
    const child = spawn(exe, [
      '--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--no-default-browser-check', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--disable-extensions', '--disable-dev-shm-usage',
      '--disable-background-timer-throttling', '--disable-renderer-backgrounding',
      '--disable-backgrounding-occluded-windows', '--allow-loopback-in-peer-connection',
      '--autoplay-policy=no-user-gesture-required',
      '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1 , EXCLUDE localhost',
      '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
      `--use-file-for-fake-audio-capture=${tone}`,
      '--disable-features=WebRtcHideLocalIpsWithMdns',
      '--ignore-certificate-errors',
      `--user-data-dir=${profile}`, '--remote-debugging-port=0', 'about:blank',
    ], { stdio: ['ignore', 'ignore', 'pipe'] });
    children.push(child);
    const wsUrl = await new Promise((resolve, reject) => {
      let err = '';
      child.stderr.on('data', (d) => {
        err += d;
        const m = /DevTools listening on (ws:\/\/\S+)/.exec(err);
        if (m) resolve(m[1]);
      });
      child.on('exit', (code) => reject(new Error(`chromium exited ${code}: ${err}`)));
      setTimeout(() => reject(new Error(`chromium did not start: ${err}`)), 30000);
    });
    const b = new Browser();
    b.child = child;
    b.profile = profile;
    b.ws = new WebSocket(wsUrl, { perMessageDeflate: false, maxPayload: 256 * 1024 * 1024 });
    b.nextId = 1;
    b.pending = new Map();
    b.ws.on('message', (d) => {
      const msg = JSON.parse(d.toString());
      if (msg.id && b.pending.has(msg.id)) {
        const { resolve, reject } = b.pending.get(msg.id);
        b.pending.delete(msg.id);
        if (msg.error) reject(new Error(JSON.stringify(msg.error)));
        else resolve(msg.result);
      }
    });
    await new Promise((resolve, reject) => { b.ws.on('open', resolve); b.ws.on('error', reject); });
    return b;
  }

  send(method, params = {}, sessionId) {
    const id = this.nextId++;
    const msg = { id, method, params };
    if (sessionId) msg.sessionId = sessionId;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.ws.send(JSON.stringify(msg));
    });
  }

  async open(url) {
    const { targetId } = await this.send('Target.createTarget', { url: 'about:blank' });
    const { sessionId } = await this.send('Target.attachToTarget', { targetId, flatten: true });
    await this.send('Page.enable', {}, sessionId);
    await this.send('Page.navigate', { url }, sessionId);
    const tab = new Tab(this, sessionId, targetId, url);
    await tab.waitFor("document.readyState === 'complete' && typeof window.callState === 'string'");
    return tab;
  }

  async close() {
    try { await this.send('Browser.close'); } catch (e) { /* gone */ }
    await sleep(300);
    this.child.kill('SIGTERM');
    fs.rmSync(this.profile, { recursive: true, force: true });
  }
}

class Tab {
  constructor(browser, sessionId, targetId, url) {
    Object.assign(this, { browser, sessionId, targetId, url });
  }

  async eval(expression) {
    const r = await this.browser.send('Runtime.evaluate', {
      expression: `(async () => (${expression}))()`,
      awaitPromise: true,
      returnByValue: true,
    }, this.sessionId);
    if (r.exceptionDetails) throw new Error(`${expression}: ${JSON.stringify(r.exceptionDetails.exception || r.exceptionDetails)}`);
    return r.result.value;
  }

  async waitFor(expression, ms = 60000) {
    const end = Date.now() + ms;
    for (;;) {
      const v = await this.eval(`(${expression}) || null`).catch(() => null);
      if (v) return v;
      if (Date.now() > end) {
        const log = await this.eval('window.testLog').catch(() => null);
        throw new Error(`timed out waiting for ${expression} in ${this.url}\n      ${(log || []).join('\n      ')}`);
      }
      await sleep(200);
    }
  }

  async screenshot(file) {
    const { data } = await this.browser.send('Page.captureScreenshot', { format: 'png' }, this.sessionId);
    fs.writeFileSync(file, Buffer.from(data, 'base64'));
  }

  async close() {
    await this.browser.send('Target.closeTarget', { targetId: this.targetId });
  }
}

async function check(name, fn) {
  try {
    await fn();
    passed++;
    console.log(`ok - ${name}`);
  } catch (e) {
    failed++;
    console.log(`not ok - ${name}\n    ${e.message}`);
  }
}

// Both sides decode video, receive opus and hear the 880 Hz tone.
async function mediaFlows(tab, who) {
  const stats = await tab.waitFor('window.stats().then((s) => s.video.framesDecoded > 10 && s.audio.packetsReceived > 50 ? s : null)', 60000);
  assert(/video\/(VP8|VP9|H264|AV1)/i.test(stats.video.codec), `${who} video codec ${stats.video.codec}`);
  assert(stats.audio.codec === 'audio/opus', `${who} audio codec ${stats.audio.codec}`);
  assert(stats.audio.totalSamplesReceived > 0, `${who} no audio samples`);
  const hz = await tab.waitFor('(() => { const hz = window.toneHz(); return Math.abs(hz - 880) < 15 ? hz : null; })()', 30000);
  return { stats, hz };
}

async function roomCall(browser, base, label) {
  const room = `bc-${label}-${Date.now()}`;
  let a;
  let b;
  await check(`${label}: two room.html tabs connect, chat both ways, media and the 880 Hz tone flow`, async () => {
    a = await browser.open(`${base}/room.html?room=${room}&chat=hello-from-a`);
    await a.waitFor("window.isInitiator === true && window.mediaReady");
    b = await browser.open(`${base}/room.html?room=${room}&chat=hello-from-b`);
    await a.waitFor("window.callState === 'connected'");
    await b.waitFor("window.callState === 'connected'");
    await a.waitFor("window.chatReceived.includes('hello-from-b')");
    await b.waitFor("window.chatReceived.includes('hello-from-a')");
    const label1 = await b.eval("window.pc && (async () => 'ok')()");
    assert(label1 === 'ok', 'pc');
    await b.eval("window.sendChat('second line')");
    await a.waitFor("window.chatReceived.includes('second line')");
    const ma = await mediaFlows(a, 'initiator');
    const mb = await mediaFlows(b, 'joiner');
    console.log(`    initiator: ${JSON.stringify(ma)}\n    joiner:    ${JSON.stringify(mb)}`);
  });
  await check(`${label}: a third tab gets full`, async () => {
    const c = await browser.open(`${base}/room.html?room=${room}`);
    await c.waitFor("window.callState === 'full'", 20000);
    await c.close();
  });
  await check(`${label}: hangUp sends bye; the other side ends`, async () => {
    if (process.env.SCREENSHOTS) await b.screenshot(path.join(process.env.SCREENSHOTS, `${label.replace(/\W+/g, '_')}.png`));
    await a.eval('window.hangUp()');
    await b.waitFor("window.callState === 'ended'", 20000);
    assert((await a.eval('window.callState')) === 'ended', 'caller state');
  });
  if (a) await a.close();
  if (b) await b.close();
}

async function onev1Calls(browser, base) {
  const room = `bc-onev1-${Date.now()}`;
  let alice;
  let bob;
  await check('onev1: bob dials alice, alice accepts: connected, media and the 880 Hz tone flow both ways', async () => {
    alice = await browser.open(`${base}/onev1.html?room=${room}&account=alice`);
    await alice.waitFor("window.users.some((u) => u.account === 'alice') && window.mediaReady");
    bob = await browser.open(`${base}/onev1.html?room=${room}&account=bob&dial=alice`);
    await bob.waitFor("window.callState === 'connected'");
    await alice.waitFor("window.callState === 'connected'");
    const ma = await mediaFlows(alice, 'callee');
    const mb = await mediaFlows(bob, 'caller');
    console.log(`    callee: ${JSON.stringify(ma)}\n    caller: ${JSON.stringify(mb)}`);
  });
  await check('onev1: a third account dialing alice during the call gets busy', async () => {
    const carol = await browser.open(`${base}/onev1.html?room=${room}&account=carol&dial=alice`);
    await carol.waitFor("window.callState === 'busy'", 20000);
    await carol.close();
  });
  await check('onev1: hangUp sends 1v1hangup; the other side ends', async () => {
    if (process.env.SCREENSHOTS) await alice.screenshot(path.join(process.env.SCREENSHOTS, 'onev1.png'));
    await bob.eval('window.hangUp()');
    await alice.waitFor("window.callState === 'ended'", 20000);
  });
  await check('onev1: a callee that answers 2 declines', async () => {
    const dave = await browser.open(`${base}/onev1.html?room=${room}&account=dave&answer=2`);
    await dave.waitFor("window.users.some((u) => u.account === 'dave')");
    const erin = await browser.open(`${base}/onev1.html?room=${room}&account=erin&dial=dave`);
    await erin.waitFor("window.callState === 'declined'", 20000);
    await dave.close();
    await erin.close();
  });
  if (alice) await alice.close();
  if (bob) await bob.close();
}

(async () => {
  if (!fs.existsSync(process.env.PEERCALL_CHROMIUM || '/usr/bin/chromium')) {
    skipped++;
    console.log('ok - browser checks # SKIP no chromium');
    return;
  }
  const browser = await Browser.launch();
  try {
    if (!only || only === 'room') {
      const room = await startServer('room_server.js');
      await roomCall(browser, `http://127.0.0.1:${room.port}`, 'room http');
    }
    if (!only || only === 'https') {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'peercall-sio-tls-'));
      const gen = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
        '-nodes', '-days', '1', '-subj', '/CN=localhost', '-keyout', path.join(dir, 'k.pem'), '-out', path.join(dir, 'c.pem')]);
      if (gen.status === 0) {
        const room = await startServer('room_server.js', [path.join(dir, 'c.pem'), path.join(dir, 'k.pem')]);
        await roomCall(browser, `https://localhost:${room.port}`, 'room https');
        room.child.kill('SIGTERM');
      } else {
        skipped++;
        console.log('ok - room https # SKIP openssl failed');
      }
      fs.rmSync(dir, { recursive: true, force: true });
    }
    if (!only || only === 'onev1') {
      const onev1 = await startServer('onev1_server.js');
      await onev1Calls(browser, `http://127.0.0.1:${onev1.port}`);
    }
  } finally {
    await browser.close();
  }
})()
  .catch((e) => {
    failed++;
    console.log(`not ok - setup\n    ${e.stack}`);
  })
  .finally(async () => {
    for (const c of children) c.kill('SIGTERM');
    await sleep(200);
    console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
    process.exit(failed ? 1 : 0);
  });
