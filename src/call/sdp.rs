//! The few SDP attributes the call reads itself (webrtc-rs parses the rest).

/// The first `a=setup:` value of an SDP (`active`, `passive`, `actpass`): who is the DTLS client.
pub(crate) fn dtls_setup(sdp: &str) -> Option<&str> {
    attribute(sdp, "a=setup:")
}

/// The first `a=ice-ufrag:` of an SDP. An offer with a new one restarts ICE (RFC 8839); with the
/// one in use it only changes what the connection carries (a screen shared or stopped).
pub(crate) fn ice_ufrag(sdp: &str) -> Option<&str> {
    attribute(sdp, "a=ice-ufrag:")
}

fn attribute<'a>(sdp: &'a str, prefix: &str) -> Option<&'a str> {
    sdp.lines()
        .find_map(|line| line.trim().strip_prefix(prefix))
        .map(str::trim)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dtls_role_is_read_from_the_setup_attribute() {
        let sdp = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=setup:active\r\n";
        assert_eq!(dtls_setup(sdp), Some("active"));
        assert_eq!(dtls_setup("v=0\na=setup:actpass\n"), Some("actpass"));
        assert_eq!(dtls_setup("v=0\n"), None);
    }

    #[test]
    fn the_ice_username_fragment_is_the_first_one() {
        let sdp = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=ice-ufrag:AbC1\r\nm=audio 9 x 111\r\na=ice-ufrag:AbC1\r\n";
        assert_eq!(ice_ufrag(sdp), Some("AbC1"));
        assert_eq!(ice_ufrag("v=0\r\n"), None);
    }
}
