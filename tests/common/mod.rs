//! Shared test helpers: a real server on 127.0.0.1:0 and a raw WebSocket client speaking JSON.
#![allow(dead_code)]

pub mod files;
pub mod xvfb;

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use peercall::server::{RunningServer, Server, ServerConfig};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub const WAIT: Duration = Duration::from_secs(10);

pub async fn start_server(config: ServerConfig) -> RunningServer {
    let config = ServerConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        ..config
    };
    Server::bind(config).await.expect("bind").spawn()
}

pub struct RawClient {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

/// What the next read produced.
#[derive(Debug)]
pub enum Read {
    Json(Value),
    Closed(Option<u16>),
}

impl RawClient {
    pub async fn connect(url: &str) -> RawClient {
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("connect");
        RawClient { ws }
    }

    /// Connects and registers as `id`, consuming `registered` and `peers`.
    pub async fn registered(url: &str, id: &str) -> RawClient {
        let mut c = RawClient::connect(url).await;
        c.send(json!({"type":"register","id":id})).await;
        let reg = c.recv().await;
        assert_eq!(reg["type"], "registered", "{reg}");
        assert_eq!(reg["id"], id);
        let peers = c.recv().await;
        assert_eq!(peers["type"], "peers", "{peers}");
        c
    }

    pub async fn send(&mut self, value: Value) {
        self.send_text(value.to_string()).await;
    }

    pub async fn send_text(&mut self, text: String) {
        self.ws.send(Message::text(text)).await.expect("send");
    }

    pub async fn read(&mut self) -> Read {
        loop {
            let frame = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("timed out waiting for a frame");
            match frame {
                Some(Ok(Message::Text(t))) => {
                    return Read::Json(serde_json::from_str(&t).expect("server sent JSON"))
                }
                Some(Ok(Message::Close(frame))) => {
                    return Read::Closed(frame.map(|f| u16::from(f.code)))
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return Read::Closed(None),
            }
        }
    }

    pub async fn recv(&mut self) -> Value {
        match self.read().await {
            Read::Json(v) => v,
            Read::Closed(code) => {
                panic!("connection closed ({code:?}) while waiting for a message")
            }
        }
    }

    /// Reads until a message of `kind` arrives, skipping presence chatter.
    pub async fn recv_type(&mut self, kind: &str) -> Value {
        loop {
            let v = self.recv().await;
            if v["type"] == kind {
                return v;
            }
            assert!(
                matches!(
                    v["type"].as_str(),
                    Some("peer_joined" | "peer_left" | "peers")
                ),
                "expected {kind}, got {v}"
            );
        }
    }

    pub async fn expect_error(&mut self, code: &str) -> Value {
        let v = self.recv_type("error").await;
        assert_eq!(v["code"], code, "{v}");
        assert!(v["message"].is_string(), "{v}");
        v
    }

    /// Asserts nothing but presence arrives within `d`.
    pub async fn quiet_for(&mut self, d: Duration) {
        let deadline = tokio::time::Instant::now() + d;
        loop {
            match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return,
                Ok(Some(Ok(Message::Text(t)))) => {
                    let v: Value = serde_json::from_str(&t).unwrap();
                    assert!(
                        matches!(v["type"].as_str(), Some("peer_joined" | "peer_left")),
                        "unexpected {v}"
                    );
                }
                Ok(other) => panic!("unexpected {other:?}"),
            }
        }
    }
}

// ---- calls ----------------------------------------------------------------------------------

use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use peercall::call::media_setup::{AudioChoice, MediaSetup, SpeakerChoice, VideoChoice};
use peercall::call::peer::NetworkSettings;
use peercall::call::{CallEngine, CallEvent, EngineConfig};
use signaling_client::{Signaling, WsOptions, WsSignaling};
use tokio::sync::mpsc::Receiver;

/// Tests in one file that run real calls take turns: on two cores, calls in parallel would
/// measure the machine's overload rather than peercall.
pub static ONE_CALL_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A child process that is killed if the test ends before it does (a failed assertion must not
/// leave calls running that slow every later test down).
pub struct Proc(Option<Child>);

impl Proc {
    pub fn spawn(command: &mut Command) -> Proc {
        Proc(Some(command.spawn().expect("start a process")))
    }

    pub fn id(&self) -> u32 {
        self.0.as_ref().map_or(0, Child::id)
    }

    pub fn kill(&mut self) {
        if let Some(child) = self.0.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Hands the process over; it is no longer killed on drop.
    pub fn take(mut self) -> Child {
        self.0.take().expect("a process")
    }

    pub fn stdin(&mut self) -> Option<std::process::ChildStdin> {
        self.0.as_mut()?.stdin.take()
    }

    pub fn stderr(&mut self) -> Option<std::process::ChildStderr> {
        self.0.as_mut()?.stderr.take()
    }

    /// The lines the process prints, as they come (read on a thread of their own). Its log is
    /// read too, its last lines kept in the returned tail: a long-lived process whose log pipe
    /// nobody reads stops dead when the pipe fills.
    pub fn stdout_lines(
        &mut self,
    ) -> (
        tokio::sync::mpsc::UnboundedReceiver<String>,
        Arc<Mutex<VecDeque<String>>>,
    ) {
        use std::io::BufRead;
        let child = self.0.as_mut().expect("a process");
        let stdout = child.stdout.take().expect("a piped stdout");
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let tail = Arc::new(Mutex::new(VecDeque::new()));
        if let Some(stderr) = child.stderr.take() {
            let tail = tail.clone();
            std::thread::spawn(move || {
                for line in std::io::BufReader::new(stderr)
                    .lines()
                    .map_while(Result::ok)
                {
                    let mut tail = tail.lock().unwrap();
                    if tail.len() == 200 {
                        tail.pop_front();
                    }
                    tail.push_back(line);
                }
            });
        }
        (rx, tail)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A headless `peercall` process (`call` or `answer`) on loopback.
/// `PEERCALL_TEST_LOGS=1` shows its log (with `RUST_LOG`) instead of keeping it for failures.
pub fn spawn_headless(args: &[&str]) -> Proc {
    spawn_headless_with_env(args, &[])
}

/// [`spawn_headless`] with `env` set for the process.
pub fn spawn_headless_with_env(args: &[&str], env: &[(&str, &str)]) -> Proc {
    let stderr = if std::env::var_os("PEERCALL_TEST_LOGS").is_some() {
        Stdio::inherit()
    } else {
        Stdio::piped()
    };
    Proc::spawn(
        Command::new(env!("CARGO_BIN_EXE_peercall"))
            .args(args)
            .arg("--loopback")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(stderr),
    )
}

/// Waits for a headless process (off the runtime, which serves the test's server meanwhile) and
/// parses the report it printed.
pub async fn report_of(process: Proc) -> Value {
    let child = process.take();
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .expect("wait for peercall");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "peercall failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("report is not JSON ({e}): {stdout}"))
}

/// bob answers (with `bob_args`) and, once he is online, alice dials him (with `alice_args`); both
/// headless on the server at `url`.
pub async fn bob_then_alice(url: &str, bob_args: &[&str], alice_args: &[&str]) -> (Proc, Proc) {
    bob_then_alice_with_env(url, bob_args, &[], alice_args).await
}

/// [`bob_then_alice`] with `bob_env` set for bob's process.
pub async fn bob_then_alice_with_env(
    url: &str,
    bob_args: &[&str],
    bob_env: &[(&str, &str)],
    alice_args: &[&str],
) -> (Proc, Proc) {
    let mut bob = vec!["answer", "--server", url, "--id", "bob"];
    bob.extend_from_slice(bob_args);
    let bob = spawn_headless_with_env(&bob, bob_env);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut alice = vec!["call", "--server", url, "--id", "alice", "--dial", "bob"];
    alice.extend_from_slice(alice_args);
    (bob, spawn_headless(&alice))
}

/// A headless member `id` of room `room` on the server at `url`, with `args` after.
pub fn room_member(url: &str, room: &str, id: &str, args: &[&str]) -> Proc {
    let mut all = vec!["call", "--server", url, "--id", id, "--room", room];
    all.extend_from_slice(args);
    spawn_headless(&all)
}

/// A report's `remote_events` as (code, value) pairs.
pub fn remote_events(report: &Value) -> Vec<(String, Value)> {
    report["remote_events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["code"].as_str().unwrap().to_string(), e["value"].clone()))
        .collect()
}

/// A report's `remote_events` with `code`, as their values in order.
pub fn said(report: &Value, code: &str) -> Vec<Value> {
    remote_events(report)
        .into_iter()
        .filter(|(c, _)| c == code)
        .map(|(_, v)| v)
        .collect()
}

/// The entry of `participants` about `id` (a room's member, or a two-party call's other side).
pub fn participant<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == id)
        .unwrap_or_else(|| panic!("{id} is not among {}", report["participants"]))
}

/// A call engine in this process, registered as `id` on the server.
pub async fn engine(url: &str, id: &str, video: &str) -> (CallEngine, Receiver<CallEvent>) {
    let signaling = WsSignaling::connect(url, WsOptions::default())
        .await
        .expect("connect");
    let events = signaling.take_events().unwrap();
    signaling.register(Some(id.into())).await.expect("register");
    let setup = media_setup(video);
    let config = EngineConfig {
        network: NetworkSettings::loopback(),
        ..EngineConfig::default()
    };
    let signaling: Arc<dyn Signaling> = Arc::new(signaling);
    CallEngine::start(signaling, events, setup, config)
}

/// Synthetic media: `video` as given, a 440 Hz tone, received audio analysed.
pub fn media_setup(video: &str) -> MediaSetup {
    MediaSetup::new(
        video.parse::<VideoChoice>().unwrap(),
        "synthetic:440".parse::<AudioChoice>().unwrap(),
        SpeakerChoice::Analyzer,
    )
}

/// The next event that `pick` accepts, skipping others; panics after `within`.
pub async fn next_event(
    events: &mut Receiver<CallEvent>,
    within: Duration,
    mut pick: impl FnMut(&CallEvent) -> bool,
) -> CallEvent {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let e = tokio::time::timeout_at(deadline, events.recv())
            .await
            .expect("timed out waiting for a call event")
            .expect("the engine stopped");
        if pick(&e) {
            return e;
        }
    }
}
