//! Where a received file goes: a name the sender chose made safe (no directories, no `..`, no
//! control characters, no hidden or empty names), and a suffix when that name is taken.

use std::path::{Path, PathBuf};

/// `name` as a plain file name that stays inside the folder it is put in.
pub fn safe_file_name(name: &str) -> String {
    // Whatever follows the last separator (either kind: the sender's platform is unknown).
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = base
        .chars()
        .map(|c| {
            if c.is_control() || matches!(c, ':' | '*' | '?' | '"' | '<' | '>' | '|') {
                '_'
            } else {
                c
            }
        })
        .collect();
    // No hidden files, no `.` or `..`, no trailing dots or spaces (Windows drops them).
    let trimmed = cleaned
        .trim_start_matches(['.', ' '])
        .trim_end_matches(['.', ' ']);
    let mut safe: String = trimmed.to_string();
    if safe.is_empty() {
        safe = "file".into();
    }
    // Long names are cut on a character boundary, keeping the extension.
    const MAX: usize = 200;
    if safe.len() > MAX {
        let (stem, ext) = split_extension(&safe);
        let ext = if ext.len() < 20 { ext } else { "" };
        let mut cut = MAX - ext.len();
        while !stem.is_char_boundary(cut) {
            cut -= 1;
        }
        safe = format!("{}{ext}", &stem[..cut]);
    }
    safe
}

/// `name.ext` → (`name`, `.ext`); no extension → (`name`, ``).
fn split_extension(name: &str) -> (&str, &str) {
    match name.rfind('.') {
        Some(dot) if dot > 0 => name.split_at(dot),
        _ => (name, ""),
    }
}

/// A path in `dir` for `name` (already safe) that nothing exists at: `name`, else `name (1).ext`,
/// `name (2).ext`, …
pub fn unused_path(dir: &Path, name: &str) -> PathBuf {
    let first = dir.join(name);
    if !first.exists() {
        return first;
    }
    let (stem, ext) = split_extension(name);
    (1u32..)
        .map(|n| dir.join(format!("{stem} ({n}){ext}")))
        .find(|p| !p.exists())
        .unwrap_or(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_stay_inside_the_folder() {
        for (given, safe) in [
            ("report.pdf", "report.pdf"),
            ("../../etc/passwd", "passwd"),
            ("..\\..\\boot.ini", "boot.ini"),
            ("/etc/shadow", "shadow"),
            ("..", "file"),
            ("...", "file"),
            (".bashrc", "bashrc"),
            ("a\u{0}b\nc", "a_b_c"),
            ("C:evil.exe", "C_evil.exe"),
            ("dir/", "file"),
            ("photo. ", "photo"),
        ] {
            assert_eq!(safe_file_name(given), safe, "{given:?}");
        }
        let long = format!("{}.txt", "é".repeat(200));
        let cut = safe_file_name(&long);
        assert!(cut.len() <= 200 && cut.ends_with(".txt"), "{cut}");
    }

    #[test]
    fn a_taken_name_gets_a_number() {
        let dir = std::env::temp_dir().join(format!("peercall-names-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(unused_path(&dir, "a.txt"), dir.join("a.txt"));
        std::fs::write(dir.join("a.txt"), b"1").unwrap();
        assert_eq!(unused_path(&dir, "a.txt"), dir.join("a (1).txt"));
        std::fs::write(dir.join("a (1).txt"), b"2").unwrap();
        assert_eq!(unused_path(&dir, "a.txt"), dir.join("a (2).txt"));
        std::fs::write(dir.join("noext"), b"3").unwrap();
        assert_eq!(unused_path(&dir, "noext"), dir.join("noext (1)"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
