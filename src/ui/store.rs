//! What the window keeps between runs (recent calls, contacts) is written as JSON next to the
//! settings' data, replacing the old file only once the new one is whole.

use std::path::Path;

/// Writes `value` as pretty JSON to `path` by way of a temporary file and a rename: a crash
/// mid-write leaves the old file, not half a new one.
pub(crate) fn write_json_atomically<T: serde::Serialize + ?Sized>(
    path: &Path,
    value: &T,
) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(value)?)?;
    std::fs::rename(tmp, path)
}
