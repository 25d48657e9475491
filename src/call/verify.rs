//! The call's verification code: the "safety number" idea (ZRTP's short authentication string,
//! Signal's safety numbers) applied to DTLS-SRTP. Media is encrypted with keys agreed by DTLS,
//! and each side checks the other's certificate against the fingerprint in the SDP it received.
//! Whoever relays the SDP (a signaling server) could swap both fingerprints for its own and sit
//! in the middle. So both sides derive a code from the two fingerprints as they appear in the
//! negotiated offer and answer; people read it to each other: the same code means the same two
//! certificates on both ends. Written down in docs/protocol.md §4 (the page computes it too).
//!
//! Code: SHA-256 of `peercall-verify-1\n<offer fingerprint>\n<answer fingerprint>`, its first
//! four bytes as a big-endian number modulo 10⁹, shown as three groups of three digits.
//! A fingerprint is normalised to `sha-256 AB:CD:…` (algorithm lowercase, hex uppercase).

/// The first `a=fingerprint:` of an SDP, normalised.
pub fn fingerprint(sdp: &str) -> Option<String> {
    let value = sdp
        .lines()
        .find_map(|line| line.trim().strip_prefix("a=fingerprint:"))?;
    let (algorithm, hash) = value.trim().split_once(' ')?;
    let hash = hash.trim();
    if hash.is_empty() {
        return None;
    }
    Some(format!(
        "{} {}",
        algorithm.to_ascii_lowercase(),
        hash.to_ascii_uppercase()
    ))
}

/// The code both sides show, from the offer's and the answer's SDP.
pub fn verification_code(offer: &str, answer: &str) -> Option<String> {
    let text = format!(
        "peercall-verify-1\n{}\n{}",
        fingerprint(offer)?,
        fingerprint(answer)?
    );
    let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    let bytes = digest.as_ref();
    let number = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) % 1_000_000_000;
    let digits = format!("{number:09}");
    Some(format!(
        "{} {} {}",
        &digits[..3],
        &digits[3..6],
        &digits[6..]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFER: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\na=fingerprint:SHA-256 \
                         ab:cd:ef:01\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n";
    const ANSWER: &str = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=fingerprint:sha-256 \
                          12:34:56:78\r\n";

    #[test]
    fn both_ends_get_the_same_code_and_a_swapped_key_changes_it() {
        assert_eq!(fingerprint(OFFER).as_deref(), Some("sha-256 AB:CD:EF:01"));
        let code = verification_code(OFFER, ANSWER).unwrap();
        // Three groups of three digits.
        assert_eq!(code.len(), 11);
        assert!(code
            .split(' ')
            .all(|g| g.len() == 3 && g.bytes().all(|b| b.is_ascii_digit())));
        // Case and spacing do not matter; which key is whose does.
        let same = OFFER.replace("ab:cd:ef:01", "AB:CD:EF:01");
        assert_eq!(verification_code(&same, ANSWER), Some(code.clone()));
        assert_ne!(verification_code(ANSWER, OFFER), Some(code.clone()));
        // Someone in the middle shows each side its own certificate: the codes differ.
        let swapped = OFFER.replace("ab:cd:ef:01", "ab:cd:ef:02");
        assert_ne!(verification_code(&swapped, ANSWER), Some(code));
        assert_eq!(verification_code("v=0\r\n", ANSWER), None);
    }

    /// A fixed vector, so the page (and anyone else) can check its implementation.
    #[test]
    fn the_code_of_a_known_pair() {
        assert_eq!(
            verification_code(OFFER, ANSWER).as_deref(),
            Some(KNOWN_CODE),
        );
    }

    const KNOWN_CODE: &str = "308 521 643";
}
