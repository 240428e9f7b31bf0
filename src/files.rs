//! Reading user text safely (clear errors for binary, non-UTF-8, empty or huge files) and
//! writing files atomically (temporary file, fsync, rename) with an optional backup.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Decodes bytes as UTF-8 text, refusing binary data with a message that names `path`.
pub fn decode_text(path: &Path, bytes: Vec<u8>, max_bytes: u64) -> Result<String> {
    let input = |message: String| Error::Input {
        path: path.to_path_buf(),
        message,
    };
    if bytes.len() as u64 > max_bytes {
        return Err(input(format!(
            "is {} bytes, over the {} byte limit; split it or raise the limit",
            bytes.len(),
            max_bytes
        )));
    }
    if bytes.iter().take(8192).any(|&b| b == 0) {
        return Err(input(
            "looks binary (contains NUL bytes); pass a text or Markdown file".into(),
        ));
    }
    let bytes = bytes
        .strip_prefix(b"\xef\xbb\xbf")
        .map(<[u8]>::to_vec)
        .unwrap_or(bytes);
    String::from_utf8(bytes).map_err(|err| {
        let offset = err.utf8_error().valid_up_to();
        input(format!("is not valid UTF-8 (first bad byte at offset {offset}); convert it to UTF-8 (e.g. `iconv -f WINDOWS-1252 -t UTF-8`)"))
    })
}

/// Reads a text file with `decode_text`'s checks.
pub fn read_text(path: &Path, max_bytes: u64) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|err| Error::Input {
        path: path.to_path_buf(),
        message: format!("cannot read it: {err}"),
    })?;
    decode_text(path, bytes, max_bytes)
}

/// Writes `bytes` to `path` so that readers see the old content or the new, never a mix:
/// a temporary file in the same folder, fsync, rename, then fsync of the folder.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path.file_name().ok_or_else(|| Error::Input {
        path: path.to_path_buf(),
        message: "is not a file path".into(),
    })?;
    let temporary = dir.join(format!(
        ".{}.starling-{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let context = |what: &str| format!("cannot {what} `{}`", temporary.display());
    let result = (|| {
        let mut file =
            std::fs::File::create(&temporary).map_err(|e| Error::io(context("create"), e))?;
        file.write_all(bytes)
            .map_err(|e| Error::io(context("write"), e))?;
        file.sync_all().map_err(|e| Error::io(context("sync"), e))?;
        if let Ok(metadata) = std::fs::metadata(path) {
            // Keep the original's permissions.
            let _ = std::fs::set_permissions(&temporary, metadata.permissions());
        }
        std::fs::rename(&temporary, path)
            .map_err(|e| Error::io(format!("cannot replace `{}`", path.display()), e))?;
        if let Ok(folder) = std::fs::File::open(dir) {
            let _ = folder.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result
}

/// Copies `path` to the first free `PATH.bak`, `PATH.bak.1`, ... and returns the backup's path.
pub fn backup(path: &Path) -> Result<PathBuf> {
    let original = std::fs::read(path)
        .map_err(|e| Error::io(format!("cannot read `{}` for a backup", path.display()), e))?;
    let mut candidate = PathBuf::from(format!("{}.bak", path.display()));
    let mut n = 1;
    while candidate.exists() {
        candidate = PathBuf::from(format!("{}.bak.{n}", path.display()));
        n += 1;
    }
    write_atomic(&candidate, &original)?;
    Ok(candidate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_inputs_get_named_errors() {
        let path = Path::new("notes/x.md");
        let message = decode_text(path, vec![b'a', 0, b'b'], 100)
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("notes/x.md") && message.contains("binary"),
            "{message}"
        );
        let message = decode_text(path, vec![b'a', 0xff], 100)
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("UTF-8") && message.contains("offset 1"),
            "{message}"
        );
        assert!(decode_text(path, vec![b'a'; 10], 5)
            .unwrap_err()
            .to_string()
            .contains("limit"));
        assert_eq!(
            decode_text(path, b"\xef\xbb\xbfhi".to_vec(), 100).unwrap(),
            "hi"
        );
    }

    #[test]
    fn atomic_write_and_backup_keep_the_original() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("draft.md");
        std::fs::write(&path, "old").unwrap();
        let saved = backup(&path).unwrap();
        write_atomic(&path, b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        assert_eq!(std::fs::read_to_string(&saved).unwrap(), "old");
        assert_eq!(backup(&path).unwrap(), dir.path().join("draft.md.bak.1"));
        let leftovers = std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".tmp")
            })
            .count();
        assert_eq!(leftovers, 0);
    }
}
