//! `starling bench ...` (hidden): in-process measurements for scripts/bench.sh. Prints JSON
//! figures; never asserts anything (speed is reported, not tested).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use serde_json::json;
use starling::backends::{GenerateRequest, Generator, Sampling};
use starling::config::Config;
use starling::prompts::Prompt;
use starling::tone::eval::{evaluate, parse_labelled, render, score_rules};
use starling::tone::{CheckOptions, InputKind, RuleSet};

use crate::output;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Prompt and generation speed, time to first token cold and with a cached system prompt.
    Generate {
        #[arg(long, default_value_t = 512)]
        prompt_tokens: usize,
        #[arg(long, default_value_t = 128)]
        gen_tokens: u32,
        #[arg(long, default_value_t = 500)]
        system_tokens: usize,
    },
    /// Rules-only tone check throughput on one file (repeated to at least 2 MB).
    ToneSpeed { file: PathBuf },
    /// Write a deterministic synthetic vault of N notes into DIR.
    Vault {
        #[arg(long)]
        notes: usize,
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Hybrid search latency on a store of N synthetic chunks (random vectors, generated text).
    Search {
        #[arg(long)]
        chunks: usize,
        #[arg(long, default_value_t = 200)]
        queries: usize,
        /// Also build the HNSW index (shard optimize, which every index pass runs itself from
        /// `HNSW_FROM` chunks) at any size, and measure again.
        #[arg(long)]
        optimize: bool,
    },
    /// Upsert throughput and search latency of the embedded store and of a Qdrant server, side
    /// by side on the same N synthetic chunks.
    Store {
        #[arg(long)]
        chunks: usize,
        #[arg(long, default_value_t = 200)]
        queries: usize,
        /// The Qdrant server's gRPC address.
        #[arg(long)]
        url: String,
    },
    /// Precision, recall and F1 per category on a labelled set.
    ToneQuality {
        labelled: PathBuf,
        /// Also score rules + model (--deep).
        #[arg(long)]
        deep: bool,
    },
    /// Accuracy of the STAR part classifier on labelled sentences of sectioned notes (JSON
    /// lines: text, heading, part), alone and with its section heading at several weights.
    StarParts { labelled: PathBuf },
    /// The figures of SENTENCE found in none of EVIDENCE (JSON list), as STAR drafting checks them.
    Figures {
        sentence: String,
        evidence: Vec<String>,
    },
}

/// Peak resident memory of this process, from /proc (Linux).
pub fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Filler text of about `n_tokens` tokens for `generator`, varied by `salt` so caches do not hit.
fn filler(generator: &dyn Generator, n_tokens: usize, salt: &str) -> anyhow::Result<String> {
    let sentence = format!("Note {salt}: the quarterly review covered delivery, reliability, mentoring and planning work. ");
    let per = generator.count_tokens(&sentence)?.max(1);
    let mut text = sentence.repeat(n_tokens / per);
    while generator.count_tokens(&text)? < n_tokens {
        text.push_str("More. ");
    }
    Ok(text)
}

fn generate(
    config: &Config,
    prompt_tokens: usize,
    gen_tokens: u32,
    system_tokens: usize,
) -> anyhow::Result<serde_json::Value> {
    let load_started = Instant::now();
    let generator = super::load_generator(config)?;
    let load_ms = load_started.elapsed().as_secs_f64() * 1e3;
    let greedy = |max_tokens: u32| Sampling {
        max_tokens,
        temperature: 0.0,
        repeat_penalty: 1.0,
        ..Sampling::default()
    };

    // Prompt processing: a long user message, one token generated.
    let warm = GenerateRequest {
        prompt: "Hello".into(),
        sampling: greedy(2),
        ..Default::default()
    };
    generator.generate(&warm, &mut |_| {})?;
    let prompt = filler(generator.as_ref(), prompt_tokens, "pp")?;
    let pp = generator.generate(
        &GenerateRequest {
            prompt,
            sampling: greedy(1),
            ..Default::default()
        },
        &mut |_| {},
    )?;
    let prompt_tps = pp.n_prompt_tokens as f64 * 1e3 / pp.prompt_ms;

    // Generation: a prompt that invites a long answer; rate over the tokens actually produced.
    let story = GenerateRequest {
        prompt:
            "Write a long, detailed story about a software team preparing for a product launch."
                .into(),
        sampling: greedy(gen_tokens),
        ..Default::default()
    };
    let tg = generator.generate(&story, &mut |_| {})?;
    // The first token's time belongs to the prompt; the rate counts the tokens after it.
    let decode_ms = tg.generation_ms - (tg.first_token_ms - tg.prompt_ms);
    let gen_tps = (tg.n_generated_tokens.saturating_sub(1)) as f64 * 1e3 / decode_ms.max(1e-3);

    // Time to first token: a new ~500-token system prompt, then the same system prompt again.
    let system = filler(generator.as_ref(), system_tokens, "sys")?;
    let ask = |question: &str| GenerateRequest {
        system: Some(system.clone()),
        prompt: question.into(),
        sampling: greedy(1),
        ..Default::default()
    };
    let cold = generator.generate(&ask("Summarise the review in one line."), &mut |_| {})?;
    let cached = generator.generate(&ask("List the areas the review covered."), &mut |_| {})?;

    // Concurrent generation: four requests one after another, then the same four at once
    // (the engine decodes up to generator.parallel of them in one batch); rates are generated
    // tokens over wall time, prompts included.
    let topics = [
        "a product launch",
        "a data migration",
        "a security audit",
        "a hiring round",
    ];
    let requests: Vec<GenerateRequest> = topics
        .iter()
        .map(|topic| GenerateRequest {
            prompt: format!(
                "Write a long, detailed story about a software team preparing for {topic}."
            ),
            sampling: greedy(gen_tokens),
            ..Default::default()
        })
        .collect();
    // Best of three rounds each: the machine's noise is larger than the effect otherwise.
    let (mut single_tps, mut concurrent_tps) = (0.0f64, 0.0f64);
    for _ in 0..3 {
        let started = Instant::now();
        let mut tokens = 0;
        for request in &requests {
            tokens += generator.generate(request, &mut |_| {})?.n_generated_tokens;
        }
        single_tps = single_tps.max(tokens as f64 / started.elapsed().as_secs_f64());
        let started = Instant::now();
        let answers = starling::tasks::in_parallel(requests.len(), &requests, |request| {
            generator.generate(request, &mut |_| {})
        });
        let elapsed = started.elapsed().as_secs_f64();
        let mut tokens = 0;
        for answer in answers {
            tokens += answer?.n_generated_tokens;
        }
        concurrent_tps = concurrent_tps.max(tokens as f64 / elapsed);
    }

    Ok(json!({
        "model": generator.model_name(),
        "threads": config.generator.threads,
        "load_ms": load_ms,
        "prompt_tokens": pp.n_prompt_tokens,
        "prompt_tokens_per_s": prompt_tps,
        "generated_tokens": tg.n_generated_tokens,
        "generation_tokens_per_s": gen_tps,
        "system_prompt_tokens": cold.n_prompt_tokens,
        "ttft_cold_ms": cold.first_token_ms,
        "ttft_cached_ms": cached.first_token_ms,
        "ttft_cached_over_cold": cached.first_token_ms / cold.first_token_ms,
        "cached_tokens_second_call": cached.n_cached_tokens,
        "parallel": generator.parallel(),
        "concurrent_requests": requests.len(),
        "single_stream_tokens_per_s": single_tps,
        "concurrent_tokens_per_s": concurrent_tps,
        "concurrent_over_single": concurrent_tps / single_tps,
        "peak_rss_mb": peak_rss_mb(),
    }))
}

fn tone_speed(config: &Config, file: &PathBuf) -> anyhow::Result<serde_json::Value> {
    let text = starling::files::read_text(file, 64 << 20)?;
    let rules = RuleSet::load(&[])?;
    let options = CheckOptions {
        kind: InputKind::for_path(file),
        ..Default::default()
    };
    // One script, timed alone (best of 20), then the same text repeated to >= 2 MB.
    let mut best_single = f64::MAX;
    let mut findings = 0;
    for _ in 0..20 {
        let started = Instant::now();
        findings = rules
            .check(&text, &options)
            .map_err(anyhow::Error::msg)?
            .len();
        best_single = best_single.min(started.elapsed().as_secs_f64() * 1e3);
    }
    // The default check (rules + the learned classifier over every sentence's word scores),
    // after start-up (loading the tokenizer, timed apart): best of 5 on the one script.
    let started = Instant::now();
    let vocabulary = starling::services::open_vocabulary(config)?;
    starling::tone::classifier::check_default(&rules, Some(&vocabulary), "Warm-up.", &options)?;
    let startup_ms = started.elapsed().as_secs_f64() * 1e3;
    let mut best_full = f64::MAX;
    let mut full_findings = 0;
    for _ in 0..5 {
        let started = Instant::now();
        full_findings =
            starling::tone::classifier::check_default(&rules, Some(&vocabulary), &text, &options)?
                .len();
        best_full = best_full.min(started.elapsed().as_secs_f64() * 1e3);
    }
    // What the language server pays after an edit: the whole text checked again with one new
    // sentence typed; best of 5, each with a sentence not seen before.
    let mut best_recheck = f64::MAX;
    for day in 0..5 {
        let edited = format!("{text}\n\nWe shipped the fix on day {day} of the sprint.\n");
        let started = Instant::now();
        starling::tone::classifier::check_default(&rules, Some(&vocabulary), &edited, &options)?;
        best_recheck = best_recheck.min(started.elapsed().as_secs_f64() * 1e3);
    }
    let copies = (2_000_000 / text.len().max(1)) + 1;
    let big = format!("{text}\n\n").repeat(copies);
    let started = Instant::now();
    let big_findings = rules
        .check(&big, &options)
        .map_err(anyhow::Error::msg)?
        .len();
    let seconds = started.elapsed().as_secs_f64();
    Ok(json!({
        "file": file,
        "file_bytes": text.len(),
        "single_file_ms": best_single,
        "single_file_findings": findings,
        "full_check_ms": best_full,
        "classifier_startup_ms": startup_ms,
        "full_check_findings": full_findings,
        "editor_recheck_ms": best_recheck,
        "bulk_bytes": big.len(),
        "bulk_findings": big_findings,
        "megabytes_per_s": big.len() as f64 / 1e6 / seconds,
        "threads": 1,
    }))
}

fn tone_quality(config: &Config, labelled: &PathBuf, deep: bool) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(labelled)
        .with_context(|| format!("cannot read `{}`", labelled.display()))?;
    let items =
        parse_labelled(&text).map_err(|e| anyhow::anyhow!("`{}`: {e}", labelled.display()))?;
    let rules = RuleSet::load(&[])?;
    let options = CheckOptions {
        kind: InputKind::PlainText,
        ..Default::default()
    };
    let rule_scores = score_rules(&rules, &items);
    let mut report = render(&rule_scores, "rules only");
    if deep {
        let generator = super::load_generator(config)?;
        let prompt = Prompt::load("tone-review", config.prompts_dir.as_deref())?;
        let sampling = Sampling {
            temperature: 0.0,
            ..Sampling::default()
        };
        let started = Instant::now();
        let deep_scores = evaluate(&items, |s| {
            let findings = rules.check(s, &options).unwrap_or_default();
            let review = starling::tasks::tone::deep_review(
                generator.as_ref(),
                &prompt,
                s,
                InputKind::PlainText,
                &findings,
                &sampling,
            );
            let merged =
                starling::tone::merge(findings, review.map(|r| r.findings).unwrap_or_default());
            merged.into_iter().map(|f| f.category).collect()
        });
        report.push('\n');
        report.push_str(&render(&deep_scores, "rules + model (--deep)"));
        report.push_str(&format!(
            "deep review time: {:.1} s for {} sentences\n",
            started.elapsed().as_secs_f64(),
            items.len()
        ));
    }
    Ok(report)
}

fn star_parts(config: &Config, labelled: &PathBuf) -> anyhow::Result<serde_json::Value> {
    use starling::backends::Embedder;
    use starling::tasks::parts::{self, PARTS};
    #[derive(serde::Deserialize)]
    struct Row {
        text: String,
        #[serde(default)]
        heading: String,
        part: String,
    }
    let text = std::fs::read_to_string(labelled)
        .with_context(|| format!("cannot read `{}`", labelled.display()))?;
    let rows: Vec<Row> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).with_context(|| {
                format!(
                    "`{}` line {}: not a labelled row",
                    labelled.display(),
                    i + 1
                )
            })
        })
        .collect::<anyhow::Result<_>>()?;
    let want: Vec<usize> = rows
        .iter()
        .map(|r| PARTS.iter().position(|p| *p == r.part))
        .collect::<Option<_>>()
        .with_context(|| format!("`{}`: a part outside {PARTS:?}", labelled.display()))?;
    let model = parts::builtin().context("the built-in part classifier did not load")?;
    let embedder = starling::services::open_embedder(
        config,
        starling::backends::fastembed::Workload::Queries,
    )?;
    let texts: Vec<String> = rows.iter().map(|r| r.text.clone()).collect();
    let vectors = embedder.embed(&texts)?;
    let probabilities: Vec<[f32; 5]> = rows
        .iter()
        .zip(&vectors)
        .map(|(r, v)| {
            let p = model.model.probabilities(&parts::features(v, &r.text));
            [p[0], p[1], p[2], p[3], p[4]]
        })
        .collect();
    let argmax = |p: &[f32; 5]| (0..5).max_by(|&a, &b| p[a].total_cmp(&p[b])).unwrap_or(4);
    let mut by_weight = serde_json::Map::new();
    for weight in [1.0f32, 1.5, 2.0, 3.0, 5.0, 10.0] {
        let mut correct = [[0usize; 2]; 5];
        for ((r, p), &w) in rows.iter().zip(&probabilities).zip(&want) {
            let got = argmax(&parts::with_heading(*p, &r.heading, weight));
            correct[w][1] += 1;
            correct[w][0] += (got == w) as usize;
        }
        let right: usize = correct.iter().map(|c| c[0]).sum();
        by_weight.insert(
            format!("{weight}"),
            json!({
                "accuracy": right as f64 / rows.len().max(1) as f64,
                "recall": PARTS.iter().zip(correct).map(|(p, [c, n])| (p.to_string(), c as f64 / n.max(1) as f64)).collect::<std::collections::BTreeMap<_, _>>(),
            }),
        );
    }
    let named = rows
        .iter()
        .filter(|r| parts::heading_part(&r.heading).is_some())
        .count();
    let agrees = rows
        .iter()
        .zip(&want)
        .filter(|(r, &w)| parts::heading_part(&r.heading) == Some(w))
        .count();
    Ok(json!({
        "sentences": rows.len(),
        "heading_names_a_part": named,
        "heading_part_is_the_label": agrees,
        "by_heading_weight": by_weight,
        "shipped_weight": parts::HEADING_WEIGHT,
    }))
}

fn vault(notes: usize, out: &std::path::Path, seed: u64) -> anyhow::Result<serde_json::Value> {
    let mut bytes = 0;
    for index in 0..notes {
        let (relative, text) = starling::notes::synthetic::note(index, seed);
        let path = out.join(relative);
        std::fs::create_dir_all(path.parent().expect("relative path has a folder"))?;
        std::fs::write(&path, &text)
            .with_context(|| format!("cannot write `{}`", path.display()))?;
        bytes += text.len();
    }
    Ok(json!({"notes": notes, "bytes": bytes, "out": out}))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

const BENCH_DIMENSION: usize = 384;
const BENCH_WORDS: [&str; 15] = [
    "billing",
    "latency",
    "migration",
    "review",
    "mentoring",
    "incident",
    "roadmap",
    "cache",
    "schema",
    "alerting",
    "throughput",
    "planning",
    "design",
    "feedback",
    "promotion",
];

fn random_vector(rng: &mut starling::notes::synthetic::SplitMix) -> Vec<f32> {
    let v: Vec<f32> = (0..BENCH_DIMENSION).map(|_| rng.signed_unit()).collect();
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.into_iter().map(|x| x / norm).collect()
}

/// Stores `chunks` synthetic chunks (random vectors, generated text) in batches of 1,000; the
/// seconds it took, the last flush included.
fn fill(
    store: &dyn starling::backends::VectorStore,
    chunks: usize,
    rng: &mut starling::notes::synthetic::SplitMix,
) -> anyhow::Result<f64> {
    use starling::backends::StoredChunk;
    use starling::notes::chunk::Chunk;
    let started = Instant::now();
    let mut batch = Vec::with_capacity(1000);
    for id in 0..chunks {
        let text: Vec<&str> = (0..40)
            .map(|_| BENCH_WORDS[rng.below(BENCH_WORDS.len())])
            .collect();
        batch.push(StoredChunk {
            id: id as u64,
            chunk: Chunk {
                path: format!("work/{}/{id}.md", id % 50),
                source: format!("/bench/work/{}/{id}.md", id % 50),
                line_start: 1,
                line_end: 5,
                heading: "Progress".into(),
                title: format!("note {id}"),
                tags: vec![["worklog", "1on1", "design"][id % 3].into()],
                date: Some(format!("2024-{:02}-{:02}", 1 + id % 12, 1 + id % 28)),
                text: text.join(" "),
                hash: String::new(),
                aliases: Vec::new(),
                opens_section: true,
                steers_model: false,
            },
            dense: random_vector(rng),
        });
        if batch.len() == 1000 {
            store.upsert(&batch)?;
            batch.clear();
        }
    }
    store.upsert(&batch)?;
    store.flush()?;
    Ok(started.elapsed().as_secs_f64())
}

/// p50 and p99 in ms of `queries` hybrid searches (k = 8) of two random words and a random
/// vector.
fn measure(
    store: &dyn starling::backends::VectorStore,
    queries: usize,
    rng: &mut starling::notes::synthetic::SplitMix,
) -> anyhow::Result<(f64, f64)> {
    measure_mode(store, queries, rng, Default::default(), 2)
}

/// The same queries in one search mode (hybrid, or only its dense or only its BM25 list), of
/// `words` random words (three or more bring in the verbatim-phrase rule, which reads the BM25
/// body list's texts).
fn measure_mode(
    store: &dyn starling::backends::VectorStore,
    queries: usize,
    rng: &mut starling::notes::synthetic::SplitMix,
    mode: starling::backends::SearchMode,
    words: usize,
) -> anyhow::Result<(f64, f64)> {
    use starling::backends::{SearchFilter, SearchQuery};
    let mut latencies = Vec::with_capacity(queries);
    for _ in 0..queries {
        let text = (0..words)
            .map(|_| BENCH_WORDS[rng.below(BENCH_WORDS.len())])
            .collect::<Vec<_>>()
            .join(" ");
        let query = SearchQuery {
            text,
            dense: random_vector(rng),
            k: 8,
            filter: SearchFilter::default(),
            mode,
        };
        let started = Instant::now();
        let hits = store.search(&query)?;
        latencies.push(started.elapsed().as_secs_f64() * 1e3);
        anyhow::ensure!(!hits.is_empty(), "search returned nothing");
    }
    latencies.sort_by(f64::total_cmp);
    Ok((percentile(&latencies, 0.5), percentile(&latencies, 0.99)))
}

fn search_latency(
    chunks: usize,
    queries: usize,
    optimize: bool,
) -> anyhow::Result<serde_json::Value> {
    use starling::backends::qdrant_edge::EdgeStore;
    use starling::notes::synthetic::SplitMix;

    let dir = tempfile_dir()?;
    let store = EdgeStore::open(&dir.join("qdrant"), BENCH_DIMENSION)?;
    let mut rng = SplitMix::new(7);
    let upsert_s = fill(&store, chunks, &mut rng)?;
    let (p50, p99) = measure(&store, queries, &mut rng)?;
    let mut result = json!({"chunks": chunks, "upsert_and_flush_s": upsert_s, "plain": {"p50_ms": p50, "p99_ms": p99}});
    if optimize {
        let started = Instant::now();
        let built = store.optimize()?;
        let optimize_s = started.elapsed().as_secs_f64();
        let (p50, p99) = measure(&store, queries, &mut rng)?;
        // Where a hybrid query's time goes: its dense list (HNSW) and its BM25 list alone. The
        // synthetic text draws 40 words from 15, so each query word is in about 94% of chunks:
        // the BM25 list scans far longer postings than real notes give it.
        use starling::backends::SearchMode;
        let (dense_p50, dense_p99) = measure_mode(&store, queries, &mut rng, SearchMode::Dense, 2)?;
        let (lexical_p50, lexical_p99) =
            measure_mode(&store, queries, &mut rng, SearchMode::Lexical, 2)?;
        let (phrase_p50, phrase_p99) =
            measure_mode(&store, queries, &mut rng, SearchMode::Hybrid, 4)?;
        result["optimized"] = json!({
            "hnsw_built": built,
            "optimize_s": optimize_s,
            "p50_ms": p50,
            "p99_ms": p99,
            "dense_only": {"p50_ms": dense_p50, "p99_ms": dense_p99},
            "bm25_only": {"p50_ms": lexical_p50, "p99_ms": lexical_p99},
            "four_word_queries": {"p50_ms": phrase_p50, "p99_ms": phrase_p99},
        });
    }
    result["peak_rss_mb"] = json!(peak_rss_mb());
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(result)
}

/// The embedded store and a Qdrant server side by side: the same synthetic chunks upserted into
/// each, then `settle` (what an index pass ends with: the HNSW build, or the server's own
/// indexing), then the same queries.
fn store_comparison(chunks: usize, queries: usize, url: &str) -> anyhow::Result<serde_json::Value> {
    use starling::backends::qdrant_edge::EdgeStore;
    use starling::backends::qdrant_server::{QdrantServerStore, ServerOptions};
    use starling::backends::VectorStore;
    use starling::notes::synthetic::SplitMix;

    let one = |store: &dyn VectorStore| -> anyhow::Result<serde_json::Value> {
        let mut rng = SplitMix::new(7);
        let upsert_s = fill(store, chunks, &mut rng)?;
        let started = Instant::now();
        store.settle()?;
        let settle_s = started.elapsed().as_secs_f64();
        let (p50, p99) = measure(store, queries, &mut rng)?;
        Ok(json!({
            "upsert_s": upsert_s,
            "upsert_chunks_per_s": chunks as f64 / upsert_s.max(1e-9),
            "settle_s": settle_s,
            "p50_ms": p50,
            "p99_ms": p99,
        }))
    };
    let dir = tempfile_dir()?;
    let edge = {
        let store = EdgeStore::open(&dir.join("qdrant"), BENCH_DIMENSION)?;
        one(&store)?
    };
    let _ = std::fs::remove_dir_all(&dir);
    let collection = format!("starling-bench-{}-{chunks}", std::process::id());
    let server = QdrantServerStore::open(&ServerOptions {
        url: url.to_string(),
        collection,
        api_key: None,
        dimension: BENCH_DIMENSION,
        shards: 1,
        replication_factor: 1,
        timeout: std::time::Duration::from_secs(600),
    })?;
    let qdrant = one(&server)?;
    Ok(json!({"chunks": chunks, "queries": queries, "edge": edge, "qdrant": qdrant}))
}

fn tempfile_dir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("starling-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

pub fn run(config: &Config, command: &Command) -> anyhow::Result<ExitCode> {
    let text = match command {
        Command::Generate {
            prompt_tokens,
            gen_tokens,
            system_tokens,
        } => {
            format!(
                "{}\n",
                serde_json::to_string_pretty(&generate(
                    config,
                    *prompt_tokens,
                    *gen_tokens,
                    *system_tokens
                )?)?
            )
        }
        Command::ToneSpeed { file } => {
            format!(
                "{}\n",
                serde_json::to_string_pretty(&tone_speed(config, file)?)?
            )
        }
        Command::ToneQuality { labelled, deep } => tone_quality(config, labelled, *deep)?,
        Command::Vault { notes, out, seed } => format!("{}\n", vault(*notes, out, *seed)?),
        Command::StarParts { labelled } => format!(
            "{}\n",
            serde_json::to_string_pretty(&star_parts(config, labelled)?)?
        ),
        Command::Figures { sentence, evidence } => {
            let evidence: Vec<&str> = evidence.iter().map(String::as_str).collect();
            format!(
                "{}\n",
                serde_json::to_string(&starling::tasks::facts::unsupported(sentence, &evidence))?
            )
        }
        Command::Store {
            chunks,
            queries,
            url,
        } => format!(
            "{}\n",
            serde_json::to_string_pretty(&store_comparison(*chunks, *queries, url)?)?
        ),
        Command::Search {
            chunks,
            queries,
            optimize,
        } => {
            format!(
                "{}\n",
                serde_json::to_string_pretty(&search_latency(*chunks, *queries, *optimize)?)?
            )
        }
    };
    output::print(&text)?;
    Ok(ExitCode::SUCCESS)
}
