//! peercall: native peer-to-peer video calls.
//!
//! This crate root only exposes the media engine for now; the call engine,
//! signaling glue and UI live beside it.
pub mod media;
