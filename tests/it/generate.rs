//! Generation through llama.cpp: determinism, streaming, stop strings, structured output,
//! the prefix cache, context overflow, and the CLI around them.

use std::sync::{OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};

use serde_json::json;
use starling::backends::llama::{LlamaGenerator, LlamaOptions};
use starling::backends::{GenerateRequest, Generator, Sampling, StopReason};
use starling::Error;

use crate::common::{models_dir, run, starling, stderr, stdout};

/// One model per test process, like the application (llama.cpp's backend is per process).
fn generator() -> &'static LlamaGenerator {
    static GENERATOR: OnceLock<LlamaGenerator> = OnceLock::new();
    GENERATOR.get_or_init(|| {
        LlamaGenerator::load(&LlamaOptions {
            model: models_dir().join(starling::config::DEFAULT_GENERATOR_FILE),
            threads: 2,
            gpu_layers: 0,
            context_size: 2048,
            batch_size: 512,
            prompt_cache_bytes: 64 << 20,
            parallel: 4,
        })
        .expect("the default model loads; run scripts/setup.sh")
    })
}

/// The tests share one generator, which decodes concurrent requests in one batch. A batch's
/// arithmetic differs from a lone request's in the last bits, enough to flip a near tie under
/// greedy decoding, so a test that compares two answers runs `alone()`; the others hold the
/// generator `shared()`.
static TURNS: RwLock<()> = RwLock::new(());

fn alone() -> RwLockWriteGuard<'static, ()> {
    TURNS
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn shared() -> RwLockReadGuard<'static, ()> {
    TURNS
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn request(prompt: &str, max_tokens: u32) -> GenerateRequest {
    GenerateRequest {
        prompt: prompt.into(),
        sampling: Sampling {
            max_tokens,
            temperature: 0.0,
            seed: 1,
            ..Sampling::default()
        },
        ..Default::default()
    }
}

#[test]
fn streamed_pieces_add_up_to_the_text_and_greedy_is_repeatable() {
    let _turn = alone();
    let mut pieces = Vec::new();
    let first = generator()
        .generate(&request("Name three colours.", 24), &mut |p| {
            pieces.push(p.to_string())
        })
        .unwrap();
    assert!(!first.text.trim().is_empty());
    assert!(
        pieces.len() > 1,
        "expected several streamed pieces, got {pieces:?}"
    );
    assert_eq!(pieces.concat(), first.text);
    let second = generator()
        .generate(&request("Name three colours.", 24), &mut |_| {})
        .unwrap();
    assert_eq!(first.text, second.text);
    assert!(matches!(
        first.stop_reason,
        StopReason::MaxTokens | StopReason::EndOfGeneration
    ));
}

#[test]
fn stop_strings_end_generation_before_the_stop() {
    let _turn = alone();
    let unstopped = generator()
        .generate(
            &request("Count from 1 to 10, separated by commas.", 40),
            &mut |_| {},
        )
        .unwrap();
    // The stop string comes from the answer itself (its fourth word), whatever the model says.
    let Some(word) = unstopped.text.split_whitespace().nth(3) else {
        panic!("expected a few words in {:?}", unstopped.text)
    };
    let stop = format!(" {word}");
    let cut = unstopped
        .text
        .find(&stop)
        .expect("the word is in the answer");
    let mut stopped_request = request("Count from 1 to 10, separated by commas.", 40);
    stopped_request.sampling.stop = vec![stop];
    let stopped = generator().generate(&stopped_request, &mut |_| {}).unwrap();
    assert_eq!(stopped.stop_reason, StopReason::StopString);
    assert_eq!(stopped.text, unstopped.text[..cut]);
}

#[test]
fn shared_system_prompt_is_reused_from_the_cache() {
    let _turn = shared();
    let system = "You are a careful writing assistant for performance reviews. ".repeat(30);
    let ask = |prompt: &str| GenerateRequest {
        system: Some(system.clone()),
        ..request(prompt, 4)
    };
    let first = generator().generate(&ask("Say yes."), &mut |_| {}).unwrap();
    let second = generator().generate(&ask("Say no."), &mut |_| {}).unwrap();
    let system_tokens = generator().count_tokens(&system).unwrap();
    assert!(
        second.n_cached_tokens >= system_tokens,
        "cached {} of a {system_tokens}-token system prompt",
        second.n_cached_tokens
    );
    assert!(first.n_prompt_tokens > system_tokens);
}

#[test]
fn nested_schema_output_validates() {
    let _turn = shared();
    let schema = json!({
        "type": "object",
        "properties": {
            "title": {"type": "string"},
            "steps": {"type": "array", "minItems": 1, "items": {
                "type": "object",
                "properties": {"action": {"type": "string"}, "minutes": {"type": "integer"}},
                "required": ["action", "minutes"]
            }}
        },
        "required": ["title", "steps"]
    });
    let (value, _) = starling::structured::generate_json(
        generator(),
        &request("Plan a short 1:1 meeting agenda as JSON.", 200),
        &schema,
    )
    .unwrap();
    starling::structured::validate(&schema, &value).unwrap();
    assert!(value["steps"]
        .as_array()
        .is_some_and(|steps| !steps.is_empty()));
}

#[test]
fn prompt_longer_than_the_context_names_both_counts() {
    let _turn = shared();
    let long = "word ".repeat(5000);
    match generator().generate(&request(&long, 4), &mut |_| {}) {
        Err(Error::PromptTooLong {
            n_prompt, n_ctx, ..
        }) => {
            assert!(n_prompt > n_ctx);
            assert_eq!(n_ctx, 2048);
        }
        other => panic!("expected PromptTooLong, got {other:?}"),
    }
    // The engine is still usable afterwards.
    assert!(!generator()
        .generate(&request("Say hi.", 4), &mut |_| {})
        .unwrap()
        .text
        .is_empty());
}

#[test]
fn cli_generate_is_deterministic_and_schema_output_parses() {
    let home = tempfile::tempdir().unwrap();
    let args = [
        "generate",
        "Say hello",
        "--max-tokens",
        "16",
        "--seed",
        "1",
        "--temperature",
        "0",
    ];
    let first = run(starling(home.path()).args(args));
    let second = run(starling(home.path()).args(args));
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(!stdout(&first).trim().is_empty());
    assert_eq!(stdout(&first), stdout(&second));

    let schema_path = home.path().join("schema.json");
    let schema = json!({"type": "object", "properties": {"name": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}},
        "owner": {"type": "object", "properties": {"team": {"type": "string"}}, "required": ["team"]}}, "required": ["name", "tags", "owner"]});
    std::fs::write(&schema_path, schema.to_string()).unwrap();
    let output = run(starling(home.path())
        .args([
            "generate",
            "Describe a project as JSON",
            "--max-tokens",
            "200",
        ])
        .arg("--json-schema")
        .arg(&schema_path));
    assert!(output.status.success(), "{}", stderr(&output));
    let value: serde_json::Value = serde_json::from_str(&stdout(&output)).expect("stdout is JSON");
    starling::structured::validate(&schema, &value).unwrap();
}

#[test]
fn cli_errors_name_the_file_and_the_fix() {
    let home = tempfile::tempdir().unwrap();
    let output =
        run(starling(home.path()).args(["generate", "hi", "--model", "/nonexistent/model.gguf"]));
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(
        message.contains("/nonexistent/model.gguf") && message.contains("--model"),
        "{message}"
    );

    let not_gguf = home.path().join("notes.gguf");
    std::fs::write(&not_gguf, "just text").unwrap();
    let output = run(starling(home.path())
        .args(["generate", "hi", "--model"])
        .arg(&not_gguf));
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("not a GGUF file"),
        "{}",
        stderr(&output)
    );

    let bad_schema = home.path().join("bad.json");
    std::fs::write(&bad_schema, "{not json").unwrap();
    let output = run(starling(home.path())
        .args(["generate", "hi", "--json-schema"])
        .arg(&bad_schema));
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("bad.json"), "{}", stderr(&output));
    // JSON, but not a JSON Schema (a reference to nothing): refused before any generation.
    std::fs::write(
        &bad_schema,
        r##"{"type": "object", "properties": {"a": {"$ref": "#/$defs/none"}}}"##,
    )
    .unwrap();
    let output = run(starling(home.path())
        .args(["generate", "hi", "--json-schema"])
        .arg(&bad_schema));
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("bad.json") && stderr(&output).contains("JSON Schema"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn doctor_passes_then_names_a_missing_model() {
    let home = tempfile::tempdir().unwrap();
    let output = run(starling(home.path()).arg("doctor"));
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}{}",
        stdout(&output),
        stderr(&output)
    );
    assert!(stdout(&output).contains("all checks passed"));

    // A model cache with every file but the GGUF (links, so nothing large is copied).
    let partial = home.path().join("models");
    for entry in starling::manifest::files() {
        if entry.role == "generator" {
            continue;
        }
        let target = partial.join(&entry.file);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(models_dir().join(&entry.file), &target).unwrap();
    }
    let output = run(starling(home.path())
        .env("STARLING_MODELS_DIR", &partial)
        .arg("doctor"));
    assert_eq!(output.status.code(), Some(2));
    let text = format!("{}{}", stdout(&output), stderr(&output));
    assert!(
        text.contains(
            &partial
                .join(starling::config::DEFAULT_GENERATOR_FILE)
                .display()
                .to_string()
        ),
        "{text}"
    );
    assert!(text.contains("scripts/setup.sh"), "{text}");
}

#[test]
fn models_lists_what_the_gguf_header_says() {
    let home = tempfile::tempdir().unwrap();
    let output = run(starling(home.path()).args(["models", "--json"]));
    assert!(output.status.success(), "{}", stderr(&output));
    let rows: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    let generator = &rows[0];
    assert_eq!(generator["architecture"], "llama");
    assert_eq!(generator["quantization"], "Q4_1");
    assert_eq!(generator["context_length"], 8192);
    assert_eq!(generator["size_bytes"], 98_362_432);
}

/// An Ollama store and a Hugging Face cache laid out as Ollama and huggingface_hub write them,
/// their model files links to the default model: `models` lists both (a broken file among them
/// does not fail it), and `generate --model NAME` runs the Ollama one by its name.
#[test]
fn models_lists_local_stores_and_generate_takes_their_names() {
    use std::os::unix::fs::symlink;
    let home = tempfile::tempdir().unwrap();
    let model = models_dir().join(starling::config::DEFAULT_GENERATOR_FILE);

    // Ollama: manifests/HOST/NAMESPACE/MODEL/TAG names the blob of its model layer. The digest
    // only has to look like one: Starling reads blobs, it does not re-hash them.
    let ollama = home.path().join("ollama");
    let digest = "5".repeat(64);
    std::fs::create_dir_all(ollama.join("blobs")).unwrap();
    symlink(&model, ollama.join(format!("blobs/sha256-{digest}"))).unwrap();
    let manifest = ollama.join("manifests/registry.ollama.ai/library/smollm2/135m");
    std::fs::create_dir_all(manifest.parent().unwrap()).unwrap();
    let layers = json!([
        {"mediaType": "application/vnd.ollama.image.template", "digest": format!("sha256:{}", "6".repeat(64)), "size": 10},
        {"mediaType": "application/vnd.ollama.image.model", "digest": format!("sha256:{digest}"), "size": 98_362_432},
    ]);
    let manifest_json = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": format!("sha256:{}", "7".repeat(64)), "size": 485},
        "layers": layers,
    });
    std::fs::write(&manifest, manifest_json.to_string()).unwrap();

    // Hugging Face: models--ORG--REPO/snapshots/REVISION/FILE links to ../../blobs/HASH.
    let repo = home
        .path()
        .join("hf/hub/models--HuggingFaceTB--SmolLM2-135M-Instruct-GGUF");
    std::fs::create_dir_all(repo.join("blobs")).unwrap();
    std::fs::create_dir_all(repo.join("snapshots/0123abcd")).unwrap();
    symlink(&model, repo.join("blobs/9f8e")).unwrap();
    std::fs::write(repo.join("blobs/0000"), "not a model").unwrap();
    symlink(
        "../../blobs/9f8e",
        repo.join("snapshots/0123abcd/smollm2-135m-instruct-q4_1.gguf"),
    )
    .unwrap();
    symlink(
        "../../blobs/0000",
        repo.join("snapshots/0123abcd/broken.gguf"),
    )
    .unwrap();

    let local = |args: &[&str]| {
        let mut command = starling(home.path());
        command
            .args(args)
            .env("HOME", home.path())
            .env("OLLAMA_MODELS", &ollama)
            .env("HF_HOME", home.path().join("hf"))
            .env("XDG_CACHE_HOME", home.path().join("cache"))
            .env_remove("HF_HUB_CACHE")
            .env_remove("HUGGINGFACE_HUB_CACHE")
            .env_remove("STARLING_MODELS_FOLDERS")
            .env_remove("STARLING_GENERATOR_MODEL");
        run(&mut command)
    };

    let output = local(&["models", "--json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let rows: Vec<serde_json::Value> = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(rows[0]["role"], "generator");
    let found = |name: &str| {
        rows.iter()
            .find(|row| row["role"] == "found" && row["name"] == name)
            .unwrap_or_else(|| panic!("`{name}` is not listed: {rows:#?}"))
    };
    let from_ollama = found("smollm2:135m");
    assert_eq!(from_ollama["store"], "ollama");
    assert_eq!(from_ollama["architecture"], "llama");
    assert_eq!(from_ollama["quantization"], "Q4_1");
    assert_eq!(from_ollama["context_length"], 8192);
    assert!(from_ollama["model_name"].is_string(), "{from_ollama}");
    let hf = "HuggingFaceTB/SmolLM2-135M-Instruct-GGUF";
    let from_hf = found(&format!("{hf}/smollm2-135m-instruct-q4_1.gguf"));
    assert_eq!(from_hf["store"], "huggingface");
    assert_eq!(from_hf["size_bytes"], 98_362_432);
    let broken = found(&format!("{hf}/broken.gguf"));
    assert!(
        broken["error"]
            .as_str()
            .is_some_and(|e| e.contains("not a GGUF file")),
        "{broken}"
    );

    let output = local(&[
        "generate",
        "Say hello",
        "--model",
        "smollm2:135m",
        "--max-tokens",
        "4",
        "--temperature",
        "0",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(!stdout(&output).trim().is_empty());

    let output = local(&["generate", "Say hello", "--model", "smollm3"]);
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(
        message.contains("`smollm3`")
            && message.contains("`smollm2:135m`")
            && message.contains("starling models"),
        "{message}"
    );
}

#[test]
fn concurrent_requests_are_decoded_in_one_batch_and_each_answer_stays_whole() {
    let _turn = shared();
    let words = ["apple", "river", "violin", "cactus"];
    let answers: Vec<(starling::backends::Generation, String)> = std::thread::scope(|scope| {
        let handles: Vec<_> = words
            .iter()
            .map(|word| {
                scope.spawn(move || {
                    let mut streamed = String::new();
                    let generation = generator()
                        .generate(
                            &request(&format!("Repeat the word {word} three times."), 24),
                            &mut |piece| streamed.push_str(piece),
                        )
                        .unwrap();
                    (generation, streamed)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (word, (generation, streamed)) in words.iter().zip(&answers) {
        assert_eq!(&generation.text, streamed, "the stream is the answer");
        assert!(generation.n_generated_tokens <= 24);
        assert!((1..=4).contains(&generation.peak_batch));
        // Each sequence attends only to its own cells: its answer is about its own word.
        let text = generation.text.to_lowercase();
        assert!(text.contains(word), "{word}: {:?}", generation.text);
        for other in words.iter().filter(|w| *w != word) {
            assert!(
                !text.contains(other),
                "{word} answered {:?}",
                generation.text
            );
        }
    }
    assert!(
        answers.iter().any(|(g, _)| g.peak_batch >= 2),
        "four requests sent at once were decoded one by one: {:?}",
        answers
            .iter()
            .map(|(g, _)| g.peak_batch)
            .collect::<Vec<_>>()
    );
}

#[test]
fn requests_that_cannot_share_the_context_wait_their_turn() {
    let _turn = shared();
    // Each needs more than half of the 2,048 cells: the second waits for the first instead of
    // failing a decode for want of room.
    let long = "note ".repeat(1100);
    let answers: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = ["Summarise: ", "Shorten: "]
            .iter()
            .map(|ask| {
                let prompt = format!("{ask}{long}");
                scope.spawn(move || generator().generate(&request(&prompt, 8), &mut |_| {}))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for answer in answers {
        let generation = answer.expect("both answer in turn");
        // Side by side they would need more cells than the context has.
        assert!(generation.n_prompt_tokens > 1024);
    }
}

/// The default model (Q4_1, which llama.cpp's CPU code multiplies a row at a time) is loaded
/// as its Q8_0 re-encoding, made beside it on the first load: kept while it carries its
/// source's modification time and is a Q8_0 GGUF, made again when either fails; a model under another name is loaded
/// as it is.
#[test]
fn the_default_model_is_loaded_as_its_q8_0_re_encoding() {
    use starling::backends::gguf::ModelInfo;
    use starling::config::{DEFAULT_GENERATOR_FILE, DEFAULT_GENERATOR_Q8_0};
    let home = tempfile::tempdir().unwrap();
    let models = home.path().join("models");
    std::fs::create_dir_all(&models).unwrap();
    let source = models.join(DEFAULT_GENERATOR_FILE);
    std::fs::copy(models_dir().join(DEFAULT_GENERATOR_FILE), &source).unwrap();
    let q8_0 = models.join(DEFAULT_GENERATOR_Q8_0);
    let loaded = |extra: &[&str]| {
        let output = run(starling(home.path())
            .env("STARLING_MODELS_DIR", &models)
            .args([
                "generate",
                "--max-tokens",
                "4",
                "--temperature",
                "0",
                "--stats",
            ])
            .args(extra)
            .arg("Say hello"));
        assert!(output.status.success(), "{}", stderr(&output));
        let text = stderr(&output);
        let name = text
            .lines()
            .find_map(|line| line.strip_prefix("model "))
            .and_then(|rest| rest.split(':').next())
            .unwrap_or_else(|| panic!("no model line in {text}"));
        name.to_string()
    };
    let made = |path: &std::path::Path| std::fs::metadata(path).unwrap().modified().unwrap();

    // What a process killed while writing the re-encoding left, two minutes ago.
    let left = models.join(format!("{DEFAULT_GENERATOR_Q8_0}.partial-1"));
    std::fs::write(&left, b"half a model").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&left)
        .unwrap()
        .set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(120))
        .unwrap();
    assert!(!q8_0.exists());
    assert_eq!(loaded(&[]), "SmolLM2-135M-Instruct.Q8_0");
    assert_eq!(ModelInfo::read(&q8_0).unwrap().quantization, "Q8_0");
    let first = made(&q8_0);
    let names: Vec<_> = std::fs::read_dir(&models)
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert_eq!(
        names.len(),
        2,
        "no partial file is left beside the models: {names:?}"
    );

    assert_eq!(loaded(&[]), "SmolLM2-135M-Instruct.Q8_0");
    assert_eq!(
        made(&q8_0),
        first,
        "a current re-encoding is not made again"
    );

    // Not a GGUF, though dated like its source: made again.
    std::fs::write(&q8_0, b"not a model").unwrap();
    let source_time = made(&source);
    std::fs::File::options()
        .write(true)
        .open(&q8_0)
        .unwrap()
        .set_modified(source_time)
        .unwrap();
    assert_eq!(loaded(&[]), "SmolLM2-135M-Instruct.Q8_0");
    assert_eq!(ModelInfo::read(&q8_0).unwrap().quantization, "Q8_0");

    // Older than its source (set-up fetched the model again): made again.
    let later = std::time::SystemTime::now() + std::time::Duration::from_secs(60);
    std::fs::File::options()
        .write(true)
        .open(&source)
        .unwrap()
        .set_modified(later)
        .unwrap();
    assert_eq!(loaded(&[]), "SmolLM2-135M-Instruct.Q8_0");
    assert_eq!(made(&q8_0), later, "a stale re-encoding is made again");

    // A current-looking re-encoding whose data was lost (a crash before it reached the disk):
    // removed, and the download loads instead; the next load makes it again.
    let whole = std::fs::read(&q8_0).unwrap();
    std::fs::write(&q8_0, &whole[..whole.len() / 2]).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&q8_0)
        .unwrap()
        .set_modified(made(&source))
        .unwrap();
    assert_eq!(ModelInfo::read(&q8_0).unwrap().quantization, "Q8_0");
    assert_eq!(loaded(&[]), "SmolLM2-135M-Instruct.Q4_1");
    assert!(!q8_0.exists());
    assert_eq!(loaded(&[]), "SmolLM2-135M-Instruct.Q8_0");

    // Any other file is loaded as it is, even the same weights.
    let other = models.join("mine.gguf");
    std::fs::copy(&source, &other).unwrap();
    assert_eq!(loaded(&["--model", other.to_str().unwrap()]), "mine");
    assert!(!models.join("mine.Q8_0.gguf").exists());
}
