//! Finds the GGUF models a user already has in the usual local stores (Ollama, the Hugging Face
//! hub cache, LM Studio, GPT4All and the folders in `models.folders`) and resolves a name such as
//! `llama3.2` or `org/repo/file.gguf` to its file. Reads directories, Ollama manifests and GGUF
//! headers only: never downloads, never writes, and follows a link out of a store only where the
//! store keeps its data behind links (Ollama blobs, Hugging Face snapshots).

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use tracing::debug;

use crate::backends::gguf::ModelInfo;
use crate::config::Config;
use crate::error::{Error, Result};

/// Subfolder levels a walk goes down (`models.folders`, and inside a Hugging Face snapshot).
const MAX_DEPTH: usize = 4;
/// Directory entries one root may cost, so that a large folder (say `~`) stays quick to list.
const MAX_ENTRIES: usize = 50_000;
/// An Ollama manifest is a few hundred bytes; a file far larger is not one.
const MAX_MANIFEST_BYTES: u64 = 1 << 20;
/// The layer of an Ollama manifest that holds the GGUF weights.
const OLLAMA_MODEL_LAYER: &str = "application/vnd.ollama.image.model";
/// The names Ollama leaves out when it prints a model name (`llama3.2:latest`).
const OLLAMA_HOST: &str = "registry.ollama.ai";
const OLLAMA_NAMESPACE: &str = "library";
/// How many known names an unknown-model error suggests.
const MAX_SUGGESTIONS: usize = 5;

/// Where a model was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Store {
    Ollama,
    HuggingFace,
    LmStudio,
    Gpt4All,
    /// A folder named in `models.folders`.
    Folder,
}

impl Store {
    /// The name `starling models` prints (`ollama`, `huggingface`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Store::Ollama => "ollama",
            Store::HuggingFace => "huggingface",
            Store::LmStudio => "lmstudio",
            Store::Gpt4All => "gpt4all",
            Store::Folder => "folder",
        }
    }
}

/// The folders searched, per store. Built from the environment with [`Roots::from_env`]; tests
/// point them at temporary folders. A root that does not exist is skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Roots {
    /// Ollama model folders (holding `manifests/` and `blobs/`).
    pub ollama: Vec<PathBuf>,
    /// Hugging Face hub caches (holding `models--ORG--REPO/`).
    pub huggingface: Vec<PathBuf>,
    /// LM Studio model folders (`PUBLISHER/REPO/*.gguf`).
    pub lmstudio: Vec<PathBuf>,
    /// GPT4All model folders (`*.gguf`).
    pub gpt4all: Vec<PathBuf>,
    /// `models.folders`: searched `MAX_DEPTH` levels deep.
    pub folders: Vec<PathBuf>,
}

impl Roots {
    /// The stores' usual places, honouring the variables each tool honours.
    pub fn from_env() -> Roots {
        Roots::from_vars(|name| std::env::var_os(name))
    }

    /// [`Roots::from_env`] with the variables looked up through `lookup` (tests pass their own).
    pub fn from_vars(lookup: impl Fn(&str) -> Option<OsString>) -> Roots {
        let var = |name: &str| lookup(name).filter(|v| !v.is_empty()).map(PathBuf::from);
        let home = var("HOME");
        let under_home = |relative: &str| home.as_ref().map(|home| home.join(relative));
        let mut roots = Roots::default();
        match var("OLLAMA_MODELS") {
            Some(dir) => roots.ollama.push(dir),
            None => {
                roots.ollama.extend(under_home(".ollama/models"));
                // Ollama's Linux installer runs the server as the user `ollama`, whose home this is.
                roots
                    .ollama
                    .push(PathBuf::from("/usr/share/ollama/.ollama/models"));
            }
        }
        // huggingface_hub's own order: HF_HUB_CACHE (HUGGINGFACE_HUB_CACHE before it was
        // renamed), HF_HOME/hub, then XDG_CACHE_HOME or ~/.cache.
        roots.huggingface.extend(
            var("HF_HUB_CACHE")
                .or_else(|| var("HUGGINGFACE_HUB_CACHE"))
                .or_else(|| var("HF_HOME").map(|dir| dir.join("hub")))
                .or_else(|| var("XDG_CACHE_HOME").map(|dir| dir.join("huggingface/hub")))
                .or_else(|| under_home(".cache/huggingface/hub")),
        );
        roots.lmstudio.extend(under_home(".lmstudio/models"));
        roots.lmstudio.extend(under_home(".cache/lm-studio/models"));
        // GPT4All keeps models in Qt's app data folder: XDG_DATA_HOME on Linux, Library on macOS.
        roots.gpt4all.extend(
            var("XDG_DATA_HOME")
                .or_else(|| under_home(".local/share"))
                .map(|dir| dir.join("nomic.ai/GPT4All")),
        );
        roots
            .gpt4all
            .extend(under_home("Library/Application Support/nomic.ai/GPT4All"));
        roots
    }

    /// [`Roots::from_env`] plus the configured `models.folders`.
    pub fn for_config(config: &Config) -> Roots {
        Roots {
            folders: config.models.folders.clone(),
            ..Roots::from_env()
        }
    }
}

/// A model file found in a store, with what its header says.
#[derive(Debug, Clone)]
pub struct FoundModel {
    /// The name `--model` accepts: `llama3.2:latest`, `org/repo/file.gguf`, ...
    pub name: String,
    pub store: Store,
    /// The file to open. An Ollama blob or a Hugging Face snapshot entry may be a link into the
    /// store's blobs; it is left as it is, so the file name stays the one the store shows.
    pub path: PathBuf,
    /// The GGUF header, or why it could not be read (the model is listed either way).
    pub info: std::result::Result<ModelInfo, String>,
}

/// A model file found in a store, before its header is read.
#[derive(Debug, Clone)]
struct Located {
    name: String,
    store: Store,
    path: PathBuf,
    /// Other names it answers to: Ollama's full `host/namespace/model:tag`.
    aliases: Vec<String>,
}

/// Every model found under `roots`, store by store (Ollama, Hugging Face, LM Studio, GPT4All,
/// folders), by name within a store; each header read. Unreadable folders and broken
/// manifests are skipped (logged at debug), never an error.
pub fn discover(roots: &Roots) -> Vec<FoundModel> {
    locate(roots)
        .into_iter()
        .map(|located| FoundModel {
            info: ModelInfo::read(&located.path).map_err(|err| err.to_string()),
            name: located.name,
            store: located.store,
            path: located.path,
        })
        .collect()
}

/// The file of the local model called `name`: an exact name first (Ollama's full
/// `host/namespace/model:tag` too, and `:latest` when no tag is given), then the one model whose
/// name matches ignoring case. Anything else is [`Error::UnknownModel`] with the closest names.
pub fn resolve(name: &str, roots: &Roots) -> Result<PathBuf> {
    pick(name, &locate(roots)).map(|located| located.path.clone())
}

fn pick<'a>(name: &str, found: &'a [Located]) -> Result<&'a Located> {
    let name = name.trim();
    let mut wanted = vec![name.to_string()];
    let last_part = name.rsplit('/').next().unwrap_or(name);
    if !last_part.is_empty() && !last_part.contains(':') {
        wanted.push(format!("{name}:latest"));
    }
    let answers = |located: &Located, same: &dyn Fn(&str, &str) -> bool| {
        wanted.iter().any(|want| {
            same(&located.name, want) || located.aliases.iter().any(|alias| same(alias, want))
        })
    };
    if let Some(exact) = found
        .iter()
        .find(|l| answers(l, &|a: &str, b: &str| a == b))
    {
        return Ok(exact);
    }
    let folded: Vec<&Located> = found
        .iter()
        .filter(|l| answers(l, &|a: &str, b: &str| a.to_lowercase() == b.to_lowercase()))
        .collect();
    // Two names for one file (two Ollama tags of one blob) are still one model.
    match folded.first() {
        Some(first) if folded.iter().all(|l| l.path == first.path) => Ok(*first),
        Some(_) => Err(Error::UnknownModel {
            name: name.to_string(),
            closest: folded
                .iter()
                .map(|l| l.name.clone())
                .take(MAX_SUGGESTIONS)
                .collect(),
        }),
        None => Err(Error::UnknownModel {
            name: name.to_string(),
            closest: closest_names(name, found),
        }),
    }
}

/// Up to `MAX_SUGGESTIONS` known names nearest to `name`: those containing it first, then by
/// edit distance, ignoring case.
fn closest_names(name: &str, found: &[Located]) -> Vec<String> {
    let query = name.to_lowercase();
    let mut names: Vec<&str> = found.iter().map(|l| l.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    let mut scored: Vec<(bool, usize, &str)> = names
        .into_iter()
        .map(|known| {
            let lower = known.to_lowercase();
            (
                !lower.contains(&query),
                edit_distance(&lower, &query),
                known,
            )
        })
        .collect();
    scored.sort_unstable();
    scored
        .into_iter()
        .take(MAX_SUGGESTIONS)
        .map(|(_, _, known)| known.to_string())
        .collect()
}

/// Levenshtein distance in characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

/// Every model file under `roots`, without reading headers.
fn locate(roots: &Roots) -> Vec<Located> {
    let mut all = Vec::new();
    let stores: [(Store, &[PathBuf]); 5] = [
        (Store::Ollama, &roots.ollama),
        (Store::HuggingFace, &roots.huggingface),
        (Store::LmStudio, &roots.lmstudio),
        (Store::Gpt4All, &roots.gpt4all),
        (Store::Folder, &roots.folders),
    ];
    for (store, store_roots) in stores {
        let mut seen_roots = HashSet::new();
        let mut seen_names = HashSet::new();
        for root in store_roots {
            let Ok(canonical) = fs::canonicalize(root) else {
                debug!(
                    "no {} models in `{}`: not there",
                    store.as_str(),
                    root.display()
                );
                continue;
            };
            // `~/.ollama/models` may be `/usr/share/ollama/.ollama/models` itself.
            if !seen_roots.insert(canonical.clone()) {
                continue;
            }
            let mut walk = Walk {
                root: canonical,
                entries_left: MAX_ENTRIES,
            };
            let mut found = match store {
                Store::Ollama => walk.ollama(root),
                Store::HuggingFace => walk.huggingface(root),
                Store::LmStudio => walk.lmstudio(root),
                Store::Gpt4All => walk.files(root, "", 0, Links::InsideRoot, Store::Gpt4All),
                Store::Folder => walk.files(root, "", MAX_DEPTH, Links::InsideRoot, Store::Folder),
            };
            found.sort_by(|a, b| a.name.cmp(&b.name));
            // A name found in an earlier root of the same store wins.
            found.retain(|located| seen_names.insert(located.name.clone()));
            all.extend(found);
        }
    }
    all
}

/// What a walk does with a symbolic link to a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Links {
    /// Follow it (Hugging Face snapshots are links into the repository's `blobs/`).
    Follow,
    /// Take it only when its target lies inside the store's root.
    InsideRoot,
}

/// One root's walk: its canonical path (for links) and what is left of its entry budget.
struct Walk {
    root: PathBuf,
    entries_left: usize,
}

/// A directory entry: its name (UTF-8), path and type (of the entry itself, not a link's target).
struct DirEntry {
    name: String,
    path: PathBuf,
    file_type: fs::FileType,
}

impl Walk {
    /// `dir`'s entries sorted by name; unreadable ones, names that are not UTF-8 and whatever
    /// exceeds the budget are skipped with a debug line.
    fn entries(&mut self, dir: &Path) -> Vec<DirEntry> {
        let reader = match fs::read_dir(dir) {
            Ok(reader) => reader,
            Err(err) => {
                debug!("skipping `{}`: {err}", dir.display());
                return Vec::new();
            }
        };
        let mut entries = Vec::new();
        for entry in reader {
            if self.entries_left == 0 {
                debug!(
                    "stopped listing `{}`: more than {MAX_ENTRIES} entries under `{}`",
                    dir.display(),
                    self.root.display()
                );
                break;
            }
            self.entries_left -= 1;
            let entry = match entry {
                Ok(entry) => entry,
                Err(err) => {
                    debug!("skipping an entry of `{}`: {err}", dir.display());
                    continue;
                }
            };
            let path = entry.path();
            let (Ok(name), Ok(file_type)) = (entry.file_name().into_string(), entry.file_type())
            else {
                debug!(
                    "skipping `{}`: unreadable or not a UTF-8 name",
                    path.display()
                );
                continue;
            };
            entries.push(DirEntry {
                name,
                path,
                file_type,
            });
        }
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        entries
    }

    /// `dir`'s real subfolders (links to folders are not followed).
    fn subdirs(&mut self, dir: &Path) -> Vec<DirEntry> {
        let mut entries = self.entries(dir);
        entries.retain(|entry| entry.file_type.is_dir());
        entries
    }

    /// Whether `entry` is a file to take: a plain file, or a link as `links` allows.
    fn is_file(&self, entry: &DirEntry, links: Links) -> bool {
        if entry.file_type.is_file() {
            return true;
        }
        if !entry.file_type.is_symlink() {
            return false;
        }
        let inside = match links {
            Links::Follow => true,
            Links::InsideRoot => fs::canonicalize(&entry.path)
                .map(|target| target.starts_with(&self.root))
                .unwrap_or(false),
        };
        if !inside {
            debug!(
                "skipping `{}`: it links outside `{}`",
                entry.path.display(),
                self.root.display()
            );
        }
        // `is_file` follows the link: a broken one is no file.
        inside && entry.path.is_file()
    }

    /// GGUF files in `dir` and, `depth` levels down, in its subfolders (hidden ones skipped),
    /// named by their path below `dir` after `prefix`.
    fn files(
        &mut self,
        dir: &Path,
        prefix: &str,
        depth: usize,
        links: Links,
        store: Store,
    ) -> Vec<Located> {
        let mut found = Vec::new();
        for entry in self.entries(dir) {
            let name = if prefix.is_empty() {
                entry.name.clone()
            } else {
                format!("{prefix}/{}", entry.name)
            };
            if entry.file_type.is_dir() {
                if depth > 0 && !entry.name.starts_with('.') {
                    found.extend(self.files(&entry.path, &name, depth - 1, links, store));
                }
            } else if listable_gguf(&entry.name) && self.is_file(&entry, links) {
                found.push(Located {
                    name,
                    store,
                    path: entry.path,
                    aliases: Vec::new(),
                });
            }
        }
        found
    }

    /// `manifests/HOST/NAMESPACE/MODEL/TAG`, each naming its GGUF blob.
    fn ollama(&mut self, root: &Path) -> Vec<Located> {
        let mut found = Vec::new();
        for host in self.subdirs(&root.join("manifests")) {
            for namespace in self.subdirs(&host.path) {
                for model in self.subdirs(&namespace.path) {
                    for tag in self.entries(&model.path) {
                        if !tag.file_type.is_file() {
                            continue;
                        }
                        match ollama_blob(root, &tag.path) {
                            Ok(blob) => found.push(Located {
                                name: ollama_name(
                                    &host.name,
                                    &namespace.name,
                                    &model.name,
                                    &tag.name,
                                ),
                                store: Store::Ollama,
                                path: blob,
                                aliases: vec![format!(
                                    "{}/{}/{}:{}",
                                    host.name, namespace.name, model.name, tag.name
                                )],
                            }),
                            Err(reason) => {
                                debug!(
                                    "skipping Ollama manifest `{}`: {reason}",
                                    tag.path.display()
                                )
                            }
                        }
                    }
                }
            }
        }
        found
    }

    /// `models--ORG--REPO/snapshots/REVISION/**/*.gguf`; where revisions hold the same file, the
    /// newest snapshot's.
    fn huggingface(&mut self, root: &Path) -> Vec<Located> {
        let mut found = Vec::new();
        for repo in self.subdirs(root) {
            // Datasets and spaces share the cache (`datasets--`, `spaces--`).
            let Some(folder_id) = repo.name.strip_prefix("models--") else {
                continue;
            };
            // huggingface_hub names the folder `models--` + the repo id with `/` as `--`.
            let repo_id = folder_id.replace("--", "/");
            let mut snapshots: Vec<(SystemTime, DirEntry)> = self
                .subdirs(&repo.path.join("snapshots"))
                .into_iter()
                .map(|snapshot| {
                    let modified = fs::metadata(&snapshot.path)
                        .and_then(|meta| meta.modified())
                        .unwrap_or(SystemTime::UNIX_EPOCH);
                    (modified, snapshot)
                })
                .collect();
            snapshots.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.name.cmp(&b.1.name)));
            let mut seen = HashSet::new();
            for (_, snapshot) in snapshots {
                let files = self.files(
                    &snapshot.path,
                    &repo_id,
                    MAX_DEPTH,
                    Links::Follow,
                    Store::HuggingFace,
                );
                for located in files {
                    if seen.insert(located.name.clone()) {
                        found.push(located);
                    }
                }
            }
        }
        found
    }

    /// `PUBLISHER/REPO/*.gguf`.
    fn lmstudio(&mut self, root: &Path) -> Vec<Located> {
        let mut found = Vec::new();
        for publisher in self.subdirs(root) {
            if publisher.name.starts_with('.') {
                continue;
            }
            for repo in self.subdirs(&publisher.path) {
                let prefix = format!("{}/{}", publisher.name, repo.name);
                found.extend(self.files(
                    &repo.path,
                    &prefix,
                    0,
                    Links::InsideRoot,
                    Store::LmStudio,
                ));
            }
        }
        found
    }
}

/// The name Ollama prints for a manifest at `HOST/NAMESPACE/MODEL/TAG` (its `DisplayShortest`).
fn ollama_name(host: &str, namespace: &str, model: &str, tag: &str) -> String {
    if !host.eq_ignore_ascii_case(OLLAMA_HOST) {
        format!("{host}/{namespace}/{model}:{tag}")
    } else if !namespace.eq_ignore_ascii_case(OLLAMA_NAMESPACE) {
        format!("{namespace}/{model}:{tag}")
    } else {
        format!("{model}:{tag}")
    }
}

#[derive(serde::Deserialize)]
struct OllamaManifest {
    #[serde(default)]
    layers: Vec<OllamaLayer>,
}

#[derive(serde::Deserialize)]
struct OllamaLayer {
    #[serde(rename = "mediaType", default)]
    media_type: String,
    #[serde(default)]
    digest: String,
}

/// The blob holding the GGUF of the Ollama manifest at `manifest`, or why there is none.
fn ollama_blob(root: &Path, manifest: &Path) -> std::result::Result<PathBuf, String> {
    let mut text = String::new();
    let file = fs::File::open(manifest).map_err(|err| err.to_string())?;
    file.take(MAX_MANIFEST_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|err| format!("unreadable ({err})"))?;
    if text.len() as u64 > MAX_MANIFEST_BYTES {
        return Err(format!("larger than {MAX_MANIFEST_BYTES} bytes"));
    }
    let parsed: OllamaManifest =
        serde_json::from_str(&text).map_err(|err| format!("not a manifest ({err})"))?;
    let layer = parsed
        .layers
        .iter()
        .find(|layer| layer.media_type == OLLAMA_MODEL_LAYER)
        .ok_or("no GGUF model layer")?;
    // Ollama takes `sha256:HEX` (and `sha256-HEX`) and nothing else, so a digest never walks
    // out of `blobs/`.
    let hex = layer
        .digest
        .strip_prefix("sha256:")
        .or_else(|| layer.digest.strip_prefix("sha256-"))
        .filter(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| format!("bad digest `{}`", layer.digest))?;
    let blob = root.join("blobs").join(format!("sha256-{hex}"));
    if blob.is_file() {
        Ok(blob)
    } else {
        Err(format!("its blob `{}` is missing", blob.display()))
    }
}

/// Whether a file name is a model to list: `*.gguf`, not a vision projector (`mmproj…`), and
/// of a model split in parts only the first (`…-00001-of-00003.gguf`), which llama.cpp opens.
fn listable_gguf(file_name: &str) -> bool {
    let lower = file_name.to_lowercase();
    let Some(stem) = lower.strip_suffix(".gguf") else {
        return false;
    };
    if stem.starts_with("mmproj") || stem.contains("-mmproj") || stem.contains(".mmproj") {
        return false;
    }
    split_part(stem).is_none_or(|part| part == 1)
}

/// `N` of a stem ending in `-0000N-of-0000M`.
fn split_part(stem: &str) -> Option<u32> {
    let (rest, total) = stem.rsplit_once("-of-")?;
    let (_, part) = rest.rsplit_once('-')?;
    let five_digits = |s: &str| s.len() == 5 && s.bytes().all(|b| b.is_ascii_digit());
    if five_digits(part) && five_digits(total) {
        part.parse().ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small but valid GGUF v3 file: no tensors, the keys `ModelInfo` reads.
    fn write_gguf(path: &Path, name: &str) {
        fn text(bytes: &mut Vec<u8>, s: &str) {
            bytes.extend((s.len() as u64).to_le_bytes());
            bytes.extend(s.as_bytes());
        }
        enum Value<'a> {
            Text(&'a str),
            U32(u32),
        }
        let pairs = [
            ("general.architecture", Value::Text("llama")),
            ("general.name", Value::Text(name)),
            ("general.file_type", Value::U32(15)),
            ("llama.context_length", Value::U32(2048)),
            (
                "tokenizer.chat_template",
                Value::Text("{% for m in messages %}{{ m.content }}{% endfor %}"),
            ),
        ];
        let mut bytes = b"GGUF".to_vec();
        bytes.extend(3u32.to_le_bytes());
        bytes.extend(0u64.to_le_bytes());
        bytes.extend((pairs.len() as u64).to_le_bytes());
        for (key, value) in pairs {
            text(&mut bytes, key);
            match value {
                Value::Text(s) => {
                    bytes.extend(8u32.to_le_bytes());
                    text(&mut bytes, s);
                }
                Value::U32(n) => {
                    bytes.extend(4u32.to_le_bytes());
                    bytes.extend(n.to_le_bytes());
                }
            }
        }
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, bytes).unwrap();
    }

    fn write_manifest(root: &Path, name: &str, layers: &str) {
        let path = root.join("manifests").join(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"sha256:{}","size":485}},"layers":[{layers}]}}"#,
            "c".repeat(64)
        );
        fs::write(path, manifest).unwrap();
    }

    fn model_layer(hex: &str) -> String {
        format!(
            r#"{{"mediaType":"application/vnd.ollama.image.model","digest":"sha256:{hex}","size":1234}}"#
        )
    }

    /// An Ollama store as Ollama writes it: manifests by host/namespace/model/tag, blobs by digest.
    fn ollama_store(root: &Path) {
        let (a, b) = ("a".repeat(64), "b".repeat(64));
        write_gguf(&root.join(format!("blobs/sha256-{a}")), "Tiny");
        write_gguf(&root.join(format!("blobs/sha256-{b}")), "Other");
        let license = format!(
            r#"{{"mediaType":"application/vnd.ollama.image.license","digest":"sha256:{}","size":10}}"#,
            "d".repeat(64)
        );
        write_manifest(
            root,
            "registry.ollama.ai/library/tiny/latest",
            &format!("{license},{}", model_layer(&a)),
        );
        write_manifest(root, "registry.ollama.ai/library/tiny/q4", &model_layer(&a));
        write_manifest(
            root,
            "registry.ollama.ai/someone/other/q4",
            &model_layer(&b),
        );
        write_manifest(root, "hf.co/org/repo/Q4_K_M", &model_layer(&b));
        // Skipped: not JSON, no model layer, a missing blob, a digest that leaves blobs/.
        let broken = root.join("manifests/registry.ollama.ai/library/broken/latest");
        fs::create_dir_all(broken.parent().unwrap()).unwrap();
        fs::write(broken, "{not json").unwrap();
        write_manifest(root, "registry.ollama.ai/library/nolayer/latest", &license);
        write_manifest(
            root,
            "registry.ollama.ai/library/gone/latest",
            &model_layer(&"e".repeat(64)),
        );
        write_manifest(
            root,
            "registry.ollama.ai/library/escape/latest",
            &model_layer("../../../../etc/passwd"),
        );
    }

    fn set_modified(path: &Path, seconds: u64) {
        let time = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(seconds);
        fs::File::open(path).unwrap().set_modified(time).unwrap();
    }

    /// A Hugging Face cache as huggingface_hub writes it: snapshot entries link into blobs/.
    fn huggingface_cache(root: &Path) {
        let repo = root.join("models--org--repo");
        let blob = |hash: &str, name: &str| {
            let path = repo.join("blobs").join(hash);
            write_gguf(&path, name);
            path
        };
        blob("1111", "Old");
        blob("2222", "New");
        blob("3333", "Split");
        blob("4444", "Projector");
        let link = |revision: &str, file: &str, hash: &str| {
            let path = repo.join("snapshots").join(revision).join(file);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            let up = "../".repeat(file.matches('/').count() + 2);
            std::os::unix::fs::symlink(format!("{up}blobs/{hash}"), path).unwrap();
        };
        link("old", "model.Q4_K_M.gguf", "1111");
        link("old", "only-old.gguf", "1111");
        link("new", "model.Q4_K_M.gguf", "2222");
        link("new", "Q8/big-00001-of-00002.gguf", "3333");
        link("new", "Q8/big-00002-of-00002.gguf", "3333");
        link("new", "mmproj-model-f16.gguf", "4444");
        fs::write(repo.join("snapshots/new/README.md"), "# repo").unwrap();
        set_modified(&repo.join("snapshots/old"), 1_000);
        set_modified(&repo.join("snapshots/new"), 2_000);
        // A dataset is not a model.
        write_gguf(
            &root.join("datasets--org--data/snapshots/r/x.gguf"),
            "Dataset",
        );
    }

    fn listed(roots: &Roots) -> Vec<(String, &'static str)> {
        discover(roots)
            .into_iter()
            .map(|found| (found.name, found.store.as_str()))
            .collect()
    }

    fn check(roots: &Roots, expected: &[(&str, &str)]) {
        let expected: Vec<(String, &str)> = expected
            .iter()
            .map(|(name, store)| (name.to_string(), *store))
            .collect();
        assert_eq!(listed(roots), expected);
    }

    #[test]
    fn the_test_gguf_is_a_gguf_llama_cpp_reads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tiny.gguf");
        write_gguf(&path, "Tiny");
        let info = ModelInfo::read(&path).unwrap();
        assert_eq!(info.architecture, "llama");
        assert_eq!(info.name.as_deref(), Some("Tiny"));
        assert_eq!(info.quantization, "Q4_K_M");
        assert_eq!(info.context_length, Some(2048));
        assert!(info.has_chat_template);
    }

    #[test]
    fn ollama_manifests_name_their_blobs() {
        let dir = tempfile::tempdir().unwrap();
        ollama_store(dir.path());
        let roots = Roots {
            ollama: vec![dir.path().to_path_buf()],
            ..Roots::default()
        };
        check(
            &roots,
            &[
                ("hf.co/org/repo:Q4_K_M", "ollama"),
                ("someone/other:q4", "ollama"),
                ("tiny:latest", "ollama"),
                ("tiny:q4", "ollama"),
            ],
        );
        let found = discover(&roots);
        let tiny = found.iter().find(|f| f.name == "tiny:latest").unwrap();
        assert_eq!(
            tiny.path,
            dir.path().join(format!("blobs/sha256-{}", "a".repeat(64)))
        );
        let info = tiny.info.as_ref().unwrap();
        assert_eq!(info.name.as_deref(), Some("Tiny"));
        assert_eq!(info.context_length, Some(2048));
    }

    #[test]
    fn huggingface_snapshots_newest_first_without_later_parts_or_projectors() {
        let dir = tempfile::tempdir().unwrap();
        huggingface_cache(dir.path());
        let roots = Roots {
            huggingface: vec![dir.path().to_path_buf()],
            ..Roots::default()
        };
        check(
            &roots,
            &[
                ("org/repo/Q8/big-00001-of-00002.gguf", "huggingface"),
                ("org/repo/model.Q4_K_M.gguf", "huggingface"),
                ("org/repo/only-old.gguf", "huggingface"),
            ],
        );
        let found = discover(&roots);
        let model = found
            .iter()
            .find(|f| f.name == "org/repo/model.Q4_K_M.gguf")
            .unwrap();
        // The newer snapshot's file, reached through its link into blobs/.
        assert!(model.path.ends_with("snapshots/new/model.Q4_K_M.gguf"));
        assert_eq!(model.info.as_ref().unwrap().name.as_deref(), Some("New"));
    }

    #[test]
    fn lmstudio_gpt4all_and_folders() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write_gguf(&root.join("lms/pub/repo/m.Q4_K_M.gguf"), "LM");
        write_gguf(&root.join("lms/pub/repo/deeper/no.gguf"), "Deeper");
        write_gguf(&root.join("gpt4all/Llama-3.2-1B.Q4_0.gguf"), "GPT4All");
        write_gguf(&root.join("mine/a/b/c/d/four.gguf"), "Four deep");
        write_gguf(&root.join("mine/a/b/c/d/e/five.gguf"), "Five deep");
        write_gguf(&root.join("mine/.hidden/h.gguf"), "Hidden");
        write_gguf(&root.join("outside/out.gguf"), "Outside");
        fs::write(root.join("mine/broken.gguf"), "not a model").unwrap();
        std::os::unix::fs::symlink(root.join("outside/out.gguf"), root.join("mine/out.gguf"))
            .unwrap();
        std::os::unix::fs::symlink(root.join("outside"), root.join("mine/linked-dir")).unwrap();
        std::os::unix::fs::symlink(
            root.join("mine/a/b/c/d/four.gguf"),
            root.join("mine/in.gguf"),
        )
        .unwrap();
        let roots = Roots {
            lmstudio: vec![root.join("lms")],
            gpt4all: vec![root.join("gpt4all")],
            folders: vec![root.join("mine"), root.join("missing")],
            ..Roots::default()
        };
        check(
            &roots,
            &[
                ("pub/repo/m.Q4_K_M.gguf", "lmstudio"),
                ("Llama-3.2-1B.Q4_0.gguf", "gpt4all"),
                ("a/b/c/d/four.gguf", "folder"),
                ("broken.gguf", "folder"),
                ("in.gguf", "folder"),
            ],
        );
        // A file that is not a GGUF is listed with the reason, not dropped.
        let found = discover(&roots);
        let broken = found.iter().find(|f| f.name == "broken.gguf").unwrap();
        assert!(
            broken
                .info
                .as_ref()
                .unwrap_err()
                .contains("not a GGUF file"),
            "{:?}",
            broken.info
        );
    }

    #[test]
    fn names_resolve_exactly_with_implicit_latest_or_ignoring_case() {
        let dir = tempfile::tempdir().unwrap();
        ollama_store(&dir.path().join("ollama"));
        huggingface_cache(&dir.path().join("hf"));
        let roots = Roots {
            ollama: vec![dir.path().join("ollama")],
            huggingface: vec![dir.path().join("hf")],
            ..Roots::default()
        };
        let blob_a = dir
            .path()
            .join(format!("ollama/blobs/sha256-{}", "a".repeat(64)));
        let blob_b = dir
            .path()
            .join(format!("ollama/blobs/sha256-{}", "b".repeat(64)));
        let check = |name: &str, expected: &Path| {
            assert_eq!(resolve(name, &roots).unwrap(), expected, "{name}");
        };
        check("tiny:latest", &blob_a);
        check("tiny", &blob_a);
        check("TINY", &blob_a);
        check("registry.ollama.ai/library/tiny:latest", &blob_a);
        check("someone/other:q4", &blob_b);
        check("hf.co/org/repo:Q4_K_M", &blob_b);
        check(
            "org/repo/model.Q4_K_M.gguf",
            &dir.path()
                .join("hf/models--org--repo/snapshots/new/model.Q4_K_M.gguf"),
        );

        let message = resolve("tiny:q8", &roots).unwrap_err().to_string();
        assert!(
            message.contains("`tiny:q8`")
                && message.contains("starling models")
                && message.contains("closest: `tiny:q4`"),
            "{message}"
        );
        let closest = match resolve("repo", &roots).unwrap_err() {
            Error::UnknownModel { closest, .. } => closest,
            other => panic!("{other}"),
        };
        // The four names holding `repo` first, then the nearest other one.
        assert_eq!(closest.len(), MAX_SUGGESTIONS);
        assert!(
            closest[..4].iter().all(|name| name.contains("repo")),
            "{closest:?}"
        );
        let message = resolve("tiny", &Roots::default()).unwrap_err().to_string();
        assert!(message.contains("none were found there"), "{message}");
    }

    #[test]
    fn roots_follow_each_tools_variables() {
        let roots = |vars: &[(&str, &str)]| {
            let vars: Vec<(String, String)> = vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            Roots::from_vars(move |name| {
                vars.iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| OsString::from(v))
            })
        };
        let home_only = roots(&[("HOME", "/h")]);
        assert_eq!(
            home_only.ollama,
            [
                PathBuf::from("/h/.ollama/models"),
                PathBuf::from("/usr/share/ollama/.ollama/models")
            ]
        );
        assert_eq!(
            home_only.huggingface,
            [PathBuf::from("/h/.cache/huggingface/hub")]
        );
        assert_eq!(
            home_only.lmstudio,
            [
                PathBuf::from("/h/.lmstudio/models"),
                PathBuf::from("/h/.cache/lm-studio/models")
            ]
        );
        assert_eq!(
            home_only.gpt4all[0],
            PathBuf::from("/h/.local/share/nomic.ai/GPT4All")
        );
        assert!(home_only.folders.is_empty());

        let set = roots(&[
            ("HOME", "/h"),
            ("OLLAMA_MODELS", "/o"),
            ("HF_HOME", "/hf"),
            ("XDG_CACHE_HOME", "/c"),
            ("XDG_DATA_HOME", "/d"),
        ]);
        assert_eq!(set.ollama, [PathBuf::from("/o")]);
        assert_eq!(set.huggingface, [PathBuf::from("/hf/hub")]);
        assert_eq!(set.gpt4all[0], PathBuf::from("/d/nomic.ai/GPT4All"));
        let cache = roots(&[("XDG_CACHE_HOME", "/c"), ("HF_HUB_CACHE", "")]);
        assert_eq!(cache.huggingface, [PathBuf::from("/c/huggingface/hub")]);
        let hub = roots(&[("HF_HUB_CACHE", "/hub"), ("HF_HOME", "/hf")]);
        assert_eq!(hub.huggingface, [PathBuf::from("/hub")]);
    }

    #[test]
    fn only_first_parts_and_no_projectors() {
        for (name, listed) in [
            ("model.gguf", true),
            ("Model.GGUF", true),
            ("model-00001-of-00003.gguf", true),
            ("model-00002-of-00003.gguf", false),
            ("model-2-of-3.gguf", true),
            ("mmproj-model-f16.gguf", false),
            ("gemma-3-4b-mmproj-f16.gguf", false),
            ("model.safetensors", false),
            ("gguf", false),
        ] {
            assert_eq!(listable_gguf(name), listed, "{name}");
        }
    }
}
