//! Bringing the index up to date: `starling index [PATH...]`, `POST /v1/index`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Context;
use crate::error::{Error, RequestError, Result};
use crate::notes::index::{build_search_index, index_files, IndexOptions, IndexReport, Progress};
use crate::notes::loading::path_under_roots;

/// Which notes to bring up to date. On the command line the paths are note roots (remembered
/// in the config); the server indexes its configured roots whole, and a path sent to it must lie
/// under one of them (it only says what to look at: a run over fewer roots would drop the
/// others' notes).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IndexRequest {
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub paths: Vec<PathBuf>,
}

impl IndexRequest {
    /// Every path lies under one of `roots` (after canonicalisation).
    pub fn check_under(&self, roots: &[PathBuf]) -> Result<()> {
        if roots.is_empty() {
            return Err(Error::invalid(
                "paths",
                "the server has no note roots; stop it, run `starling index PATH` once, and start it again",
            ));
        }
        if let Some(path) = self
            .paths
            .iter()
            .find(|path| path_under_roots(path, roots).is_none())
        {
            return Err(Error::Request {
                field: "paths",
                message: format!(
                    "`{}` is not a file or folder under a note root of this server; send a path under {}, or stop the server and run `starling index PATH`",
                    path.display(),
                    roots
                        .iter()
                        .map(|r| format!("`{}`", r.display()))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                kind: RequestError::OutsideRoots,
            });
        }
        Ok(())
    }
}

/// One pass over `roots` into the context's store, recorded in `state_path`, ending with the
/// search index the store needs at its new size.
pub fn run(
    ctx: &Context,
    roots: &[PathBuf],
    state_path: &Path,
    progress: Progress<'_>,
) -> Result<IndexReport> {
    let mut report = run_files(ctx, roots, state_path, &mut *progress)?;
    build_search_index(state_path, ctx.store, &mut report, progress)?;
    Ok(report)
}

/// `run` without the search index at the end: `starling index` lets go of its embedder before
/// `build_search_index` (see `notes::index::build_search_index`).
pub fn run_files(
    ctx: &Context,
    roots: &[PathBuf],
    state_path: &Path,
    progress: Progress<'_>,
) -> Result<IndexReport> {
    index_files(
        roots,
        state_path,
        ctx.embedder,
        ctx.store,
        &IndexOptions {
            max_file_bytes: ctx.config.notes.max_file_bytes,
        },
        progress,
    )
}
