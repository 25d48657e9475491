//! The node socket.io servers of tests/socketio (real socket.io 3.1.2 and 1.4.5), started and
//! stopped by the tests. Their npm packages come from the lock file (`npm ci`, run here once when
//! missing, as scripts/install-deps.sh does).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::Proc;

pub fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/socketio")
}

fn ensure_packages() {
    static ONCE: Mutex<bool> = Mutex::new(false);
    let mut done = ONCE.lock().unwrap_or_else(|p| p.into_inner());
    if *done || dir().join("node_modules/.package-lock.json").exists() {
        *done = true;
        return;
    }
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(dir())
        .status()
        .expect("npm runs (scripts/install-deps.sh installs node and npm)");
    assert!(status.success(), "npm ci in tests/socketio failed");
    *done = true;
}

pub struct NodeServer {
    pub port: u16,
    process: Proc,
    log: Arc<Mutex<std::collections::VecDeque<String>>>,
}

impl NodeServer {
    /// `node SCRIPT 0 ARGS…`, once it prints `listening on PORT`.
    pub async fn start(script: &str, args: &[&str]) -> NodeServer {
        ensure_packages();
        let mut process = Proc::spawn(
            Command::new("node")
                .arg(script)
                .arg("0")
                .args(args)
                .env("ROOM_SERVER_NO_LOG_EVENTS", "0")
                .current_dir(dir())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped()),
        );
        let (mut lines, log) = process.stdout_lines();
        let port = tokio::time::timeout(Duration::from_secs(20), async {
            while let Some(line) = lines.recv().await {
                if let Some(port) = line.strip_prefix("listening on ") {
                    return port.trim().parse::<u16>().expect("a port");
                }
            }
            panic!("{script} ended before listening");
        })
        .await
        .unwrap_or_else(|_| panic!("{script} did not listen within 20 s"));
        NodeServer { port, process, log }
    }

    /// What the server logged (its stderr), for failure messages.
    pub fn log(&self) -> String {
        let log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        log.iter().cloned().collect::<Vec<_>>().join("\n")
    }

    pub fn stop(mut self) {
        self.process.kill();
    }
}

/// A self-signed certificate for 127.0.0.1 as PEM files in a fresh directory: (cert, key).
pub fn self_signed_pem() -> (PathBuf, PathBuf) {
    let certified =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()])
            .expect("a certificate");
    let dir = std::env::temp_dir().join(format!("peercall-sio-tls-{}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    (cert, key)
}
