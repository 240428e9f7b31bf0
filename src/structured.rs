//! Structured output: generation constrained by a JSON Schema, then parsed and validated by
//! code (llama.cpp's grammar path can skip enforcement), one retry, then `UnparseableOutput`.

use serde_json::Value;

use crate::backends::{GenerateRequest, Generation, Generator};
use crate::error::{Error, Result};

/// Compiles `schema` (any JSON Schema draft, 2020-12 when it names none; `$ref`s only inside
/// the schema: nothing is fetched).
fn compile(schema: &Value) -> Result<jsonschema::Validator, String> {
    jsonschema::validator_for(schema).map_err(|err| err.to_string())
}

/// Validates `value` against `schema` with the `jsonschema` crate: every keyword of the
/// schema's draft (`oneOf` means exactly one, `$ref`s may recurse). The error names where in
/// the value it failed (a JSON pointer; `/` is the whole value) and why.
pub fn validate(schema: &Value, value: &Value) -> Result<(), String> {
    let validator = compile(schema).map_err(|err| format!("not a usable JSON Schema: {err}"))?;
    let first = validator.iter_errors(value).next();
    match first {
        None => Ok(()),
        Some(err) => {
            // The value's own text stays out of the message (it is the model's answer, often
            // quoting the notes); where and why are enough to retry.
            let at = err.instance_path().to_string();
            Err(format!(
                "{}: {}",
                if at.is_empty() { "/" } else { at.as_str() },
                err.masked()
            ))
        }
    }
}

/// Checks a schema before any generation: an object, and a valid JSON Schema whose `$ref`s
/// all resolve.
pub fn check_schema(schema: &Value) -> Result<()> {
    if !schema.is_object() {
        return Err(Error::Schema("a JSON Schema must be an object".into()));
    }
    compile(schema).map(|_| ()).map_err(Error::Schema)
}

/// Parses `raw` as JSON (ignoring text around one top-level value) and validates it.
pub fn parse_and_validate(schema: &Value, raw: &str) -> Result<Value, String> {
    let trimmed = raw.trim();
    let value: Value = match serde_json::from_str(trimmed) {
        Ok(value) => value,
        Err(first_error) => {
            // Models sometimes wrap JSON in a code fence or add a sentence; take the outermost value.
            let start = trimmed
                .find(['{', '['])
                .ok_or_else(|| format!("not JSON: {first_error}"))?;
            let end = trimmed
                .rfind(['}', ']'])
                .ok_or_else(|| format!("not JSON: {first_error}"))?;
            if end <= start {
                return Err(format!("not JSON: {first_error}"));
            }
            serde_json::from_str(&trimmed[start..=end]).map_err(|err| format!("not JSON: {err}"))?
        }
    };
    validate(schema, &value)?;
    Ok(value)
}

/// Generates a value that validates against `schema`: grammar-constrained, checked, retried
/// once with the error named in the prompt, then `UnparseableOutput` carrying the raw text.
pub fn generate_json(
    generator: &dyn Generator,
    request: &GenerateRequest,
    schema: &Value,
) -> Result<(Value, Generation)> {
    check_schema(schema)?;
    let mut attempt_request = request.clone();
    attempt_request.json_schema = Some(schema.clone());
    let mut last_raw = String::new();
    let mut last_reason = String::new();
    for attempt in 1..=2u32 {
        let generation = generator.generate(&attempt_request, &mut |_| {})?;
        match parse_and_validate(schema, &generation.text) {
            Ok(value) => return Ok((value, generation)),
            Err(reason) => {
                tracing::debug!(attempt, %reason, "structured output rejected");
                last_raw = generation.text;
                last_reason = reason;
            }
        }
        attempt_request.prompt = format!(
            "{}\n\nYour previous answer was rejected ({last_reason}). Reply with one JSON value that \
             follows the schema exactly, and nothing else.",
            request.prompt
        );
        attempt_request.sampling.seed = attempt_request.sampling.seed.wrapping_add(1);
    }
    Err(Error::UnparseableOutput {
        raw: last_raw,
        reason: last_reason,
        attempts: 2,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backends::fake::FakeGenerator;
    use serde_json::json;

    fn schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "name": {"type": "string", "minLength": 1},
                "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 3},
                "owner": {"$ref": "#/$defs/person"}
            },
            "required": ["name", "tags"],
            "additionalProperties": false,
            "$defs": {"person": {"type": "object", "properties": {"age": {"type": "integer", "minimum": 0}}, "required": ["age"]}}
        })
    }

    fn check(value: Value, expected_error: Option<&str>) {
        match (validate(&schema(), &value), expected_error) {
            (Ok(()), None) => {}
            (Err(message), Some(part)) => assert!(message.contains(part), "{message} lacks {part}"),
            (result, expected) => panic!("{value}: got {result:?}, expected {expected:?}"),
        }
    }

    #[test]
    fn validator_accepts_and_rejects() {
        check(
            json!({"name": "a", "tags": ["x"], "owner": {"age": 3}}),
            None,
        );
        check(
            json!({"name": "a"}),
            Some("/: \"tags\" is a required property"),
        );
        check(
            json!({"name": "a", "tags": [1]}),
            Some("/tags/0: value is not of type \"string\""),
        );
        check(
            json!({"name": "a", "tags": [], "extra": 1}),
            Some("'extra' was unexpected"),
        );
        check(
            json!({"name": "a", "tags": [], "owner": {"age": -1}}),
            Some("/owner/age: value is less than the minimum of 0"),
        );
        check(json!({"name": "", "tags": []}), Some("shorter than 1"));
        check(
            json!({"name": "a", "tags": ["a", "b", "c", "d"]}),
            Some("/tags: value has more than 3 items"),
        );
    }

    #[test]
    fn one_of_means_exactly_one() {
        let schema = json!({"oneOf": [{"type": "integer"}, {"type": "number", "minimum": 0}]});
        assert!(validate(&schema, &json!(-1)).is_ok());
        assert!(validate(&schema, &json!(0.5)).is_ok());
        // 2 is an integer and a non-negative number: valid under both, so not under oneOf.
        let message = validate(&schema, &json!(2)).unwrap_err();
        assert!(message.contains("more than one"), "{message}");
        assert!(validate(&json!({"anyOf": schema["oneOf"]}), &json!(2)).is_ok());
    }

    #[test]
    fn recursive_schemas_validate_and_a_self_reference_never_loops() {
        let tree = json!({
            "type": "object",
            "properties": {"name": {"type": "string"},
                           "children": {"type": "array", "items": {"$ref": "#"}}},
            "required": ["name"]
        });
        let deep = json!({"name": "a", "children": [{"name": "b", "children": [{"name": "c"}]}]});
        assert!(validate(&tree, &deep).is_ok());
        let broken = json!({"name": "a", "children": [{"children": []}]});
        let message = validate(&tree, &broken).unwrap_err();
        assert!(message.starts_with("/children/0:"), "{message}");
        // A schema that is only a reference to itself constrains nothing, and returns.
        for schema in [
            json!({"$ref": "#"}),
            json!({"$defs": {"a": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"}),
        ] {
            let _ = validate(&schema, &json!({"x": 1}));
            let _ = check_schema(&schema);
        }
        // A reference that points nowhere, or outside the schema, is refused before generating.
        for schema in [
            json!({"$ref": "#/$defs/missing"}),
            json!({"$ref": "https://example.com/s.json"}),
        ] {
            assert!(
                matches!(check_schema(&schema), Err(Error::Schema(_))),
                "{schema}"
            );
        }
    }

    #[test]
    fn json_is_found_inside_a_code_fence() {
        let value =
            parse_and_validate(&json!({"type": "object"}), "```json\n{\"a\": 1}\n```").unwrap();
        assert_eq!(value, json!({"a": 1}));
    }

    #[test]
    fn retries_once_then_reports_the_raw_text() {
        let generator = FakeGenerator::new(["not json", "{\"name\": \"x\", \"tags\": []}"]);
        let request = GenerateRequest {
            prompt: "give json".into(),
            ..Default::default()
        };
        let (value, _) = generate_json(&generator, &request, &schema()).unwrap();
        assert_eq!(value["name"], "x");
        assert!(generator.seen.lock().unwrap()[1].contains("previous answer was rejected"));

        let generator = FakeGenerator::new(["nope", "{\"name\": 5}"]);
        match generate_json(&generator, &request, &schema()) {
            Err(Error::UnparseableOutput { raw, attempts, .. }) => {
                assert_eq!(raw, "{\"name\": 5}");
                assert_eq!(attempts, 2);
            }
            other => panic!("expected UnparseableOutput, got {other:?}"),
        }
    }
}
