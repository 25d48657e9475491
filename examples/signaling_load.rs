//! Load figures for `peercall serve`: relay latency with 1 000 others connected, relay throughput
//! with the server pinned to one core, and server RSS with 1 000 and 10 000 idle connections.
//!
//! Run through `scripts/bench-signaling.sh` (it builds in release and raises the file limit).
//! The server is a separate process (`taskset -c 0 peercall serve`), so its RSS and CPU are its own.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

struct ServerProcess {
    child: Child,
    url: String,
}

impl ServerProcess {
    fn start(bin: &str) -> ServerProcess {
        let mut child = Command::new("taskset")
            .args(["-c", "0", bin, "serve", "--bind", "127.0.0.1:0"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the server");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .trim_start_matches("listening on http://")
            .to_string();
        ServerProcess {
            child,
            url: format!("ws://{addr}/ws"),
        }
    }

    fn status_field(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find(|l| l.starts_with(field))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    fn rss_mib(&self) -> f64 {
        self.status_field("VmRSS:") as f64 / 1024.0
    }

    /// User + system CPU seconds so far.
    fn cpu_s(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap();
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        let f: Vec<&str> = after.split_whitespace().collect();
        let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
        ticks as f64 / 100.0
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn connect(url: &str) -> Ws {
    tokio_tungstenite::connect_async(url)
        .await
        .expect("connect")
        .0
}

async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::text(v.to_string())).await.unwrap();
}

async fn recv(ws: &mut Ws) -> Value {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => return serde_json::from_str(&t).unwrap(),
            Some(Ok(_)) => continue,
            other => panic!("connection ended: {other:?}"),
        }
    }
}

async fn recv_type(ws: &mut Ws, kind: &str) -> Value {
    loop {
        let v = recv(ws).await;
        if v["type"] == kind {
            return v;
        }
    }
}

/// Registers `n` clients whose readers drain whatever arrives (presence) in the background.
async fn idle_clients(
    url: &str,
    prefix: &str,
    n: usize,
    register: bool,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let mut ws = connect(url).await;
        if register {
            send(
                &mut ws,
                json!({"type":"register","id":format!("{prefix}{i}")}),
            )
            .await;
            recv_type(&mut ws, "peers").await;
        }
        tasks.push(tokio::spawn(async move {
            while let Some(Ok(_)) = ws.next().await {}
        }));
    }
    tasks
}

/// Two registered clients in an accepted call.
async fn call_pair(url: &str, a: &str, b: &str) -> (Ws, Ws, String) {
    let mut x = connect(url).await;
    let mut y = connect(url).await;
    send(&mut x, json!({"type":"register","id":a})).await;
    recv_type(&mut x, "peers").await;
    send(&mut y, json!({"type":"register","id":b})).await;
    recv_type(&mut y, "peers").await;
    let call_id = format!("{a}-{b}");
    send(&mut x, json!({"type":"call","to":b,"call_id":call_id})).await;
    recv_type(&mut y, "incoming").await;
    send(&mut y, json!({"type":"accept","call_id":call_id})).await;
    recv_type(&mut x, "accepted").await;
    (x, y, call_id)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn latency(url: &str) {
    let idle = idle_clients(url, "idle", 1000, true).await;
    let (mut a, mut b, call_id) = call_pair(url, "lat-a", "lat-b").await;
    let mut samples = Vec::new();
    // 45 a second: under the rate limit, as a call's signaling is.
    let mut tick = tokio::time::interval(Duration::from_micros(22_222));
    for n in 0..450 {
        tick.tick().await;
        let sent = Instant::now();
        send(&mut a, json!({"type":"signal","call_id":call_id,"data":{"candidate":{"candidate":format!("candidate:{n}"),"sdpMid":"0","sdpMLineIndex":0}}})).await;
        recv_type(&mut b, "signal").await;
        samples.push(sent.elapsed().as_secs_f64() * 1000.0);
    }
    samples.sort_by(|x, y| x.partial_cmp(y).unwrap());
    println!(
        "relay latency with 1000 others connected: p50 {:.3} ms, p99 {:.3} ms ({} samples)",
        percentile(&samples, 0.5),
        percentile(&samples, 0.99),
        samples.len()
    );
    for t in idle {
        t.abort();
    }
}

async fn throughput(server: &ServerProcess, pairs: usize, secs: u64) {
    let received = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for p in 0..pairs {
        let (mut a, mut b, call_id) =
            call_pair(&server.url, &format!("tx{p}"), &format!("rx{p}")).await;
        let counter = received.clone();
        tasks.push(tokio::spawn(async move {
            while let Some(Ok(m)) = b.next().await {
                if matches!(m, Message::Text(_)) {
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
        tasks.push(tokio::spawn(async move {
            let text =
                json!({"type":"signal","call_id":call_id,"data":{"candidate":null}}).to_string();
            let mut tick = tokio::time::interval(Duration::from_millis(21));
            loop {
                tick.tick().await;
                if a.send(Message::text(text.clone())).await.is_err() {
                    break;
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (n0, cpu0, t0) = (
        received.load(Ordering::Relaxed),
        server.cpu_s(),
        Instant::now(),
    );
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let (n1, cpu1, t1) = (
        received.load(Ordering::Relaxed),
        server.cpu_s(),
        Instant::now(),
    );
    let wall = (t1 - t0).as_secs_f64();
    let rate = (n1 - n0) as f64 / wall;
    let cpu = (cpu1 - cpu0) / wall;
    println!(
        "relay throughput, {pairs} calls at ~48 msg/s each: {rate:.0} msg/s delivered, server at {:.0}% of one core → ~{:.0} msg/s per core",
        cpu * 100.0,
        rate / cpu.max(0.01)
    );
    for t in tasks {
        t.abort();
    }
}

fn server_bin() -> String {
    std::env::args().nth(1).unwrap_or_else(|| {
        let exe = std::env::current_exe().unwrap();
        exe.parent()
            .unwrap()
            .parent()
            .unwrap()
            .join("peercall")
            .display()
            .to_string()
    })
}

/// `signaling_load [SERVER_BIN] [latency] [throughput] [idle]`: the named phases, or all.
#[tokio::main]
async fn main() {
    let bin = server_bin();
    let phases: Vec<String> = std::env::args().skip(2).collect();
    let run = |phase: &str| phases.is_empty() || phases.iter().any(|p| p == phase);
    if run("latency") {
        let server = ServerProcess::start(&bin);
        println!("server idle: RSS {:.1} MiB", server.rss_mib());
        latency(&server.url).await;
        println!(
            "server with 1000 registered clients: RSS {:.1} MiB",
            server.rss_mib()
        );
    }
    if run("throughput") {
        let server = ServerProcess::start(&bin);
        throughput(&server, 500, 5).await;
    }
    if run("idle") {
        // 10 000 registered would measure presence: each join goes to everyone (50 M messages,
        // which this one client process cannot read as fast as the server sends). So: 1 000 and
        // 10 000 registered-free connections, and 1 000 registered.
        for (n, register) in [(1_000, true), (1_000, false), (10_000, false)] {
            let server = ServerProcess::start(&bin);
            let started = Instant::now();
            let idle = idle_clients(&server.url, "idle-", n, register).await;
            tokio::time::sleep(Duration::from_secs(3)).await;
            println!(
                "server with {n} idle connections ({}): RSS {:.1} MiB (set up in {:.1} s)",
                if register {
                    "registered"
                } else {
                    "not registered"
                },
                server.rss_mib(),
                started.elapsed().as_secs_f64()
            );
            for task in idle {
                task.abort();
            }
        }
    }
}
