//! The room we are in, as the signaling server told us: who else is in it, in join order, and
//! the rules of the mesh (docs/protocol.md, "Rooms"). Pure: the engine asks, this answers.

/// Others we keep track of in a room, at most: the server bounds rooms (6 by default), but a
/// server of another dialect may announce members without end.
const MAX_MEMBERS: usize = 64;

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Room {
    pub name: String,
    /// The others, earliest first.
    members: Vec<String>,
    /// Someone else has been in it with us: once they are all gone, so is the call.
    had_others: bool,
}

impl Room {
    /// We joined `name`, where `members` already were.
    pub fn joined(name: String, mut members: Vec<String>) -> Room {
        members.truncate(MAX_MEMBERS);
        let had_others = !members.is_empty();
        Room {
            name,
            members,
            had_others,
        }
    }

    #[cfg(test)]
    pub fn members(&self) -> &[String] {
        &self.members
    }

    pub fn member_joined(&mut self, id: &str) {
        if self.members.iter().any(|m| m == id) {
            return;
        }
        if self.members.len() >= MAX_MEMBERS {
            tracing::warn!(%id, "a room beyond {MAX_MEMBERS} members: not tracked");
            return;
        }
        self.members.push(id.to_string());
        self.had_others = true;
    }

    /// Everyone else has left (not: nobody has come yet).
    pub fn emptied(&self) -> bool {
        self.had_others && self.members.is_empty()
    }

    pub fn member_left(&mut self, id: &str) {
        self.members.retain(|m| m != id);
    }

    /// Whether an incoming call is a leg of this room from one of its members, which a member
    /// takes without ringing.
    pub fn takes_leg(&self, room: Option<&str>, from: &str) -> bool {
        room == Some(self.name.as_str()) && self.members.iter().any(|m| m == from)
    }

    /// Whom we dial on joining: the later joiner calls everyone who was there (but whoever we
    /// already have a leg with: the one who invited us).
    pub fn to_dial(&self, have_leg_with: impl Fn(&str) -> bool) -> Vec<String> {
        self.members
            .iter()
            .filter(|m| !have_leg_with(m))
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_later_joiner_dials_and_members_take_legs_without_ringing() {
        let mut room = Room::joined("standup".into(), vec!["alice".into(), "bob".into()]);
        assert_eq!(room.to_dial(|m| m == "alice"), ["bob"]);
        assert!(room.takes_leg(Some("standup"), "bob"));
        assert!(!room.takes_leg(Some("standup"), "eve"), "not a member");
        assert!(!room.takes_leg(Some("other"), "bob"), "another room");
        assert!(!room.takes_leg(None, "bob"), "a plain call rings");
        room.member_joined("carol");
        room.member_joined("carol");
        assert_eq!(room.members(), ["alice", "bob", "carol"]);
        room.member_left("alice");
        assert_eq!(room.members(), ["bob", "carol"]);
        assert!(!room.emptied());
        // A room we opened alone is not emptied until someone came and went.
        let mut mine = Room::joined("mine".into(), Vec::new());
        assert!(!mine.emptied());
        mine.member_joined("dave");
        mine.member_left("dave");
        assert!(mine.emptied());
        // However many a server announces, the list stays bounded.
        for n in 0..1000 {
            room.member_joined(&format!("m{n}"));
        }
        assert_eq!(room.members().len(), MAX_MEMBERS);
    }
}
