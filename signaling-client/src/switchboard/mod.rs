//! The protocol's rules as a pure state machine: who is registered, which calls are live, who
//! is in which room (`rooms`), and what each message makes the server say to whom.
//!
//! No sockets and no clock: the caller passes the time in and carries out the returned
//! [`Delivery`]s. The WebSocket server and [`crate::MemorySignaling`] both run on it, so the rules
//! exist once and every transport obeys them alike.

mod rooms;
pub mod turn;

pub use turn::TurnConfig;

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use crate::ids::{check_peer_id, check_room_name, is_valid_call_id, shown, unused_random_peer_id};
use crate::protocol::{
    ClientMessage, ErrorCode, HangupReason, IceServer, ServerMessage, DEFAULT_MAX_ROOM,
    FIRST_VERSION, MAX_SERVER_FRAME_BYTES, PROTOCOL_VERSION, RING_TIMEOUT_SECS,
};
use rooms::Rooms;

/// A connection, numbered by the switchboard.
pub type ClientId = u64;

/// A resume secret: 128 random bits, as hex.
fn random_secret() -> String {
    use rand::Rng;
    let bits: u128 = rand::rng().random();
    format!("{bits:032x}")
}

/// Compares secrets in time that does not depend on where they differ.
fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |diff, (x, y)| diff | (x ^ y))
            == 0
}

/// Ended call IDs remembered so a reuse is refused; bounded so memory is too.
const RETIRED_CALL_IDS: usize = 65_536;

/// Something the transport must send.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    To(ClientId, ServerMessage),
    /// The same message to every registered client except one (presence).
    Broadcast {
        except: ClientId,
        message: ServerMessage,
    },
    /// Close this connection: a newer one took its registration over (`resume`).
    Close(ClientId),
}

impl Delivery {
    /// What is sent; `None` for a [`Delivery::Close`].
    pub fn message(&self) -> Option<&ServerMessage> {
        match self {
            Delivery::To(_, message) | Delivery::Broadcast { message, .. } => Some(message),
            Delivery::Close(_) => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct SwitchboardConfig {
    pub ice_servers: Vec<IceServer>,
    /// TURN servers whose credentials we make, per client (after `ice_servers`).
    pub turn: Option<TurnConfig>,
    pub ring_timeout: Duration,
    /// People a room holds at most.
    pub max_room: usize,
}

impl Default for SwitchboardConfig {
    fn default() -> Self {
        SwitchboardConfig {
            ice_servers: Vec::new(),
            turn: None,
            ring_timeout: Duration::from_secs(RING_TIMEOUT_SECS),
            max_room: DEFAULT_MAX_ROOM,
        }
    }
}

#[derive(Debug, Default)]
struct Client {
    peer_id: Option<String>,
    /// The protocol version agreed at registration.
    protocol: u32,
    calls: HashSet<String>,
    /// The secret a new connection presents to take this registration over.
    resume: String,
}

#[derive(Debug)]
struct Call {
    caller: ClientId,
    callee: ClientId,
    /// `Some(since)` while ringing; `None` once accepted.
    ringing_since: Option<Instant>,
    /// An invitation: the callee joins this room when it accepts.
    invites_to: Option<String>,
}

impl Call {
    fn other(&self, client: ClientId) -> Option<ClientId> {
        if client == self.caller {
            Some(self.callee)
        } else if client == self.callee {
            Some(self.caller)
        } else {
            None
        }
    }
}

#[derive(Debug)]
pub struct Switchboard {
    config: SwitchboardConfig,
    rooms: Rooms,
    next_client: ClientId,
    clients: HashMap<ClientId, Client>,
    by_peer_id: HashMap<String, ClientId>,
    calls: HashMap<String, Call>,
    retired: HashSet<String>,
    retired_order: VecDeque<String>,
}

impl Switchboard {
    pub fn new(config: SwitchboardConfig) -> Self {
        Switchboard {
            rooms: Rooms::new(config.max_room),
            config,
            next_client: 0,
            clients: HashMap::new(),
            by_peer_id: HashMap::new(),
            calls: HashMap::new(),
            retired: HashSet::new(),
            retired_order: VecDeque::new(),
        }
    }

    pub fn room_count(&self) -> usize {
        self.rooms.count()
    }

    /// A new connection; it must register before anything else.
    pub fn connect(&mut self) -> ClientId {
        self.next_client += 1;
        self.clients.insert(self.next_client, Client::default());
        self.next_client
    }

    pub fn peer_id(&self, client: ClientId) -> Option<&str> {
        self.clients.get(&client)?.peer_id.as_deref()
    }

    pub fn registered_count(&self) -> usize {
        self.by_peer_id.len()
    }

    pub fn live_calls(&self) -> usize {
        self.calls.len()
    }

    /// Every registered client, for carrying out a broadcast.
    pub fn registered_clients(&self) -> impl Iterator<Item = ClientId> + '_ {
        self.by_peer_id.values().copied()
    }

    /// Who receives a delivery.
    pub fn recipients(&self, delivery: &Delivery) -> Vec<ClientId> {
        match delivery {
            Delivery::To(client, _) => vec![*client],
            Delivery::Broadcast { except, .. } => {
                self.registered_clients().filter(|c| c != except).collect()
            }
            Delivery::Close(_) => Vec::new(),
        }
    }

    /// When [`Switchboard::expire`] next has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.calls
            .values()
            .filter_map(|c| c.ringing_since)
            .min()
            .map(|since| since + self.config.ring_timeout)
    }

    /// Applies one message from `client`, appending what must be sent to `out`.
    pub fn handle(
        &mut self,
        client: ClientId,
        message: ClientMessage,
        now: Instant,
        out: &mut Vec<Delivery>,
    ) {
        let Some(me) = self.clients.get(&client) else {
            return;
        };
        let registered_as = me.peer_id.clone();
        let Some(my_id) = registered_as else {
            match message {
                ClientMessage::Register { id, protocol } => {
                    self.register(client, id, protocol, now, out)
                }
                ClientMessage::Resume {
                    id,
                    token,
                    protocol,
                } => self.resume(client, id, token, protocol, now, out),
                _ => out.push(error(
                    client,
                    ErrorCode::NotRegistered,
                    "register first",
                    None,
                )),
            }
            return;
        };
        match message {
            ClientMessage::Register { .. } | ClientMessage::Resume { .. } => out.push(error(
                client,
                ErrorCode::BadMessage,
                format!("already registered as {my_id}"),
                None,
            )),
            ClientMessage::Call { to, call_id, room } => {
                self.dial(client, &my_id, to, call_id, room, now, out)
            }
            ClientMessage::Accept { call_id } => self.accept(client, my_id, call_id, out),
            ClientMessage::Join { room } => self.join(client, &my_id, room, out),
            ClientMessage::Leave { room } => {
                if self.rooms.is_member(client, &room) {
                    self.leave_room(client, &my_id, out);
                } else {
                    out.push(not_in_room(client, &room));
                }
            }
            ClientMessage::Reject { call_id, reason } => match self.calls.get(&call_id) {
                Some(call) if call.callee == client && call.ringing_since.is_some() => {
                    let caller = call.caller;
                    self.end_call(&call_id);
                    out.push(Delivery::To(
                        caller,
                        ServerMessage::Rejected {
                            from: my_id,
                            call_id,
                            reason,
                        },
                    ));
                }
                _ => out.push(unknown_call(client, &call_id)),
            },
            ClientMessage::Signal { call_id, data } => {
                let Some(other) = self.calls.get(&call_id).and_then(|c| c.other(client)) else {
                    out.push(unknown_call(client, &call_id));
                    return;
                };
                let relayed = ServerMessage::Signal {
                    from: my_id,
                    call_id: call_id.clone(),
                    data,
                };
                // `from` makes it longer than what arrived, by less than the margin clients allow
                // (re-encoding never grows JSON otherwise); checked, as the promise is ours.
                if relayed.to_json().len() > MAX_SERVER_FRAME_BYTES {
                    out.push(error(
                        client,
                        ErrorCode::BadMessage,
                        "this signal is too large to relay",
                        Some(&call_id),
                    ));
                    return;
                }
                out.push(Delivery::To(other, relayed));
            }
            ClientMessage::RefreshIce => {
                let (ice_servers, ice_ttl) = self.ice_servers_for(&my_id, now);
                out.push(Delivery::To(
                    client,
                    ServerMessage::IceServers {
                        ice_servers,
                        ice_ttl,
                    },
                ));
            }
            ClientMessage::Hangup { call_id } => {
                match self.calls.get(&call_id).and_then(|c| c.other(client)) {
                    Some(other) => {
                        self.end_call(&call_id);
                        out.push(Delivery::To(
                            other,
                            ServerMessage::Hangup {
                                from: my_id,
                                call_id,
                                reason: None,
                            },
                        ));
                    }
                    None => out.push(unknown_call(client, &call_id)),
                }
            }
        }
    }

    /// The connection closed: its calls end with `gone`, it leaves its room, its ID is free
    /// again.
    pub fn disconnect(&mut self, client: ClientId, out: &mut Vec<Delivery>) {
        let Some(gone) = self.clients.remove(&client) else {
            return;
        };
        let Some(peer_id) = gone.peer_id else {
            return;
        };
        self.leave_room(client, &peer_id, out);
        for call_id in gone.calls {
            if let Some(other) = self.calls.get(&call_id).and_then(|c| c.other(client)) {
                self.end_call(&call_id);
                out.push(Delivery::To(
                    other,
                    ServerMessage::Hangup {
                        from: peer_id.clone(),
                        call_id,
                        reason: Some(HangupReason::Gone),
                    },
                ));
            }
        }
        self.by_peer_id.remove(&peer_id);
        out.push(Delivery::Broadcast {
            except: client,
            message: ServerMessage::PeerLeft { id: peer_id },
        });
    }

    /// Ends the calls that rang longer than the timeout, telling both parties.
    pub fn expire(&mut self, now: Instant, out: &mut Vec<Delivery>) {
        let timeout = self.config.ring_timeout;
        let expired: Vec<String> = self
            .calls
            .iter()
            .filter(|(_, c)| c.ringing_since.is_some_and(|s| now >= s + timeout))
            .map(|(id, _)| id.clone())
            .collect();
        for call_id in expired {
            let Some(call) = self.end_call(&call_id) else {
                continue;
            };
            for (to, from) in [(call.caller, call.callee), (call.callee, call.caller)] {
                let from = self.peer_id(from).unwrap_or_default().to_string();
                out.push(Delivery::To(
                    to,
                    ServerMessage::Hangup {
                        from,
                        call_id: call_id.clone(),
                        reason: Some(HangupReason::Timeout),
                    },
                ));
            }
        }
    }

    /// The ICE servers `peer_id` is given at `now`, and for how many seconds they work.
    fn ice_servers_for(&self, peer_id: &str, now: Instant) -> (Vec<IceServer>, Option<u64>) {
        let mut servers = self.config.ice_servers.clone();
        match &self.config.turn {
            Some(turn) => {
                servers.extend(turn.ice_servers_at(peer_id, now));
                (servers, Some(turn.ttl_secs()))
            }
            None => (servers, None),
        }
    }

    fn register(
        &mut self,
        client: ClientId,
        id: Option<String>,
        protocol: Option<u32>,
        now: Instant,
        out: &mut Vec<Delivery>,
    ) {
        let id = match id {
            Some(id) => {
                if let Err(why) = check_peer_id(&id) {
                    out.push(error(client, ErrorCode::InvalidId, why, None));
                    return;
                }
                if self.by_peer_id.contains_key(&id) {
                    out.push(error(
                        client,
                        ErrorCode::IdTaken,
                        format!("{id} is taken"),
                        None,
                    ));
                    return;
                }
                id
            }
            None => unused_random_peer_id(|id| self.by_peer_id.contains_key(id)),
        };
        let mut others: Vec<String> = self.by_peer_id.keys().cloned().collect();
        others.sort();
        self.by_peer_id.insert(id.clone(), client);
        // The newest version both sides speak.
        let protocol = protocol
            .unwrap_or(FIRST_VERSION)
            .clamp(FIRST_VERSION, PROTOCOL_VERSION);
        if let Some(c) = self.clients.get_mut(&client) {
            c.peer_id = Some(id.clone());
            c.protocol = protocol;
        }
        self.registered(client, &id, now, out);
        out.push(Delivery::To(client, ServerMessage::Peers { peers: others }));
        out.push(Delivery::Broadcast {
            except: client,
            message: ServerMessage::PeerJoined { id },
        });
    }

    /// `registered` for `client` (registered as `id`), with a fresh resume secret.
    fn registered(&mut self, client: ClientId, id: &str, now: Instant, out: &mut Vec<Delivery>) {
        let (ice_servers, ice_ttl) = self.ice_servers_for(id, now);
        let Some(c) = self.clients.get_mut(&client) else {
            return;
        };
        c.resume = random_secret();
        out.push(Delivery::To(
            client,
            ServerMessage::Registered {
                id: id.to_string(),
                protocol: c.protocol,
                ice_servers,
                ice_ttl,
                resume: Some(c.resume.clone()),
            },
        ));
    }

    /// A new connection takes over the registration `token` belongs to: its calls and room go
    /// on, nobody is told anything changed, the old connection is closed. Without a match (the
    /// old connection is gone already, or a server restarted) it registers `id` as usual.
    fn resume(
        &mut self,
        client: ClientId,
        id: String,
        token: String,
        protocol: Option<u32>,
        now: Instant,
        out: &mut Vec<Delivery>,
    ) {
        let old = match self.by_peer_id.get(&id) {
            Some(&old) if old != client => old,
            _ => return self.register(client, Some(id), protocol, now, out),
        };
        let matches = self
            .clients
            .get(&old)
            .is_some_and(|c| !c.resume.is_empty() && constant_time_eq(&c.resume, &token));
        if !matches {
            return self.register(client, Some(id), protocol, now, out);
        }
        let Some(taken) = self.clients.remove(&old) else {
            return;
        };
        for call_id in &taken.calls {
            if let Some(call) = self.calls.get_mut(call_id) {
                for side in [&mut call.caller, &mut call.callee] {
                    if *side == old {
                        *side = client;
                    }
                }
            }
        }
        self.rooms.rename(old, client);
        self.by_peer_id.insert(id.clone(), client);
        let mut others: Vec<String> = self
            .by_peer_id
            .keys()
            .filter(|p| **p != id)
            .cloned()
            .collect();
        others.sort();
        self.clients.insert(client, taken);
        out.push(Delivery::Close(old));
        self.registered(client, &id, now, out);
        out.push(Delivery::To(client, ServerMessage::Peers { peers: others }));
    }

    #[allow(clippy::too_many_arguments)]
    fn dial(
        &mut self,
        client: ClientId,
        my_id: &str,
        to: String,
        call_id: String,
        room: Option<String>,
        now: Instant,
        out: &mut Vec<Delivery>,
    ) {
        if !is_valid_call_id(&call_id) {
            out.push(error(
                client,
                ErrorCode::BadMessage,
                "a call_id is 1 to 64 characters",
                None,
            ));
            return;
        }
        if self.calls.contains_key(&call_id) || self.retired.contains(&call_id) {
            out.push(error(
                client,
                ErrorCode::CallIdTaken,
                "that call_id was used before; pick a new random one",
                Some(&call_id),
            ));
            return;
        }
        let callee = match self.by_peer_id.get(&to) {
            Some(&callee) if callee != client => callee,
            _ => {
                out.push(error(
                    client,
                    ErrorCode::UnknownPeer,
                    format!("{} is not online", shown(&to)),
                    Some(&call_id),
                ));
                return;
            }
        };
        let mut invites_to = None;
        if let Some(room) = &room {
            if !self.rooms.is_member(client, room) {
                out.push(error(
                    client,
                    ErrorCode::NotInRoom,
                    format!("you are not in room {}", shown(room)),
                    Some(&call_id),
                ));
                return;
            }
            if !self.rooms.is_member(callee, room) {
                if self.clients.get(&callee).map_or(0, |c| c.protocol) < 2 {
                    out.push(error(
                        client,
                        ErrorCode::UnknownPeer,
                        format!("{}'s client cannot join rooms", shown(&to)),
                        Some(&call_id),
                    ));
                    return;
                }
                invites_to = Some(room.clone());
            }
        }
        for party in [client, callee] {
            if let Some(c) = self.clients.get_mut(&party) {
                c.calls.insert(call_id.clone());
            }
        }
        self.calls.insert(
            call_id.clone(),
            Call {
                caller: client,
                callee,
                ringing_since: Some(now),
                invites_to,
            },
        );
        out.push(Delivery::To(
            callee,
            ServerMessage::Incoming {
                from: my_id.to_string(),
                call_id,
                room,
            },
        ));
    }

    /// The callee takes a ringing call; taking an invitation makes it a member of the room.
    fn accept(
        &mut self,
        client: ClientId,
        my_id: String,
        call_id: String,
        out: &mut Vec<Delivery>,
    ) {
        let Some(call) = self
            .calls
            .get(&call_id)
            .filter(|c| c.callee == client && c.ringing_since.is_some())
        else {
            out.push(unknown_call(client, &call_id));
            return;
        };
        let (caller, invites_to) = (call.caller, call.invites_to.clone());
        if let Some(room) = &invites_to {
            let moving_in = !self.rooms.is_member(client, room);
            if moving_in && self.rooms.is_full(room) {
                self.end_call(&call_id);
                out.push(Delivery::To(
                    client,
                    ServerMessage::Error {
                        code: ErrorCode::RoomFull,
                        message: format!("room {} is full", shown(room)),
                        call_id: Some(call_id.clone()),
                        room: Some(room.clone()),
                    },
                ));
                out.push(Delivery::To(
                    caller,
                    ServerMessage::Hangup {
                        from: my_id,
                        call_id,
                        reason: Some(HangupReason::RoomFull),
                    },
                ));
                return;
            }
        }
        if let Some(call) = self.calls.get_mut(&call_id) {
            call.ringing_since = None;
        }
        out.push(Delivery::To(
            caller,
            ServerMessage::Accepted {
                from: my_id.clone(),
                call_id,
            },
        ));
        if let Some(room) = invites_to {
            if !self.rooms.is_member(client, &room) {
                self.enter_room(client, &my_id, room, out);
            }
        }
    }

    fn join(&mut self, client: ClientId, my_id: &str, room: String, out: &mut Vec<Delivery>) {
        if self.clients.get(&client).map_or(0, |c| c.protocol) < 2 {
            out.push(error(
                client,
                ErrorCode::BadMessage,
                "rooms are protocol version 2: register with \"protocol\":2",
                None,
            ));
            return;
        }
        if let Err(why) = check_room_name(&room) {
            out.push(error(client, ErrorCode::BadMessage, why, None));
            return;
        }
        if self.rooms.is_member(client, &room) {
            out.push(error(
                client,
                ErrorCode::BadMessage,
                format!("you are in room {} already", shown(&room)),
                None,
            ));
            return;
        }
        if self.rooms.is_full(&room) {
            out.push(Delivery::To(
                client,
                ServerMessage::room_error(
                    ErrorCode::RoomFull,
                    format!("room {} is full", shown(&room)),
                    &room,
                ),
            ));
            return;
        }
        self.enter_room(client, my_id, room, out);
    }

    /// Into `room` (out of any other first), telling it and its members. The room has space.
    fn enter_room(&mut self, client: ClientId, my_id: &str, room: String, out: &mut Vec<Delivery>) {
        self.leave_room(client, my_id, out);
        let others: Vec<ClientId> = self.rooms.members(&room).to_vec();
        if self.rooms.add(client, &room).is_err() {
            return;
        }
        let members = others
            .iter()
            .filter_map(|&c| self.peer_id(c).map(str::to_string))
            .collect();
        out.push(Delivery::To(
            client,
            ServerMessage::Room {
                room: room.clone(),
                members,
            },
        ));
        for member in others {
            out.push(Delivery::To(
                member,
                ServerMessage::MemberJoined {
                    room: room.clone(),
                    id: my_id.to_string(),
                },
            ));
        }
    }

    /// Out of its room, if any, telling those left.
    fn leave_room(&mut self, client: ClientId, my_id: &str, out: &mut Vec<Delivery>) {
        let Some((room, left)) = self.rooms.remove(client) else {
            return;
        };
        for member in left {
            out.push(Delivery::To(
                member,
                ServerMessage::MemberLeft {
                    room: room.clone(),
                    id: my_id.to_string(),
                },
            ));
        }
    }

    fn end_call(&mut self, call_id: &str) -> Option<Call> {
        let call = self.calls.remove(call_id)?;
        for party in [call.caller, call.callee] {
            if let Some(c) = self.clients.get_mut(&party) {
                c.calls.remove(call_id);
            }
        }
        if self.retired_order.len() >= RETIRED_CALL_IDS {
            if let Some(old) = self.retired_order.pop_front() {
                self.retired.remove(&old);
            }
        }
        self.retired.insert(call_id.to_string());
        self.retired_order.push_back(call_id.to_string());
        Some(call)
    }
}

fn error(
    client: ClientId,
    code: ErrorCode,
    message: impl Into<String>,
    call_id: Option<&str>,
) -> Delivery {
    Delivery::To(client, ServerMessage::error(code, message, call_id))
}

fn not_in_room(client: ClientId, room: &str) -> Delivery {
    let message = format!("you are not in room {}", shown(room));
    match check_room_name(room) {
        Ok(()) => Delivery::To(
            client,
            ServerMessage::room_error(ErrorCode::NotInRoom, message, room),
        ),
        Err(_) => error(client, ErrorCode::NotInRoom, message, None),
    }
}

fn unknown_call(client: ClientId, call_id: &str) -> Delivery {
    error(
        client,
        ErrorCode::UnknownCall,
        "no live call with that call_id of yours",
        // Echo only what could be a call_id: not 64 KiB of it.
        is_valid_call_id(call_id).then_some(call_id),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{RejectReason, SignalData};

    struct Fixture {
        board: Switchboard,
        now: Instant,
    }

    impl Fixture {
        fn new() -> Self {
            Fixture {
                board: Switchboard::new(SwitchboardConfig::default()),
                now: Instant::now(),
            }
        }

        fn send(&mut self, client: ClientId, message: ClientMessage) -> Vec<Delivery> {
            let mut out = Vec::new();
            self.board.handle(client, message, self.now, &mut out);
            out
        }

        fn registered(&mut self, id: &str) -> ClientId {
            let c = self.board.connect();
            let out = self.send(
                c,
                ClientMessage::Register {
                    id: Some(id.into()),
                    protocol: None,
                },
            );
            assert!(matches!(
                &out[0],
                Delivery::To(_, ServerMessage::Registered { .. })
            ));
            c
        }

        fn dial(&mut self, from: ClientId, to: &str, call_id: &str) -> Vec<Delivery> {
            self.send(
                from,
                ClientMessage::Call {
                    to: to.into(),
                    call_id: call_id.into(),
                    room: None,
                },
            )
        }
    }

    fn error_code(out: &[Delivery]) -> Option<ErrorCode> {
        out.iter().find_map(|d| match d {
            Delivery::To(_, ServerMessage::Error { code, .. }) => Some(*code),
            _ => None,
        })
    }

    #[test]
    fn register_sends_registered_peers_and_presence() {
        let mut f = Fixture::new();
        let alice = f.registered("alice");
        let bob = f.board.connect();
        let out = f.send(
            bob,
            ClientMessage::Register {
                id: Some("bob".into()),
                protocol: None,
            },
        );
        assert_eq!(
            out[1],
            Delivery::To(
                bob,
                ServerMessage::Peers {
                    peers: vec!["alice".into()]
                }
            )
        );
        assert_eq!(
            out[2],
            Delivery::Broadcast {
                except: bob,
                message: ServerMessage::PeerJoined { id: "bob".into() }
            }
        );
        let mut out = Vec::new();
        f.board.disconnect(alice, &mut out);
        assert_eq!(
            out,
            vec![Delivery::Broadcast {
                except: alice,
                message: ServerMessage::PeerLeft { id: "alice".into() }
            }]
        );
        assert_eq!(f.board.registered_count(), 1);
    }

    #[test]
    fn registration_errors() {
        let mut f = Fixture::new();
        let alice = f.registered("alice");
        let other = f.board.connect();
        let taken = f.send(
            other,
            ClientMessage::Register {
                id: Some("alice".into()),
                protocol: None,
            },
        );
        assert_eq!(error_code(&taken), Some(ErrorCode::IdTaken));
        let bad = f.send(
            other,
            ClientMessage::Register {
                id: Some("A!".into()),
                protocol: None,
            },
        );
        assert_eq!(error_code(&bad), Some(ErrorCode::InvalidId));
        let early = f.send(
            other,
            ClientMessage::Hangup {
                call_id: "x".into(),
            },
        );
        assert_eq!(error_code(&early), Some(ErrorCode::NotRegistered));
        let twice = f.send(
            alice,
            ClientMessage::Register {
                id: None,
                protocol: None,
            },
        );
        assert_eq!(error_code(&twice), Some(ErrorCode::BadMessage));
        let generated = f.send(
            other,
            ClientMessage::Register {
                id: None,
                protocol: None,
            },
        );
        match &generated[0] {
            Delivery::To(_, ServerMessage::Registered { id, .. }) => {
                assert!(crate::ids::is_valid_peer_id(id))
            }
            d => panic!("{d:?}"),
        }
    }

    /// Found by fuzzing: `from` lengthens a relayed signal, so one that arrived at the frame
    /// limit left over it (and our own client, reading with the same limit, dropped its
    /// connection). What relays stays within the server's frame size.
    #[test]
    fn a_signal_at_the_frame_limit_relays_within_the_server_frame_size() {
        let mut f = Fixture::new();
        let alice = f.registered("alice-with-a-long-name-of-32-ch");
        let bob = f.registered("bob");
        f.dial(alice, "bob", "c1");
        let signal = |len: usize| ClientMessage::Signal {
            call_id: "c1".into(),
            data: SignalData::Sdp {
                sdp: crate::protocol::SessionDescription {
                    kind: crate::protocol::SdpKind::Offer,
                    sdp: "v".repeat(len),
                },
            },
        };
        let overhead = signal(0).to_json().len();
        let text = signal(crate::protocol::MAX_FRAME_BYTES - overhead).to_json();
        assert_eq!(text.len(), crate::protocol::MAX_FRAME_BYTES);
        let out = f.send(alice, ClientMessage::parse(&text).unwrap());
        let [Delivery::To(to, relayed @ ServerMessage::Signal { .. })] = &out[..] else {
            panic!("{out:?}");
        };
        assert_eq!(*to, bob);
        let size = relayed.to_json().len();
        assert!(size > crate::protocol::MAX_FRAME_BYTES, "{size}");
        assert!(size <= MAX_SERVER_FRAME_BYTES, "{size}");
    }

    #[test]
    fn unknown_call_errors_echo_only_what_could_be_a_call_id() {
        let mut f = Fixture::new();
        let alice = f.registered("alice");
        let out = f.send(
            alice,
            ClientMessage::Hangup {
                call_id: "x".repeat(60_000),
            },
        );
        assert!(matches!(
            &out[..],
            [Delivery::To(_, ServerMessage::Error { call_id: None, .. })]
        ));
        let out = f.send(
            alice,
            ClientMessage::Hangup {
                call_id: "c9".into(),
            },
        );
        assert!(
            matches!(&out[..], [Delivery::To(_, ServerMessage::Error { call_id: Some(c), .. })] if c == "c9")
        );
    }

    #[test]
    fn a_full_call_relays_between_its_parties_only() {
        let mut f = Fixture::new();
        let alice = f.registered("alice");
        let bob = f.registered("bob");
        let eve = f.registered("eve");
        let out = f.dial(alice, "bob", "c1");
        assert_eq!(
            out,
            vec![Delivery::To(
                bob,
                ServerMessage::Incoming {
                    from: "alice".into(),
                    call_id: "c1".into(),
                    room: None,
                }
            )]
        );
        // Early offer while ringing reaches the callee.
        let data = SignalData::Candidate { candidate: None };
        let out = f.send(
            alice,
            ClientMessage::Signal {
                call_id: "c1".into(),
                data: data.clone(),
            },
        );
        assert!(
            matches!(&out[0], Delivery::To(to, ServerMessage::Signal { from, .. }) if *to == bob && from == "alice")
        );
        // Eve is not a party.
        let out = f.send(
            eve,
            ClientMessage::Signal {
                call_id: "c1".into(),
                data,
            },
        );
        assert_eq!(error_code(&out), Some(ErrorCode::UnknownCall));
        let out = f.send(
            eve,
            ClientMessage::Accept {
                call_id: "c1".into(),
            },
        );
        assert_eq!(error_code(&out), Some(ErrorCode::UnknownCall));
        // The caller cannot accept its own call.
        let out = f.send(
            alice,
            ClientMessage::Accept {
                call_id: "c1".into(),
            },
        );
        assert_eq!(error_code(&out), Some(ErrorCode::UnknownCall));
        let out = f.send(
            bob,
            ClientMessage::Accept {
                call_id: "c1".into(),
            },
        );
        assert!(
            matches!(&out[0], Delivery::To(to, ServerMessage::Accepted { .. }) if *to == alice)
        );
        let out = f.send(
            bob,
            ClientMessage::Hangup {
                call_id: "c1".into(),
            },
        );
        assert!(
            matches!(&out[0], Delivery::To(to, ServerMessage::Hangup { reason: None, .. }) if *to == alice)
        );
        assert_eq!(f.board.live_calls(), 0);
        // Ended calls do not relay, and their ID cannot be reused.
        let out = f.send(
            alice,
            ClientMessage::Hangup {
                call_id: "c1".into(),
            },
        );
        assert_eq!(error_code(&out), Some(ErrorCode::UnknownCall));
        assert_eq!(
            error_code(&f.dial(alice, "bob", "c1")),
            Some(ErrorCode::CallIdTaken)
        );
    }

    #[test]
    fn reject_unknown_peer_and_self() {
        let mut f = Fixture::new();
        let alice = f.registered("alice");
        let bob = f.registered("bob");
        f.dial(alice, "bob", "c1");
        let out = f.send(
            bob,
            ClientMessage::Reject {
                call_id: "c1".into(),
                reason: RejectReason::Busy,
            },
        );
        assert!(
            matches!(&out[0], Delivery::To(to, ServerMessage::Rejected { reason: RejectReason::Busy, .. }) if *to == alice)
        );
        assert_eq!(
            error_code(&f.dial(alice, "carol", "c2")),
            Some(ErrorCode::UnknownPeer)
        );
        assert_eq!(
            error_code(&f.dial(alice, "alice", "c3")),
            Some(ErrorCode::UnknownPeer)
        );
        assert_eq!(
            error_code(&f.dial(alice, "bob", &"x".repeat(65))),
            Some(ErrorCode::BadMessage)
        );
    }

    #[test]
    fn disconnect_ends_calls_with_gone() {
        let mut f = Fixture::new();
        let alice = f.registered("alice");
        let bob = f.registered("bob");
        f.dial(alice, "bob", "c1");
        let mut out = Vec::new();
        f.board.disconnect(alice, &mut out);
        assert_eq!(
            out[0],
            Delivery::To(
                bob,
                ServerMessage::Hangup {
                    from: "alice".into(),
                    call_id: "c1".into(),
                    reason: Some(HangupReason::Gone)
                }
            )
        );
        assert_eq!(f.board.live_calls(), 0);
        // The ID is free again.
        f.registered("alice");
    }

    #[test]
    fn ringing_times_out_but_answered_calls_do_not() {
        let mut f = Fixture::new();
        let alice = f.registered("alice");
        let bob = f.registered("bob");
        f.dial(alice, "bob", "ring");
        f.dial(alice, "bob", "talk");
        f.send(
            bob,
            ClientMessage::Accept {
                call_id: "talk".into(),
            },
        );
        let deadline = f.board.next_deadline().unwrap();
        assert_eq!(deadline, f.now + Duration::from_secs(60));
        let mut out = Vec::new();
        f.board
            .expire(deadline - Duration::from_millis(1), &mut out);
        assert!(out.is_empty());
        f.board.expire(deadline, &mut out);
        assert_eq!(out.len(), 2);
        for (d, to, from) in [(&out[0], alice, "bob"), (&out[1], bob, "alice")] {
            assert_eq!(
                *d,
                Delivery::To(
                    to,
                    ServerMessage::Hangup {
                        from: from.into(),
                        call_id: "ring".into(),
                        reason: Some(HangupReason::Timeout)
                    }
                )
            );
        }
        assert_eq!(f.board.live_calls(), 1);
        assert_eq!(f.board.next_deadline(), None);
    }

    /// The resume secret the last `registered` in `out` carries.
    fn resume_secret(out: &[Delivery]) -> String {
        out.iter()
            .find_map(|d| match d {
                Delivery::To(
                    _,
                    ServerMessage::Registered {
                        resume: Some(token),
                        ..
                    },
                ) => Some(token.clone()),
                _ => None,
            })
            .expect("registered carries a resume secret")
    }

    #[test]
    fn a_new_connection_with_the_secret_takes_the_registration_over_with_its_call_and_room() {
        let mut f = Fixture::new();
        let bob = registered_v2(&mut f, "bob");
        let old = f.board.connect();
        let out = f.send(
            old,
            ClientMessage::Register {
                id: Some("alice".into()),
                protocol: Some(2),
            },
        );
        let token = resume_secret(&out);
        f.dial(old, "bob", "c1");
        f.send(
            bob,
            ClientMessage::Accept {
                call_id: "c1".into(),
            },
        );
        join(&mut f, old, "r");
        join(&mut f, bob, "r");
        let resume = |token: &str| ClientMessage::Resume {
            id: "alice".into(),
            token: token.into(),
            protocol: Some(2),
        };

        // The wrong secret takes nothing: the ID is still taken.
        let thief = f.board.connect();
        let out = f.send(thief, resume("0123"));
        assert_eq!(error_code(&out), Some(ErrorCode::IdTaken));

        let new = f.board.connect();
        let out = f.send(new, resume(&token));
        assert_eq!(out[0], Delivery::Close(old));
        assert!(
            matches!(&out[1], Delivery::To(c, ServerMessage::Registered { id, .. }) if *c == new && id == "alice")
        );
        assert_ne!(resume_secret(&out), token, "a fresh secret each time");
        assert!(
            !out.iter().any(|d| matches!(d, Delivery::Broadcast { .. })),
            "nobody is told: {out:?}"
        );
        // The call goes on with the new connection: signals both ways, and the room too.
        let signal = |call_id: &str| ClientMessage::Signal {
            call_id: call_id.into(),
            data: SignalData::Candidate { candidate: None },
        };
        assert!(
            matches!(&f.send(bob, signal("c1"))[0], Delivery::To(c, ServerMessage::Signal { .. }) if *c == new)
        );
        assert!(
            matches!(&f.send(new, signal("c1"))[0], Delivery::To(c, ServerMessage::Signal { from, .. }) if *c == bob && from == "alice")
        );
        assert_eq!(f.board.rooms.members("r"), [new, bob]);
        // The old connection closing later says nothing.
        let mut out = Vec::new();
        f.board.disconnect(old, &mut out);
        assert!(out.is_empty(), "{out:?}");
        assert_eq!(f.board.live_calls(), 1);

        // Resuming an ID nobody holds (the server restarted, or noticed the old one gone) is
        // registering it.
        let mut f = Fixture::new();
        let c = f.board.connect();
        let out = f.send(c, resume(&token));
        assert!(
            matches!(&out[0], Delivery::To(_, ServerMessage::Registered { id, .. }) if id == "alice")
        );
        assert!(out.iter().any(|d| matches!(d, Delivery::Broadcast { .. })));
    }

    fn registered_v2(f: &mut Fixture, id: &str) -> ClientId {
        let c = f.board.connect();
        let out = f.send(
            c,
            ClientMessage::Register {
                id: Some(id.into()),
                protocol: Some(2),
            },
        );
        assert!(matches!(
            &out[0],
            Delivery::To(_, ServerMessage::Registered { protocol: 2, .. })
        ));
        c
    }

    fn join(f: &mut Fixture, client: ClientId, room: &str) -> Vec<Delivery> {
        f.send(client, ClientMessage::Join { room: room.into() })
    }

    fn room_call(f: &mut Fixture, from: ClientId, to: &str, call_id: &str) -> Vec<Delivery> {
        f.send(
            from,
            ClientMessage::Call {
                to: to.into(),
                call_id: call_id.into(),
                room: Some("r".into()),
            },
        )
    }

    fn to(client: ClientId, message: ServerMessage) -> Delivery {
        Delivery::To(client, message)
    }

    fn joined(client: ClientId, id: &str) -> Delivery {
        to(
            client,
            ServerMessage::MemberJoined {
                room: "r".into(),
                id: id.into(),
            },
        )
    }

    fn left(client: ClientId, id: &str) -> Delivery {
        to(
            client,
            ServerMessage::MemberLeft {
                room: "r".into(),
                id: id.into(),
            },
        )
    }

    fn room(client: ClientId, members: &[&str]) -> Delivery {
        to(
            client,
            ServerMessage::Room {
                room: "r".into(),
                members: members.iter().map(|m| m.to_string()).collect(),
            },
        )
    }

    #[test]
    fn joiners_learn_the_members_and_the_members_learn_the_joiner() {
        let mut f = Fixture::new();
        let alice = registered_v2(&mut f, "alice");
        let bob = registered_v2(&mut f, "bob");
        let carol = registered_v2(&mut f, "carol");
        assert_eq!(join(&mut f, alice, "r"), vec![room(alice, &[])]);
        assert_eq!(
            join(&mut f, bob, "r"),
            vec![room(bob, &["alice"]), joined(alice, "bob")]
        );
        assert_eq!(
            join(&mut f, carol, "r"),
            vec![
                room(carol, &["alice", "bob"]),
                joined(alice, "carol"),
                joined(bob, "carol")
            ]
        );
        assert_eq!(f.board.room_count(), 1);
        // Twice is a mistake; a bad name is refused.
        assert_eq!(
            error_code(&join(&mut f, carol, "r")),
            Some(ErrorCode::BadMessage)
        );
        assert_eq!(
            error_code(&join(&mut f, carol, "Not A Room!")),
            Some(ErrorCode::BadMessage)
        );
        // Leaving tells those left; a closed connection leaves too, and its legs end.
        let out = room_call(&mut f, carol, "alice", "leg1");
        assert!(matches!(
            &out[0],
            Delivery::To(c, ServerMessage::Incoming { room: Some(r), .. }) if *c == alice && r == "r"
        ));
        f.send(
            alice,
            ClientMessage::Accept {
                call_id: "leg1".into(),
            },
        );
        assert_eq!(
            f.send(bob, ClientMessage::Leave { room: "r".into() }),
            vec![left(alice, "bob"), left(carol, "bob")]
        );
        assert_eq!(
            error_code(&f.send(bob, ClientMessage::Leave { room: "r".into() })),
            Some(ErrorCode::NotInRoom)
        );
        let mut out = Vec::new();
        f.board.disconnect(carol, &mut out);
        assert!(out.contains(&left(alice, "carol")), "{out:?}");
        assert!(out.contains(&to(
            alice,
            ServerMessage::Hangup {
                from: "carol".into(),
                call_id: "leg1".into(),
                reason: Some(HangupReason::Gone)
            }
        )));
        f.board.disconnect(alice, &mut Vec::new());
        assert_eq!(f.board.room_count(), 0, "an empty room is forgotten");
    }

    #[test]
    fn a_room_holds_its_limit() {
        let mut f = Fixture::new();
        let ids: Vec<String> = (0..7).map(|n| format!("peer{n}")).collect();
        let clients: Vec<ClientId> = ids.iter().map(|id| registered_v2(&mut f, id)).collect();
        for &c in &clients[..6] {
            assert_eq!(error_code(&join(&mut f, c, "r")), None);
        }
        let out = join(&mut f, clients[6], "r");
        assert!(matches!(
            &out[..],
            [Delivery::To(_, ServerMessage::Error { code: ErrorCode::RoomFull, room: Some(r), .. })] if r == "r"
        ));
    }

    #[test]
    fn only_members_call_into_a_room_and_others_are_invited() {
        let mut f = Fixture::new();
        let alice = registered_v2(&mut f, "alice");
        let bob = registered_v2(&mut f, "bob");
        let dave = registered_v2(&mut f, "dave");
        let old = f.registered("old");
        join(&mut f, alice, "r");
        join(&mut f, bob, "r");
        // Not a member: cannot reach into the room.
        assert_eq!(
            error_code(&room_call(&mut f, dave, "alice", "x1")),
            Some(ErrorCode::NotInRoom)
        );
        // A version-1 client cannot be invited, nor join.
        assert_eq!(
            error_code(&room_call(&mut f, alice, "old", "x2")),
            Some(ErrorCode::UnknownPeer)
        );
        assert_eq!(
            error_code(&join(&mut f, old, "r")),
            Some(ErrorCode::BadMessage)
        );
        // An invitation rings; accepting it makes a member.
        let out = room_call(&mut f, alice, "dave", "inv");
        assert_eq!(
            out,
            vec![to(
                dave,
                ServerMessage::Incoming {
                    from: "alice".into(),
                    call_id: "inv".into(),
                    room: Some("r".into())
                }
            )]
        );
        let out = f.send(
            dave,
            ClientMessage::Accept {
                call_id: "inv".into(),
            },
        );
        assert_eq!(
            out,
            vec![
                to(
                    alice,
                    ServerMessage::Accepted {
                        from: "dave".into(),
                        call_id: "inv".into()
                    }
                ),
                room(dave, &["alice", "bob"]),
                joined(alice, "dave"),
                joined(bob, "dave"),
            ]
        );
        // Signals of legs go only between their two members.
        assert_eq!(
            error_code(&f.send(
                bob,
                ClientMessage::Signal {
                    call_id: "inv".into(),
                    data: SignalData::Candidate { candidate: None }
                }
            )),
            Some(ErrorCode::UnknownCall)
        );
    }

    #[test]
    fn an_invitation_accepted_into_a_full_room_ends() {
        let mut f = Fixture {
            board: Switchboard::new(SwitchboardConfig {
                max_room: 2,
                ..SwitchboardConfig::default()
            }),
            now: Instant::now(),
        };
        let alice = registered_v2(&mut f, "alice");
        let bob = registered_v2(&mut f, "bob");
        let dave = registered_v2(&mut f, "dave");
        join(&mut f, alice, "r");
        room_call(&mut f, alice, "dave", "inv");
        join(&mut f, bob, "r");
        let out = f.send(
            dave,
            ClientMessage::Accept {
                call_id: "inv".into(),
            },
        );
        assert!(matches!(
            &out[0],
            Delivery::To(c, ServerMessage::Error { code: ErrorCode::RoomFull, .. }) if *c == dave
        ));
        assert_eq!(
            out[1],
            to(
                alice,
                ServerMessage::Hangup {
                    from: "dave".into(),
                    call_id: "inv".into(),
                    reason: Some(HangupReason::RoomFull)
                }
            )
        );
        assert_eq!(f.board.live_calls(), 0);
    }
}
