//! socket.io signaling servers people already run (see `docs/transports.md`):
//!
//! - [`engine_io`]: Engine.IO v3 / v4 and socket.io framing, pure; [`client`] runs it over a
//!   WebSocket.
//! - [`room`]: the rules of rooms of two (`create or join`, `message`), pure;
//!   [`room_transport`] is the [`crate::Signaling`] transport built on them
//!   ([`SocketIoRoomSignaling`]): one socket.io connection per call.

pub mod client;
pub mod engine_io;
pub mod room;
pub mod room_transport;

pub use room_transport::SocketIoRoomSignaling;
