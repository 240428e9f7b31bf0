//! Layered configuration: built-in defaults, then the TOML file, then `STARLING_*` variables,
//! then command-line flags. Remembers where each value came from. Reads one file; no other I/O.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The shape a key's value must have.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Path,
    OptionalPath,
    /// A GGUF path when one exists there, otherwise a name (a model found by `starling models`,
    /// or the model a generator server is asked for).
    Model,
    /// Free text.
    Text,
    PathList,
    TextList,
    Int {
        min: i64,
        max: i64,
    },
    Float {
        min: f64,
        max: f64,
    },
    Choice(&'static [&'static str]),
}

struct KeyDef {
    key: &'static str,
    kind: Kind,
    help: &'static str,
}

const PROFILES: &[&str] = &[
    "default",
    "pip-response",
    "manager-meeting",
    "email",
    "self-review",
];
const LEVELS: &[&str] = &["info", "warning", "error"];
const BACKENDS: &[&str] = &["llama", "openai"];
const STORES: &[&str] = &["edge", "qdrant"];
const PRODUCTS: &[&str] = &["float", "int8"];

/// Every key the configuration accepts. `config show` lists them in this order.
const KEYS: &[KeyDef] = &[
    KeyDef {
        key: "data_dir",
        kind: Kind::Path,
        help: "where the index, caches and token live",
    },
    KeyDef {
        key: "models_dir",
        kind: Kind::Path,
        help: "the model cache filled by scripts/setup.sh",
    },
    KeyDef {
        key: "prompts_dir",
        kind: Kind::OptionalPath,
        help: "folder whose templates override the built-in prompts",
    },
    KeyDef {
        key: "generator.model",
        kind: Kind::Model,
        help: "GGUF file for generation, a model name `starling models` lists, or (backend openai) the server's model",
    },
    KeyDef {
        key: "generator.backend",
        kind: Kind::Choice(BACKENDS),
        help: "llama: the GGUF in process; openai: a local OpenAI-compatible server at generator.url (Ollama, LM Studio, llama-server)",
    },
    KeyDef {
        key: "generator.url",
        kind: Kind::Text,
        help: "the OpenAI-compatible server, e.g. http://127.0.0.1:11434 (Ollama); setting it selects backend openai unless generator.backend is set",
    },
    KeyDef {
        key: "generator.api_key_env",
        kind: Kind::Text,
        help: "environment variable holding the server's API key, if it needs one (never the key itself)",
    },
    KeyDef {
        key: "generator.timeout_s",
        kind: Kind::Int { min: 1, max: 86_400 },
        help: "longest wait for the generator server to answer or send the next piece",
    },
    KeyDef {
        key: "generator.threads",
        kind: Kind::Int { min: 0, max: 512 },
        help: "CPU threads; 0 = physical cores",
    },
    KeyDef {
        key: "generator.gpu_layers",
        kind: Kind::Int {
            min: 0,
            max: 10_000,
        },
        help: "layers offloaded to the GPU (cuda builds)",
    },
    KeyDef {
        key: "generator.context_size",
        kind: Kind::Int {
            min: 256,
            max: 1 << 20,
        },
        help: "context window in tokens",
    },
    KeyDef {
        key: "generator.batch_size",
        kind: Kind::Int {
            min: 32,
            max: 1 << 16,
        },
        help: "prompt tokens evaluated per step",
    },
    KeyDef {
        key: "generator.prompt_cache_mb",
        kind: Kind::Int {
            min: 0,
            max: 1 << 16,
        },
        help: "memory for saved prompt prefixes (MiB)",
    },
    KeyDef {
        key: "generator.parallel",
        kind: Kind::Int { min: 1, max: 64 },
        help: "requests decoded together in one batch (they share context_size)",
    },
    KeyDef {
        key: "generator.max_tokens",
        kind: Kind::Int {
            min: 1,
            max: 1 << 20,
        },
        help: "default limit on generated tokens",
    },
    KeyDef {
        key: "generator.temperature",
        kind: Kind::Float { min: 0.0, max: 5.0 },
        help: "0 = greedy, deterministic",
    },
    KeyDef {
        key: "generator.top_p",
        kind: Kind::Float { min: 0.0, max: 1.0 },
        help: "nucleus sampling",
    },
    KeyDef {
        key: "generator.min_p",
        kind: Kind::Float { min: 0.0, max: 1.0 },
        help: "minimum probability relative to the top token",
    },
    KeyDef {
        key: "generator.repeat_penalty",
        kind: Kind::Float { min: 0.0, max: 5.0 },
        help: "1.0 = off",
    },
    KeyDef {
        key: "generator.seed",
        kind: Kind::Int {
            min: 0,
            max: u32::MAX as i64,
        },
        help: "sampling seed",
    },
    KeyDef {
        key: "models.folders",
        kind: Kind::PathList,
        help: "folders searched (4 levels deep) for GGUF files `--model NAME` and `starling models` can use",
    },
    KeyDef {
        key: "embedder.dir",
        kind: Kind::Path,
        help: "folder with model.onnx and its tokenizer files",
    },
    KeyDef {
        key: "embedder.onnxruntime",
        kind: Kind::Path,
        help: "libonnxruntime shared library",
    },
    KeyDef {
        key: "embedder.products",
        kind: Kind::Choice(PRODUCTS),
        help: "int8: indexing multiplies the model's weights in 8-bit integers, each token's states on their own scale (about 1.35x the chunks per second of float, vectors within 0.9995 mean cosine; checked against float at start, which it falls back to); float: in floats, as the learned layers were fitted",
    },
    KeyDef {
        key: "notes.paths",
        kind: Kind::PathList,
        help: "note roots (remembered by `starling index PATH...`)",
    },
    KeyDef {
        key: "notes.max_file_bytes",
        kind: Kind::Int {
            min: 1024,
            max: 1 << 34,
        },
        help: "larger note files are skipped",
    },
    KeyDef {
        key: "store.backend",
        kind: Kind::Choice(STORES),
        help: "edge: the embedded store in the data dir; qdrant: a collection on the Qdrant server or cluster at store.url",
    },
    KeyDef {
        key: "store.url",
        kind: Kind::Text,
        help: "the Qdrant server's gRPC address, e.g. http://127.0.0.1:6334 (https:// for TLS); setting it selects backend qdrant unless store.backend is set",
    },
    KeyDef {
        key: "store.collection",
        kind: Kind::Text,
        help: "the Qdrant collection; empty: one per set of note roots (starling-HASH), so two vaults never mix",
    },
    KeyDef {
        key: "store.api_key_env",
        kind: Kind::Text,
        help: "environment variable holding the Qdrant server's API key, if it needs one (never the key itself)",
    },
    KeyDef {
        key: "store.shards",
        kind: Kind::Int { min: 1, max: 1024 },
        help: "shards of a collection Starling creates on a Qdrant cluster",
    },
    KeyDef {
        key: "store.replication_factor",
        kind: Kind::Int { min: 1, max: 64 },
        help: "copies of each shard of a collection Starling creates on a Qdrant cluster",
    },
    KeyDef {
        key: "tone.rules",
        kind: Kind::PathList,
        help: "extra rule files (TOML) added to the built-in rules",
    },
    KeyDef {
        key: "tone.profile",
        kind: Kind::Choice(PROFILES),
        help: "severity profile",
    },
    KeyDef {
        key: "tone.fail_on",
        kind: Kind::Choice(LEVELS),
        help: "lowest severity that makes `tone` exit 1",
    },
    KeyDef {
        key: "tone.allow",
        kind: Kind::TextList,
        help: "phrases the tone check accepts: a finding on or inside one is not reported (comma-separated in the environment and --set)",
    },
    KeyDef {
        key: "rewrite.styles_dir",
        kind: Kind::OptionalPath,
        help: "folder of your own rewrite styles (NAME.md, like prompts/rewrite/)",
    },
];

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Default,
    File(PathBuf),
    Env(String),
    Flag(String),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => write!(f, "default"),
            Source::File(path) => write!(f, "file {}", path.display()),
            Source::Env(name) => write!(f, "env {name}"),
            Source::Flag(name) => write!(f, "flag {name}"),
        }
    }
}

/// A typed value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Path(PathBuf),
    Unset,
    Paths(Vec<PathBuf>),
    Texts(Vec<String>),
    Int(i64),
    Float(f64),
    Text(String),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Path(path) => write!(f, "{}", path.display()),
            Value::Unset => write!(f, "(unset)"),
            Value::Paths(paths) => {
                let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
                write!(f, "[{}]", shown.join(", "))
            }
            Value::Texts(texts) => write!(f, "[{}]", texts.join(", ")),
            Value::Int(n) => write!(f, "{n}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::Text(s) => write!(f, "{s}"),
        }
    }
}

/// One key's effective value and its origin.
#[derive(Debug, Clone)]
pub struct Entry {
    pub key: &'static str,
    pub value: Value,
    pub source: Source,
    pub help: &'static str,
}

/// What the caller found in the environment and on the command line.
#[derive(Debug, Default, Clone)]
pub struct ConfigInputs {
    /// `--config FILE`: must exist when given.
    pub file: Option<PathBuf>,
    /// `STARLING_*` variables (name, value).
    pub env: Vec<(String, String)>,
    /// Flags as (key, value, flag name), applied last, in order.
    pub flags: Vec<(String, String, String)>,
    /// Directory that relative paths from env and flags are resolved against.
    pub cwd: PathBuf,
}

impl ConfigInputs {
    /// Collects the process's `STARLING_*` variables and working directory.
    pub fn from_process() -> Self {
        ConfigInputs {
            file: None,
            env: std::env::vars()
                .filter(|(name, _)| name.starts_with("STARLING_"))
                .collect(),
            flags: Vec::new(),
            cwd: std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
        }
    }
}

/// Which engine generates text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// The GGUF in this process, through llama.cpp.
    Llama,
    /// A local OpenAI-compatible server (`generator.url`).
    #[serde(rename = "openai")]
    OpenAi,
}

/// Settings for the generation engine.
#[derive(Debug, Clone)]
pub struct GeneratorSettings {
    /// The GGUF file (backend llama); for a name that is not a file, the name as a path until
    /// it is resolved (see `model_name`).
    pub model: PathBuf,
    /// `generator.model` as given when it is not an existing file: a name `starling models`
    /// lists, or the model a generator server is asked for.
    pub model_name: Option<String>,
    pub backend: Backend,
    /// The OpenAI-compatible server (backend openai).
    pub url: String,
    /// The environment variable that holds the server's API key.
    pub api_key_env: Option<String>,
    pub timeout_s: u64,
    /// A non-loopback server is accepted (`--allow-remote-model`; never from a file).
    pub allow_remote: bool,
    pub threads: usize,
    pub gpu_layers: u32,
    pub context_size: u32,
    pub batch_size: u32,
    pub prompt_cache_mb: u32,
    /// Requests decoded together (llama) or sent at once (openai).
    pub parallel: usize,
    pub max_tokens: u32,
    pub temperature: f32,
    pub top_p: f32,
    pub min_p: f32,
    pub repeat_penalty: f32,
    pub seed: u32,
}

/// Settings for the embedding engine.
#[derive(Debug, Clone)]
pub struct EmbedderSettings {
    pub dir: PathBuf,
    pub onnxruntime: PathBuf,
    /// Whether indexing computes the weight products in 8-bit integers (`embedder.products`).
    pub int8: bool,
}

/// Settings for the notes index.
#[derive(Debug, Clone)]
pub struct NotesSettings {
    pub paths: Vec<PathBuf>,
    pub max_file_bytes: u64,
}

/// Settings for the tone checker.
#[derive(Debug, Clone)]
pub struct ToneSettings {
    pub rules: Vec<PathBuf>,
    pub profile: String,
    pub fail_on: String,
    /// Phrases the user accepts (`tone.allow`).
    pub allow: Vec<String>,
}

/// Where local models are looked for besides the known stores (Ollama, Hugging Face, ...).
/// Where the note store lives (`store.*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreBackend {
    /// qdrant-edge in `DATA_DIR/index/qdrant`.
    Edge,
    /// A collection on a Qdrant server or cluster.
    Qdrant,
}

#[derive(Debug, Clone)]
pub struct StoreSettings {
    pub backend: StoreBackend,
    pub url: String,
    /// Empty: derived from the note roots (`services::collection_name`).
    pub collection: String,
    pub api_key_env: Option<String>,
    pub shards: u32,
    pub replication_factor: u32,
}

#[derive(Debug, Clone)]
pub struct ModelsSettings {
    /// `models.folders`.
    pub folders: Vec<PathBuf>,
}

/// The effective configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file that was read, if any.
    pub file: Option<PathBuf>,
    pub entries: Vec<Entry>,
    pub data_dir: PathBuf,
    pub models_dir: PathBuf,
    pub prompts_dir: Option<PathBuf>,
    /// User rewrite styles (`rewrite.styles_dir`).
    pub styles_dir: Option<PathBuf>,
    pub generator: GeneratorSettings,
    pub embedder: EmbedderSettings,
    pub models: ModelsSettings,
    pub notes: NotesSettings,
    pub store: StoreSettings,
    pub tone: ToneSettings,
}

/// The default generator file, relative to the model cache (see models/manifest.toml).
pub const DEFAULT_GENERATOR_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
/// The default generator re-encoded as Q8_0 on its first load (`services::generator_model_file`).
pub const DEFAULT_GENERATOR_Q8_0: &str = "SmolLM2-135M-Instruct.Q8_0.gguf";
/// The default embedder folder, relative to the model cache.
pub const DEFAULT_EMBEDDER_DIR: &str = "all-MiniLM-L6-v2";
/// The ONNX Runtime library, relative to the model cache.
pub const DEFAULT_ONNXRUNTIME: &str = "onnxruntime/libonnxruntime.so.1.31.1";

fn home() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/"))
}

fn xdg(var: &str, fallback: &str) -> PathBuf {
    match std::env::var_os(var) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => home().join(fallback),
    }
}

/// `$XDG_CONFIG_HOME/starling/config.toml`.
pub fn default_config_path() -> PathBuf {
    xdg("XDG_CONFIG_HOME", ".config")
        .join("starling")
        .join("config.toml")
}

fn env_name(key: &str) -> String {
    format!("STARLING_{}", key.replace('.', "_").to_uppercase())
}

fn key_def(key: &str) -> Option<&'static KeyDef> {
    KEYS.iter().find(|def| def.key == key)
}

fn known_keys() -> String {
    KEYS.iter()
        .map(|def| def.key)
        .collect::<Vec<_>>()
        .join(", ")
}

fn expand(raw: &str, base: &Path) -> PathBuf {
    let path = if raw == "~" {
        home()
    } else if let Some(rest) = raw.strip_prefix("~/") {
        home().join(rest)
    } else {
        PathBuf::from(raw)
    };
    if path.is_absolute() {
        path
    } else {
        base.join(path)
    }
}

fn describe(kind: Kind) -> String {
    match kind {
        Kind::Path | Kind::OptionalPath => "a path".into(),
        Kind::Model => "a path or a model name".into(),
        Kind::Text => "text".into(),
        Kind::PathList => "a list of paths".into(),
        Kind::TextList => "a list of phrases".into(),
        Kind::Int { min, max } => format!("an integer from {min} to {max}"),
        Kind::Float { min, max } => format!("a number from {min} to {max}"),
        Kind::Choice(options) => format!("one of {}", options.join(", ")),
    }
}

/// Parses a value given as text (environment or flag).
fn parse_text(def: &KeyDef, raw: &str, base: &Path) -> Result<Value, String> {
    let bad = || format!("`{}` expects {}, got `{raw}`", def.key, describe(def.kind));
    match def.kind {
        Kind::Path => Ok(Value::Path(expand(raw, base))),
        Kind::OptionalPath if raw.is_empty() => Ok(Value::Unset),
        Kind::OptionalPath => Ok(Value::Path(expand(raw, base))),
        Kind::Model if raw.trim().is_empty() => Err(bad()),
        Kind::Model => {
            let path = expand(raw, base);
            let looks_like_path = raw.starts_with('~') || Path::new(raw).is_absolute();
            Ok(if looks_like_path || path.exists() {
                Value::Path(path)
            } else {
                Value::Text(raw.trim().to_string())
            })
        }
        Kind::Text => Ok(Value::Text(raw.trim().to_string())),
        Kind::PathList => Ok(Value::Paths(
            raw.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| expand(s, base))
                .collect(),
        )),
        Kind::TextList => Ok(Value::Texts(
            raw.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
        )),
        Kind::Int { min, max } => match raw.trim().parse::<i64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(Value::Int(n)),
            _ => Err(bad()),
        },
        Kind::Float { min, max } => match raw.trim().parse::<f64>() {
            Ok(x) if x.is_finite() && x >= min && x <= max => Ok(Value::Float(x)),
            _ => Err(bad()),
        },
        Kind::Choice(options) if options.contains(&raw) => Ok(Value::Text(raw.to_string())),
        Kind::Choice(_) => Err(bad()),
    }
}

/// Parses a value found in the TOML file.
fn parse_toml(def: &KeyDef, raw: &toml::Value, base: &Path) -> Result<Value, String> {
    let bad = || format!("`{}` expects {}, got `{raw}`", def.key, describe(def.kind));
    match (def.kind, raw) {
        (Kind::Path | Kind::OptionalPath | Kind::Model | Kind::Text, toml::Value::String(s)) => {
            parse_text(def, s, base)
        }
        (Kind::PathList, toml::Value::Array(items)) => {
            let mut paths = Vec::new();
            for item in items {
                match item {
                    toml::Value::String(s) => paths.push(expand(s, base)),
                    _ => return Err(bad()),
                }
            }
            Ok(Value::Paths(paths))
        }
        (Kind::TextList, toml::Value::Array(items)) => {
            let mut texts = Vec::new();
            for item in items {
                match item {
                    toml::Value::String(s) if !s.trim().is_empty() => {
                        texts.push(s.trim().to_string())
                    }
                    _ => return Err(bad()),
                }
            }
            Ok(Value::Texts(texts))
        }
        (Kind::Int { min, max }, toml::Value::Integer(n)) if (min..=max).contains(n) => {
            Ok(Value::Int(*n))
        }
        (Kind::Float { .. }, toml::Value::Integer(n)) => parse_text(def, &n.to_string(), base),
        (Kind::Float { .. }, toml::Value::Float(x)) => parse_text(def, &x.to_string(), base),
        (Kind::Choice(_), toml::Value::String(s)) => parse_text(def, s, base),
        _ => Err(bad()),
    }
}

fn flatten(prefix: &str, table: &toml::Table, out: &mut Vec<(String, toml::Value)>) {
    for (name, value) in table {
        let key = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        match value {
            toml::Value::Table(inner) => flatten(&key, inner, out),
            other => out.push((key, other.clone())),
        }
    }
}

fn default_value(key: &str, models_dir: &Path) -> Value {
    let data_dir = xdg("XDG_DATA_HOME", ".local/share").join("starling");
    match key {
        "data_dir" => Value::Path(data_dir),
        "models_dir" => Value::Path(
            xdg("XDG_CACHE_HOME", ".cache")
                .join("starling")
                .join("models"),
        ),
        "prompts_dir" => Value::Unset,
        "rewrite.styles_dir" => Value::Unset,
        "generator.model" => Value::Path(models_dir.join(DEFAULT_GENERATOR_FILE)),
        "generator.backend" => Value::Text("llama".into()),
        "generator.url" => Value::Text(String::new()),
        "generator.api_key_env" => Value::Text(String::new()),
        "generator.timeout_s" => Value::Int(600),
        "generator.threads" => Value::Int(0),
        "generator.gpu_layers" => Value::Int(0),
        "generator.context_size" => Value::Int(4096),
        "generator.batch_size" => Value::Int(512),
        "generator.prompt_cache_mb" => Value::Int(256),
        "generator.parallel" => Value::Int(4),
        "generator.max_tokens" => Value::Int(512),
        "generator.temperature" => Value::Float(0.0),
        "generator.top_p" => Value::Float(0.95),
        "generator.min_p" => Value::Float(0.05),
        "generator.repeat_penalty" => Value::Float(1.1),
        "generator.seed" => Value::Int(42),
        "models.folders" => Value::Paths(Vec::new()),
        "embedder.dir" => Value::Path(models_dir.join(DEFAULT_EMBEDDER_DIR)),
        "embedder.onnxruntime" => Value::Path(models_dir.join(DEFAULT_ONNXRUNTIME)),
        "embedder.products" => Value::Text("int8".into()),
        "notes.paths" => Value::Paths(Vec::new()),
        "notes.max_file_bytes" => Value::Int(4 * 1024 * 1024),
        "store.backend" => Value::Text("edge".into()),
        "store.url" => Value::Text(String::new()),
        "store.collection" => Value::Text(String::new()),
        "store.api_key_env" => Value::Text(String::new()),
        "store.shards" => Value::Int(1),
        "store.replication_factor" => Value::Int(1),
        "tone.rules" => Value::Paths(Vec::new()),
        "tone.profile" => Value::Text("default".into()),
        "tone.fail_on" => Value::Text("error".into()),
        "tone.allow" => Value::Texts(Vec::new()),
        other => unreachable!("no default for key {other}"),
    }
}

impl Config {
    /// Layers defaults, file, environment and flags. Errors name the key and where it came from.
    pub fn load(inputs: &ConfigInputs) -> Result<Config> {
        let mut chosen: BTreeMap<&'static str, (Value, Source)> = BTreeMap::new();

        let (file, required) = match &inputs.file {
            Some(path) => (expand(&path.to_string_lossy(), &inputs.cwd), true),
            None => (default_config_path(), false),
        };
        let file_read = if file.exists() || required {
            let text = std::fs::read_to_string(&file).map_err(|err| Error::Config {
                path: file.clone(),
                message: format!("cannot read it ({err}); check the path given to --config"),
            })?;
            let table: toml::Table = toml::from_str(&text).map_err(|err| Error::Config {
                path: file.clone(),
                message: format!("not valid TOML: {}", err.message()),
            })?;
            let base = file
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| inputs.cwd.clone());
            let mut pairs = Vec::new();
            flatten("", &table, &mut pairs);
            for (key, raw) in pairs {
                let def = key_def(&key).ok_or_else(|| Error::Config {
                    path: file.clone(),
                    message: format!("unknown key `{key}`; known keys: {}", known_keys()),
                })?;
                let value = parse_toml(def, &raw, &base).map_err(|message| Error::Config {
                    path: file.clone(),
                    message,
                })?;
                chosen.insert(def.key, (value, Source::File(file.clone())));
            }
            Some(file)
        } else {
            None
        };

        for def in KEYS {
            let name = env_name(def.key);
            if let Some((_, raw)) = inputs.env.iter().find(|(n, _)| *n == name) {
                let value =
                    parse_text(def, raw, &inputs.cwd).map_err(|message| Error::ConfigValue {
                        source_name: format!("environment variable {name}"),
                        message,
                    })?;
                chosen.insert(def.key, (value, Source::Env(name)));
            }
        }

        for (key, raw, flag) in &inputs.flags {
            let def = key_def(key).ok_or_else(|| Error::ConfigValue {
                source_name: format!("flag {flag}"),
                message: format!("unknown key `{key}`; known keys: {}", known_keys()),
            })?;
            let value =
                parse_text(def, raw, &inputs.cwd).map_err(|message| Error::ConfigValue {
                    source_name: format!("flag {flag}"),
                    message,
                })?;
            chosen.insert(def.key, (value, Source::Flag(flag.clone())));
        }

        // Defaults last: some depend on models_dir, which may itself have been set above.
        let models_dir = match chosen.get("models_dir") {
            Some((Value::Path(path), _)) => path.clone(),
            _ => match default_value("models_dir", Path::new("")) {
                Value::Path(path) => path,
                _ => unreachable!(),
            },
        };
        let entries: Vec<Entry> = KEYS
            .iter()
            .map(|def| {
                let (value, source) = chosen
                    .remove(def.key)
                    .unwrap_or_else(|| (default_value(def.key, &models_dir), Source::Default));
                Entry {
                    key: def.key,
                    value,
                    source,
                    help: def.help,
                }
            })
            .collect();
        Ok(Config::from_entries(file_read, entries))
    }

    fn from_entries(file: Option<PathBuf>, entries: Vec<Entry>) -> Config {
        let entry = |key: &str| -> &Entry {
            entries
                .iter()
                .find(|e| e.key == key)
                .expect("every key has an entry")
        };
        let get = |key: &str| -> &Value { &entry(key).value };
        let path = |key: &str| match get(key) {
            Value::Path(p) => p.clone(),
            other => unreachable!("{key} is a path, got {other:?}"),
        };
        let int = |key: &str| match get(key) {
            Value::Int(n) => *n,
            other => unreachable!("{key} is an integer, got {other:?}"),
        };
        let float = |key: &str| match get(key) {
            Value::Float(x) => *x as f32,
            other => unreachable!("{key} is a number, got {other:?}"),
        };
        let text = |key: &str| match get(key) {
            Value::Text(s) => s.clone(),
            other => unreachable!("{key} is text, got {other:?}"),
        };
        let source = |key: &str| -> &Source { &entry(key).source };
        let threads = match int("generator.threads") {
            0 => physical_cores(),
            n => n as usize,
        };
        Config {
            file,
            data_dir: path("data_dir"),
            models_dir: path("models_dir"),
            prompts_dir: match get("prompts_dir") {
                Value::Path(p) => Some(p.clone()),
                _ => None,
            },
            styles_dir: match get("rewrite.styles_dir") {
                Value::Path(p) => Some(p.clone()),
                _ => None,
            },
            generator: GeneratorSettings {
                model: match get("generator.model") {
                    Value::Path(p) => p.clone(),
                    Value::Text(name) => PathBuf::from(name),
                    other => unreachable!("generator.model is a path or a name, got {other:?}"),
                },
                model_name: match get("generator.model") {
                    Value::Text(name) => Some(name.clone()),
                    _ => None,
                },
                backend: match (
                    text("generator.backend").as_str(),
                    source("generator.backend"),
                ) {
                    ("openai", _) => Backend::OpenAi,
                    (_, Source::Default) if !text("generator.url").is_empty() => Backend::OpenAi,
                    _ => Backend::Llama,
                },
                url: text("generator.url"),
                api_key_env: Some(text("generator.api_key_env")).filter(|s| !s.is_empty()),
                timeout_s: int("generator.timeout_s") as u64,
                allow_remote: false,
                threads,
                gpu_layers: int("generator.gpu_layers") as u32,
                context_size: int("generator.context_size") as u32,
                batch_size: int("generator.batch_size") as u32,
                prompt_cache_mb: int("generator.prompt_cache_mb") as u32,
                parallel: int("generator.parallel") as usize,
                max_tokens: int("generator.max_tokens") as u32,
                temperature: float("generator.temperature"),
                top_p: float("generator.top_p"),
                min_p: float("generator.min_p"),
                repeat_penalty: float("generator.repeat_penalty"),
                seed: int("generator.seed") as u32,
            },
            embedder: EmbedderSettings {
                dir: path("embedder.dir"),
                onnxruntime: path("embedder.onnxruntime"),
                int8: text("embedder.products") == "int8",
            },
            models: ModelsSettings {
                folders: match get("models.folders") {
                    Value::Paths(paths) => paths.clone(),
                    _ => Vec::new(),
                },
            },
            notes: NotesSettings {
                paths: match get("notes.paths") {
                    Value::Paths(paths) => paths.clone(),
                    _ => Vec::new(),
                },
                max_file_bytes: int("notes.max_file_bytes") as u64,
            },
            store: StoreSettings {
                backend: match (text("store.backend").as_str(), source("store.backend")) {
                    ("qdrant", _) => StoreBackend::Qdrant,
                    (_, Source::Default) if !text("store.url").is_empty() => StoreBackend::Qdrant,
                    _ => StoreBackend::Edge,
                },
                url: text("store.url"),
                collection: text("store.collection"),
                api_key_env: Some(text("store.api_key_env")).filter(|s| !s.is_empty()),
                shards: int("store.shards") as u32,
                replication_factor: int("store.replication_factor") as u32,
            },
            tone: ToneSettings {
                rules: match get("tone.rules") {
                    Value::Paths(paths) => paths.clone(),
                    _ => Vec::new(),
                },
                profile: text("tone.profile"),
                fail_on: text("tone.fail_on"),
                allow: match get("tone.allow") {
                    Value::Texts(texts) => texts.clone(),
                    _ => Vec::new(),
                },
            },
            entries,
        }
    }

    /// The environment variable that sets `key`.
    pub fn env_name(key: &str) -> String {
        env_name(key)
    }

    /// Points `generator.model` at `path` (a local model found by name), keeping where the name
    /// came from, so `config show` prints the file that is used.
    pub fn set_generator_model(&mut self, path: PathBuf) {
        if let Some(entry) = self
            .entries
            .iter_mut()
            .find(|entry| entry.key == "generator.model")
        {
            entry.value = Value::Path(path.clone());
        }
        self.generator.model = path;
    }
}

/// Physical CPU cores (not hyper-threads), which is what llama.cpp runs best on.
pub fn physical_cores() -> usize {
    let logical = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let Ok(cpuinfo) = std::fs::read_to_string("/proc/cpuinfo") else {
        return logical;
    };
    let mut cores = std::collections::BTreeSet::new();
    let mut physical_id = String::new();
    for line in cpuinfo.lines() {
        if let Some((name, value)) = line.split_once(':') {
            match name.trim() {
                "physical id" => physical_id = value.trim().to_string(),
                "core id" => {
                    cores.insert((physical_id.clone(), value.trim().to_string()));
                }
                _ => {}
            }
        }
    }
    if cores.is_empty() {
        logical
    } else {
        cores.len().min(logical)
    }
}

/// Writes `notes.paths` into the config file (created if absent), keeping its other content and
/// comments. Returns the file written.
pub fn remember_note_paths(file: &Path, paths: &[PathBuf]) -> Result<()> {
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(err) => return Err(Error::io(format!("cannot read `{}`", file.display()), err)),
    };
    let mut document: toml_edit::DocumentMut =
        text.parse()
            .map_err(|err: toml_edit::TomlError| Error::Config {
                path: file.to_path_buf(),
                message: format!("not valid TOML: {}", err.message()),
            })?;
    let mut array = toml_edit::Array::new();
    for path in paths {
        array.push(path.display().to_string());
    }
    if !document.contains_table("notes") {
        document["notes"] = toml_edit::table();
    }
    document["notes"]["paths"] = toml_edit::value(array);
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io(format!("cannot create `{}`", dir.display()), e))?;
    }
    crate::files::write_atomic(file, document.to_string().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs_with_file(text: &str) -> (tempfile::TempDir, ConfigInputs) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, text).unwrap();
        let inputs = ConfigInputs {
            file: Some(path),
            cwd: dir.path().to_path_buf(),
            ..Default::default()
        };
        (dir, inputs)
    }

    #[test]
    fn layers_file_env_and_flags_in_order() {
        let (_dir, mut inputs) = inputs_with_file("[generator]\nthreads = 3\nseed = 7\n");
        inputs
            .env
            .push(("STARLING_GENERATOR_SEED".into(), "9".into()));
        inputs.flags.push((
            "generator.max_tokens".into(),
            "12".into(),
            "--max-tokens".into(),
        ));
        let config = Config::load(&inputs).unwrap();
        assert_eq!(config.generator.threads, 3);
        assert_eq!(config.generator.seed, 9);
        assert_eq!(config.generator.max_tokens, 12);
        let seed = config
            .entries
            .iter()
            .find(|e| e.key == "generator.seed")
            .unwrap();
        assert_eq!(seed.source, Source::Env("STARLING_GENERATOR_SEED".into()));
    }

    #[test]
    fn unknown_key_names_key_and_file() {
        let (_dir, inputs) = inputs_with_file("[generator]\nthread = 3\n");
        let message = Config::load(&inputs).unwrap_err().to_string();
        assert!(message.contains("generator.thread"), "{message}");
        assert!(message.contains("config.toml"), "{message}");
    }

    #[test]
    fn bad_value_names_key_and_expectation() {
        let (_dir, inputs) = inputs_with_file("[generator]\ntemperature = \"hot\"\n");
        let message = Config::load(&inputs).unwrap_err().to_string();
        assert!(
            message.contains("generator.temperature") && message.contains("a number"),
            "{message}"
        );
        let mut inputs = ConfigInputs::default();
        inputs
            .env
            .push(("STARLING_TONE_PROFILE".into(), "shouty".into()));
        let message = Config::load(&inputs).unwrap_err().to_string();
        assert!(
            message.contains("STARLING_TONE_PROFILE") && message.contains("pip-response"),
            "{message}"
        );
    }

    #[test]
    fn remembered_note_paths_keep_the_rest_of_the_file() {
        let (dir, inputs) = inputs_with_file("# my settings\n[generator]\nthreads = 3 # pinned\n");
        let file = inputs.file.clone().unwrap();
        remember_note_paths(&file, &[dir.path().join("vault")]).unwrap();
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(
            text.contains("# my settings") && text.contains("threads = 3 # pinned"),
            "{text}"
        );
        let config = Config::load(&inputs).unwrap();
        assert_eq!(config.notes.paths, [dir.path().join("vault")]);
    }

    #[test]
    fn a_model_name_is_kept_as_written() {
        let (dir, mut inputs) = inputs_with_file("[models]\nfolders = [\"gguf\"]\n");
        inputs.flags.push((
            "generator.model".into(),
            "llama3.2:latest".into(),
            "--model".into(),
        ));
        let mut config = Config::load(&inputs).unwrap();
        assert_eq!(config.models.folders, [dir.path().join("gguf")]);
        // Not a file: kept as the name it is (backend llama resolves it; a server is asked for it).
        assert_eq!(config.generator.model, PathBuf::from("llama3.2:latest"));
        assert_eq!(
            config.generator.model_name.as_deref(),
            Some("llama3.2:latest")
        );
        config.set_generator_model(PathBuf::from("/models/blob"));
        assert_eq!(config.generator.model, PathBuf::from("/models/blob"));
        let entry = config
            .entries
            .iter()
            .find(|e| e.key == "generator.model")
            .unwrap();
        assert_eq!(entry.value, Value::Path(PathBuf::from("/models/blob")));
        assert_eq!(entry.source, Source::Flag("--model".into()));
    }

    #[test]
    fn relative_paths_in_file_resolve_against_its_folder() {
        let (dir, inputs) = inputs_with_file("models_dir = \"cache\"\n");
        let config = Config::load(&inputs).unwrap();
        assert_eq!(config.models_dir, dir.path().join("cache"));
        assert_eq!(
            config.generator.model,
            dir.path().join("cache").join(DEFAULT_GENERATOR_FILE)
        );
    }
}
