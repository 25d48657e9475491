//! Who is in which room, in join order, within a size limit. Pure bookkeeping: the switchboard
//! decides what to say about it.

use std::collections::HashMap;

use super::ClientId;

#[derive(Debug)]
pub(super) struct Rooms {
    max: usize,
    members: HashMap<String, Vec<ClientId>>,
    room_of: HashMap<ClientId, String>,
}

impl Rooms {
    pub(super) fn new(max: usize) -> Rooms {
        Rooms {
            max: max.max(2),
            members: HashMap::new(),
            room_of: HashMap::new(),
        }
    }

    pub(super) fn count(&self) -> usize {
        self.members.len()
    }

    pub(super) fn room_of(&self, client: ClientId) -> Option<&str> {
        self.room_of.get(&client).map(String::as_str)
    }

    pub(super) fn is_member(&self, client: ClientId, room: &str) -> bool {
        self.room_of(client) == Some(room)
    }

    /// The members, earliest first.
    pub(super) fn members(&self, room: &str) -> &[ClientId] {
        self.members.get(room).map_or(&[], Vec::as_slice)
    }

    pub(super) fn is_full(&self, room: &str) -> bool {
        self.members(room).len() >= self.max
    }

    /// Adds `client` (not in any room) to `room`, unless it is full.
    pub(super) fn add(&mut self, client: ClientId, room: &str) -> Result<(), ()> {
        debug_assert!(self.room_of(client).is_none());
        if self.is_full(room) {
            return Err(());
        }
        self.members
            .entry(room.to_string())
            .or_default()
            .push(client);
        self.room_of.insert(client, room.to_string());
        Ok(())
    }

    /// `new` takes `old`'s place in its room (a connection taken over), in the same order.
    pub(super) fn rename(&mut self, old: ClientId, new: ClientId) {
        let Some(room) = self.room_of.remove(&old) else {
            return;
        };
        if let Some(members) = self.members.get_mut(&room) {
            for member in members.iter_mut().filter(|m| **m == old) {
                *member = new;
            }
        }
        self.room_of.insert(new, room);
    }

    /// Takes `client` out of its room: the room and who is left in it. An empty room is
    /// forgotten.
    pub(super) fn remove(&mut self, client: ClientId) -> Option<(String, Vec<ClientId>)> {
        let room = self.room_of.remove(&client)?;
        let members = self.members.get_mut(&room)?;
        members.retain(|&c| c != client);
        let left = members.clone();
        if left.is_empty() {
            self.members.remove(&room);
        }
        Some((room, left))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_in_join_order_within_the_limit() {
        let mut rooms = Rooms::new(3);
        for c in [1, 2, 3] {
            rooms.add(c, "r").unwrap();
        }
        assert_eq!(rooms.add(4, "r"), Err(()));
        assert_eq!(rooms.members("r"), [1, 2, 3]);
        assert_eq!(rooms.remove(2), Some(("r".into(), vec![1, 3])));
        rooms.add(4, "r").unwrap();
        assert_eq!(rooms.members("r"), [1, 3, 4]);
        assert!(rooms.is_member(4, "r") && !rooms.is_member(2, "r"));
        for c in [1, 3, 4] {
            rooms.remove(c);
        }
        assert_eq!(rooms.count(), 0, "an empty room is forgotten");
        assert_eq!(rooms.remove(1), None);
    }
}
