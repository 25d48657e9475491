//! HTTPS and WSS on the server's one port: browsers allow the camera and microphone only on a
//! secure page, and a LAN address is not `localhost`.
//!
//! The certificate is either the user's (PEM files) or made at start-up and signed by itself for
//! `localhost`, the loopback addresses and this machine's LAN address; its SHA-256 fingerprint is
//! printed so a person (or `peercall call --pin-cert`) can check what they connect to.
//! [`TlsListener`] hands axum connections that finished their handshake; handshakes run in their
//! own tasks, so one slow client does not hold up the others.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;

// One fingerprint for the certificate the server shows and the pin a client checks.
pub use signaling_client::tls::{fingerprint_hex, sha256};
use tokio_rustls::TlsAcceptor;

/// A handshake that takes longer than this is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the server's certificate comes from.
#[derive(Debug, Clone)]
pub enum TlsSource {
    /// Made at start-up for localhost, loopback and this machine's addresses.
    SelfSigned,
    /// PEM files: the certificate chain and its private key.
    Files { cert: PathBuf, key: PathBuf },
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("cannot keep the certificate in {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error("{path} holds no PEM certificate")]
    NoCertificate { path: PathBuf },
    #[error("{path} holds no usable PEM private key: {reason}")]
    BadKey { path: PathBuf, reason: String },
    #[error("cannot make a self-signed certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("the certificate and key do not make a TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// The server's certificate, ready to accept connections with.
#[derive(Clone)]
pub struct TlsIdentity {
    pub config: Arc<rustls::ServerConfig>,
    /// SHA-256 of the leaf certificate (DER), what `--pin-cert` and browsers show.
    pub fingerprint: [u8; 32],
    /// The names and addresses a self-signed certificate covers (empty for user files).
    pub names: Vec<String>,
}

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsIdentity")
            .field("fingerprint", &fingerprint_hex(&self.fingerprint))
            .field("names", &self.names)
            .finish()
    }
}

impl TlsIdentity {
    /// Loads or makes the certificate; `bind` adds its address to a self-signed one.
    pub fn load(source: &TlsSource, bind: SocketAddr) -> Result<TlsIdentity, TlsError> {
        match source {
            TlsSource::SelfSigned => Self::self_signed(&local_names(bind)),
            TlsSource::Files { cert, key } => Self::from_pem_files(cert, key),
        }
    }

    /// The self-signed certificate kept in `dir` (`cert.pem`, `key.pem`), made for `names` the
    /// first time: the same fingerprint every start, so a browser's exception and a pinned
    /// fingerprint keep working.
    pub fn kept_in(dir: &Path, names: &[String]) -> Result<TlsIdentity, TlsError> {
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        if !(cert.is_file() && key.is_file()) {
            let certified = rcgen::generate_simple_self_signed(names.to_vec())?;
            let write = |path: &Path, text: String, mode: u32| {
                use std::os::unix::fs::OpenOptionsExt;
                std::fs::create_dir_all(dir)
                    .and_then(|()| {
                        let mut file = std::fs::OpenOptions::new()
                            .write(true)
                            .create(true)
                            .truncate(true)
                            .mode(mode)
                            .open(path)?;
                        std::io::Write::write_all(&mut file, text.as_bytes())
                    })
                    .map_err(|source| TlsError::Write {
                        path: path.to_path_buf(),
                        source,
                    })
            };
            // The key is for this user's eyes only.
            write(&key, certified.signing_key.serialize_pem(), 0o600)?;
            write(&cert, certified.cert.pem(), 0o644)?;
        }
        let mut identity = Self::from_pem_files(&cert, &key)?;
        identity.names = names.to_vec();
        Ok(identity)
    }

    pub fn self_signed(names: &[String]) -> Result<TlsIdentity, TlsError> {
        let certified = rcgen::generate_simple_self_signed(names.to_vec())?;
        let cert = certified.cert.der().clone();
        let key = PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
        Self::new(vec![cert], key, names.to_vec())
    }

    pub fn from_pem_files(cert_path: &Path, key_path: &Path) -> Result<TlsIdentity, TlsError> {
        let read = |path: &Path| {
            std::fs::read(path).map_err(|source| TlsError::Read {
                path: path.to_path_buf(),
                source,
            })
        };
        let cert_pem = read(cert_path)?;
        let key_pem = read(key_path)?;
        // Unparsable PEM sections are skipped; none left is the error a person can act on.
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
            .filter_map(Result::ok)
            .collect();
        if chain.is_empty() {
            return Err(TlsError::NoCertificate {
                path: cert_path.to_path_buf(),
            });
        }
        let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| TlsError::BadKey {
            path: key_path.to_path_buf(),
            reason: e.to_string(),
        })?;
        Self::new(chain, key, Vec::new())
    }

    fn new(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
        names: Vec<String>,
    ) -> Result<TlsIdentity, TlsError> {
        let fingerprint = sha256(&chain[0]);
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
        // HTTP/1.1 only: the WebSocket upgrade needs it, and axum serves it.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsIdentity {
            config: Arc::new(config),
            fingerprint,
            names,
        })
    }

    pub fn fingerprint_hex(&self) -> String {
        fingerprint_hex(&self.fingerprint)
    }
}

/// What a self-signed certificate should cover: localhost, loopback, the bound address, and the
/// address this machine uses on its LAN.
pub fn local_names(bind: SocketAddr) -> Vec<String> {
    let mut names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    let mut add = |ip: IpAddr| {
        let s = ip.to_string();
        if !ip.is_unspecified() && !names.contains(&s) {
            names.push(s);
        }
    };
    add(bind.ip());
    if let Some(ip) = lan_address() {
        add(ip);
    }
    names
}

/// The source address the kernel would use towards the internet: the LAN address on a typical
/// machine. `connect` on UDP only looks up a route; no packet leaves.
fn lan_address() -> Option<IpAddr> {
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).ok()?;
    socket.connect((Ipv4Addr::new(192, 0, 2, 1), 9)).ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

/// A listener whose connections have finished their TLS handshake.
pub struct TlsListener {
    local_addr: SocketAddr,
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
}

impl TlsListener {
    /// Starts accepting on `tcp`; the accept task ends when the listener is dropped.
    pub fn new(tcp: TcpListener, identity: &TlsIdentity) -> io::Result<TlsListener> {
        let local_addr = tcp.local_addr()?;
        let acceptor = TlsAcceptor::from(identity.config.clone());
        let (tx, ready) = mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let (stream, peer) = tokio::select! {
                    accepted = tcp.accept() => match accepted {
                        Ok(a) => a,
                        Err(e) => {
                            // Out of file descriptors and the like: wait, do not spin.
                            tracing::warn!(error = %e, "accept failed");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            continue;
                        }
                    },
                    _ = tx.closed() => return,
                };
                let _ = stream.set_nodelay(true);
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, peer)).await;
                        }
                        // Plain HTTP on the TLS port, a browser refusing our certificate, …
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(TlsListener { local_addr, ready })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(connection) => connection,
            // The accept task only ends when we are dropped; never resolve otherwise.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local_addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_self_signed_identity_has_a_stable_fingerprint_of_its_certificate() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let id = TlsIdentity::self_signed(&local_names("127.0.0.1:0".parse().unwrap())).unwrap();
        assert!(id.names.contains(&"localhost".to_string()));
        assert_eq!(id.fingerprint_hex().len(), 32 * 3 - 1);
    }

    #[test]
    fn missing_and_empty_files_are_clear_errors() {
        let dir = std::env::temp_dir().join(format!("peercall-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not pem").unwrap();
        assert!(matches!(
            TlsIdentity::from_pem_files(&dir.join("nope.pem"), &empty),
            Err(TlsError::Read { .. })
        ));
        assert!(matches!(
            TlsIdentity::from_pem_files(&empty, &empty),
            Err(TlsError::NoCertificate { .. })
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
