//! Files for the file-transfer tests: a fresh folder, content that is not all alike, and a
//! SHA-256 from coreutils (not from peercall).

use std::path::{Path, PathBuf};
use std::process::Command;

/// A fresh folder for one test (`tag` keeps tests apart).
pub fn folder(tag: &str, name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("peercall-{tag}-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A file of `size` bytes that are not all alike (a cheap generator, different per `seed`).
pub fn make_file(path: &Path, size: usize, seed: u64) {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut bytes = Vec::with_capacity(size + 8);
    while bytes.len() < size {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    bytes.truncate(size);
    std::fs::write(path, bytes).unwrap();
}

/// SHA-256 by coreutils, not by peercall.
pub fn sha256sum(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    assert!(out.status.success(), "sha256sum {}", path.display());
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}
