//! `starling lsp`: a language server over standard input and output, for any editor with an
//! LSP client. Tone diagnostics on open and as the user types (debounced; only the blocks
//! that changed are checked again), hover with the category's advice, quick fixes (a rule's
//! literal replacement, an ignore directive, a model rewrite of the sentence) and evidence
//! from the note index for the sentence under the cursor (`textDocument/references` and the
//! `starling.evidence` command). It never writes a file: every edit goes to the editor as a
//! `WorkspaceEdit`, and nothing but protocol messages is written to standard output.

mod document;

use std::collections::HashMap;
use std::ops::Range;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use crossbeam_channel::{select, Receiver, Sender};
use lsp_server::{Connection, ErrorCode, Message, Notification, Request, RequestId, Response};
use lsp_types::notification::{
    DidChangeConfiguration, DidChangeTextDocument, DidCloseTextDocument, DidOpenTextDocument,
    DidSaveTextDocument, Notification as _, PublishDiagnostics, ShowMessage,
};
use lsp_types::request::{
    ApplyWorkspaceEdit, CodeActionRequest, ExecuteCommand, HoverRequest, References, Request as _,
};
use lsp_types::{
    CodeAction, CodeActionKind, CodeActionOrCommand, CodeActionParams,
    CodeActionProviderCapability, Diagnostic, DiagnosticRelatedInformation, DiagnosticSeverity,
    ExecuteCommandOptions, Hover, HoverContents, HoverProviderCapability, InitializeParams,
    Location, MarkupContent, MarkupKind, MessageType, NumberOrString, OneOf, Position,
    PositionEncodingKind, PublishDiagnosticsParams, SaveOptions, ServerCapabilities,
    ShowMessageParams, TextDocumentSyncCapability, TextDocumentSyncKind, TextDocumentSyncOptions,
    TextDocumentSyncSaveOptions, TextEdit, Uri, WorkspaceEdit,
};
use serde::Deserialize;
use serde_json::{json, Value};

use starling::backends::fastembed::FastEmbedder;
use starling::backends::{Embedder, Generator, Sampling, VectorStore};
use starling::config::Config;
use starling::tasks::audit::{self, Claim, Verdict};
use starling::tasks::tone::SentenceFix;
use starling::tone::cache::SentenceCache;
use starling::tone::tokens::Vocabulary;
use starling::tone::{self, CheckOptions, Finding, InputKind, RuleSet, Severity};

use document::{Document, Encoding};

const REWRITE: &str = "starling.rewriteSentence";
const EVIDENCE: &str = "starling.evidence";
/// Documents larger than this are not checked (as `starling tone` refuses them): a tone check
/// is for messages and scripts, and an editor must stay responsive.
const MAX_CHECKED_BYTES: usize = 20 * 1024 * 1024;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Talk over standard input and output (the only transport; accepted because many
    /// editors pass it).
    #[arg(long)]
    stdio: bool,
}

/// What the editor may set, in `initializationOptions` or in `workspace/didChangeConfiguration`
/// (`settings`, or `settings.starling`). Unset keys keep their value.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct SettingsUpdate {
    profile: Option<String>,
    min_severity: Option<String>,
    model: Option<bool>,
    rules_only: Option<bool>,
    audit: Option<bool>,
    debounce_ms: Option<u64>,
}

#[derive(Debug, Clone)]
struct Settings {
    /// A profile of the rule set (`tone.profile` unless set).
    profile: String,
    /// Findings below this are not shown.
    min_severity: Severity,
    /// Offer "rewrite this sentence with the model".
    model: bool,
    /// The rules alone, without the learned classifier (no embedding model for diagnostics).
    rules_only: bool,
    /// Audit the claims of a document against the notes on open and save, when an index exists.
    audit: bool,
    debounce: Duration,
}

pub fn run(config: &Config, _args: &Args) -> anyhow::Result<ExitCode> {
    let (connection, io_threads) = Connection::stdio();
    let served = serve(config, &connection);
    drop(connection);
    let joined = io_threads.join();
    let shut_down = served?;
    joined.context("the editor's connection broke")?;
    // The protocol: exit code 0 after a `shutdown` request, 1 when `exit` came without one.
    Ok(if shut_down {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Serves until the editor leaves: true when it asked for `shutdown` first.
fn serve(config: &Config, connection: &Connection) -> anyhow::Result<bool> {
    let (id, params) = connection.initialize_start()?;
    let params: InitializeParams =
        serde_json::from_value(params).context("the editor's `initialize` request is malformed")?;
    let utf8 = PositionEncodingKind::UTF8;
    let encoding = match &params.capabilities.general {
        Some(general)
            if general
                .position_encodings
                .as_ref()
                .is_some_and(|kinds| kinds.contains(&utf8)) =>
        {
            Encoding::Utf8
        }
        _ => Encoding::Utf16,
    };
    let rules = RuleSet::load(&config.tone.rules)?;
    let (jobs, job_queue) = crossbeam_channel::unbounded();
    let (done, finished) = crossbeam_channel::unbounded();
    {
        let config = config.clone();
        std::thread::Builder::new()
            .name("starling-rewrite".into())
            .spawn(move || rewriter(&config, job_queue, done))
            .context("starting the rewrite thread")?;
    }
    let mut server = Server {
        config,
        sender: connection.sender.clone(),
        encoding,
        settings: Settings {
            profile: config.tone.profile.clone(),
            min_severity: Severity::Info,
            model: true,
            rules_only: false,
            audit: true,
            debounce: Duration::from_millis(250),
        },
        rules,
        embedder: None,
        vocabulary: None,
        rewrites: jobs,
        documents: HashMap::new(),
        roots: Vec::new(),
        due: HashMap::new(),
        next_id: 0,
    };
    if let Some(options) = params.initialization_options {
        server.configure(options);
    }
    let capabilities = ServerCapabilities {
        position_encoding: Some(match encoding {
            Encoding::Utf8 => PositionEncodingKind::UTF8,
            Encoding::Utf16 => PositionEncodingKind::UTF16,
        }),
        text_document_sync: Some(TextDocumentSyncCapability::Options(
            TextDocumentSyncOptions {
                open_close: Some(true),
                change: Some(TextDocumentSyncKind::INCREMENTAL),
                save: Some(TextDocumentSyncSaveOptions::SaveOptions(SaveOptions {
                    include_text: Some(false),
                })),
                ..Default::default()
            },
        )),
        hover_provider: Some(HoverProviderCapability::Simple(true)),
        code_action_provider: Some(CodeActionProviderCapability::Simple(true)),
        execute_command_provider: Some(ExecuteCommandOptions {
            commands: vec![REWRITE.into(), EVIDENCE.into()],
            ..Default::default()
        }),
        references_provider: Some(OneOf::Left(true)),
        ..Default::default()
    };
    connection.initialize_finish(
        id,
        json!({
            "capabilities": capabilities,
            "serverInfo": {"name": "starling", "version": env!("CARGO_PKG_VERSION")},
        }),
    )?;
    loop {
        // Wake for the editor, for a finished rewrite, or when a debounced check is due.
        let wait = server.next_due().unwrap_or(Duration::from_secs(3600));
        let message = select! {
            recv(connection.receiver) -> message => message.ok(),
            recv(finished) -> outcome => {
                if let Ok(outcome) = outcome {
                    server.rewritten(outcome);
                }
                server.publish_due();
                continue;
            }
            default(wait) => {
                server.publish_due();
                continue;
            }
        };
        match message {
            None => return Ok(false),
            Some(Message::Request(request)) => {
                if connection.handle_shutdown(&request)? {
                    return Ok(true);
                }
                let id = request.id.clone();
                let response = match server.request(request) {
                    // Answered when the rewrite thread is done with it.
                    Ok(None) => None,
                    Ok(Some(result)) => Some(Response::new_ok(id, result)),
                    Err(Failure(code, message)) => {
                        Some(Response::new_err(id, code as i32, message))
                    }
                };
                if let Some(response) = response {
                    server.send(response.into());
                }
            }
            Some(Message::Notification(notification)) => {
                if notification.method == "exit" {
                    return Ok(false);
                }
                server.notification(notification);
            }
            // Answers to our `workspace/applyEdit`: the editor shows its own refusals.
            Some(Message::Response(_)) => {}
        }
        server.publish_due();
    }
}

/// A request that cannot be answered: the LSP error code and what to tell the user.
struct Failure(ErrorCode, String);

impl Failure {
    fn invalid(message: impl Into<String>) -> Self {
        Failure(ErrorCode::InvalidParams, message.into())
    }
}

impl From<anyhow::Error> for Failure {
    fn from(err: anyhow::Error) -> Self {
        Failure(ErrorCode::RequestFailed, format!("{err:#}"))
    }
}

struct Server<'a> {
    config: &'a Config,
    sender: crossbeam_channel::Sender<Message>,
    encoding: Encoding,
    settings: Settings,
    rules: RuleSet,
    /// Loaded on first need (evidence and audit); `Err` (said once) when it cannot be. It
    /// keeps every sentence's vector, so an audit after an edit embeds only what changed.
    embedder: Option<Result<SentenceCache<FastEmbedder>, String>>,
    /// The tone classifier's tokenizer, loaded on first need; `Err` (said once) when it cannot be.
    vocabulary: Option<Result<Vocabulary, String>>,
    /// The model rewrites run on their own thread (`rewriter`), so diagnostics keep coming
    /// while a sentence is generated.
    rewrites: Sender<RewriteJob>,
    documents: HashMap<Uri, Document>,
    /// The folders the index was built from, read at each audit (audit's note paths are
    /// relative to them), not at each publish.
    roots: Vec<std::path::PathBuf>,
    /// Documents to check and publish, and when (debounced after the last change).
    due: HashMap<Uri, Instant>,
    next_id: i32,
}

impl Server<'_> {
    fn send(&self, message: Message) {
        // The editor has gone when this fails; the loop ends at the next receive.
        let _ = self.sender.send(message);
    }

    fn show(&self, kind: MessageType, message: String) {
        let params = ShowMessageParams { typ: kind, message };
        self.send(Notification::new(ShowMessage::METHOD.into(), params).into());
    }

    fn configure(&mut self, value: Value) {
        // Some clients send `null` (or nothing of ours) to say "look the settings up": no change.
        if !value.is_object() {
            return;
        }
        let value = match value {
            Value::Object(mut map) if map.contains_key("starling") => {
                map.remove("starling").unwrap_or_default()
            }
            other => other,
        };
        let update: SettingsUpdate = match serde_json::from_value(value) {
            Ok(update) => update,
            Err(err) => {
                self.show(MessageType::ERROR, format!("starling: settings not understood ({err}); expected {{\"profile\", \"minSeverity\", \"model\", \"rulesOnly\", \"debounceMs\"}}"));
                return;
            }
        };
        if let Some(profile) = update.profile {
            if profile == "default" || self.rules.profile_names().contains(&profile) {
                self.settings.profile = profile;
            } else {
                self.show(
                    MessageType::ERROR,
                    format!(
                        "starling: unknown profile `{profile}`; use one of {}",
                        self.rules.profile_names().join(", ")
                    ),
                );
            }
        }
        if let Some(level) = update.min_severity {
            match Severity::from_id(&level) {
                Some(severity) => self.settings.min_severity = severity,
                None => self.show(
                    MessageType::ERROR,
                    format!("starling: minSeverity `{level}`: use info, warning or error"),
                ),
            }
        }
        if let Some(model) = update.model {
            self.settings.model = model;
        }
        if let Some(rules_only) = update.rules_only {
            self.settings.rules_only = rules_only;
        }
        if let Some(audit) = update.audit {
            self.settings.audit = audit;
        }
        if let Some(ms) = update.debounce_ms {
            self.settings.debounce = Duration::from_millis(ms.min(10_000));
        }
        // Everything open is checked again under the new settings.
        let now = Instant::now();
        for (uri, document) in &mut self.documents {
            document.checked = None;
            document.audit_due = true;
            self.due.insert(uri.clone(), now);
        }
    }

    /// How long until the next document is due, if one is.
    fn next_due(&self) -> Option<Duration> {
        self.due
            .values()
            .min()
            .map(|at| at.saturating_duration_since(Instant::now()))
    }

    fn notification(&mut self, notification: Notification) {
        match notification.method.as_str() {
            DidOpenTextDocument::METHOD => {
                if let Ok(params) = notification
                    .extract::<lsp_types::DidOpenTextDocumentParams>(DidOpenTextDocument::METHOD)
                {
                    let item = params.text_document;
                    let kind = kind_of(&item.uri, &item.language_id);
                    self.documents.insert(
                        item.uri.clone(),
                        Document::new(item.text, item.version, kind),
                    );
                    self.due.insert(item.uri, Instant::now());
                }
            }
            DidChangeTextDocument::METHOD => {
                if let Ok(params) = notification.extract::<lsp_types::DidChangeTextDocumentParams>(
                    DidChangeTextDocument::METHOD,
                ) {
                    let uri = params.text_document.uri;
                    if let Some(document) = self.documents.get_mut(&uri) {
                        for change in params.content_changes {
                            document.apply(change, self.encoding);
                        }
                        document.version = params.text_document.version;
                        document.keep_claims();
                        self.due
                            .insert(uri, Instant::now() + self.settings.debounce);
                    }
                }
            }
            DidCloseTextDocument::METHOD => {
                if let Ok(params) = notification
                    .extract::<lsp_types::DidCloseTextDocumentParams>(DidCloseTextDocument::METHOD)
                {
                    let uri = params.text_document.uri;
                    self.documents.remove(&uri);
                    self.due.remove(&uri);
                    self.publish(uri, Vec::new(), None);
                }
            }
            DidSaveTextDocument::METHOD => {
                if let Ok(params) = notification
                    .extract::<lsp_types::DidSaveTextDocumentParams>(DidSaveTextDocument::METHOD)
                {
                    let uri = params.text_document.uri;
                    if let Some(document) = self.documents.get_mut(&uri) {
                        document.audit_due = true;
                        document.checked = None;
                        self.due.insert(uri, Instant::now());
                    }
                }
            }
            DidChangeConfiguration::METHOD => {
                if let Ok(params) = notification.extract::<lsp_types::DidChangeConfigurationParams>(
                    DidChangeConfiguration::METHOD,
                ) {
                    self.configure(params.settings);
                }
            }
            _ => {}
        }
    }

    fn publish(&self, uri: Uri, diagnostics: Vec<Diagnostic>, version: Option<i32>) {
        let params = PublishDiagnosticsParams {
            uri,
            diagnostics,
            version,
        };
        self.send(Notification::new(PublishDiagnostics::METHOD.into(), params).into());
    }

    /// Checks and publishes the documents whose time has come.
    fn publish_due(&mut self) {
        let now = Instant::now();
        let ready: Vec<Uri> = self
            .due
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(uri, _)| uri.clone())
            .collect();
        for uri in ready {
            self.due.remove(&uri);
            self.check(&uri);
        }
    }

    /// The tone classifier's tokenizer, loaded once.
    fn vocabulary(&mut self) -> Option<&Vocabulary> {
        if self.vocabulary.is_none() {
            let loaded =
                starling::services::open_vocabulary(self.config).map_err(|e| e.to_string());
            if let Err(err) = &loaded {
                self.show(
                    MessageType::WARNING,
                    format!("starling: {err}; tone is checked with the rules alone"),
                );
            }
            self.vocabulary = Some(loaded);
        }
        self.vocabulary.as_ref().and_then(|l| l.as_ref().ok())
    }

    /// The embedder for evidence and audit, loaded once.
    fn embedder(&mut self) -> Result<&SentenceCache<FastEmbedder>, String> {
        if self.embedder.is_none() {
            let loaded = starling::services::open_embedder(
                self.config,
                starling::backends::fastembed::Workload::Queries,
            )
            .map(SentenceCache::new)
            .map_err(|e| e.to_string());
            if let Err(err) = &loaded {
                self.show(
                    MessageType::WARNING,
                    format!("starling: {err}; evidence and claim checks are off"),
                );
            }
            self.embedder = Some(loaded);
        }
        match self.embedder.as_ref().expect("set above") {
            Ok(embedder) => Ok(embedder),
            Err(err) => Err(err.clone()),
        }
    }

    /// Checks `uri` now (if it changed since its last check) and publishes its diagnostics.
    fn check(&mut self, uri: &Uri) {
        let Some(document) = self.documents.get(uri) else {
            return;
        };
        if document.checked == Some(document.version) {
            return;
        }
        if document.text.len() > MAX_CHECKED_BYTES {
            let message = format!(
                "starling: `{}` is over {} MB; its tone is not checked",
                uri.as_str(),
                MAX_CHECKED_BYTES >> 20
            );
            let version = document.version;
            if let Some(document) = self.documents.get_mut(uri) {
                document.findings.clear();
                document.checked = Some(version);
            }
            self.show(MessageType::WARNING, message);
            self.publish(uri.clone(), Vec::new(), Some(version));
            return;
        }
        let options = CheckOptions {
            kind: document.kind,
            profile: self.settings.profile.clone(),
            allow: self.config.tone.allow.clone(),
        };
        if !self.settings.rules_only {
            let _ = self.vocabulary();
        }
        let vocabulary = match (&self.vocabulary, self.settings.rules_only) {
            (Some(Ok(vocabulary)), false) => Some(vocabulary),
            _ => None,
        };
        let document = self.documents.get_mut(uri).expect("looked up above");
        // The whole text, every time: rules and classifier take milliseconds for a script.
        let found =
            tone::classifier::check_default(&self.rules, vocabulary, &document.text, &options);
        let findings = match found {
            Ok(findings) => findings,
            Err(err) => {
                // No stale findings: their offsets would point into the old text.
                document.findings.clear();
                document.checked = Some(document.version);
                let message = format!("starling: the tone check failed: {err}");
                self.show(MessageType::ERROR, message);
                self.publish_document(uri);
                return;
            }
        };
        let document = self.documents.get_mut(uri).expect("looked up above");
        document.findings = findings
            .into_iter()
            .filter(|f| f.severity >= self.settings.min_severity)
            .collect();
        document.checked = Some(document.version);
        self.publish_document(uri);
        // The tone is shown first; an audit (a search per claim) follows when one is due.
        if let Some(claims) = self.audit_if_due(uri) {
            let document = self.documents.get_mut(uri).expect("looked up above");
            let had_claims = !document.claims.is_empty();
            document.claims = claims;
            if had_claims || !document.claims.is_empty() {
                self.publish_document(uri);
            }
        }
    }

    /// Publishes the tone findings and audited claims `uri` has now.
    fn publish_document(&self, uri: &Uri) {
        let Some(document) = self.documents.get(uri) else {
            return;
        };
        let diagnostics = document
            .findings
            .iter()
            .map(|f| diagnostic(document, f, self.encoding))
            .chain(
                document
                    .claims
                    .iter()
                    .filter_map(|c| claim_diagnostic(document, c, &self.roots, self.encoding)),
            )
            .collect();
        self.publish(uri.clone(), diagnostics, Some(document.version));
    }

    /// The document, checked up to its latest version (a code action or hover right after an
    /// edit must see the findings of the text the editor shows).
    fn current(&mut self, uri: &Uri) -> Result<&Document, Failure> {
        if self
            .documents
            .get(uri)
            .is_some_and(|d| d.checked != Some(d.version))
        {
            self.due.remove(uri);
            self.check(uri);
        }
        self.documents.get(uri).ok_or_else(|| {
            Failure::invalid(format!(
                "`{}` is not open; the editor sends didOpen first",
                uri.as_str()
            ))
        })
    }

    /// Whether `starling index` has built an index to search.
    fn indexed(&self) -> bool {
        starling::services::state_path(self.config).exists()
    }

    /// The folders the index was built from (where audit's note paths are relative to).
    fn note_roots(&self) -> Vec<std::path::PathBuf> {
        let state = starling::services::state_path(self.config);
        match starling::notes::index::IndexState::load(&state) {
            Ok(state) if !state.roots.is_empty() => state.roots,
            _ => self.config.notes.paths.clone(),
        }
    }

    /// Runs `work` on the note index: under the store's lock for that long, or on a private
    /// copy when another process (an index run, a server) holds it.
    fn with_notes<T>(
        &mut self,
        work: impl FnOnce(&dyn Embedder, &dyn VectorStore) -> starling::error::Result<T>,
    ) -> Result<T, Failure> {
        let config = self.config;
        let embedder = self
            .embedder()
            .map_err(|err| Failure(ErrorCode::RequestFailed, err))?;
        let done = match starling::services::lock_store(config, "starling lsp") {
            Ok(lock) => {
                let notes = starling::services::open_store(config, lock, embedder.dimension())
                    .map_err(anyhow::Error::from)?;
                work(embedder, &notes.store)
            }
            Err(starling::error::Error::StoreLocked { .. }) => {
                let snapshot = starling::services::open_snapshot(config, embedder.dimension())
                    .map_err(anyhow::Error::from)?;
                work(embedder, &snapshot.store)
            }
            Err(err) => return Err(anyhow::Error::from(err).into()),
        };
        Ok(done.map_err(anyhow::Error::from)?)
    }

    /// The claims of `uri` audited against the notes, when an audit is due and possible.
    fn audit_if_due(&mut self, uri: &Uri) -> Option<Vec<Claim>> {
        let document = self.documents.get_mut(uri)?;
        if !std::mem::take(&mut document.audit_due) {
            return None;
        }
        if !self.settings.audit || !self.indexed() {
            return Some(Vec::new());
        }
        let document = &self.documents[uri];
        let (source, kind) = (document.text.clone(), document.kind);
        // The draft's own file is never evidence for itself.
        let file = url::Url::parse(uri.as_str())
            .ok()
            .and_then(|url| url.to_file_path().ok())
            .and_then(|path| path.canonicalize().ok())
            .map(|path| path.to_string_lossy().into_owned());
        self.roots = self.note_roots();
        let read = starling::services::note_reader(self.config);
        let audited = self.with_notes(|embedder, store| {
            audit::audit(
                embedder,
                store,
                &audit::Draft {
                    source: &source,
                    kind,
                    file,
                },
                &Default::default(),
                &audit::Settings::default(),
                &read,
            )
        });
        match audited {
            Ok(audited) => {
                // As `audit` says it in every format: a note holding this draft backs nothing.
                let document = self.documents.get_mut(uri)?;
                let fresh: Vec<String> = audited
                    .warnings
                    .iter()
                    .filter(|w| !document.audit_warnings.contains(w))
                    .cloned()
                    .collect();
                document.audit_warnings = audited.warnings;
                for warning in fresh {
                    self.show(MessageType::WARNING, format!("starling audit: {warning}"));
                }
                Some(audited.claims)
            }
            Err(Failure(_, message)) => {
                self.show(
                    MessageType::WARNING,
                    format!("starling: the claim audit failed: {message}"),
                );
                Some(Vec::new())
            }
        }
    }

    /// The answer, or `None` when it comes later (a model rewrite).
    fn request(&mut self, request: Request) -> Result<Option<Value>, Failure> {
        fn parse(what: &'static str) -> impl Fn(serde_json::Error) -> Failure {
            move |err| Failure::invalid(format!("malformed {what} request: {err}"))
        }
        let params = request.params;
        let id = request.id;
        match request.method.as_str() {
            HoverRequest::METHOD => {
                let params: lsp_types::HoverParams =
                    serde_json::from_value(params).map_err(parse("hover"))?;
                let at = params.text_document_position_params;
                Ok(Some(
                    serde_json::to_value(self.hover(&at.text_document.uri, at.position)?)
                        .unwrap_or_default(),
                ))
            }
            CodeActionRequest::METHOD => {
                let params: CodeActionParams =
                    serde_json::from_value(params).map_err(parse("code action"))?;
                Ok(Some(
                    serde_json::to_value(self.code_actions(&params)?).unwrap_or_default(),
                ))
            }
            References::METHOD => {
                let params: lsp_types::ReferenceParams =
                    serde_json::from_value(params).map_err(parse("references"))?;
                let at = params.text_document_position;
                Ok(Some(
                    serde_json::to_value(self.evidence(&at.text_document.uri, at.position)?)
                        .unwrap_or_default(),
                ))
            }
            ExecuteCommand::METHOD => {
                let params: lsp_types::ExecuteCommandParams =
                    serde_json::from_value(params).map_err(parse("executeCommand"))?;
                let argument = params.arguments.into_iter().next().unwrap_or_default();
                match params.command.as_str() {
                    REWRITE => {
                        let target: RewriteTarget =
                            serde_json::from_value(argument).map_err(parse(REWRITE))?;
                        self.rewrite(id, target)?;
                        Ok(None)
                    }
                    EVIDENCE => {
                        let at: lsp_types::TextDocumentPositionParams =
                            serde_json::from_value(argument).map_err(parse(EVIDENCE))?;
                        Ok(Some(
                            serde_json::to_value(
                                self.evidence(&at.text_document.uri, at.position)?,
                            )
                            .unwrap_or_default(),
                        ))
                    }
                    other => Err(Failure::invalid(format!(
                        "unknown command `{other}`; starling has {REWRITE} and {EVIDENCE}"
                    ))),
                }
            }
            other => Err(Failure(
                ErrorCode::MethodNotFound,
                format!("starling does not handle `{other}`"),
            )),
        }
    }

    fn hover(&mut self, uri: &Uri, position: Position) -> Result<Option<Hover>, Failure> {
        let encoding = self.encoding;
        let document = self.current(uri)?;
        let offset = document.offset(position, encoding);
        let here: Vec<&Finding> = document
            .findings
            .iter()
            .filter(|f| f.start <= offset && offset <= f.end)
            .collect();
        let (Some(first), Some(last)) = (here.first(), here.last()) else {
            return Ok(None);
        };
        let value = here
            .iter()
            .map(|f| {
                format!(
                    "**{}** ({}, {})\n\n{}\n\n*Try:* {}",
                    f.category.id().replace('_', " "),
                    f.severity,
                    f.rule,
                    f.message,
                    f.suggestion
                )
            })
            .collect::<Vec<_>>()
            .join("\n\n---\n\n");
        Ok(Some(Hover {
            contents: HoverContents::Markup(MarkupContent {
                kind: MarkupKind::Markdown,
                value,
            }),
            range: Some(document.range(first.start..last.end.max(first.end), encoding)),
        }))
    }

    fn code_actions(
        &mut self,
        params: &CodeActionParams,
    ) -> Result<Vec<CodeActionOrCommand>, Failure> {
        let encoding = self.encoding;
        let model = self.settings.model;
        let uri = params.text_document.uri.clone();
        let document = self.current(&uri)?;
        let wanted = document.byte_range(params.range, encoding);
        let edits = |edits: Vec<(Range<usize>, String)>| WorkspaceEdit {
            changes: Some(HashMap::from([(
                uri.clone(),
                edits
                    .into_iter()
                    .map(|(range, text)| TextEdit::new(document.range(range, encoding), text))
                    .collect(),
            )])),
            ..Default::default()
        };
        let view = tone::segment::prose_view(&document.text, document.kind);
        let mut actions = Vec::new();
        let mut sentences: Vec<Range<usize>> = Vec::new();
        for finding in document
            .findings
            .iter()
            .filter(|f| f.start <= wanted.end && wanted.start <= f.end)
        {
            let diagnostics = Some(vec![diagnostic(document, finding, encoding)]);
            if let Some((range, text)) = tone::literal_fix(&document.text, finding) {
                let title = match finding.replacement.as_deref() {
                    Some("") | None => format!("Remove “{}”", finding.text),
                    Some(replacement) => {
                        format!("Replace “{}” with “{replacement}”", finding.text)
                    }
                };
                actions.push(CodeActionOrCommand::CodeAction(CodeAction {
                    title,
                    kind: Some(CodeActionKind::QUICKFIX),
                    diagnostics: diagnostics.clone(),
                    edit: Some(edits(vec![(range, text)])),
                    is_preferred: Some(true),
                    ..Default::default()
                }));
            }
            let (ignore, whole) = document.ignore_edits(finding.start, finding.category);
            if !ignore.is_empty() {
                let place = if whole {
                    "in this paragraph"
                } else {
                    "on this line"
                };
                actions.push(CodeActionOrCommand::CodeAction(CodeAction {
                    title: format!("Ignore {} {place}", finding.category.id().replace('_', " ")),
                    kind: Some(CodeActionKind::QUICKFIX),
                    diagnostics,
                    edit: Some(edits(ignore)),
                    ..Default::default()
                }));
            }
            if let Some(sentence) = view
                .sentences
                .iter()
                .find(|s| s.start <= finding.start && finding.start < s.end.max(s.start + 1))
            {
                if model && !sentences.contains(sentence) {
                    sentences.push(sentence.clone());
                }
            }
        }
        for sentence in sentences {
            let target = RewriteTarget {
                uri: uri.clone(),
                version: document.version,
                start: sentence.start,
                end: sentence.end,
            };
            actions.push(CodeActionOrCommand::CodeAction(CodeAction {
                title: "Rewrite this sentence with the model".into(),
                kind: Some(CodeActionKind::REFACTOR_REWRITE),
                command: Some(lsp_types::Command {
                    title: "Rewrite this sentence with the model".into(),
                    command: REWRITE.into(),
                    arguments: Some(vec![serde_json::to_value(&target).unwrap_or_default()]),
                }),
                ..Default::default()
            }));
        }
        Ok(actions)
    }

    /// Rewrites one sentence with the model (the `--fix` loop, for that sentence alone) and
    /// asks the editor to apply it.
    /// Checks a rewrite request and hands it to the rewrite thread; `rewritten` answers it.
    fn rewrite(&mut self, id: RequestId, target: RewriteTarget) -> Result<(), Failure> {
        let document = self.current(&target.uri)?;
        if document.version != target.version {
            return Err(Failure(
                ErrorCode::ContentModified,
                "the document changed since this action was offered; ask for it again".into(),
            ));
        }
        if target.end > document.text.len()
            || !document.text.is_char_boundary(target.start)
            || !document.text.is_char_boundary(target.end)
            || target.start > target.end
        {
            return Err(Failure::invalid("the sentence lies outside the document"));
        }
        let findings: Vec<Finding> = document
            .findings
            .iter()
            .filter(|f| f.start >= target.start && f.start < target.end)
            .cloned()
            .collect();
        if findings.is_empty() {
            return Err(Failure::invalid(
                "nothing to rewrite: the sentence has no findings",
            ));
        }
        let job = RewriteJob {
            id,
            text: document.text.clone(),
            kind: document.kind,
            findings,
            target,
        };
        self.rewrites.send(job).map_err(|_| {
            Failure(
                ErrorCode::InternalError,
                "the rewrite thread has stopped".into(),
            )
        })
    }

    /// A rewrite came back: ask the editor to apply it (versioned, so an editor whose text
    /// moved on refuses it rather than misplace it) and answer the command.
    fn rewritten(&mut self, outcome: RewriteOutcome) {
        let RewriteOutcome { id, target, result } = outcome;
        let answer = match result {
            Err(Failure(code, message)) => Response::new_err(id, code as i32, message),
            Ok(None) => Response::new_err(
                id,
                ErrorCode::InvalidParams as i32,
                "nothing to rewrite in that sentence".into(),
            ),
            Ok(Some(fix)) if !fix.accepted => {
                self.show(
                    MessageType::WARNING,
                    format!(
                        "starling: kept the sentence: {}",
                        fix.note.unwrap_or_else(|| "the rewrite was refused".into())
                    ),
                );
                Response::new_ok(id, Value::Null)
            }
            Ok(Some(fix)) => match self.documents.get(&target.uri) {
                Some(document) if document.version == target.version => {
                    let edit = WorkspaceEdit {
                        document_changes: Some(lsp_types::DocumentChanges::Edits(vec![
                            lsp_types::TextDocumentEdit {
                                text_document: lsp_types::OptionalVersionedTextDocumentIdentifier {
                                    uri: target.uri.clone(),
                                    version: Some(target.version),
                                },
                                edits: vec![OneOf::Left(TextEdit::new(
                                    document.range(fix.start..fix.end, self.encoding),
                                    fix.after,
                                ))],
                            },
                        ])),
                        ..Default::default()
                    };
                    self.next_id += 1;
                    let params = lsp_types::ApplyWorkspaceEditParams {
                        label: Some("Starling: rewrite sentence".into()),
                        edit,
                    };
                    self.send(
                        Request::new(
                            RequestId::from(format!("starling-{}", self.next_id)),
                            ApplyWorkspaceEdit::METHOD.into(),
                            params,
                        )
                        .into(),
                    );
                    Response::new_ok(id, Value::Null)
                }
                _ => Response::new_err(
                    id,
                    ErrorCode::ContentModified as i32,
                    "the document changed while the sentence was rewritten; ask again".into(),
                ),
            },
        };
        self.send(answer.into());
    }

    /// Note passages that back the sentence under the cursor, from the index `starling index`
    /// built (a copy of it when another process holds it).
    fn evidence(&mut self, uri: &Uri, position: Position) -> Result<Vec<Location>, Failure> {
        let encoding = self.encoding;
        let document = self.current(uri)?;
        let offset = document.offset(position, encoding);
        let view = tone::segment::prose_view(&document.text, document.kind);
        let query = match view
            .sentences
            .iter()
            .find(|s| s.start <= offset && offset <= s.end)
        {
            Some(sentence) => document.text[sentence.clone()].trim().to_string(),
            None => {
                let (_, start) = document.line_of(offset);
                let end = document.text[start..]
                    .find('\n')
                    .map_or(document.text.len(), |i| start + i);
                document.text[start..end].trim().to_string()
            }
        };
        if query.split_whitespace().count() < 2 {
            return Ok(Vec::new());
        }
        let query: String = query.chars().take(1000).collect();
        if !self.indexed() {
            self.show(
                MessageType::INFO,
                "starling: no notes are indexed yet; run `starling index NOTES_DIR` first".into(),
            );
            return Ok(Vec::new());
        }
        let request = starling::notes::retrieve::Request {
            text: query,
            k: 5,
            ..Default::default()
        };
        let hits = self.with_notes(|embedder, store| {
            starling::notes::retrieve::search(embedder, store, &request)
        })?;
        Ok(hits
            .into_iter()
            .filter_map(|hit| {
                let uri: Uri = url::Url::from_file_path(&hit.chunk.source)
                    .ok()?
                    .as_str()
                    .parse()
                    .ok()?;
                let line = |n: usize| n.saturating_sub(1) as u32;
                Some(Location::new(
                    uri,
                    lsp_types::Range::new(
                        Position::new(line(hit.chunk.line_start), 0),
                        Position::new(line(hit.chunk.line_end) + 1, 0),
                    ),
                ))
            })
            .collect())
    }
}

/// What the rewrite command works on: a sentence of one version of a document.
#[derive(Debug, serde::Serialize, Deserialize)]
struct RewriteTarget {
    uri: Uri,
    version: i32,
    start: usize,
    end: usize,
}

/// One sentence to rewrite with the model: the text as it was when the command came.
struct RewriteJob {
    id: RequestId,
    target: RewriteTarget,
    text: String,
    kind: InputKind,
    findings: Vec<Finding>,
}

struct RewriteOutcome {
    id: RequestId,
    target: RewriteTarget,
    /// The sentence's fix, `None` when the sentence had nothing the model could fix.
    result: Result<Option<SentenceFix>, Failure>,
}

/// The rewrite thread: loads the model on its first job and keeps it.
fn rewriter(config: &Config, jobs: Receiver<RewriteJob>, done: Sender<RewriteOutcome>) {
    let mut generator: Option<Box<dyn Generator>> = None;
    for job in jobs {
        let result = (|| -> Result<Option<SentenceFix>, Failure> {
            if generator.is_none() {
                generator = Some(crate::commands::load_generator(config)?);
            }
            let prompt = starling::prompts::Prompt::load("tone-fix", config.prompts_dir.as_deref())
                .map_err(anyhow::Error::from)?;
            let (_, fixes) = starling::tasks::tone::fix(
                generator.as_deref().expect("loaded above"),
                &prompt,
                &job.text,
                job.kind,
                &job.findings,
                &Sampling::greedy(config.generator.seed),
            )
            .map_err(anyhow::Error::from)?;
            Ok(fixes.into_iter().next())
        })();
        let outcome = RewriteOutcome {
            id: job.id,
            target: job.target,
            result,
        };
        if done.send(outcome).is_err() {
            return; // the server has stopped
        }
    }
}

/// Plain text for `.txt` files and the `plaintext` language, Markdown for everything else.
fn kind_of(uri: &Uri, language: &str) -> InputKind {
    if language == "plaintext"
        || language == "text"
        || uri.as_str().to_ascii_lowercase().ends_with(".txt")
    {
        InputKind::PlainText
    } else {
        InputKind::Markdown
    }
}

fn diagnostic(document: &Document, finding: &Finding, encoding: Encoding) -> Diagnostic {
    Diagnostic {
        range: document.range(finding.start..finding.end, encoding),
        severity: Some(match finding.severity {
            Severity::Error => DiagnosticSeverity::ERROR,
            Severity::Warning => DiagnosticSeverity::WARNING,
            Severity::Info => DiagnosticSeverity::INFORMATION,
        }),
        code: Some(NumberOrString::String(finding.category.id().into())),
        source: Some("starling".into()),
        message: finding.message.clone(),
        data: Some(json!({"rule": finding.rule, "suggestion": finding.suggestion})),
        ..Default::default()
    }
}

/// A contradicted claim is a warning naming the differing values, with the note lines as
/// related locations; an unsupported one is information; a supported one says nothing.
fn claim_diagnostic(
    document: &Document,
    claim: &Claim,
    roots: &[std::path::PathBuf],
    encoding: Encoding,
) -> Option<Diagnostic> {
    let (severity, message, places): (_, _, Vec<(String, usize, String)>) = match claim.verdict {
        Verdict::Supported => return None,
        Verdict::Contradicted => (
            DiagnosticSeverity::WARNING,
            format!(
                "The notes say otherwise: {}",
                claim
                    .differences
                    .iter()
                    .map(audit::describe)
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            claim
                .differences
                .iter()
                .map(|d| (d.path.clone(), d.line, format!("the notes: {}", d.notes)))
                .collect(),
        ),
        Verdict::Unsupported => (
            DiagnosticSeverity::INFORMATION,
            match claim.evidence.first() {
                Some(closest) if !claim.missing_figures.is_empty() => format!(
                    "No note backs this claim: the closest notes ({}:{}) hold no {}",
                    closest.path,
                    closest.line_start,
                    claim.missing_figures.join(", ")
                ),
                _ => "No note backs this claim.".into(),
            },
            claim
                .evidence
                .iter()
                .take(1)
                .map(|q| (q.path.clone(), q.line_start, "the closest notes".into()))
                .collect(),
        ),
    };
    let related: Vec<DiagnosticRelatedInformation> = places
        .into_iter()
        .filter_map(|(path, line, message)| {
            let file = roots.iter().map(|r| r.join(&path)).find(|p| p.is_file())?;
            let uri: Uri = url::Url::from_file_path(file).ok()?.as_str().parse().ok()?;
            let line = line.saturating_sub(1) as u32;
            Some(DiagnosticRelatedInformation {
                location: Location::new(
                    uri,
                    lsp_types::Range::new(Position::new(line, 0), Position::new(line + 1, 0)),
                ),
                message,
            })
        })
        .collect();
    Some(Diagnostic {
        range: document.range(claim.start..claim.end, encoding),
        severity: Some(severity),
        code: Some(NumberOrString::String(claim.verdict.name().into())),
        source: Some("starling audit".into()),
        message,
        related_information: (!related.is_empty()).then_some(related),
        ..Default::default()
    })
}
