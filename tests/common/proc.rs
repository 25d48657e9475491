//! A peercall process a test started: killed when the test ends (a failed assertion must not
//! leave calls running), its log read as it comes, its JSON report read at the end. Set
//! `NET_LINKS_LOG` to see the logs of passing runs too.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A process killed when the test ends (a failed assertion must not leave calls running), its
/// log read as it comes.
pub struct Proc {
    pub child: Option<Child>,
    pub log: Arc<Mutex<String>>,
    pub reader: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Proc {
    pub fn spawn(command: &mut Command) -> Proc {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start peercall");
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().expect("stderr");
        let sink = log.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut log = sink.lock().unwrap_or_else(|p| p.into_inner());
                log.push_str(&line);
                log.push('\n');
            }
        });
        Proc {
            child: Some(child),
            log,
            reader: Some(reader),
        }
    }

    /// Waits until the log holds `text`.
    pub fn wait_for_log(&self, text: &str, within: Duration) {
        let deadline = Instant::now() + within;
        while !self.log.lock().unwrap().contains(text) {
            assert!(
                Instant::now() < deadline,
                "no {text:?} in:\n{}",
                self.log.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts peercall with `args`, as `command` (e.g. `ip netns exec NS peercall`) says, logging
    /// at info (or as `NET_LINKS_LOG` says).
    pub fn peercall(mut command: Command, args: &[&str]) -> Proc {
        command.args(args).env(
            "RUST_LOG",
            std::env::var("NET_LINKS_LOG").unwrap_or_else(|_| "warn,peercall=info".into()),
        );
        Proc::spawn(&mut command)
    }

    /// Starts `peercall serve` (as `command` says) and reads the WebSocket URL it prints.
    pub fn serve(command: &mut Command) -> (Proc, String) {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the server");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("server output");
        let http = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected server output: {line}"))
            .to_string();
        let ws = format!("{}/ws", http.replacen("http", "ws", 1));
        let server = Proc {
            child: Some(child),
            log: Arc::default(),
            reader: None,
        };
        (server, ws)
    }

    pub fn report(self) -> Value {
        self.finish().0
    }

    /// The report, and everything the process logged.
    pub fn finish(mut self) -> (Value, String) {
        let mut child = self.child.take().expect("a process");
        let mut stdout = String::new();
        child
            .stdout
            .take()
            .expect("stdout")
            .read_to_string(&mut stdout)
            .expect("read the report");
        let status = child.wait().expect("wait for peercall");
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        if std::env::var_os("NET_LINKS_LOG").is_some() {
            println!("{}", self.log.lock().unwrap());
        }
        assert!(
            status.success(),
            "peercall failed: {status}\n{}",
            self.log.lock().unwrap()
        );
        let report = serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("report is not JSON ({e}): {stdout}"));
        let log = self.log.lock().unwrap().clone();
        (report, log)
    }
}
