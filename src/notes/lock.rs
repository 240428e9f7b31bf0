//! One writer per note store: an OS file lock (released by the kernel even after `kill -9`)
//! plus a line naming the holder, so a second process gets a message, not a corrupted store.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Held for as long as it lives.
#[derive(Debug)]
pub struct StoreLock {
    file: File,
    path: PathBuf,
}

impl StoreLock {
    /// Takes the lock at `path` for `holder` (e.g. "starling index"), or says who has it.
    pub fn acquire(path: &Path, holder: &str) -> Result<StoreLock> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::io(format!("cannot create `{}`", dir.display()), e))?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| Error::io(format!("cannot open the lock file `{}`", path.display()), e))?;
        match file.try_lock() {
            Ok(()) => {
                let line = format!("pid {} ({holder})\n", std::process::id());
                let written = file
                    .set_len(0)
                    .and_then(|_| file.seek(SeekFrom::Start(0)))
                    .and_then(|_| file.write_all(line.as_bytes()));
                written.map_err(|e| Error::io(format!("cannot write `{}`", path.display()), e))?;
                Ok(StoreLock {
                    file,
                    path: path.to_path_buf(),
                })
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut holder_line = String::new();
                let _ = file.read_to_string(&mut holder_line);
                let holder = holder_line.trim();
                Err(Error::StoreLocked {
                    path: path.parent().unwrap_or(path).to_path_buf(),
                    holder: if holder.is_empty() {
                        "another starling process".into()
                    } else {
                        holder.to_string()
                    },
                })
            }
            Err(std::fs::TryLockError::Error(err)) => {
                Err(Error::io(format!("cannot lock `{}`", path.display()), err))
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for StoreLock {
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

/// Store writes and snapshot copies exclude each other: the writer holds the gate (an OS file
/// lock on `write.lock` beside the store) exclusively for each store call that changes it, a
/// reader holds it shared while it copies the store. Between two calls the store on disk is
/// what a crash would leave (segments plus write-ahead log), which the store recovers from, so
/// a copy taken under the gate opens to everything stored so far.
#[derive(Debug)]
pub struct WriteGate {
    file: File,
}

/// The gate held; released when dropped.
#[derive(Debug)]
pub struct GateHeld<'a>(&'a File);

impl Drop for GateHeld<'_> {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

impl WriteGate {
    /// The gate of the store whose files live in `index_dir`.
    pub fn open(index_dir: &Path) -> Result<WriteGate> {
        std::fs::create_dir_all(index_dir)
            .map_err(|e| Error::io(format!("cannot create `{}`", index_dir.display()), e))?;
        let path = index_dir.join("write.lock");
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| Error::io(format!("cannot open the lock file `{}`", path.display()), e))?;
        Ok(WriteGate { file })
    }

    /// For one store write; waits while a reader copies the store.
    pub fn write(&self) -> Result<GateHeld<'_>> {
        self.file
            .lock()
            .map_err(|e| Error::io("cannot lock the store for writing".to_string(), e))?;
        Ok(GateHeld(&self.file))
    }

    /// For copying the store; waits until the writer is between two writes.
    pub fn read(&self) -> Result<GateHeld<'_>> {
        self.file
            .lock_shared()
            .map_err(|e| Error::io("cannot lock the store for reading".to_string(), e))?;
        Ok(GateHeld(&self.file))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_is_told_who_has_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.lock");
        let first = StoreLock::acquire(&path, "starling serve").unwrap();
        let message = StoreLock::acquire(&path, "starling index")
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("starling serve") && message.contains(&std::process::id().to_string()),
            "{message}"
        );
        drop(first);
        StoreLock::acquire(&path, "starling index").unwrap();
    }
}
