//! The command line: parse, then hand over.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use peercall::call::media_setup::{AudioChoice, SpeakerChoice, VideoChoice};
use peercall::call::peer::NetworkSettings;
use peercall::headless::{self, HeadlessOptions, Mode};
use peercall::server::tls::{TlsIdentity, TlsSource};
use peercall::server::{Server, ServerConfig, DEFAULT_BIND};
use peercall::ui::WindowOptions;
use signaling_client::switchboard::TurnConfig;
use signaling_client::{SignalingKind, TlsTrust};

#[derive(Parser)]
#[command(
    name = "peercall",
    version,
    about = "Peer-to-peer video calls. With no command, opens the window.",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    window: WindowArgs,
}

/// Overrides of the window's settings, for this run.
#[derive(Args)]
struct WindowArgs {
    /// The kind of signaling server: peercall, webrtc-call, socketio-room, socketio-1v1 or
    /// manual (see `peercall call --help`).
    #[arg(long)]
    signaling: Option<SignalingKind>,
    /// The signaling server (default: this computer's, started inside the app if none runs).
    #[arg(long)]
    server: Option<String>,
    /// On a peercall server, join this room (a group call) once connected; on a socketio-1v1
    /// server, the room whose user list to be in.
    #[arg(long)]
    room: Option<String>,
    /// Our peer ID.
    #[arg(long)]
    id: Option<String>,
    /// none | synthetic[:WxH@FPS] | camera[:N] | camera-hd[:N]
    #[arg(long)]
    video: Option<VideoChoice>,
    /// none | synthetic[:HZ] | mic[:NAME]
    #[arg(long)]
    audio: Option<AudioChoice>,
    /// none | speaker[:NAME]
    #[arg(long)]
    speaker: Option<SpeakerChoice>,
    /// Dial this peer as soon as the window is connected.
    #[arg(long)]
    dial: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the signaling server alone (it also serves the browser client page).
    Serve {
        /// Address to listen on; port 0 picks a free one.
        #[arg(long, default_value = DEFAULT_BIND)]
        bind: SocketAddr,
        /// A STUN or TURN server handed to clients (`stun:host:port`,
        /// `turn:user:password@host:port`); repeat for more.
        #[arg(long = "ice-server", value_name = "URL")]
        ice_servers: Vec<String>,
        /// Open connections at most; more are refused (503). Default: 10 000, or fewer if the
        /// process may not open that many files.
        #[arg(long)]
        max_connections: Option<usize>,
        /// People a room (a group call) holds at most: every member connects to every other,
        /// so each one's upload grows with the room.
        #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u16).range(2..=16))]
        max_room: u16,
        #[command(flatten)]
        tls: TlsArgs,
        #[command(flatten)]
        turn: TurnArgs,
    },
    /// Dial a peer without a window and print a JSON report of the call.
    Call {
        /// The peer ID to dial. With --room on a peercall server: invite them into the room.
        #[arg(long, required_unless_present = "room")]
        dial: Option<String>,
        #[command(flatten)]
        common: HeadlessArgs,
    },
    /// Wait for a call without a window and print a JSON report of it.
    Answer {
        /// Take the call at once (otherwise it is declined).
        #[arg(long)]
        auto_accept: bool,
        /// Give up when no call arrives within this many seconds.
        #[arg(long, default_value_t = 600.0)]
        wait: f64,
        /// Let the call ring this many seconds before answering.
        #[arg(long, default_value_t = 0.0)]
        ring: f64,
        /// Answer this many calls, one after another, printing each report on one line as
        /// its call ends (a long-lived callee).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
        calls: u32,
        #[command(flatten)]
        common: HeadlessArgs,
    },
}

/// HTTPS + WSS on the same port: browsers allow camera and microphone only on a secure page.
#[derive(Args)]
struct TlsArgs {
    /// Serve https with a certificate made at start-up for localhost and this machine's
    /// addresses (browsers warn once; its SHA-256 fingerprint is printed to compare).
    #[arg(long, conflicts_with_all = ["tls_cert", "tls_key"])]
    tls_self_signed: bool,
    /// Serve https with this PEM certificate chain (with --tls-key).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

impl TlsArgs {
    fn source(&self) -> Option<TlsSource> {
        if self.tls_self_signed {
            return Some(TlsSource::SelfSigned);
        }
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some(TlsSource::Files {
                cert: cert.clone(),
                key: key.clone(),
            }),
            _ => None,
        }
    }
}

#[derive(Args)]
struct HeadlessArgs {
    /// The kind of signaling server: peercall (ws:// or wss://), webrtc-call (an HTTP call-code
    /// server: http(s)://HOST/APP; --dial takes the code), socketio-room (a socket.io room server:
    /// http(s)://HOST:PORT; --dial takes the room), socketio-1v1 (a socket.io 1-to-1 server with
    /// a user list: --room ROOM --id ACCOUNT; --dial takes an account), manual (no server: our line is
    /// printed, the other side's is read from stdin; --dial takes any name).
    #[arg(long, default_value = "peercall")]
    signaling: SignalingKind,
    /// The signaling server.
    #[arg(long, default_value = "ws://127.0.0.1:8480/ws")]
    server: String,
    /// Our peer ID (the server picks one when absent); the account on a socketio-1v1 server.
    #[arg(long)]
    id: Option<String>,
    /// On a peercall server: join (or create) this room, a group call (`call --room NAME`,
    /// with --dial to invite someone in). On a socketio-1v1 server: the room to be listed in.
    #[arg(long)]
    room: Option<String>,
    /// none | synthetic[:WxH@FPS] | camera[:N] | camera-hd[:N]
    #[arg(long, default_value = "synthetic:640x480@30")]
    video: VideoChoice,
    /// none | synthetic[:HZ] | voice[:HZ] (a tone in syllables) | mic[:NAME]
    #[arg(long, default_value = "synthetic:440")]
    audio: AudioChoice,
    /// How the microphone is cleaned before it is sent: on | off | a list of aec (echo
    /// cancellation), ns (noise suppression), agc (gain control).
    #[arg(long, default_value = "on", value_name = "STAGES")]
    audio_processing: peercall::media::voice::Stages,
    /// Follow these tones' levels (Hz, comma-separated) in what the other side sends: the
    /// report's audio.tones_dbfs.
    #[arg(long, value_name = "HZ,HZ", value_delimiter = ',')]
    measure_tones: Vec<f64>,
    /// Where the other side's audio goes: analyzer | none | speaker[:NAME]
    #[arg(long, default_value = "analyzer")]
    speaker: SpeakerChoice,
    /// Seconds of connected media, then hang up (default: until the other side hangs up).
    #[arg(long)]
    duration: Option<f64>,
    /// Mute the microphone this many seconds into the call.
    #[arg(long)]
    mute_audio_at: Option<f64>,
    /// Turn the camera off this many seconds into the call.
    #[arg(long)]
    mute_video_at: Option<f64>,
    /// Unmute again this many seconds after muting.
    #[arg(long)]
    unmute_after: Option<f64>,
    /// Send a chat line this many seconds into the call.
    #[arg(long, num_args = 2, value_names = ["SECONDS", "TEXT"])]
    chat_at: Vec<String>,
    /// Add this person to the call this many seconds into it (a two-party call becomes a room).
    #[arg(long, num_args = 2, value_names = ["SECONDS", "ID"])]
    add_at: Vec<String>,
    /// Offer this file to the other side once the call connected (see --send-at); repeat for
    /// more.
    #[arg(long, value_name = "PATH")]
    send_file: Vec<PathBuf>,
    /// Seconds into the call to offer --send-file.
    #[arg(long, default_value_t = 1.0, value_name = "SECONDS")]
    send_at: f64,
    /// Where received files go (default: the Downloads folder).
    #[arg(long, value_name = "DIR")]
    receive_dir: Option<PathBuf>,
    /// Take offered files without asking (otherwise a headless peercall declines them).
    #[arg(long)]
    auto_accept_files: bool,
    /// Cancel every running file transfer this many seconds into the call.
    #[arg(long, value_name = "SECONDS")]
    cancel_file_at: Option<f64>,
    /// Share a screen in the call (see --share-at): this X11 display, or $DISPLAY without one.
    #[arg(long, value_name = "DISPLAY", num_args = 0..=1, default_missing_value = "")]
    share_screen: Option<String>,
    /// The most our camera sends: 360p15, 360p30, 480p15, 480p30, 720p15, 720p30, 1080p15 or
    /// 1080p30 (default: what the link allows).
    #[arg(long, value_name = "QUALITY")]
    video_quality: Option<peercall::call::VideoQuality>,
    /// Change the video quality this many seconds into the call.
    #[arg(long, num_args = 2, value_names = ["SECONDS", "QUALITY"])]
    quality_at: Vec<String>,
    /// Share only this monitor of the screen (its RandR name, or its index).
    #[arg(long, value_name = "MONITOR", requires = "share_screen")]
    share_monitor: Option<String>,
    /// Seconds into the call to start sharing.
    #[arg(long, default_value_t = 1.0, value_name = "SECONDS")]
    share_at: f64,
    /// Seconds into the call to stop sharing.
    #[arg(long, value_name = "SECONDS")]
    stop_share_at: Option<f64>,
    /// Frames a second of the shared screen (1-30; default 10).
    #[arg(long, value_name = "FPS")]
    share_fps: Option<u32>,
    /// When the call ends, write the other side's last shared-screen picture here as PNG.
    #[arg(long, value_name = "PATH")]
    save_frame: Option<PathBuf>,
    /// Write the JSON report here too (it always goes to stdout).
    #[arg(long)]
    report: Option<PathBuf>,
    /// A STUN or TURN server (overrides the server's list); repeat for more.
    #[arg(long = "ice-server", value_name = "URL")]
    ice_servers: Vec<String>,
    /// Keep media on 127.0.0.1 with no mDNS: for tests on one machine.
    #[arg(long)]
    loopback: bool,
    /// `relay`: only through a TURN server, so the other side never learns our address (even
    /// when a direct path exists); `all`: whatever path works best.
    #[arg(long, default_value = "all", value_parser = ["all", "relay"])]
    ice_transport: String,
    /// Offer `.local` names instead of this computer's addresses, as browsers do (the network
    /// must carry multicast).
    #[arg(long, conflicts_with = "loopback")]
    mdns_names: bool,
    /// Accept any certificate from a wss:// server (encrypted, not authenticated).
    #[arg(long, conflicts_with = "pin_cert")]
    insecure_tls: bool,
    /// Accept only the wss:// server certificate with this SHA-256 (as `peercall serve` prints).
    #[arg(long, value_name = "SHA256HEX", value_parser = parse_pin)]
    pin_cert: Option<TlsTrust>,
}

/// A TURN server that shares a secret with us (coturn's `--use-auth-secret
/// --static-auth-secret=S`): every client is handed its own credentials, valid for `--turn-ttl`.
#[derive(Args)]
struct TurnArgs {
    /// The secret shared with the TURN server.
    #[arg(long, requires = "turn_urls")]
    turn_secret: Option<String>,
    /// The TURN server as clients reach it (`turn:host:3478`); repeat for more.
    #[arg(long = "turn-url", value_name = "URL", requires = "turn_secret")]
    turn_urls: Vec<String>,
    /// How long each client's credentials work (`90s`, `30m`, `1h`, or seconds).
    #[arg(long, default_value = "1h", value_parser = parse_ttl)]
    turn_ttl: Duration,
}

impl TurnArgs {
    fn config(self) -> anyhow::Result<Option<TurnConfig>> {
        let Some(secret) = self.turn_secret else {
            return Ok(None);
        };
        if let Some(bad) = self
            .turn_urls
            .iter()
            .find(|u| !(u.starts_with("turn:") || u.starts_with("turns:")))
        {
            anyhow::bail!("--turn-url {bad:?} is not a turn: or turns: address");
        }
        Ok(Some(TurnConfig::new(secret, self.turn_urls, self.turn_ttl)))
    }
}

fn parse_ttl(s: &str) -> Result<Duration, String> {
    let (number, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{s:?} is not a duration like 90s, 30m or 1h"))?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return Err(format!("{s:?} is not a duration like 90s, 30m or 1h")),
    };
    if secs < 60 {
        return Err("--turn-ttl is at least a minute".into());
    }
    Ok(Duration::from_secs(secs))
}

fn parse_pin(s: &str) -> Result<TlsTrust, String> {
    TlsTrust::pinned_from_hex(s).map_err(|e| e.to_string())
}

fn main() -> anyhow::Result<()> {
    // ring and aws-lc-rs both end up in the tree; rustls cannot pick one by itself.
    let _ = rustls::crypto::ring::default_provider().install_default();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                "info,webrtc=warn,rtc=error,rtc_ice=error,rtc_dtls=error,rtc_interceptor=error"
                    .into()
            }),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let Some(command) = cli.command else {
        let w = cli.window;
        return peercall::ui::run(WindowOptions {
            signaling: w.signaling,
            server: w.server,
            room: w.room,
            id: w.id,
            video: w.video,
            audio: w.audio,
            speaker: w.speaker,
            dial: w.dial,
        });
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    match command {
        Command::Serve {
            bind,
            ice_servers,
            max_connections,
            max_room,
            tls,
            turn,
        } => runtime.block_on(serve(
            bind,
            ice_servers,
            max_connections,
            max_room.into(),
            tls.source(),
            turn.config()?,
        )),
        Command::Call { dial, common } => {
            // On a peercall server --room is a group call; elsewhere it is the transport's.
            let mode = match (common.signaling, common.room.clone(), dial) {
                (kind, Some(name), invite) if kind.has_rooms() => Mode::Room { name, invite },
                (_, _, Some(dial)) => Mode::Call { dial },
                (_, _, None) => anyhow::bail!("--dial PEER is needed"),
            };
            runtime.block_on(headless_call(mode, common, Duration::ZERO, 1))
        }
        Command::Answer {
            auto_accept,
            wait,
            ring,
            calls,
            common,
        } => runtime.block_on(headless_call(
            Mode::Answer {
                auto_accept,
                ring: Duration::from_secs_f64(ring.max(0.0)),
            },
            common,
            Duration::from_secs_f64(wait.max(0.0)),
            calls,
        )),
    }
}

async fn serve(
    bind: SocketAddr,
    ice_servers: Vec<String>,
    max_connections: Option<usize>,
    max_room: usize,
    tls: Option<TlsSource>,
    turn: Option<TurnConfig>,
) -> anyhow::Result<()> {
    let tls = tls
        .map(|source| TlsIdentity::load(&source, bind))
        .transpose()
        .context("setting up TLS")?;
    let mut config = ServerConfig {
        bind,
        ice_servers: headless::ice_servers(&ice_servers),
        tls: tls.clone(),
        max_room,
        turn,
        ..ServerConfig::default()
    };
    if let Some(max) = max_connections {
        config.limits.max_connections = max;
    }
    let server = Server::bind(config)
        .await
        .with_context(|| format!("cannot listen on {bind}"))?;
    if let Some(tls) = &tls {
        if !tls.names.is_empty() {
            println!("self-signed certificate for {}", tls.names.join(", "));
        }
        println!("certificate SHA-256 {}", tls.fingerprint_hex());
    }
    // Scripts read this line to learn the real port (and the scheme).
    println!("listening on {}", server.url());
    server
        .serve(async {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("shutting down");
        })
        .await
        .context("serving")
}

async fn headless_call(
    mode: Mode,
    args: HeadlessArgs,
    wait: Duration,
    calls: u32,
) -> anyhow::Result<()> {
    let mut network = if args.loopback {
        NetworkSettings::loopback()
    } else {
        NetworkSettings::default()
    };
    network.ice_servers = headless::ice_servers(&args.ice_servers);
    network.offer_mdns_names = args.mdns_names;
    network.relay_only = args.ice_transport == "relay";
    let options = HeadlessOptions {
        signaling: args.signaling,
        server: args.server,
        room: args.room,
        id: args.id,
        mode,
        video: args.video,
        audio: args.audio,
        audio_processing: args.audio_processing,
        measure_tones: args.measure_tones,
        speaker: args.speaker,
        duration: args.duration,
        mute_audio_at: args.mute_audio_at,
        mute_video_at: args.mute_video_at,
        unmute_after: args.unmute_after,
        chat_at: match args.chat_at.as_slice() {
            [at, text] => Some((
                at.parse()
                    .with_context(|| format!("--chat-at takes SECONDS, not {at:?}"))?,
                text.clone(),
            )),
            _ => None,
        },
        add_at: match args.add_at.as_slice() {
            [at, id] => Some((
                at.parse()
                    .with_context(|| format!("--add-at takes SECONDS, not {at:?}"))?,
                id.clone(),
            )),
            _ => None,
        },
        network,
        wait,
        calls,
        send_files: args.send_file,
        send_at: args.send_at,
        cancel_file_at: args.cancel_file_at,
        share: headless::ShareOptions {
            target: args
                .share_screen
                .map(|display| peercall::call::ScreenTarget {
                    display: Some(display).filter(|d| !d.is_empty()),
                    monitor: args.share_monitor,
                }),
            at: args.share_at,
            stop_at: args.stop_share_at,
        },
        share_fps: args.share_fps,
        video_quality: args.video_quality,
        quality_at: match args.quality_at.as_slice() {
            [at, quality] => Some((
                at.parse()
                    .with_context(|| format!("--quality-at takes SECONDS, not {at:?}"))?,
                quality.parse().map_err(|e: String| anyhow::anyhow!(e))?,
            )),
            _ => None,
        },
        save_frame: args.save_frame,
        files: peercall::call::FileSettings {
            receive_dir: args.receive_dir,
            auto_accept: args.auto_accept_files,
        },
        tls: match (args.insecure_tls, args.pin_cert) {
            (_, Some(pin)) => pin,
            (true, None) => TlsTrust::AcceptInvalid,
            (false, None) => TlsTrust::WebPki,
        },
    };
    // One call: the report, pretty. Several: one line each (JSON Lines), as each call ends.
    let mut written = String::new();
    let mut failed = None;
    headless::run(options, |report| {
        let json = if calls == 1 {
            serde_json::to_string_pretty(&report)
        } else {
            serde_json::to_string(&report)
        }
        .expect("a report always serializes");
        println!("{json}");
        written.push_str(&json);
        written.push('\n');
        if let Some(path) = &args.report {
            if let Err(e) = std::fs::write(path, &written) {
                failed.get_or_insert(anyhow::anyhow!("writing {}: {e}", path.display()));
            }
        }
    })
    .await?;
    failed.map_or(Ok(()), Err)
}
