//! Finding and reading notes: walks note roots honouring `.gitignore` and `.starlingignore`,
//! takes `.md`, `.markdown` and `.txt`, and reads each file with clear reasons for skipping
//! it. The only module in the library that walks folders.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Extensions Starling indexes.
pub const NOTE_EXTENSIONS: &[&str] = &["md", "markdown", "txt"];

/// A note file found under a root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundFile {
    pub root: PathBuf,
    pub absolute: PathBuf,
    /// Relative to the root, `/`-separated.
    pub relative: String,
    pub size: u64,
    pub mtime_ns: u128,
}

/// A path the walk could not take, and why (an unreadable folder, a FIFO named `x.md`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalkProblem {
    pub path: String,
    pub reason: String,
}

/// Every note file under `roots`, sorted by relative path. A root may also be a single file.
pub fn walk(roots: &[PathBuf]) -> Result<Vec<FoundFile>> {
    walk_files(roots, Some(NOTE_EXTENSIONS))
}

/// `walk`, with the paths it had to leave out and why.
pub fn walk_notes(roots: &[PathBuf]) -> Result<(Vec<FoundFile>, Vec<WalkProblem>)> {
    let mut problems = Vec::new();
    let found = walk_reporting(roots, Some(NOTE_EXTENSIONS), &mut problems)?;
    Ok((found, problems))
}

/// True when `extensions` is `None` (any file) or names `path`'s extension (any case).
fn has_extension(path: &Path, extensions: Option<&[&str]>) -> bool {
    extensions.is_none_or(|wanted| {
        path.extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| wanted.contains(&e.to_ascii_lowercase().as_str()))
    })
}

/// Every file under `roots` (with one of `extensions`, when given), honouring the ignore
/// files, sorted by relative path.
pub fn walk_files(roots: &[PathBuf], extensions: Option<&[&str]>) -> Result<Vec<FoundFile>> {
    walk_reporting(roots, extensions, &mut Vec::new())
}

fn error_path(err: &ignore::Error) -> Option<&Path> {
    match err {
        ignore::Error::WithPath { path, .. } => Some(path),
        ignore::Error::WithDepth { err, .. } | ignore::Error::WithLineNumber { err, .. } => {
            error_path(err)
        }
        ignore::Error::Loop { child, .. } => Some(child),
        _ => None,
    }
}

fn walk_reporting(
    roots: &[PathBuf],
    extensions: Option<&[&str]>,
    problems: &mut Vec<WalkProblem>,
) -> Result<Vec<FoundFile>> {
    let mut found = Vec::new();
    for root in roots {
        let metadata = std::fs::metadata(root).map_err(|err| Error::Input {
            path: root.clone(),
            message: format!("cannot open it ({err}); check the path"),
        })?;
        let (base, walker) = if metadata.is_file() {
            (
                root.parent().map(Path::to_path_buf).unwrap_or_default(),
                ignore::WalkBuilder::new(root),
            )
        } else {
            (root.clone(), folder_walker(root))
        };
        let first = found.len();
        for entry in walker.build() {
            let entry = match entry {
                Ok(entry) => entry,
                Err(err) => {
                    problems.push(WalkProblem {
                        path: error_path(&err)
                            .map_or_else(String::new, |p| relative_path(&base, p)),
                        reason: format!("cannot read it ({err}); check its permissions"),
                    });
                    continue;
                }
            };
            let path = entry.path();
            if !has_extension(path, extensions) {
                continue;
            }
            let Some(file_type) = entry.file_type() else {
                continue;
            };
            if !file_type.is_file() {
                if !file_type.is_dir() && !file_type.is_symlink() {
                    problems.push(WalkProblem {
                        path: relative_path(&base, path),
                        reason: "not a regular file (a FIFO, socket or device); remove it from the notes".into(),
                    });
                }
                continue;
            }
            let metadata = match entry.metadata() {
                Ok(metadata) => metadata,
                Err(err) => {
                    problems.push(WalkProblem {
                        path: relative_path(&base, path),
                        reason: format!("cannot read its metadata ({err}); check its permissions"),
                    });
                    continue;
                }
            };
            let relative = relative_path(&base, path);
            let mtime_ns = metadata
                .modified()
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            found.push(FoundFile {
                root: root.clone(),
                absolute: path.to_path_buf(),
                relative,
                size: metadata.len(),
                mtime_ns,
            });
        }
        if metadata.is_dir() {
            let taken: HashSet<&Path> = found[first..]
                .iter()
                .map(|f| f.absolute.as_path())
                .collect();
            problems.extend(excluded_from_above(root, extensions, &taken));
        }
    }
    found.sort_by(|a, b| a.relative.cmp(&b.relative).then(a.root.cmp(&b.root)));
    found.dedup_by(|a, b| a.absolute == b.absolute);
    Ok(found)
}

/// The walk of a note folder: hidden files, `.gitignore` and `.starlingignore` honoured.
fn folder_walker(root: &Path) -> ignore::WalkBuilder {
    let mut builder = ignore::WalkBuilder::new(root);
    builder
        .add_custom_ignore_filename(".starlingignore")
        .hidden(true)
        .git_ignore(true)
        .require_git(false);
    builder
}

const IGNORE_FILES: [&str; 3] = [".starlingignore", ".ignore", ".gitignore"];

/// Files the walk left out because of an ignore file above the note root (a `.gitignore` in
/// the home folder, say) or git's own exclude settings: the user chose the folder, so each
/// is reported with the file and pattern that excluded it rather than vanishing. Walks a
/// second time only when something above the root could exclude anything.
fn excluded_from_above(
    root: &Path,
    extensions: Option<&[&str]>,
    taken: &HashSet<&Path>,
) -> Vec<WalkProblem> {
    let absolute = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    let above: Vec<PathBuf> = absolute
        .ancestors()
        .skip(1)
        .flat_map(|dir| IGNORE_FILES.iter().map(move |name| dir.join(name)))
        .filter(|file| file.is_file())
        .collect();
    let in_git = absolute.ancestors().any(|dir| dir.join(".git").exists());
    if above.is_empty() && !in_git {
        return Vec::new();
    }
    let matchers: Vec<(PathBuf, ignore::gitignore::Gitignore)> = above
        .into_iter()
        .map(|file| {
            let (matcher, _) = ignore::gitignore::Gitignore::new(&file);
            (file, matcher)
        })
        .collect();
    let mut walker = folder_walker(root);
    walker.parents(false).git_global(false).git_exclude(false);
    let mut problems = Vec::new();
    for entry in walker.build().filter_map(std::result::Result::ok) {
        let path = entry.path();
        if !entry.file_type().is_some_and(|t| t.is_file()) || taken.contains(path) {
            continue;
        }
        if !has_extension(path, extensions) {
            continue;
        }
        let relative = relative_path(root, path);
        // The outermost excluded piece (a folder, or the file itself) and what excluded it: a
        // whitelist for that piece is the fix.
        let pieces: Vec<&str> = relative.split('/').collect();
        let excluded = (1..=pieces.len()).find_map(|n| {
            let piece = pieces[..n].join("/");
            let is_dir = n < pieces.len();
            matchers.iter().find_map(|(file, matcher)| {
                match matcher.matched(absolute.join(&piece), is_dir) {
                    ignore::Match::Ignore(glob) => Some((
                        format!("`{}` (pattern `{}`)", file.display(), glob.original()),
                        if is_dir {
                            format!("{piece}/")
                        } else {
                            piece.clone()
                        },
                    )),
                    _ => None,
                }
            })
        });
        let (by, whitelist) = excluded.unwrap_or_else(|| {
            (
                "git's exclude settings (`.git/info/exclude` or `core.excludesFile`)".to_string(),
                relative.clone(),
            )
        });
        problems.push(WalkProblem {
            reason: format!(
                "excluded by {by}, outside the note root; to index it, add `!{whitelist}` to `{}`",
                root.join(".starlingignore").display()
            ),
            path: relative,
        });
    }
    problems
}

/// `path` relative to `base`, with `/` separators (the form chunks and filters use).
pub fn relative_path(base: &Path, path: &Path) -> String {
    let relative = path.strip_prefix(base).unwrap_or(path);
    relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// The file `path` names under one of `roots` (relative paths are tried against each root,
/// absolute ones as they are), canonicalised, when it lies under a canonicalised root: `..`,
/// symbolic links and `:` in folder names cannot lead outside. The path to open is the one
/// returned, never the one given.
pub fn file_under_roots(path: &Path, roots: &[PathBuf]) -> Option<PathBuf> {
    roots.iter().find_map(|root| {
        let root = std::fs::canonicalize(root).ok()?;
        let candidate = std::fs::canonicalize(root.join(path)).ok()?;
        (candidate.starts_with(&root) && candidate.is_file()).then_some(candidate)
    })
}

/// `path` (a folder or file) canonicalised, when it lies under one of `roots`.
pub fn path_under_roots(path: &Path, roots: &[PathBuf]) -> Option<PathBuf> {
    let candidate = std::fs::canonicalize(path).ok()?;
    roots
        .iter()
        .filter_map(|root| std::fs::canonicalize(root).ok())
        .any(|root| candidate.starts_with(root))
        .then_some(candidate)
}

/// Hex sha256 of bytes.
pub fn content_hash(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// Reads at most `max_bytes + 1` bytes of `path` (one more than the limit, so an over-long file
/// is still seen as over-long), never the whole of a huge file.
pub fn read_bounded(path: &Path, max_bytes: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let file = std::fs::File::open(path)?;
    let expected = file.metadata().map_or(0, |m| m.len());
    let limit = max_bytes.saturating_add(1);
    let mut bytes = Vec::with_capacity(usize::try_from(expected.min(limit)).unwrap_or(0));
    file.take(limit).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// A Dendron vault: a `dendron.yml` (the workspace's configuration) in the note root or a
/// folder above it.
pub fn is_dendron_vault(root: &Path) -> bool {
    root.ancestors()
        .any(|dir| dir.join("dendron.yml").is_file())
}

/// Why a file was not indexed.
pub fn skip_reason(bytes: &[u8], max_bytes: u64) -> Option<String> {
    if bytes.len() as u64 > max_bytes {
        return Some(format!(
            "larger than {max_bytes} bytes (notes.max_file_bytes)"
        ));
    }
    if bytes.iter().take(8192).any(|&b| b == 0) {
        return Some("binary (contains NUL bytes)".into());
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Some("empty (no text, only whitespace)".into());
    }
    if let Err(err) = std::str::from_utf8(bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes)) {
        return Some(format!(
            "not valid UTF-8 (first bad byte at offset {}); convert it to UTF-8",
            err.valid_up_to()
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_notes_and_honours_ignore_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("work/private")).unwrap();
        std::fs::write(root.join("work/a.md"), "a").unwrap();
        std::fs::write(root.join("work/b.txt"), "b").unwrap();
        std::fs::write(root.join("work/c.pdf"), "c").unwrap();
        std::fs::write(root.join("work/private/d.md"), "d").unwrap();
        std::fs::write(root.join("skip.md"), "s").unwrap();
        std::fs::write(root.join(".gitignore"), "skip.md\n").unwrap();
        std::fs::write(root.join(".starlingignore"), "private/\n").unwrap();
        let found: Vec<String> = walk(&[root.to_path_buf()])
            .unwrap()
            .into_iter()
            .map(|f| f.relative)
            .collect();
        assert_eq!(found, ["work/a.md", "work/b.txt"]);
        let err = walk(&[root.join("missing")]).unwrap_err().to_string();
        assert!(
            err.contains("missing") && err.contains("check the path"),
            "{err}"
        );
    }

    #[test]
    fn files_excluded_from_above_the_root_are_reported_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("notes/vault");
        std::fs::create_dir_all(root.join("drafts")).unwrap();
        std::fs::write(dir.path().join(".gitignore"), "# home\ndrafts/\n").unwrap();
        std::fs::write(root.join("kept.md"), "k").unwrap();
        std::fs::write(root.join("drafts/plan.md"), "p").unwrap();
        std::fs::write(root.join("drafts/plan.pdf"), "p").unwrap();
        // Excluded by the vault's own ignore file: the user's choice, not reported.
        std::fs::write(root.join(".gitignore"), "local.md\n").unwrap();
        std::fs::write(root.join("local.md"), "l").unwrap();
        let (found, problems) = walk_notes(std::slice::from_ref(&root)).unwrap();
        let found: Vec<&str> = found.iter().map(|f| f.relative.as_str()).collect();
        assert_eq!(found, ["kept.md"]);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].path, "drafts/plan.md");
        let reason = &problems[0].reason;
        assert!(
            reason.contains(&dir.path().join(".gitignore").display().to_string())
                && reason.contains("pattern `drafts/`")
                && reason.contains("add `!drafts/`"),
            "{reason}"
        );
        // The fix it names works.
        std::fs::write(root.join(".starlingignore"), "!drafts/\n").unwrap();
        let (found, problems) = walk_notes(std::slice::from_ref(&root)).unwrap();
        let found: Vec<&str> = found.iter().map(|f| f.relative.as_str()).collect();
        assert_eq!(found, ["drafts/plan.md", "kept.md"]);
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[test]
    fn only_files_under_the_roots_are_resolved() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("vault");
        std::fs::create_dir_all(root.join("work/Q3: launch")).unwrap();
        std::fs::write(root.join("work/Q3: launch/a.md"), "a").unwrap();
        std::fs::write(dir.path().join("secret.md"), "s").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret.md"), root.join("leak.md")).unwrap();
        let roots = [root.clone()];
        let resolve = |p: &str| file_under_roots(Path::new(p), &roots);
        let canonical = std::fs::canonicalize(&root).unwrap();
        assert_eq!(
            resolve("work/Q3: launch/a.md"),
            Some(canonical.join("work/Q3: launch/a.md"))
        );
        assert_eq!(
            resolve("work/Q3: launch/../Q3: launch/a.md"),
            Some(canonical.join("work/Q3: launch/a.md"))
        );
        assert_eq!(resolve("work/Q3: launch/../../../secret.md"), None);
        assert_eq!(
            resolve("work/Q3: launch/../../../../../../etc/passwd"),
            None
        );
        assert_eq!(resolve("/etc/passwd"), None);
        assert_eq!(resolve("leak.md"), None, "a link out of the root");
        assert_eq!(resolve("work"), None, "a folder is not a file");
        let under = |p: &Path| path_under_roots(p, &roots);
        assert_eq!(under(&root.join("work")), Some(canonical.join("work")));
        assert_eq!(under(Path::new("/etc")), None);
        assert_eq!(under(&root.join("../secret.md")), None);
        assert_eq!(under(&root.join("missing")), None);
    }

    #[test]
    fn skip_reasons() {
        assert_eq!(skip_reason(b"hello", 100), None);
        assert!(skip_reason(&[0x89, b'P', 0], 100)
            .unwrap()
            .contains("binary"));
        assert!(skip_reason(b"caf\xe9", 100).unwrap().contains("UTF-8"));
        assert!(skip_reason(b"  \n", 100).unwrap().contains("empty"));
        assert!(skip_reason(&[b'a'; 10], 5).unwrap().contains("larger"));
    }
}
