//! Sending a command through a running `starling serve` when it holds the note store (or
//! when `--server URL` says so): a small HTTP/1.1 client over loopback, JSON in and out.

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::Context;
use serde_json::Value;
use starling::config::Config;
use starling::notes::lock::StoreLock;

use crate::commands::serve;
use crate::http::Discovery;

/// `--server URL`, set once by `main`.
pub static FORCED: OnceLock<String> = OnceLock::new();

/// A server to send commands to.
#[derive(Debug, Clone)]
pub struct Remote {
    address: SocketAddr,
    host: String,
    token: String,
}

fn token(config: &Config) -> anyhow::Result<String> {
    if let Ok(token) = std::env::var("STARLING_TOKEN") {
        return Ok(token);
    }
    let path = serve::token_path(config);
    Ok(std::fs::read_to_string(&path)
        .with_context(|| {
            format!(
                "reading the API token `{}`; pass STARLING_TOKEN",
                path.display()
            )
        })?
        .trim()
        .to_string())
}

impl Remote {
    /// The server named by `--server`, if any.
    pub fn forced(config: &Config) -> anyhow::Result<Option<Remote>> {
        let Some(url) = FORCED.get() else {
            return Ok(None);
        };
        let authority = url
            .strip_prefix("http://")
            .with_context(|| {
                format!(
                    "--server `{url}`: use http://HOST:PORT (loopback servers speak plain HTTP)"
                )
            })?
            .trim_end_matches('/')
            .trim_end_matches("/v1");
        let address = authority
            .to_socket_addrs()
            .with_context(|| format!("--server `{url}`: cannot resolve `{authority}`"))?
            .next()
            .with_context(|| format!("--server `{url}`: no address"))?;
        Ok(Some(Remote {
            address,
            host: authority.to_string(),
            token: token(config)?,
        }))
    }

    /// The server that holds the store, from its discovery file.
    pub fn discovered(config: &Config) -> anyhow::Result<Remote> {
        let path = serve::discovery_path(config);
        let record: Discovery = serde_json::from_slice(
            &std::fs::read(&path).with_context(|| format!("reading `{}`", path.display()))?,
        )
        .with_context(|| format!("`{}` is not a server record", path.display()))?;
        Ok(Remote {
            address: record.address,
            host: format!("127.0.0.1:{}", record.address.port()),
            token: token(config)?,
        })
    }

    /// `POST path` (or `GET` without a body); the JSON answer, or the server's error message.
    pub fn call(&self, path: &str, body: Option<&Value>) -> anyhow::Result<Value> {
        // Straight to the server (loopback, or the one --server names): no proxy, no
        // redirects, and no timeout on the answer: the server's own --timeout bounds the work.
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .proxy(None)
            .max_redirects(0)
            .timeout_connect(Some(Duration::from_secs(5)))
            .build()
            .into();
        // The address the server listens on (any loopback address, or one `--allow-remote`
        // opened), named in the Host header as the server expects.
        let url = format!("http://{}{path}", self.address);
        let bearer = format!("Bearer {}", self.token);
        let response = match body {
            Some(body) => agent
                .post(&url)
                .header("Host", &self.host)
                .header("Authorization", &bearer)
                .send_json(body),
            None => agent
                .get(&url)
                .header("Host", &self.host)
                .header("Authorization", &bearer)
                .call(),
        };
        let mut response =
            response.with_context(|| format!("calling the server at {}", self.address))?;
        let status = response.status().as_u16();
        let value: Value = response
            .body_mut()
            .with_config()
            .limit(1 << 30)
            .read_json()
            .with_context(|| format!("the answer of the server at {} is not JSON", self.address))?;
        if status >= 400 {
            anyhow::bail!(
                "the server at {} answered {status}: {}",
                self.address,
                value["error"]["message"].as_str().unwrap_or("(no message)")
            );
        }
        Ok(value)
    }

    /// `POST path` with a typed request; the typed answer.
    pub fn request<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        request: &impl serde::Serialize,
    ) -> anyhow::Result<T> {
        let answer = self.call(path, Some(&serde_json::to_value(request)?))?;
        serde_json::from_value(answer)
            .with_context(|| format!("the answer of the server at {} to {path}", self.address))
    }
}

/// Where a store command should go: `Some(remote)` when a running server holds the store (per
/// `err` from taking the lock).
fn through_server(config: &Config, err: &starling::error::Error) -> Option<Remote> {
    match err {
        starling::error::Error::StoreLocked { holder, .. } if holder.contains("starling serve") => {
            Remote::discovered(config).ok()
        }
        _ => None,
    }
}

/// The note store for a command: this process's own (locked), a server to go through, or (for
/// a command that only reads) a copy, when another process holds it.
pub enum StoreAccess {
    Local(StoreLock),
    Remote(Remote),
    /// `holder` (an index run, another command) has the store: read a copy of it.
    Copy {
        holder: String,
    },
}

/// For a command that reads the store (search, star, map, ...): takes the store's lock for
/// `holder`, or finds the server that holds it (or `--server`), or else reads a copy of what
/// the process holding it has stored so far.
pub fn store_access(config: &Config, holder: &str) -> anyhow::Result<StoreAccess> {
    access(config, holder, false)
}

/// For a command that changes the store (index): takes the store's lock for `holder`
/// (`lock_to_write`), or finds the server that holds it (or `--server`). Never a copy.
pub fn store_access_to_write(config: &Config, holder: &str) -> anyhow::Result<StoreAccess> {
    access(config, holder, true)
}

fn access(config: &Config, holder: &str, write: bool) -> anyhow::Result<StoreAccess> {
    if let Some(remote) = Remote::forced(config)? {
        return Ok(StoreAccess::Remote(remote));
    }
    let taken = if write {
        lock_to_write(config, holder)
    } else {
        starling::services::lock_store(config, holder)
    };
    let err = match taken {
        Ok(lock) => return Ok(StoreAccess::Local(lock)),
        Err(err) => err,
    };
    if let Some(remote) = through_server(config, &err) {
        return Ok(StoreAccess::Remote(remote));
    }
    match err {
        starling::error::Error::StoreLocked { holder, .. }
            if !write && !holder.contains("starling serve") =>
        {
            Ok(StoreAccess::Copy { holder })
        }
        err => Err(err.into()),
    }
}

/// Whether the process named by a lock's holder line changes the store (and may hold it for
/// hours): an index run or a server. Every other command holds it for as long as it reads.
fn writes(holder: &str) -> bool {
    holder.contains("starling index")
        || holder.contains("starling serve")
        || holder.contains("starling store")
}

/// The store's lock for `holder`, a process that changes the store (an index run, a server):
/// waits while a command that only reads holds it; an error naming the holder when another
/// writer has it.
pub fn lock_to_write(config: &Config, holder: &str) -> starling::error::Result<StoreLock> {
    match starling::services::lock_store(config, holder) {
        Err(starling::error::Error::StoreLocked { holder: other, .. }) if !writes(&other) => {
            starling::services::lock_store_waiting(config, holder, |now| {
                eprintln!("note: waiting for {now} to finish reading the note store");
            })
        }
        taken => taken,
    }
}

/// Opens the note store of `access` (not `Remote`): its own, or a copy of what the process
/// holding it has stored so far (said on stderr).
pub fn open_notes(
    config: &Config,
    access: StoreAccess,
    dimension: usize,
) -> anyhow::Result<starling::services::NoteStore> {
    match access {
        StoreAccess::Local(lock) => Ok(starling::services::open_store(config, lock, dimension)?),
        StoreAccess::Copy { holder } => {
            let what = if holder.contains("starling index") {
                "the notes it has stored so far"
            } else {
                "it"
            };
            eprintln!("note: {holder} holds the note store; reading a copy of {what}");
            Ok(starling::services::open_snapshot(config, dimension)?)
        }
        StoreAccess::Remote(_) => {
            anyhow::bail!("internal: a command going through a server opened the store")
        }
    }
}

/// The engines a command opened here, as an `app::Context`.
pub fn context<'a>(
    config: &'a Config,
    embedder: &'a dyn starling::backends::Embedder,
    notes: &'a starling::services::NoteStore,
) -> starling::app::Context<'a> {
    starling::app::Context {
        config,
        embedder,
        store: notes.store.as_ref(),
    }
}
