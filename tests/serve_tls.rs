//! `peercall serve` with TLS as a person would run it: the fingerprint and `https://` lines, and
//! a `WsSignaling` that trusts the server only by that fingerprint.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use signaling_client::{Signaling, TlsTrust, WsOptions, WsSignaling};

/// Starts `peercall serve` with `args`; returns it with its fingerprint and https address.
fn serve(args: &[&str]) -> (Child, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_peercall"))
        .args(["serve", "--bind", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start peercall serve");
    let found = read_tls_lines(BufReader::new(child.stdout.take().unwrap()));
    match found {
        Ok((fingerprint, addr)) => (child, fingerprint, addr),
        Err(why) => {
            stop(child);
            panic!("{why}");
        }
    }
}

/// The fingerprint line, then `listening on https://ADDR`.
fn read_tls_lines(out: impl BufRead) -> Result<(String, String), String> {
    let mut fingerprint = None;
    for line in out.lines() {
        let line = line.map_err(|e| e.to_string())?;
        if let Some(f) = line.strip_prefix("certificate SHA-256 ") {
            fingerprint = Some(f.to_string());
        } else if let Some(addr) = line.strip_prefix("listening on https://") {
            let fingerprint = fingerprint.ok_or("no fingerprint before the address")?;
            return Ok((fingerprint, addr.to_string()));
        } else if line.starts_with("listening on") {
            return Err(format!("not https: {line}"));
        }
    }
    Err("peercall serve ended without a listening line".into())
}

async fn register_with(addr: &str, tls: TlsTrust) -> Result<String, String> {
    let options = WsOptions {
        tls,
        reconnect: false,
        ..WsOptions::default()
    };
    let signaling = WsSignaling::connect(&format!("wss://{addr}/ws"), options)
        .await
        .map_err(|e| e.to_string())?;
    let _events = signaling.take_events();
    let registration = signaling
        .register(Some("pinned".into()))
        .await
        .map_err(|e| e.to_string())?;
    Ok(registration.id)
}

fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test]
async fn a_self_signed_server_is_trusted_by_its_printed_fingerprint_only() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (child, fingerprint, addr) = serve(&["--tls-self-signed"]);
    let pin = TlsTrust::pinned_from_hex(&fingerprint).expect("a printed fingerprint parses");
    assert_eq!(register_with(&addr, pin).await.unwrap(), "pinned");
    assert!(register_with(&addr, TlsTrust::AcceptInvalid).await.is_ok());
    let refused = register_with(&addr, TlsTrust::WebPki).await.unwrap_err();
    assert!(refused.contains("certificate"), "{refused}");
    let wrong = TlsTrust::PinnedSha256([7; 32]);
    assert!(register_with(&addr, wrong).await.is_err());
    stop(child);
}

#[tokio::test]
async fn a_server_uses_the_given_pem_files() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = std::env::temp_dir().join(format!("peercall-serve-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    let expected = peercall::server::tls::fingerprint_hex(&peercall::server::tls::sha256(
        certified.cert.der(),
    ));

    let (child, fingerprint, addr) = serve(&[
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    assert_eq!(fingerprint, expected);
    let pin = TlsTrust::pinned_from_hex(&fingerprint).unwrap();
    assert!(register_with(&addr, pin).await.is_ok());
    stop(child);

    // A key file that is not a key: a clear error, not a panic.
    let out = Command::new(env!("CARGO_BIN_EXE_peercall"))
        .args(["serve", "--bind", "127.0.0.1:0", "--tls-cert"])
        .arg(&cert)
        .arg("--tls-key")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("private key"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The app's embedded server: plain for this computer, https on a second port for browsers on
/// the LAN, one switchboard behind both; its certificate is kept, so the fingerprint people
/// compared stays the same next start.
#[tokio::test]
async fn one_server_on_plain_and_tls_ports_with_a_kept_certificate() {
    use peercall::server::tls::TlsIdentity;
    use peercall::server::{Server, ServerConfig};
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = std::env::temp_dir().join(format!("peercall-kept-tls-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    let identity = TlsIdentity::kept_in(&dir, &names).unwrap();
    let again = TlsIdentity::kept_in(&dir, &names).unwrap();
    assert_eq!(identity.fingerprint_hex(), again.fingerprint_hex(), "kept");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.join("key.pem"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o077, 0, "the key is for its user only: {mode:o}");

    let fingerprint = identity.fingerprint_hex();
    let mut server = Server::bind(ServerConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    server
        .also_tls("127.0.0.1:0".parse().unwrap(), identity)
        .await
        .unwrap();
    let running = server.spawn();
    let tls_addr = running.tls_addr.expect("a TLS address");
    // This computer, plain; a browser's way in, TLS (trusted by the fingerprint): the same hub.
    let plain = WsSignaling::connect(&running.ws_url(), WsOptions::default())
        .await
        .unwrap();
    let _plain_events = plain.take_events();
    plain.register(Some("app".into())).await.unwrap();
    let options = WsOptions {
        tls: TlsTrust::pinned_from_hex(&fingerprint).unwrap(),
        reconnect: false,
        ..WsOptions::default()
    };
    let secure = WsSignaling::connect(&format!("wss://{tls_addr}/ws"), options)
        .await
        .unwrap();
    let _secure_events = secure.take_events();
    secure.register(Some("browser".into())).await.unwrap();
    let mut online = secure.presence().unwrap();
    let seen = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        online.wait_for(|peers| peers.iter().any(|p| p == "app")),
    )
    .await;
    assert!(seen.is_ok(), "the TLS client does not see the plain one");
    running.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}
