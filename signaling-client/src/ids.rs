//! Peer IDs and call IDs: what is valid, and readable random ones.

use rand::Rng;

/// Why an ID was refused.
pub fn check_peer_id(id: &str) -> Result<(), String> {
    if !(3..=32).contains(&id.len()) {
        return Err(format!(
            "an ID is 3 to 32 characters, {:?} has {}",
            shown(id),
            id.len()
        ));
    }
    match id
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '_'))
    {
        Some(c) => Err(format!("an ID may hold a-z, 0-9, - and _, not {c:?}")),
        None => Ok(()),
    }
}

/// What an error message may quote of a name the client sent: its start, not 64 KiB of it
/// (a reply must fit in a frame too).
pub fn shown(name: &str) -> String {
    const SHOWN_CHARS: usize = 40;
    match name.char_indices().nth(SHOWN_CHARS) {
        Some((cut, _)) => format!("{}…", &name[..cut]),
        None => name.to_string(),
    }
}

pub fn is_valid_peer_id(id: &str) -> bool {
    check_peer_id(id).is_ok()
}

/// A call ID is 1 to 64 characters.
/// A room name: 1 to 64 of `a-z`, `0-9`, `-`, `_`.
pub fn check_room_name(room: &str) -> Result<(), String> {
    let ok = (1..=64).contains(&room.len())
        && room
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "a room name is 1 to 64 of a-z, 0-9, - and _, not {}",
            shown(room)
        ))
    }
}

pub fn is_valid_call_id(call_id: &str) -> bool {
    (1..=64).contains(&call_id.len())
}

const ADJECTIVES: &[&str] = &[
    "amber", "brave", "calm", "clever", "crisp", "eager", "fancy", "gentle", "happy", "jolly",
    "keen", "lively", "lucky", "merry", "nimble", "quiet", "rapid", "shiny", "sunny", "swift",
    "tidy", "vivid", "warm", "witty",
];
const ANIMALS: &[&str] = &[
    "badger", "beaver", "falcon", "ferret", "gecko", "heron", "koala", "lemur", "lynx", "marten",
    "moose", "otter", "owl", "panda", "puffin", "quokka", "raven", "robin", "seal", "stoat",
    "tapir", "tiger", "walrus", "wombat",
];

/// A readable random ID no one has (`taken` says who has one): `brave-otter-42` while those
/// last, `brave-otter-3fa9c2d1` once they grow scarce. Bounded work either way: the hub looks
/// this up under its lock.
pub fn unused_random_peer_id(taken: impl Fn(&str) -> bool) -> String {
    const TRIES: usize = 32;
    (0..TRIES)
        .map(|_| random_peer_id())
        .chain((0..TRIES).map(|_| long_random_peer_id()))
        .find(|id| !taken(id))
        // 2^32 suffixes per name pair: all of them taken is not a state a server reaches.
        .unwrap_or_else(long_random_peer_id)
}

/// `brave-otter-3fa9c2d1`: the readable part, and 32 random bits.
fn long_random_peer_id() -> String {
    let mut rng = rand::rng();
    format!(
        "{}-{}-{:08x}",
        ADJECTIVES[rng.random_range(0..ADJECTIVES.len())],
        ANIMALS[rng.random_range(0..ANIMALS.len())],
        rng.random::<u32>()
    )
}

/// A readable random ID such as `brave-otter-42`.
pub fn random_peer_id() -> String {
    let mut rng = rand::rng();
    format!(
        "{}-{}-{}",
        ADJECTIVES[rng.random_range(0..ADJECTIVES.len())],
        ANIMALS[rng.random_range(0..ANIMALS.len())],
        rng.random_range(10..100)
    )
}

/// A fresh call ID: 128 random bits in hex.
pub fn random_call_id() -> String {
    format!("{:032x}", rand::rng().random::<u128>())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by fuzzing the switchboard: the error quoted a 64 KiB ID in full, escaped, so the
    /// reply (117 160 bytes) was over the frame limit the client reads with.
    #[test]
    fn errors_quote_only_the_start_of_a_name() {
        let id = "alice\u{202e}".repeat(10_000);
        let error = check_peer_id(&id).unwrap_err();
        assert!(error.len() < 200, "{error}");
        assert!(error.contains("80000"), "{error}");
        assert_eq!(shown("bob"), "bob");
        assert_eq!(shown(&"é".repeat(50)), format!("{}…", "é".repeat(40)));
    }

    #[test]
    fn peer_id_rules() {
        for ok in ["bob", "alice_2", "a-b", &"x".repeat(32)] {
            assert!(is_valid_peer_id(ok), "{ok}");
        }
        for bad in [
            "ab",
            "Alice",
            "al ice",
            "al.ice",
            "",
            &"x".repeat(33),
            "élan",
        ] {
            assert!(!is_valid_peer_id(bad), "{bad}");
        }
    }

    #[test]
    fn generated_ids_are_valid_and_differ() {
        for _ in 0..100 {
            assert!(is_valid_peer_id(&random_peer_id()));
        }
        let a = random_call_id();
        assert_eq!(a.len(), 32);
        assert_ne!(a, random_call_id());
        assert!(is_valid_call_id(&a));
    }

    #[test]
    fn when_every_short_name_is_taken_a_longer_one_is_found() {
        let id = unused_random_peer_id(|id| {
            id.len() <= 20
                && id.split('-').count() == 3
                && id.ends_with(|c: char| c.is_ascii_digit())
                && id.rsplit('-').next().unwrap().len() == 2
        });
        assert!(is_valid_peer_id(&id), "{id}");
        assert_eq!(id.rsplit('-').next().unwrap().len(), 8, "{id}");
        // And with nothing taken, the short readable form.
        assert_eq!(
            unused_random_peer_id(|_| false)
                .rsplit('-')
                .next()
                .unwrap()
                .len(),
            2
        );
    }
}
