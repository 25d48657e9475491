//! Turns the fuzzer's bytes into inputs near valid ones: a real message, then a handful of
//! edits (flips, cuts, repeats, words of the format spliced in). Purely random bytes seldom get
//! past a JSON or SDP parser's first character; edited real ones reach the code behind it.

/// Reads the fuzzer's bytes as a stream of small numbers; past the end it gives zeros.
pub struct Choices<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Choices<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Choices { bytes, at: 0 }
    }

    pub fn is_empty(&self) -> bool {
        self.at >= self.bytes.len()
    }

    pub fn byte(&mut self) -> u8 {
        let b = self.bytes.get(self.at).copied().unwrap_or(0);
        self.at += 1;
        b
    }

    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }

    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.byte(), self.byte(), self.byte(), self.byte()])
    }

    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            self.u16() as usize % n
        }
    }

    pub fn pick<'t, T>(&mut self, items: &'t [T]) -> &'t T {
        &items[self.below(items.len())]
    }

    /// Up to `max` of the remaining bytes, as they are.
    pub fn bytes(&mut self, max: usize) -> &'a [u8] {
        let len = self.below(max + 1);
        let start = self.at.min(self.bytes.len());
        let end = (start + len).min(self.bytes.len());
        self.at = end;
        &self.bytes[start..end]
    }
}

/// Numbers and words that matter to JSON parsers and to our fields.
const JSON_WORDS: &[&str] = &[
    "\"",
    "\\",
    "\\u0000",
    "\\ud800",
    "{",
    "}",
    "[",
    "]",
    ":",
    ",",
    "null",
    "true",
    "false",
    "0",
    "-1",
    "1e999",
    "-0",
    "4294967296",
    "18446744073709551616",
    "1.5",
    "\"\"",
    "{}",
    "[]",
    "\"type\"",
    "\"register\"",
    "\"call\"",
    "\"accept\"",
    "\"reject\"",
    "\"signal\"",
    "\"hangup\"",
    "\"registered\"",
    "\"peers\"",
    "\"incoming\"",
    "\"error\"",
    "\"call_id\"",
    "\"to\"",
    "\"from\"",
    "\"id\"",
    "\"data\"",
    "\"sdp\"",
    "\"candidate\"",
    "\"offer\"",
    "\"answer\"",
    "\"reason\"",
    "\"busy\"",
    "\"code\"",
    "\"value\"",
    "\"text\"",
    "\"chat\"",
    "\"mute_audio\"",
    "\"sdpMLineIndex\"",
    "\"sdpMid\"",
    "\"ice_servers\"",
    "\"urls\"",
    "é",
    "\u{202e}",
    "\u{0}",
];

/// SDP lines and values that matter to SDP and candidate parsers.
pub const SDP_WORDS: &[&str] = &[
    "\r\n",
    "\n",
    "a=",
    "m=video 9 UDP/TLS/RTP/SAVPF 96 97\r\n",
    "m=audio 0 RTP/AVP 0\r\n",
    "a=rtpmap:96 VP8/90000\r\n",
    "a=rtpmap:111 opus/48000/2\r\n",
    "a=fmtp:97 apt=96\r\n",
    "a=setup:active\r\n",
    "a=setup:passive\r\n",
    "a=mid:",
    "a=group:BUNDLE 0 1 2\r\n",
    "a=ice-ufrag:",
    "a=ice-pwd:",
    "a=fingerprint:sha-256 ",
    "a=candidate:",
    "a=ssrc-group:FID 1 2\r\n",
    "a=ssrc:4294967295 cname:x\r\n",
    "a=extmap:15 urn:x\r\n",
    "a=sctp-port:65536\r\n",
    "a=max-message-size:0\r\n",
    "c=IN IP4 0.0.0.0\r\n",
    "c=IN IP6 ::1\r\n",
    "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n",
    "a=inactive\r\n",
    "a=recvonly\r\n",
    "a=rtcp-fb:96 nack pli\r\n",
    "typ host",
    "typ srflx raddr 0.0.0.0 rport 0",
    "typ relay",
    "udp",
    "tcp",
    "tcptype passive",
    "1 1 udp 2130706431 127.0.0.1 9 typ host",
    "x.local",
    "4294967295",
    "-1",
    "65536",
    "::",
    "[::1]",
    "999.999.999.999",
    "\0",
    " ",
    "  ",
];

/// `seed` with a few edits from `choices`, using `words` for splices.
pub fn mutate(seed: &str, words: &[&str], choices: &mut Choices) -> String {
    let mut text: Vec<u8> = seed.as_bytes().to_vec();
    let edits = choices.below(8);
    for _ in 0..edits {
        let at = choices.below(text.len() + 1);
        match choices.byte() % 7 {
            0 => {
                if let Some(b) = text.get_mut(at) {
                    *b ^= 1 << (choices.byte() % 8);
                }
            }
            1 => {
                let len = choices.below(64);
                let end = (at + len).min(text.len());
                text.drain(at..end);
            }
            2 => {
                let word = choices.pick(words);
                text.splice(at..at, word.bytes());
            }
            3 => {
                // Repeat a stretch, up to a few thousand times: sizes and counts past limits.
                let len = choices.below(32);
                let end = (at + len).min(text.len());
                let stretch = text[at..end].to_vec();
                let times = 1 + choices.below(4096);
                let repeated: Vec<u8> = stretch
                    .iter()
                    .copied()
                    .cycle()
                    .take(stretch.len() * times)
                    .collect();
                text.splice(at..at, repeated);
            }
            4 => text.truncate(at),
            5 => {
                let raw = choices.bytes(16);
                text.splice(at..at, raw.iter().copied());
            }
            _ => {
                let word = choices.pick(words);
                let len = choices.below(16);
                let end = (at + len).min(text.len());
                text.splice(at..end, word.bytes());
            }
        }
    }
    String::from_utf8_lossy(&text).into_owned()
}

pub fn mutate_json(seed: &str, choices: &mut Choices) -> String {
    mutate(seed, JSON_WORDS, choices)
}

pub fn mutate_sdp(seed: &str, choices: &mut Choices) -> String {
    mutate(seed, SDP_WORDS, choices)
}

/// Bytes near `seed`: the same edits without words, for binary formats.
pub fn mutate_bytes(seed: &[u8], choices: &mut Choices) -> Vec<u8> {
    let mut data = seed.to_vec();
    let edits = 1 + choices.below(8);
    for _ in 0..edits {
        let at = choices.below(data.len() + 1);
        match choices.byte() % 5 {
            0 => {
                if let Some(b) = data.get_mut(at) {
                    *b ^= 1 << (choices.byte() % 8);
                }
            }
            1 => {
                if let Some(b) = data.get_mut(at) {
                    *b = *choices.pick(&[0x00, 0xff, 0x7f, 0x80, 0x01]);
                }
            }
            2 => {
                let len = choices.below(256);
                let end = (at + len).min(data.len());
                data.drain(at..end);
            }
            3 => data.truncate(at),
            _ => {
                let raw = choices.bytes(32);
                data.splice(at..at, raw.iter().copied());
            }
        }
    }
    data
}
