//! Fuzz targets for every parser of outside input, run by bolero's random engine on stable Rust.
//!
//! `cargo test --test fuzz` runs each target for `BOLERO_RANDOM_TEST_TIME_MS` (1 s by default;
//! `scripts/test.sh` gives 10 s, `scripts/fuzz.sh` 60 s or more). A failure prints the input and
//! its `BOLERO_RANDOM_SEED`; it then becomes a regression test beside the code it broke.
//!
//! Inputs start from real messages (see `mutate`): a target checks that nothing panics, that
//! what parses survives a round trip, and that what comes out stays within our limits.

mod mutate;

use std::panic::AssertUnwindSafe;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use bytes::Bytes;
use mutate::{mutate_bytes, mutate_json, mutate_sdp, Choices};
use peercall::call::control::{ControlMessage, Parsed};
use peercall::call::media_setup::VideoChoice;
use peercall::call::peer::{BitrateLimits, NetworkSettings, Peer, PeerEvent, PeerEvents};
use peercall::call::vp8_assembler::{Assembled, Vp8Assembler};
use peercall::call::Role;
use peercall::media::jitter_buffer::{JitterBuffer, JitterConfig, Playout};
use peercall::media::opus_codec::{OpusDecoder, OpusEncoder};
use peercall::media::test_pattern::{TestPattern, TestPatternSource};
use peercall::media::vp8::{Vp8Config, Vp8Decoder, Vp8Encoder, MAX_DECODED_SIZE};
use peercall::media::{AudioBlock, BLOCK_SAMPLES};
use peercall::ui::settings::Settings;
use signaling_client::protocol::{
    ClientMessage, IceCandidate, SdpKind, ServerMessage, SessionDescription, MAX_FRAME_BYTES,
    MAX_SERVER_FRAME_BYTES,
};
use signaling_client::switchboard::{Switchboard, SwitchboardConfig};

/// Runs `target` on random inputs of up to 2 KiB (bolero's plain byte slices stop at 64 bytes:
/// too few for a sequence of packets or edits).
fn fuzz(mut target: impl FnMut(&[u8]) + std::panic::RefUnwindSafe) {
    bolero::check!()
        .with_generator(bolero::produce::<Vec<u8>>().with().len(0usize..2048))
        .for_each(|bytes: &Vec<u8>| target(bytes));
}

const CLIENT_MESSAGES: &[&str] = &[
    r#"{"type":"register","id":"alice"}"#,
    r#"{"type":"register"}"#,
    r#"{"type":"call","to":"bob","call_id":"c1"}"#,
    r#"{"type":"accept","call_id":"c1"}"#,
    r#"{"type":"reject","call_id":"c1","reason":"busy"}"#,
    r#"{"type":"signal","call_id":"c1","data":{"sdp":{"type":"offer","sdp":"v=0\r\n"}}}"#,
    r#"{"type":"signal","call_id":"c1","data":{"candidate":{"candidate":"candidate:1 1 udp 1 10.0.0.1 9 typ host","sdpMid":"0","sdpMLineIndex":0}}}"#,
    r#"{"type":"signal","call_id":"c1","data":{"candidate":null}}"#,
    r#"{"type":"hangup","call_id":"c1"}"#,
];

const SERVER_MESSAGES: &[&str] = &[
    r#"{"type":"registered","id":"alice","protocol":1,"ice_servers":[{"urls":["turn:h:3478"],"username":"u","credential":"p"}]}"#,
    r#"{"type":"peers","peers":["bob","carol"]}"#,
    r#"{"type":"peer_joined","id":"bob"}"#,
    r#"{"type":"peer_left","id":"bob"}"#,
    r#"{"type":"incoming","from":"bob","call_id":"c1"}"#,
    r#"{"type":"accepted","from":"bob","call_id":"c1"}"#,
    r#"{"type":"rejected","from":"bob","call_id":"c1","reason":"declined"}"#,
    r#"{"type":"signal","from":"bob","call_id":"c1","data":{"sdp":{"type":"answer","sdp":"v=0\r\n"}}}"#,
    r#"{"type":"hangup","from":"bob","call_id":"c1","reason":"gone"}"#,
    r#"{"type":"error","code":"unknown_peer","message":"no such peer","call_id":"c1"}"#,
];

const CONTROL_MESSAGES: &[&str] = &[
    r#"{"code":"mute_audio","value":true}"#,
    r#"{"code":"mute_video","value":false}"#,
    r#"{"code":"reject"}"#,
    r#"{"code":"chat","text":"hello"}"#,
];

const SETTINGS: &str = r#"id = "alice"
server = "wss://example.org:8443"
camera = "synthetic:640x480@30"
microphone = "synthetic:440"
speaker = "analyzer"
ice_servers = ["stun:stun.example.org:3478", "turn:u:p@turn.example.org:3478"]
accept_self_signed = false
pinned_certificate = "ab:cd"
"#;

/// The client side of the wire: whatever parses serialises back to the same message.
#[test]
fn fuzz_client_messages() {
    fuzz(|bytes| {
        let mut choices = Choices::new(bytes);
        let text = mutate_json(choices.pick::<&str>(CLIENT_MESSAGES), &mut choices);
        if let Ok(message) = ClientMessage::parse(&text) {
            assert_eq!(ClientMessage::parse(&message.to_json()), Ok(message));
        }
    });
}

#[test]
fn fuzz_server_messages() {
    fuzz(|bytes| {
        let mut choices = Choices::new(bytes);
        let text = mutate_json(choices.pick::<&str>(SERVER_MESSAGES), &mut choices);
        if let Ok(message) = ServerMessage::parse(&text) {
            assert_eq!(ServerMessage::parse(&message.to_json()), Ok(message));
        }
    });
}

/// The server's rules under any sequence of (possibly mutated) messages from three clients that
/// come and go: deliveries go only to connected clients and fit in a server frame, and when all leave
/// nothing remains.
#[test]
fn fuzz_switchboard() {
    fuzz(|bytes| {
        let mut choices = Choices::new(bytes);
        let mut board = Switchboard::new(SwitchboardConfig {
            ring_timeout: Duration::from_secs(1),
            ..Default::default()
        });
        let mut clients = vec![board.connect(), board.connect(), board.connect()];
        let mut now = Instant::now();
        let mut out = Vec::new();
        while !choices.is_empty() {
            let who = choices.below(clients.len());
            match choices.byte() % 8 {
                0 => {
                    board.disconnect(clients[who], &mut out);
                    clients[who] = board.connect();
                }
                1 => {
                    now += Duration::from_millis(choices.below(2000) as u64);
                    board.expire(now, &mut out);
                }
                _ => {
                    let text = mutate_json(choices.pick::<&str>(CLIENT_MESSAGES), &mut choices);
                    // The server closes a connection over a frame before parsing it.
                    if text.len() > MAX_FRAME_BYTES {
                        continue;
                    }
                    if let Ok(message) = ClientMessage::parse(&text) {
                        board.handle(clients[who], message, now, &mut out);
                    }
                }
            }
            for delivery in out.drain(..) {
                for to in board.recipients(&delivery) {
                    assert!(clients.contains(&to), "{delivery:?} to a departed client");
                }
                let Some(message) = delivery.message() else {
                    continue;
                };
                let json = message.to_json();
                assert!(
                    json.len() <= MAX_SERVER_FRAME_BYTES,
                    "{} bytes: over a server frame: {json:.300}",
                    json.len()
                );
            }
        }
        for client in clients {
            board.disconnect(client, &mut out);
        }
        assert_eq!(board.registered_count(), 0);
        assert_eq!(board.live_calls(), 0);
    });
}

#[test]
fn fuzz_control_messages() {
    fuzz(|bytes| {
        let mut choices = Choices::new(bytes);
        let text = mutate_json(choices.pick::<&str>(CONTROL_MESSAGES), &mut choices);
        if let Parsed::Message(message) = ControlMessage::parse(&text) {
            let again = ControlMessage::parse(&message.to_json());
            assert!(matches!(again, Parsed::Message(m) if m == message));
        }
    });
}

/// A settings file the user edited by hand: it loads or says why, and every source it names
/// either opens within our limits or is refused.
#[test]
fn fuzz_settings() {
    fuzz(|bytes| {
        let mut choices = Choices::new(bytes);
        let text = mutate_json(SETTINGS, &mut choices);
        let Ok(settings) = Settings::from_toml(&text) else {
            return;
        };
        assert_eq!(
            Settings::from_toml(&settings.to_toml()).as_ref(),
            Ok(&settings)
        );
        let _ = settings.problems();
        if let Ok(VideoChoice::Synthetic { width, height, fps }) = settings.video() {
            let (max_w, max_h) = MAX_DECODED_SIZE;
            assert!(width * height <= max_w * max_h, "{width}x{height}");
            TestPatternSource::new(width, height, fps).expect("an accepted size opens");
        }
    });
}

/// Real VP8 frames of the test pattern: a keyframe and the deltas after it.
fn vp8_frames() -> &'static [Vec<u8>] {
    static FRAMES: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    FRAMES.get_or_init(|| {
        let pattern = TestPattern::new(160, 120).unwrap();
        let mut encoder = Vp8Encoder::new(&Vp8Config::new(160, 120, 30, 300)).unwrap();
        let mut frames = Vec::new();
        for n in 0..8 {
            let frame = pattern.render(n, u64::from(n) * 33_333);
            for encoded in encoder.encode(&frame, false).unwrap() {
                frames.push(encoded.data);
            }
        }
        frames
    })
}

/// Decodes frames the way the receive pipeline does, checking what comes out.
fn decode_all(decoder: &mut Vp8Decoder, frames: impl IntoIterator<Item = Vec<u8>>) {
    for data in frames {
        if let Ok(Some(frame)) = decoder.decode(&data, 0) {
            assert!(frame.width <= MAX_DECODED_SIZE.0 && frame.height <= MAX_DECODED_SIZE.0);
            frame.validate().expect("a decoded frame is well formed");
        }
    }
}

#[test]
fn fuzz_vp8_decoder() {
    let mut decoder = AssertUnwindSafe(Vp8Decoder::new().unwrap());
    fuzz(|bytes| {
        let mut choices = Choices::new(bytes);
        let frames = vp8_frames();
        let count = 1 + choices.below(frames.len());
        let mutated: Vec<Vec<u8>> = frames[..count]
            .iter()
            .map(|f| {
                if choices.byte().is_multiple_of(2) {
                    mutate_bytes(f, &mut choices)
                } else {
                    f.clone()
                }
            })
            .collect();
        decode_all(&mut decoder, mutated);
    });
}

/// RTP packets of VP8 in any order, size and sequence, then decoded.
#[test]
fn fuzz_vp8_assembler() {
    fuzz(|bytes| {
        let mut choices = Choices::new(bytes);
        let mut assembler = Vp8Assembler::new();
        let mut decoder = Vp8Decoder::new().unwrap();
        let mut now = Instant::now();
        let mut seq = choices.u16();
        let mut ts = choices.u32();
        let mut pushed = 0usize;
        let mut out_bytes = 0usize;
        while !choices.is_empty() {
            let mut ready = Vec::new();
            match choices.byte() % 6 {
                0 => {
                    now += Duration::from_millis(choices.below(400) as u64);
                    ready.extend(assembler.tick(now));
                }
                1 => {
                    seq = choices.u16();
                    ts = choices.u32();
                }
                _ => {
                    // A piece of a real frame behind a descriptor (S bit or not), maybe bent.
                    let frame = choices.pick(vp8_frames());
                    let start = choices.below(frame.len());
                    let len = 1 + choices.below(1200);
                    let piece = &frame[start..(start + len).min(frame.len())];
                    let mut payload = vec![if start == 0 { 0x10 } else { 0x00 }];
                    payload.extend_from_slice(piece);
                    if choices.byte().is_multiple_of(4) {
                        payload = mutate_bytes(&payload, &mut choices);
                    }
                    pushed += payload.len();
                    let marker = start + len >= frame.len() || choices.byte().is_multiple_of(8);
                    seq = seq.wrapping_add(choices.below(4) as u16);
                    if choices.byte().is_multiple_of(4) {
                        ts = ts.wrapping_add(3000);
                    }
                    ready.extend(assembler.push(seq, ts, marker, &Bytes::from(payload), now));
                }
            }
            let frames: Vec<Vec<u8>> = ready
                .into_iter()
                .filter_map(|a| match a {
                    Assembled::Frame(f) => Some(f.data.to_vec()),
                    Assembled::NeedKeyframe => None,
                })
                .collect();
            out_bytes += frames.iter().map(Vec::len).sum::<usize>();
            assert!(out_bytes <= pushed, "frames hold more than the packets did");
            decode_all(&mut decoder, frames);
        }
    });
}

/// Real Opus packets of a tone, mutated, through every decoding path.
#[test]
fn fuzz_opus_decoder() {
    static PACKETS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    let packets = PACKETS.get_or_init(|| {
        let mut encoder = OpusEncoder::new(32_000).unwrap();
        encoder.set_packet_loss_perc(20).unwrap();
        (0..10)
            .map(|n| {
                let samples: Vec<i16> = (0..BLOCK_SAMPLES)
                    .map(|i| {
                        let t = (n * BLOCK_SAMPLES + i) as f64 / 48_000.0;
                        ((t * 440.0 * std::f64::consts::TAU).sin() * 8000.0) as i16
                    })
                    .collect();
                let block = AudioBlock::from_slice(&samples, 0).unwrap();
                encoder.encode(&block).unwrap()
            })
            .collect()
    });
    fuzz(|bytes| {
        let mut choices = Choices::new(bytes);
        let mut decoder = OpusDecoder::new().unwrap();
        while !choices.is_empty() {
            let seed: &Vec<u8> = choices.pick(packets);
            let packet = mutate_bytes(seed, &mut choices);
            let _ = match choices.byte() % 4 {
                0 => decoder.decode(&packet, 0),
                1 => decoder.decode_fec(&packet),
                2 => decoder.decode_lost(),
                _ => {
                    let playout = Playout::Conceal {
                        seq: 0,
                        next_payload: Some(packet),
                    };
                    Ok(decoder.decode_playout(&playout).0)
                }
            };
        }
    });
}

/// Packets with any sequence numbers, timestamps and arrival times, popped at any times: the
/// buffer stays within its packet bound and every pop ends.
#[test]
fn fuzz_jitter_buffer() {
    fuzz(|bytes| {
        let mut choices = Choices::new(bytes);
        let config = JitterConfig::default();
        let max_packets = config.max_packets as u64;
        let mut buffer = JitterBuffer::new(config);
        let mut now = u64::from(choices.u32());
        let (mut seq, mut ts) = (choices.u16(), choices.u32());
        while !choices.is_empty() {
            match choices.byte() % 5 {
                0 => {
                    now = now.saturating_add(u64::from(choices.u16()) * 100);
                    let _ = buffer.pop(now);
                }
                1 => {
                    // Wild jumps: anything a hostile sender may write.
                    seq = choices.u16();
                    ts = choices.u32();
                    if choices.byte().is_multiple_of(8) {
                        now = u64::from(choices.u32()) << choices.below(32);
                    }
                }
                _ => {
                    seq = seq.wrapping_add(choices.below(3) as u16);
                    ts = ts.wrapping_add(960 * choices.below(3) as u32);
                    let payload = choices.bytes(8).to_vec();
                    buffer.push(seq, ts, payload, now);
                }
            }
            assert!(buffer.stats().buffered_packets <= max_packets);
        }
    });
}

/// A real offer and answer from webrtc-rs, for the SDP target to bend.
struct Descriptions {
    offer: String,
    answer: String,
}

async fn next_description(
    events: &mut tokio::sync::mpsc::Receiver<(peercall::call::peer::ConnectionId, PeerEvent)>,
) -> String {
    loop {
        match events.recv().await.expect("peer events").1 {
            PeerEvent::LocalDescription(d) => return d.sdp,
            _ => continue,
        }
    }
}

fn descriptions(runtime: &tokio::runtime::Runtime) -> Descriptions {
    runtime.block_on(async {
        let network = NetworkSettings::loopback();
        let (tx, mut rx) = PeerEvents::channel();
        let caller = Peer::start(Role::Caller, &network, BitrateLimits::default(), None, tx)
            .await
            .unwrap();
        let offer = next_description(&mut rx).await;
        let (tx, mut rx) = PeerEvents::channel();
        let mut callee = Peer::start(Role::Callee, &network, BitrateLimits::default(), None, tx)
            .await
            .unwrap();
        callee
            .apply_remote(SessionDescription {
                kind: SdpKind::Offer,
                sdp: offer.clone(),
            })
            .await
            .unwrap();
        let answer = next_description(&mut rx).await;
        caller.close().await;
        callee.close().await;
        Descriptions { offer, answer }
    })
}

const CANDIDATE: &str = "candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host";

/// The call engine's side of remote SDP and candidates: a callee given a bent offer, or a caller
/// a bent answer, with bent candidates before and after. It answers or says why; nothing panics.
#[test]
fn fuzz_remote_descriptions() {
    let runtime = AssertUnwindSafe(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap(),
    );
    let seeds = descriptions(&runtime);
    fuzz(|bytes| {
        let mut choices = Choices::new(bytes);
        let role = if choices.byte().is_multiple_of(2) {
            Role::Callee
        } else {
            Role::Caller
        };
        runtime.block_on(async {
            let (tx, mut rx) = PeerEvents::channel();
            let network = NetworkSettings::loopback();
            let mut peer = Peer::start(role, &network, BitrateLimits::default(), None, tx)
                .await
                .unwrap();
            let (kind, seed) = match role {
                Role::Callee => (SdpKind::Offer, &seeds.offer),
                Role::Caller => {
                    next_description(&mut rx).await;
                    (SdpKind::Answer, &seeds.answer)
                }
            };
            for _ in 0..choices.below(4) {
                let _ = peer
                    .add_remote_candidate(Some(candidate(&mut choices)))
                    .await;
            }
            let sdp = mutate_sdp(seed, &mut choices);
            let applied = peer.apply_remote(SessionDescription { kind, sdp }).await;
            if applied.is_ok() && role == Role::Callee {
                let answer = next_description(&mut rx).await;
                assert!(answer.starts_with("v=0"), "an answer: {answer}");
            }
            for _ in 0..choices.below(4) {
                let _ = peer
                    .add_remote_candidate(Some(candidate(&mut choices)))
                    .await;
            }
            peer.close().await;
        });
    });
}

fn candidate(choices: &mut Choices) -> IceCandidate {
    IceCandidate {
        candidate: mutate_sdp(CANDIDATE, choices),
        sdp_mid: Some(mutate_sdp("0", choices)),
        sdp_mline_index: Some(choices.u16()),
        username_fragment: None,
    }
}
