//! The JSON report a headless call prints: setup times, media decoded, stats, cost.

use serde::Serialize;

#[derive(Debug, Default, Serialize)]
pub struct Report {
    /// The kind of signaling the call went through (`peercall`, `webrtc-call`, …).
    pub signaling: &'static str,
    pub role: &'static str,
    /// The other side (in a room, the first other member whose leg began).
    pub peer: Option<String>,
    /// The room, in a group call.
    pub room: Option<String>,
    /// Everyone else in the call, each measured on their own decoded streams.
    pub participants: Vec<ParticipantReport>,
    pub setup_ms: SetupTimes,
    pub video: VideoReport,
    pub audio: AudioReport,
    pub remote_events: Vec<RemoteEvent>,
    /// Remote events beyond the first 1000, not kept.
    pub remote_events_dropped: u64,
    pub stats: StatsReport,
    /// The way media took last (the first other person's): each end's candidate type
    /// (`host`, `srflx`, `prflx`, `relay`) and the transport.
    pub path: Option<crate::call::IcePath>,
    /// Times a connected call's path broke and the connection was made again (a network
    /// change), and how long each took from the break being noticed to media flowing again.
    pub ice_restarts: u32,
    pub reconnect_ms: Vec<f64>,
    /// When each break was noticed, ms after the call connected (lined up with `timeline`).
    pub path_lost_ms: Vec<f64>,
    /// How much later audio plays than the matching video shows, ms (from the sync marks in the
    /// other side's synthetic tone and its test pattern's capture times).
    pub av_sync_ms: Option<f64>,
    /// `cpu_s`, `peak_rss_mb`, `rss_mb`, `open_fds`: what the process has cost so far.
    #[serde(flatten)]
    pub process: ProcessCost,
    pub ended: Option<Ended>,
    /// Cumulative media counts every 250 ms of the connected call: media stopping and resuming
    /// (mute) shows here.
    pub timeline: Vec<TimelinePoint>,
    /// Problems that did not end the call (no camera, …).
    pub errors: Vec<String>,
    /// Every file transfer that ended during the call, either way.
    pub files: Vec<FileReport>,
    /// The code to read to the other side (the first other person's): see `call::verify`.
    pub verification_code: Option<String>,
    /// Screen sharing: ours as sent, the first other person's as received.
    pub share: ShareReport,
}

#[derive(Debug, Default, Serialize)]
pub struct ShareReport {
    pub sent: Option<ShareSent>,
    pub received: Option<ShareReceived>,
}

/// Our shared screen.
#[derive(Debug, Default, Serialize)]
pub struct ShareSent {
    /// When sharing started (wall clock, to line up with the other side's report).
    pub started_unix_ms: f64,
    pub frames_sent: u64,
    /// Pictures not sent because the screen had not changed.
    pub frames_unchanged: u64,
    pub keyframes: u64,
    pub size: Option<[u32; 2]>,
    /// Capture, conversion and encoding per frame sent, ms of CPU.
    pub work_ms_per_frame: Option<f64>,
}

/// The other side's shared screen.
#[derive(Debug, Default, Serialize)]
pub struct ShareReceived {
    pub frames_decoded: u64,
    pub size: Option<[u32; 2]>,
    /// Decoded frames a second between the first and the last.
    pub fps: Option<f64>,
    /// From their `screen_share` saying on to the first decoded frame, ms.
    pub first_frame_ms: Option<f64>,
    pub first_frame_unix_ms: Option<f64>,
    /// Whether they still shared when the call ended.
    pub on_at_end: bool,
    /// Where `--save-frame` wrote the last decoded picture.
    pub saved_frame: Option<String>,
}

/// One file transfer's end.
#[derive(Debug, Serialize)]
pub struct FileReport {
    pub peer: String,
    /// `sent` or `received`.
    pub direction: &'static str,
    /// As kept (received: made safe).
    pub name: String,
    /// Bytes, for a finished transfer.
    pub size: u64,
    /// `done`, `declined`, `cancelled`, `cancelled_by_them` or `failed`.
    pub outcome: &'static str,
    pub detail: Option<String>,
    /// Where the file is (received: checked against its SHA-256 before it was kept).
    pub path: Option<String>,
    pub secs: Option<f64>,
    /// Throughput, megabits a second.
    pub mbps: Option<f64>,
}

/// Milliseconds from the dial (caller) or from `incoming` (callee).
#[derive(Debug, Default, Serialize)]
pub struct SetupTimes {
    /// Wall clock (ms since the UNIX epoch) when media connected: what `timeline` and
    /// `remote_events` count from, so two reports can be lined up.
    pub connected_unix_ms: Option<f64>,
    pub ringing: Option<f64>,
    pub accepted: Option<f64>,
    pub ice_connected: Option<f64>,
    pub connected: Option<f64>,
    pub first_frame: Option<f64>,
    /// Connections started over because the first did not come up.
    pub reconnects: u32,
}

#[derive(Debug, Default, Serialize)]
pub struct VideoReport {
    /// The size of the last frame decoded, `[width, height]`.
    pub size: Option<[u32; 2]>,
    /// Frames the connection accepted from our encoder (really sent), and frames encoded.
    pub frames_sent: u64,
    pub frames_encoded: u64,
    pub frames_decoded: u64,
    /// Test-pattern counters read back from decoded frames.
    pub counters_read: u64,
    pub counter_gaps: Option<u64>,
    pub last_counter: Option<u32>,
    pub keyframes_requested: u64,
    pub keyframes_sent_on_request: u64,
    /// Source frames not encoded because the link could not take them.
    pub frames_skipped: u64,
    /// Frames refused because they declared a picture larger than we decode (3840×2160).
    pub frames_rejected: u64,
    pub latency_ms: Latency,
    /// Waits for the next decoded frame long enough to see (W3C's freeze definition), and the
    /// longest wait between two decoded frames.
    pub freezes: Freezes,
}

#[derive(Debug, Default, Serialize)]
pub struct Freezes {
    pub count: u64,
    pub longest_ms: f64,
}

#[derive(Debug, Default, Serialize)]
pub struct Latency {
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    /// The 95th percentile after the first three seconds: once the sender has found the link.
    pub p95_steady: Option<f64>,
}

#[derive(Debug, Default, Serialize)]
pub struct AudioReport {
    /// Blocks the connection accepted (really sent), and blocks encoded.
    pub blocks_sent: u64,
    pub blocks_encoded: u64,
    /// Blocks decoded from their own packet.
    pub blocks_decoded: u64,
    /// Lost blocks extrapolated by the decoder (packet-loss concealment).
    pub blocks_concealed: u64,
    /// The longest stretch with nothing to play once audio had started, ms.
    pub longest_silence_ms: f64,
    /// The dominant frequency of the decoded audio (the other side's tone).
    pub tone_hz: Option<f64>,
    pub level_dbfs: Option<f64>,
    /// With `--measure-tones`: the level of each tone in the first other person's audio, half a
    /// second at a time.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tones_dbfs: Vec<TonesPoint>,
    /// What cleaned our microphone before it was sent (absent without a microphone).
    pub processing: Option<ProcessingReport>,
}

#[derive(Debug, Default, Serialize)]
pub struct TonesPoint {
    /// The window's end, ms after media connected (as `timeline`).
    pub t_ms: f64,
    /// Each tone's level by its frequency ("440": -23.5), dBFS of RMS.
    pub tones: std::collections::BTreeMap<String, f64>,
    /// Everything in the window.
    pub level_dbfs: f64,
}

/// Echo cancellation, noise suppression and gain control on our microphone.
#[derive(Debug, Default, Serialize)]
pub struct ProcessingReport {
    /// The stages that ran: "aec", "ns", "agc" (empty: the microphone went out as captured).
    pub stages: Vec<&'static str>,
    /// The library doing it.
    pub engine: &'static str,
    /// 10 ms frames processed, and those the echo canceller had no speaker audio for.
    pub frames: u64,
    pub frames_without_reference: u64,
    /// When the speaker's audio first reached the echo canceller (ms since the UNIX epoch): it
    /// learns the echo from there.
    pub reference_since_unix_ms: Option<u64>,
    /// The microphone's level before and after processing, over the last second (dBFS).
    pub input_dbfs: Option<f64>,
    pub output_dbfs: Option<f64>,
    /// The echo canceller's echo return loss enhancement at the end, dB.
    pub erle_db: Option<f64>,
    /// The echo delay it found, ms.
    pub delay_ms: Option<f64>,
    /// How many times the echo's path moved (a device skipped) and our reference was moved back
    /// into step with it.
    pub realignments: u64,
    /// The gain control's gain at the end, dB.
    pub gain_db: Option<f64>,
    /// CPU per 10 ms frame, µs (the mean over the call).
    pub us_per_frame: Option<f64>,
}

/// One other person in the call.
#[derive(Debug, Default, Serialize)]
pub struct ParticipantReport {
    pub id: String,
    pub video: ParticipantVideo,
    pub audio: ParticipantAudio,
    /// Their control messages (mute, camera, chat).
    pub remote_events: Vec<RemoteEvent>,
    /// When their leg began and ended, ms from the start (the dial, `incoming`, or joining
    /// the room).
    pub joined_ms: Option<f64>,
    pub left_ms: Option<f64>,
    /// Our leg to them: what left for them (all media, kbit/s over the leg's life), what
    /// congestion control allowed at the end, and the round trip.
    pub link: ParticipantLink,
    /// Their shared screen, as decoded.
    pub share: ParticipantShare,
}

#[derive(Debug, Default, Serialize)]
pub struct ParticipantShare {
    pub frames_decoded: u64,
    pub size: Option<[u32; 2]>,
    /// Whether they said they share when the call ended.
    pub on_at_end: bool,
}

#[derive(Debug, Default, Serialize)]
pub struct ParticipantLink {
    pub sent_kbps: Option<f64>,
    pub target_kbps: Option<f64>,
    pub rtt_ms: Option<f64>,
}

#[derive(Debug, Default, Serialize)]
pub struct ParticipantVideo {
    /// Their first decoded frame, ms from the start.
    pub first_frame_ms: Option<f64>,
    pub frames_decoded: u64,
    pub counters_read: u64,
    pub counter_gaps: Option<u64>,
    pub last_counter: Option<u32>,
    pub size: Option<[u32; 2]>,
    pub latency_ms: Latency,
}

#[derive(Debug, Default, Serialize)]
pub struct ParticipantAudio {
    pub blocks_decoded: u64,
    pub tone_hz: Option<f64>,
    pub level_dbfs: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RemoteEvent {
    /// Who sent it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    pub t_ms: f64,
    pub code: String,
    pub value: serde_json::Value,
    /// A chat line (also in `value`), as the control message `{"code":"chat","text":…}` has it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

#[derive(Debug, Default, Serialize)]
pub struct StatsReport {
    pub rtt_ms: Option<f64>,
    pub packets_lost: Option<i64>,
    pub bitrate_out_kbps: Option<f64>,
    pub bitrate_in_kbps: Option<f64>,
    pub target_kbps: Option<f64>,
    /// Lost video packets we asked for again (NACK), and how many of them came back.
    pub nack_sent: u64,
    pub nack_repaired: u64,
    /// Retransmissions we sent because the other side asked, and those asked for that did not
    /// fit the retransmission allowance.
    pub rtx_sent: u64,
    pub rtx_dropped: u64,
    /// Lost audio blocks rebuilt from the next packet's redundancy (Opus in-band FEC).
    pub fec_recovered: u64,
    /// Video packets our pacer dropped because its queue was full.
    pub pacer_dropped: u64,
}

#[derive(Debug, Serialize)]
pub struct TimelinePoint {
    /// Since media connected.
    pub t_ms: f64,
    pub frames_decoded: u64,
    pub blocks_decoded: u64,
    pub frames_sent: u64,
    pub keyframes_requested: u64,
    /// What congestion control allowed at that moment, and what left (all media), kbit/s.
    pub target_kbps: f64,
    pub bitrate_out_kbps: f64,
    /// The size of the last frame encoded, `[width, height]`.
    pub sent_size: Option<[u32; 2]>,
    /// Glass-to-glass latency of the frames decoded since the previous point (95th percentile).
    pub latency_p95_ms: Option<f64>,
    /// Frames of the other side's shared screen decoded so far.
    pub share_frames_decoded: u64,
}

#[derive(Debug, Serialize)]
pub struct Ended {
    pub by: &'static str,
    pub reason: String,
    pub detail: String,
    /// Wall clock (ms since the UNIX epoch) when it ended.
    pub at_unix_ms: f64,
}

/// What the process has used up to now (Linux `/proc`; zeros elsewhere).
#[derive(Debug, Default, Clone, Serialize)]
pub struct ProcessCost {
    /// CPU time, user and system, seconds.
    pub cpu_s: f64,
    /// The most memory resident at once, MiB.
    pub peak_rss_mb: f64,
    /// Memory resident now, MiB: after many calls, what a leak would grow.
    pub rss_mb: f64,
    /// File descriptors open now (sockets among them).
    pub open_fds: u64,
}

impl ProcessCost {
    pub fn now() -> ProcessCost {
        let cpu_s = std::fs::read_to_string("/proc/self/stat")
            .ok()
            .and_then(|stat| {
                let after = stat.get(stat.rfind(')')? + 2..)?.to_string();
                let fields: Vec<&str> = after.split_whitespace().collect();
                let ticks: f64 =
                    fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
                Some(ticks / 100.0)
            })
            .unwrap_or(0.0);
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let mib = |key: &str| {
            status
                .lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
                .map_or(0.0, |kib| kib / 1024.0)
        };
        let open_fds = std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as u64);
        ProcessCost {
            cpu_s,
            peak_rss_mb: mib("VmHWM:"),
            rss_mb: mib("VmRSS:"),
            // Less the one read_dir itself held open.
            open_fds: open_fds.saturating_sub(1),
        }
    }
}
