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
        Self::take(path, holder, None::<fn(&str)>)
    }

    /// Takes the lock at `path` for `holder`, waiting while another process holds it;
    /// `waiting` is told who that is before the wait.
    pub fn acquire_waiting(
        path: &Path,
        holder: &str,
        waiting: impl FnOnce(&str),
    ) -> Result<StoreLock> {
        Self::take(path, holder, Some(waiting))
    }

    /// `waiting`: `None` to fail at once when the lock is held, or what to tell before waiting.
    fn take(path: &Path, holder: &str, waiting: Option<impl FnOnce(&str)>) -> Result<StoreLock> {
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
        let mut taken = file.try_lock();
        if let (Err(std::fs::TryLockError::WouldBlock), Some(waiting)) = (&taken, waiting) {
            waiting(&holder_line(&mut file));
            taken = file.lock().map_err(std::fs::TryLockError::Error);
        }
        match taken {
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
            Err(std::fs::TryLockError::WouldBlock) => Err(Error::StoreLocked {
                path: path.parent().unwrap_or(path).to_path_buf(),
                holder: holder_line(&mut file),
            }),
            Err(std::fs::TryLockError::Error(err)) => {
                Err(Error::io(format!("cannot lock `{}`", path.display()), err))
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Who holds the lock, as its holder wrote it.
fn holder_line(file: &mut File) -> String {
    let mut line = String::new();
    let _ = file.seek(SeekFrom::Start(0));
    let _ = file.read_to_string(&mut line);
    match line.trim() {
        "" => "another starling process".into(),
        holder => holder.to_string(),
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

    #[test]
    fn a_waiting_holder_gets_the_lock_once_it_is_released() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.lock");
        let first = StoreLock::acquire(&path, "starling search").unwrap();
        let (told, heard) = std::sync::mpsc::channel();
        let waiter = {
            let path = path.clone();
            std::thread::spawn(move || {
                StoreLock::acquire_waiting(&path, "starling index", |holder| {
                    told.send(holder.to_string()).unwrap()
                })
                .map(|_| ())
            })
        };
        let holder = heard.recv().unwrap();
        assert!(holder.contains("starling search"), "{holder}");
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert!(!waiter.is_finished(), "took a lock that was held");
        drop(first);
        waiter.join().unwrap().unwrap();
    }
}
