//! Resolving the `.local` names browsers put in their candidates instead of their addresses
//! (mDNS), only when such a candidate arrives.
//!
//! webrtc-rs opens its mDNS socket for every connection when asked to resolve, and a host with
//! no route covering multicast (no default route) cannot join the group: the whole call failed
//! with "No such device", though mDNS was not needed. Here the connection never does mDNS; a
//! `.local` candidate is resolved on the side and handed over as a plain address, and if mDNS
//! cannot work on this host, that one candidate is dropped with a warning and the call goes on
//! with the others (and peer-reflexive discovery).

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use rtc::mdns::{Mdns, MdnsConfig, MdnsEvent, MulticastSocket};
use rtc::sansio::Protocol;
use rtc::shared::{TaggedBytesMut, TransportContext, TransportProtocol};

/// How long a name may take to resolve.
pub const RESOLVE_TIMEOUT: Duration = Duration::from_secs(3);

/// The host name of a candidate line (`candidate:… <address> <port> typ …`) when it is an mDNS
/// name.
pub fn mdns_name(candidate: &str) -> Option<&str> {
    let address = candidate
        .trim_start_matches("a=")
        .split_whitespace()
        .nth(4)?;
    (address.len() > 6 && address.to_ascii_lowercase().ends_with(".local")).then_some(address)
}

/// The candidate line with its mDNS name replaced by `ip`.
pub fn with_address(candidate: &str, name: &str, ip: IpAddr) -> String {
    candidate
        .split(' ')
        .map(|field| {
            if field == name {
                ip.to_string()
            } else {
                field.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Asks the local network who `name` is.
pub async fn resolve(name: &str, timeout: Duration) -> Result<IpAddr, String> {
    let socket = MulticastSocket::new()
        .into_std()
        .map_err(|e| format!("mDNS is not available on this host: {e}"))?;
    let local = socket.local_addr().map_err(|e| e.to_string())?;
    let socket = tokio::net::UdpSocket::from_std(socket).map_err(|e| e.to_string())?;
    let mut mdns = Mdns::new(
        Instant::now(),
        MdnsConfig::default().with_query_interval(Duration::from_millis(250)),
    );
    let query = mdns.query_now(Instant::now(), name);
    let deadline = tokio::time::Instant::now() + timeout;
    let mut buf = vec![0u8; 1500];
    loop {
        while let Some(packet) = mdns.poll_write() {
            if let Err(e) = socket
                .send_to(&packet.message, packet.transport.peer_addr)
                .await
            {
                return Err(format!("mDNS query: {e}"));
            }
        }
        while let Some(event) = mdns.poll_event() {
            if let MdnsEvent::QueryAnswered(id, ip) = event {
                if id == query {
                    return Ok(ip);
                }
            }
        }
        let wake = mdns
            .poll_timeout()
            .map(tokio::time::Instant::from_std)
            .unwrap_or(deadline)
            .min(deadline);
        tokio::select! {
            received = socket.recv_from(&mut buf) => {
                let (n, from): (usize, SocketAddr) = received.map_err(|e| e.to_string())?;
                let _ = mdns.handle_read(TaggedBytesMut {
                    now: Instant::now(),
                    transport: TransportContext {
                        local_addr: local,
                        peer_addr: from,
                        transport_protocol: TransportProtocol::UDP,
                        ecn: None,
                    },
                    message: BytesMut::from(&buf[..n]),
                });
            }
            _ = tokio::time::sleep_until(wake) => {
                if tokio::time::Instant::now() >= deadline {
                    return Err(format!("no answer for {name} within {timeout:?}"));
                }
                let _ = mdns.handle_timeout(Instant::now());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mdns_names_are_found_and_replaced() {
        let line = "candidate:1 1 udp 2113937151 0f8e7a2c-1b5d-4c3e-9a2f-3b4c5d6e7f80.local 54321 typ host";
        let name = mdns_name(line).unwrap();
        assert_eq!(name, "0f8e7a2c-1b5d-4c3e-9a2f-3b4c5d6e7f80.local");
        assert_eq!(
            with_address(line, name, "192.168.1.7".parse().unwrap()),
            "candidate:1 1 udp 2113937151 192.168.1.7 54321 typ host"
        );
        assert_eq!(
            mdns_name("candidate:1 1 udp 2113937151 10.0.0.1 5000 typ host"),
            None
        );
        assert_eq!(mdns_name("garbage"), None);
        assert_eq!(mdns_name(""), None);
    }
}
