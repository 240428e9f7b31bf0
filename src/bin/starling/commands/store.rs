//! `starling store migrate --to edge|qdrant`: copies the configured store's index into the
//! other kind of store (every chunk with its vectors, no re-embedding), resumable, verified by
//! counts and sample searches (`notes::migrate`). The index's record of its files goes along,
//! so the next `starling index` against the new store only indexes what changed.

use std::process::ExitCode;

use anyhow::Context;
use starling::backends::Embedder as _;
use starling::config::{Config, StoreBackend};
use starling::notes::migrate::{migrate, MigrateReport};
use starling::services;

use crate::output;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Copy the index from the configured store (--store, --store-url) into another one.
    Migrate(MigrateArgs),
}

#[derive(Debug, clap::Args)]
pub struct MigrateArgs {
    /// The store to copy into: edge (the embedded store in the data dir) or qdrant.
    #[arg(long, value_parser = ["edge", "qdrant"])]
    to: String,
    /// The target Qdrant server's gRPC address (--to qdrant; default: store.url).
    #[arg(long, value_name = "URL")]
    url: Option<String>,
    /// The target collection (--to qdrant; default: store.collection, or one per note roots).
    #[arg(long, value_name = "NAME")]
    collection: Option<String>,
    /// Empty the target first when it already holds chunks (otherwise that is an error).
    #[arg(long)]
    replace: bool,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

fn describe(store: &Config) -> String {
    match store.store.backend {
        StoreBackend::Edge => format!(
            "the embedded store in `{}`",
            services::index_dir(store).display()
        ),
        StoreBackend::Qdrant => format!(
            "collection `{}` on {}",
            services::collection_name(store),
            store.store.url
        ),
    }
}

/// A file name for the checkpoint of a migration into `target`.
fn checkpoint_name(target: &Config) -> String {
    let key = match target.store.backend {
        StoreBackend::Edge => "edge".to_string(),
        StoreBackend::Qdrant => {
            format!("{}-{}", target.store.url, services::collection_name(target))
        }
    };
    let key: String = key
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("migrate-{key}.json")
}

/// Removes every chunk of `store`, note by note.
fn clear(store: &dyn starling::backends::VectorStore) -> anyhow::Result<()> {
    let mut sources = std::collections::BTreeSet::new();
    let mut from = None;
    loop {
        let (page, next) = store.scroll(from, 512)?;
        sources.extend(page.into_iter().map(|c| c.chunk.source));
        match next {
            Some(next) => from = Some(next),
            None => break,
        }
    }
    for source in sources {
        store.delete_source(&source)?;
    }
    store.flush()?;
    Ok(())
}

pub fn run(config: &Config, command: &Command) -> anyhow::Result<ExitCode> {
    let Command::Migrate(args) = command;
    let mut target = config.clone();
    target.store.backend = if args.to == "qdrant" {
        StoreBackend::Qdrant
    } else {
        StoreBackend::Edge
    };
    if let Some(url) = &args.url {
        target.store.url = url.clone();
    }
    if let Some(collection) = &args.collection {
        target.store.collection = collection.clone();
    }
    let same = match (&config.store.backend, &target.store.backend) {
        (StoreBackend::Edge, StoreBackend::Edge) => true,
        (StoreBackend::Qdrant, StoreBackend::Qdrant) => {
            config.store.url == target.store.url
                && services::collection_name(config) == services::collection_name(&target)
        }
        _ => false,
    };
    anyhow::ensure!(
        !same,
        "the index is already in {}; name the store it is in now with --store and --store-url \
         (e.g. `starling --store-url http://127.0.0.1:6334 store migrate --to edge`)",
        describe(config)
    );
    let lock = crate::client::lock_to_write(config, "starling store migrate")?;
    let embedder =
        services::open_embedder(config, starling::backends::fastembed::Workload::Queries)?;
    let source = services::open_store(config, lock, embedder.dimension())
        .with_context(|| format!("opening the source, {}", describe(config)))?;
    let destination = services::open_store_under_held_lock(&target, embedder.dimension())
        .with_context(|| format!("opening the target, {}", describe(&target)))?;
    let checkpoint = services::index_dir(config).join(checkpoint_name(&target));
    let held = destination.store.count()?;
    if held > 0 && !checkpoint.exists() {
        anyhow::ensure!(
            args.replace,
            "{} already holds {held} chunks; pass --replace to empty it first",
            describe(&target)
        );
        clear(destination.store.as_ref())?;
    }
    let bar = crate::output::Progress::new("migrating {pos}/{len} chunks ({percent}%)");
    let mut progress = |done: usize, total: usize| bar.update(done, total);
    let report: MigrateReport = migrate(
        source.store.as_ref(),
        destination.store.as_ref(),
        &checkpoint,
        &mut progress,
    )?;
    bar.finish_and_clear();
    // The record of the indexed files goes with the chunks.
    if source.state_path.exists() {
        let state = std::fs::read(&source.state_path)
            .with_context(|| format!("reading `{}`", source.state_path.display()))?;
        if let Some(folder) = destination.state_path.parent() {
            starling::files::create_private_dir(folder)?;
        }
        starling::files::write_atomic(&destination.state_path, &state)?;
    }
    if args.json {
        output::print(&format!("{}\n", serde_json::to_string(&report)?))?;
    } else {
        output::print(&format!(
            "{} chunks copied from {} into {} in {:.1} s{}; {} in each, {} sample searches agree\n",
            report.chunks_copied,
            describe(config),
            describe(&target),
            report.seconds,
            if report.resumed { " (resumed)" } else { "" },
            report.target_chunks,
            report.searches_checked,
        ))?;
    }
    Ok(ExitCode::SUCCESS)
}
