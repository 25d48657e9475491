//! Which `wss://` servers to trust. The default is the web's rules (WebPKI roots); a LAN server
//! with a self-signed certificate is accepted only when the user says so: any certificate
//! (`AcceptInvalid`, for tests and first contact) or exactly one (`PinnedSha256`, the fingerprint
//! `peercall serve --tls-self-signed` prints).

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};

/// How a `wss://` server's certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsTrust {
    /// Signed by a public CA for the server's name, as a browser would require.
    #[default]
    WebPki,
    /// Any certificate: the connection is encrypted but not authenticated.
    AcceptInvalid,
    /// Only the certificate whose DER has this SHA-256 (name and dates are not checked).
    PinnedSha256([u8; 32]),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a certificate fingerprint is 32 bytes of hex (colons allowed), not {0:?}")]
pub struct BadFingerprint(pub String);

impl TlsTrust {
    /// Parses `AB:CD:…` or `abcd…` (64 hex digits).
    pub fn pinned_from_hex(text: &str) -> Result<TlsTrust, BadFingerprint> {
        let digits: String = text.chars().filter(|c| *c != ':').collect();
        let bad = || BadFingerprint(text.to_string());
        if digits.len() != 64 || !digits.is_ascii() {
            return Err(bad());
        }
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&digits[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
        }
        Ok(TlsTrust::PinnedSha256(out))
    }

    /// A rustls configuration for the relaxed modes; `None` for WebPKI (the transport's default).
    pub(crate) fn client_config(&self) -> Option<Arc<rustls::ClientConfig>> {
        let pin = match self {
            TlsTrust::WebPki => return None,
            TlsTrust::AcceptInvalid => None,
            TlsTrust::PinnedSha256(pin) => Some(*pin),
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = Arc::new(RelaxedVerifier {
            pin,
            provider: provider.clone(),
        });
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .ok()?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        Some(Arc::new(config))
    }
}

impl TlsTrust {
    /// A rustls configuration for every mode (HTTP clients need one for WebPKI too).
    pub(crate) fn http_config(&self) -> Arc<rustls::ClientConfig> {
        if let Some(config) = self.client_config() {
            return config;
        }
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("ring supports the default TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        Arc::new(config)
    }
}

/// A certificate's SHA-256 fingerprint (of its DER): what a pin is compared with, and what the
/// server prints about its own certificate.
pub fn sha256(der: &[u8]) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// `AB:CD:…`, the form browsers show in their certificate viewer (and [`TlsTrust::pinned_from_hex`]
/// reads back).
pub fn fingerprint_hex(fingerprint: &[u8; 32]) -> String {
    fingerprint
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Skips the chain and name checks (a self-signed LAN certificate passes neither) but still
/// checks the handshake signatures, so the server must hold the certificate's key.
#[derive(Debug)]
struct RelaxedVerifier {
    pin: Option<[u8; 32]>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for RelaxedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.pin {
            Some(pin) if sha256(end_entity) != pin => Err(rustls::Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            )),
            _ => Ok(ServerCertVerified::assertion()),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_parse_with_or_without_colons() {
        let hex = "00".repeat(31) + "ff";
        let colons = hex
            .as_bytes()
            .chunks(2)
            .map(|c| std::str::from_utf8(c).unwrap().to_uppercase())
            .collect::<Vec<_>>()
            .join(":");
        let mut want = [0u8; 32];
        want[31] = 0xff;
        assert_eq!(
            TlsTrust::pinned_from_hex(&hex),
            Ok(TlsTrust::PinnedSha256(want))
        );
        assert_eq!(fingerprint_hex(&want), colons, "printed as it is read back");
        assert_eq!(
            TlsTrust::pinned_from_hex(&colons),
            Ok(TlsTrust::PinnedSha256(want))
        );
        for bad in ["", "abc", &"zz".repeat(32), &"é".repeat(64)] {
            assert!(TlsTrust::pinned_from_hex(bad).is_err(), "{bad}");
        }
    }
}
