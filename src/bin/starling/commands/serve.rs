//! `starling serve`: the local HTTP API (see `crate::http`). Binds loopback unless told
//! otherwise, creates the bearer token on first start (mode 0600 in the 0700 data dir), writes a
//! discovery file while running, and on SIGINT/SIGTERM stops accepting, lets in-flight work
//! finish or cancels generations, flushes the store and exits 0. `starling token` prints the token.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use starling::backends::VectorStore;
use starling::config::Config;
use starling::files;
use starling::services;
use starling::tone::RuleSet;
use tokio::sync::Semaphore;

use crate::http::{self, AppState, Discovery, Engines};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8765")]
    addr: SocketAddr,
    /// Allow a non-loopback address (anyone who can reach it and has the token can read your notes).
    #[arg(long)]
    allow_remote: bool,
    /// With --allow-remote: a name clients reach the server by (the Host header they send, e.g.
    /// `notes.lan` or `192.168.1.20`), repeatable. The address it listens on is allowed already
    /// when it is a specific one; a wildcard address (0.0.0.0) needs the names listed.
    #[arg(long = "allow-host", value_name = "NAME", requires = "allow_remote")]
    allow_host: Vec<String>,
    /// A browser origin allowed to call the API (exact, repeatable), e.g. app://obsidian.md.
    #[arg(long = "allow-origin", value_name = "URL")]
    allow_origin: Vec<String>,
    /// Model requests that may wait while the running ones (generator.parallel) decode; more
    /// get 503 with Retry-After.
    #[arg(long, default_value_t = 8)]
    queue: usize,
    /// Seconds a request may take before it is cancelled (504).
    #[arg(long, default_value_t = 300)]
    timeout: u64,
    /// Largest request body in bytes (larger: 413).
    #[arg(long, default_value_t = 2 * 1024 * 1024)]
    max_body: usize,
    /// Tone checks and embedding requests that may run at once; more get 503 with Retry-After.
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// Open connections at most; at the cap the oldest one that has not sent a request is closed.
    #[arg(long, default_value_t = 512)]
    max_connections: usize,
    /// Seconds a client has to send each request's headers (slower ones are disconnected).
    #[arg(long, default_value_t = 10)]
    header_timeout: u64,
}

pub fn token_path(config: &Config) -> PathBuf {
    config.data_dir.join("server-token")
}

pub fn discovery_path(config: &Config) -> PathBuf {
    config.data_dir.join("server.json")
}

/// The token, created (32 random bytes, hex) when there is none: mode 0600 from its first byte,
/// in a data dir of mode 0700. A token found readable by others is made 0600.
pub fn token(config: &Config) -> anyhow::Result<String> {
    files::create_private_dir(&config.data_dir)?;
    let path = token_path(config);
    if let Ok(text) = std::fs::read_to_string(&path) {
        let token = text.trim().to_string();
        if token.len() == 64 {
            restrict(&path)?;
            return Ok(token);
        }
    }
    let mut bytes = [0u8; 32];
    use std::io::Read;
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .context("reading /dev/urandom for the API token")?;
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    files::write_atomic_private(&path, format!("{token}\n").as_bytes())?;
    Ok(token)
}

fn restrict(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .with_context(|| format!("reading `{}`", path.display()))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).with_context(
            || format!("making `{}` private; run `chmod 600` on it", path.display()),
        )?;
    }
    Ok(())
}

/// `starling token`: prints the API token (creating it if needed).
pub fn print_token(config: &Config) -> anyhow::Result<ExitCode> {
    crate::output::print(&format!("{}\n", token(config)?))?;
    Ok(ExitCode::SUCCESS)
}

pub fn run(config: &Config, args: &Args) -> anyhow::Result<ExitCode> {
    if !args.addr.ip().is_loopback() {
        anyhow::ensure!(
            args.allow_remote,
            "`{}` is not a loopback address; pass --allow-remote to listen there (anyone who reaches it with the token can read your notes)",
            args.addr
        );
        eprintln!(
            "warning: listening on {} (not loopback): the API is reachable from other machines",
            args.addr
        );
    }
    let mut allowed_hosts = Vec::new();
    for name in &args.allow_host {
        let name = name.trim().to_ascii_lowercase();
        anyhow::ensure!(
            !name.is_empty() && !name.contains(['/', '*', ' ']),
            "--allow-host `{name}`: give a host name or address as clients type it (e.g. notes.lan or 192.168.1.20), without scheme, path or `*`"
        );
        allowed_hosts.push(name);
    }
    let ip = args.addr.ip();
    if !ip.is_loopback() && !ip.is_unspecified() {
        // The address it listens on is how remote clients reach it.
        allowed_hosts.push(match ip {
            std::net::IpAddr::V4(v4) => v4.to_string(),
            std::net::IpAddr::V6(v6) => format!("[{v6}]"),
        });
    }
    if ip.is_unspecified() && allowed_hosts.is_empty() {
        eprintln!(
            "warning: listening on every address, but only loopback names are allowed in the Host header; pass --allow-host NAME for each name clients use"
        );
    }
    for origin in &args.allow_origin {
        anyhow::ensure!(
            origin != "*" && !origin.ends_with('/') && origin.contains("://"),
            "--allow-origin `{origin}`: give one exact origin such as https://example.com (no `*`, no trailing slash)"
        );
    }
    anyhow::ensure!(args.timeout > 0, "--timeout must be at least 1 second");
    anyhow::ensure!(args.workers > 0, "--workers must be at least 1");
    anyhow::ensure!(
        args.max_connections > 0,
        "--max-connections must be at least 1"
    );
    anyhow::ensure!(
        args.header_timeout > 0,
        "--header-timeout must be at least 1 second"
    );
    let token = token(config)?;
    let lock = crate::client::lock_to_write(config, "starling serve")?;
    let (embedder, notes) = services::open_embedder_beside(
        config,
        starling::backends::fastembed::Workload::Bulk,
        |dimension| services::open_store(config, lock, dimension),
    )?;
    let vocabulary = services::open_vocabulary(config)?;
    let generator = super::load_generator(config)?;
    let rules = RuleSet::load(&config.tone.rules)?;
    let map_cache_path = services::index_dir(config).join("map-judgments.json");
    let map_cache = std::fs::read(&map_cache_path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let engines = Arc::new(Engines {
        config: config.clone(),
        embedder,
        vocabulary,
        notes,
        generator,
        rules,
        map_cache: Mutex::new(map_cache),
        indexing: Mutex::new(()),
    });
    let shutting_down = Arc::new(AtomicBool::new(false));
    // The engine decodes `parallel` requests at once; `--queue` more may wait.
    let model_permits = args.queue + engines.generator.parallel();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let discovery = discovery_path(config);
    let served = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.addr)
            .await
            .with_context(|| format!("listening on {} (is another server running?)", args.addr))?;
        let address = listener.local_addr()?;
        let state = AppState {
            engines: engines.clone(),
            token: Arc::new(token),
            allowed_origins: Arc::new(args.allow_origin.clone()),
            allowed_hosts: Arc::new(allowed_hosts),
            port: address.port(),
            model_slots: Arc::new(Semaphore::new(model_permits)),
            work_slots: Arc::new(Semaphore::new(args.workers)),
            timeout: Duration::from_secs(args.timeout),
            shutting_down: shutting_down.clone(),
        };
        let record = Discovery {
            address,
            pid: std::process::id(),
            token_path: token_path(config),
        };
        files::write_atomic(&discovery, &serde_json::to_vec_pretty(&record)?)?;
        eprintln!("starling: serving on http://{address} (token: `starling token`)");
        let flag = shutting_down.clone();
        let limits = http::listen::Limits {
            max_connections: args.max_connections,
            header_timeout: Duration::from_secs(args.header_timeout),
        };
        http::listen::serve(
            listener,
            http::router(state, args.max_body),
            limits,
            async move {
                stop_signal().await;
                eprintln!("starling: stopping (finishing in-flight requests)");
                flag.store(true, Ordering::Relaxed);
            },
        )
        .await;
        anyhow::Ok(())
    });
    let _ = std::fs::remove_file(&discovery);
    // Every task holding the engines has finished once serve returns.
    engines.notes.store.flush()?;
    let cache = engines.map_cache.lock().unwrap_or_else(|p| p.into_inner());
    files::write_atomic(&map_cache_path, &serde_json::to_vec(&*cache)?)?;
    served?;
    Ok(ExitCode::SUCCESS)
}

async fn stop_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}
