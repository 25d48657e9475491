//! No server: two headless peercalls, each with `--signaling manual`, hand each other their
//! lines through pipes (as a person would copy them); the call completes with media both ways.
//! Lines that are not ours, or damaged, are refused in words and reading goes on.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::Proc;
use serde_json::Value;

fn spawn_manual(args: &[&str], report: &std::path::Path) -> Proc {
    Proc::spawn(
        Command::new(env!("CARGO_BIN_EXE_peercall"))
            .args(args)
            .args(["--signaling", "manual", "--loopback"])
            .args(["--video", "synthetic:320x240@15"])
            .arg("--report")
            .arg(report)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    )
}

async fn line_starting(
    lines: &mut tokio::sync::mpsc::UnboundedReceiver<String>,
    prefix: &str,
) -> String {
    let wait = async {
        while let Some(line) = lines.recv().await {
            if line.starts_with(prefix) {
                return line;
            }
        }
        panic!("the process ended without printing a {prefix} line");
    };
    tokio::time::timeout(Duration::from_secs(20), wait)
        .await
        .unwrap_or_else(|_| panic!("no {prefix} line within 20 s"))
}

async fn wait_exit(process: Proc) -> std::process::ExitStatus {
    let mut child = process.take();
    tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .expect("wait for peercall")
}

fn read_report(path: &std::path::Path) -> Value {
    let text = std::fs::read_to_string(path).expect("a report was written");
    serde_json::from_str(&text).expect("the report is JSON")
}

#[tokio::test(flavor = "multi_thread")]
async fn two_peercalls_call_by_copying_one_line_each_way() {
    let dir = std::env::temp_dir().join(format!("peercall-manual-{}", rand::random::<u32>()));
    std::fs::create_dir_all(&dir).unwrap();
    let (caller_report, callee_report) = (dir.join("caller.json"), dir.join("callee.json"));
    let mut callee = spawn_manual(
        &[
            "answer",
            "--auto-accept",
            "--wait",
            "60",
            "--audio",
            "synthetic:1000",
        ],
        &callee_report,
    );
    let mut caller = spawn_manual(
        &[
            "call",
            "--dial",
            "a friend",
            "--duration",
            "5",
            "--audio",
            "synthetic:440",
            "--mute-video-at",
            "2",
        ],
        &caller_report,
    );
    let (mut callee_out, callee_log) = callee.stdout_lines();
    let (mut caller_out, caller_log) = caller.stdout_lines();
    let mut callee_in = callee.stdin().unwrap();
    let mut caller_in = caller.stdin().unwrap();

    let offer = line_starting(&mut caller_out, "peercall-offer:").await;
    assert!(
        offer.len() < 16 * 1024 && !offer.contains(' '),
        "one line to copy: {} bytes",
        offer.len()
    );
    // What a person might paste by mistake first: refused, and the callee goes on reading.
    writeln!(callee_in, "hello, here is my line").unwrap();
    writeln!(callee_in, "{}", &offer[..offer.len() / 2]).unwrap();
    writeln!(callee_in, "{offer}").unwrap();
    let answer = line_starting(&mut callee_out, "peercall-answer:").await;
    // An offer pasted where the answer belongs is refused too.
    writeln!(caller_in, "{offer}").unwrap();
    writeln!(caller_in, "{answer}").unwrap();

    let caller_status = wait_exit(caller).await;
    let callee_status = wait_exit(callee).await;
    let logs = |log: &std::sync::Arc<std::sync::Mutex<std::collections::VecDeque<String>>>| {
        log.lock()
            .unwrap()
            .iter()
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert!(caller_status.success(), "{}", logs(&caller_log));
    assert!(callee_status.success(), "{}", logs(&callee_log));
    let callee_said = logs(&callee_log);
    assert!(callee_said.contains("not a peercall line"), "{callee_said}");
    assert!(callee_said.contains("damaged"), "{callee_said}");
    let caller_said = logs(&caller_log);
    assert!(caller_said.contains("a call is already"), "{caller_said}");

    let (caller, callee) = (read_report(&caller_report), read_report(&callee_report));
    for (me, hz) in [(&caller, 1000.0), (&callee, 440.0)] {
        assert_eq!(me["signaling"], "manual");
        assert!(
            me["video"]["frames_decoded"].as_u64().unwrap() >= 20,
            "{}",
            me["video"]
        );
        let tone = me["audio"]["tone_hz"].as_f64().unwrap_or(0.0);
        assert!((tone - hz).abs() < 20.0, "heard {tone} Hz, not {hz}");
    }
    assert_eq!(caller["ended"]["by"], "local", "{}", caller["ended"]);
    assert_eq!(callee["ended"]["by"], "remote", "{}", callee["ended"]);
    assert!(
        common::remote_events(&callee)
            .iter()
            .any(|(code, value)| code == "mute_video" && value == true),
        "{}",
        callee["remote_events"]
    );
    let _ = std::fs::remove_dir_all(&dir);
}
