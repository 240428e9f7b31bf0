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

/// Reads at most `max_bytes` from `reader` (standard input, a file); more is an error naming
/// `path`, found without reading the rest.
pub fn read_limited(path: &Path, reader: impl std::io::Read, max_bytes: u64) -> Result<Vec<u8>> {
    use std::io::Read;
    let input = |message: String| Error::Input {
        path: path.to_path_buf(),
        message,
    };
    let mut bytes = Vec::new();
    reader
        .take(max_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|err| input(format!("cannot read it: {err}")))?;
    if bytes.len() as u64 > max_bytes {
        return Err(input(format!(
            "is over the {max_bytes} byte limit; split it or raise the limit"
        )));
    }
    Ok(bytes)
}

/// Reads a text file with `decode_text`'s checks; its size is checked before it is read.
pub fn read_text(path: &Path, max_bytes: u64) -> Result<String> {
    let cannot = |err: std::io::Error| Error::Input {
        path: path.to_path_buf(),
        message: format!("cannot read it: {err}"),
    };
    let file = std::fs::File::open(path).map_err(cannot)?;
    let size = file.metadata().map_err(cannot)?.len();
    if size > max_bytes {
        return Err(Error::Input {
            path: path.to_path_buf(),
            message: format!(
                "is {size} bytes, over the {max_bytes} byte limit; split it or raise the limit"
            ),
        });
    }
    let bytes = read_limited(path, file, max_bytes)?;
    decode_text(path, bytes, max_bytes)
}

/// Writes `bytes` to `path` so that readers see the old content or the new, never a mix:
/// a temporary file in the same folder, fsync, rename, then fsync of the folder.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, bytes, None)
}

/// `write_atomic` for secrets: the file is mode 0600 from its creation (never readable by
/// another user, not even between creation and a later chmod).
pub fn write_atomic_private(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, bytes, Some(0o600))
}

/// Creates `dir` (and missing parents) as mode 0700, and makes an existing one 0700: what
/// Starling keeps there (the index, the API token) is for this user only.
pub fn create_private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| Error::io(format!("cannot create `{}`", dir.display()), e))?;
    let mode = std::fs::metadata(dir)
        .map_err(|e| Error::io(format!("cannot read `{}`", dir.display()), e))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(|e| {
            Error::io(
                format!(
                    "cannot make `{}` private (0700); run `chmod 700` on it",
                    dir.display()
                ),
                e,
            )
        })?;
    }
    Ok(())
}

fn write_atomic_with(path: &Path, bytes: &[u8], mode: Option<u32>) -> Result<()> {
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
        let mut file = match mode {
            Some(mode) => {
                use std::os::unix::fs::OpenOptionsExt;
                // A leftover temporary file may have any mode: start from none.
                let _ = std::fs::remove_file(&temporary);
                std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(mode)
                    .open(&temporary)
            }
            None => std::fs::File::create(&temporary),
        }
        .map_err(|e| Error::io(context("create"), e))?;
        file.write_all(bytes)
            .map_err(|e| Error::io(context("write"), e))?;
        file.sync_all().map_err(|e| Error::io(context("sync"), e))?;
        if let (None, Ok(metadata)) = (mode, std::fs::metadata(path)) {
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
    fn reads_stop_at_the_limit() {
        let endless = std::io::repeat(b'a');
        let message = read_limited(Path::new("<stdin>"), endless, 1000)
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("<stdin>") && message.contains("1000 byte limit"),
            "{message}"
        );
        assert_eq!(
            read_limited(Path::new("<stdin>"), &b"four"[..], 4).unwrap(),
            b"four"
        );
        // A sparse terabyte is refused by its size, never read.
        let dir = tempfile::tempdir().unwrap();
        let huge = dir.path().join("huge.md");
        std::fs::File::create(&huge)
            .unwrap()
            .set_len(1 << 40)
            .unwrap();
        let message = read_text(&huge, 1024).unwrap_err().to_string();
        assert!(
            message.contains("huge.md") && message.contains("1099511627776 bytes"),
            "{message}"
        );
    }

    #[test]
    fn private_files_and_folders_are_private_from_the_start() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("share/starling");
        create_private_dir(&data).unwrap();
        assert_eq!(mode(&data), 0o700);
        // An existing open folder is closed.
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
        create_private_dir(&data).unwrap();
        assert_eq!(mode(&data), 0o700);
        // A secret replaces a world-readable file, and a leftover temporary file cannot
        // lend it its mode.
        let token = data.join("server-token");
        std::fs::write(&token, "old").unwrap();
        std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o644)).unwrap();
        let leftover = data.join(format!(".server-token.starling-{}.tmp", std::process::id()));
        std::fs::write(&leftover, "").unwrap();
        std::fs::set_permissions(&leftover, std::fs::Permissions::from_mode(0o666)).unwrap();
        write_atomic_private(&token, b"secret").unwrap();
        assert_eq!(mode(&token), 0o600);
        assert_eq!(std::fs::read(&token).unwrap(), b"secret");
        assert!(!leftover.exists());
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
