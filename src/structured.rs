//! Structured output: generation constrained by a JSON Schema, then parsed and validated by
//! code (llama.cpp's grammar path can skip enforcement), one retry, then `UnparseableOutput`.

use serde_json::Value;

use crate::backends::{GenerateRequest, Generation, Generator};
use crate::error::{Error, Result};

/// Validates `value` against the subset of JSON Schema that llama.cpp's converter supports:
/// type, properties, required, additionalProperties, items, prefixItems, min/maxItems,
/// enum, const, min/maxLength, pattern, minimum/maximum, anyOf/oneOf/allOf and local `$ref`s.
pub fn validate(schema: &Value, value: &Value) -> Result<(), String> {
    validate_at(schema, schema, value, "$")
}

fn resolve<'a>(root: &'a Value, schema: &'a Value) -> Result<&'a Value, String> {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let pointer = reference
                .strip_prefix('#')
                .ok_or_else(|| format!("unsupported $ref `{reference}`"))?;
            root.pointer(pointer)
                .ok_or_else(|| format!("$ref `{reference}` points nowhere"))
        }
        None => Ok(schema),
    }
}

fn type_matches(name: &str, value: &Value) -> bool {
    match name {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        "number" => value.is_number(),
        "integer" => {
            value.as_i64().is_some()
                || value.as_u64().is_some()
                || value.as_f64().is_some_and(|x| x.fract() == 0.0)
        }
        _ => false,
    }
}

fn validate_at(root: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    let schema = resolve(root, schema)?;
    let Some(rules) = schema.as_object() else {
        return match schema {
            Value::Bool(false) => Err(format!("{at}: no value is allowed here")),
            _ => Ok(()),
        };
    };
    if let Some(expected) = rules.get("type") {
        let names: Vec<&str> = match expected {
            Value::String(name) => vec![name.as_str()],
            Value::Array(names) => names.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        if !names.is_empty() && !names.iter().any(|name| type_matches(name, value)) {
            return Err(format!(
                "{at}: expected {}, got {}",
                names.join(" or "),
                short(value)
            ));
        }
    }
    if let Some(options) = rules.get("enum").and_then(Value::as_array) {
        if !options.contains(value) {
            return Err(format!(
                "{at}: {} is not one of the allowed values",
                short(value)
            ));
        }
    }
    if let Some(constant) = rules.get("const") {
        if constant != value {
            return Err(format!("{at}: expected {constant}"));
        }
    }
    for (keyword, any) in [("anyOf", true), ("oneOf", true)] {
        if let Some(options) = rules.get(keyword).and_then(Value::as_array) {
            let matching = options
                .iter()
                .filter(|option| validate_at(root, option, value, at).is_ok())
                .count();
            if any && matching == 0 {
                return Err(format!("{at}: matches none of {keyword}"));
            }
        }
    }
    if let Some(all) = rules.get("allOf").and_then(Value::as_array) {
        for option in all {
            validate_at(root, option, value, at)?;
        }
    }
    match value {
        Value::Object(map) => {
            let properties = rules.get("properties").and_then(Value::as_object);
            if let Some(required) = rules.get("required").and_then(Value::as_array) {
                for name in required.iter().filter_map(Value::as_str) {
                    if !map.contains_key(name) {
                        return Err(format!("{at}: missing required field `{name}`"));
                    }
                }
            }
            for (name, item) in map {
                let path = format!("{at}.{name}");
                match properties.and_then(|p| p.get(name)) {
                    Some(property) => validate_at(root, property, item, &path)?,
                    None => match rules.get("additionalProperties") {
                        Some(Value::Bool(false)) => {
                            return Err(format!("{at}: unexpected field `{name}`"))
                        }
                        Some(extra @ Value::Object(_)) => validate_at(root, extra, item, &path)?,
                        _ => {}
                    },
                }
            }
        }
        Value::Array(items) => {
            let count = items.len() as u64;
            if let Some(min) = rules.get("minItems").and_then(Value::as_u64) {
                if count < min {
                    return Err(format!("{at}: {count} items, at least {min} required"));
                }
            }
            if let Some(max) = rules.get("maxItems").and_then(Value::as_u64) {
                if count > max {
                    return Err(format!("{at}: {count} items, at most {max} allowed"));
                }
            }
            let prefix = rules.get("prefixItems").and_then(Value::as_array);
            for (index, item) in items.iter().enumerate() {
                let path = format!("{at}[{index}]");
                match prefix.and_then(|p| p.get(index)) {
                    Some(item_schema) => validate_at(root, item_schema, item, &path)?,
                    None => {
                        if let Some(item_schema) = rules.get("items") {
                            validate_at(root, item_schema, item, &path)?;
                        }
                    }
                }
            }
        }
        Value::String(text) => {
            let length = text.chars().count() as u64;
            if let Some(min) = rules.get("minLength").and_then(Value::as_u64) {
                if length < min {
                    return Err(format!("{at}: shorter than {min} characters"));
                }
            }
            if let Some(max) = rules.get("maxLength").and_then(Value::as_u64) {
                if length > max {
                    return Err(format!("{at}: longer than {max} characters"));
                }
            }
            if let Some(pattern) = rules.get("pattern").and_then(Value::as_str) {
                let regex = regex::Regex::new(pattern)
                    .map_err(|err| format!("{at}: bad pattern: {err}"))?;
                if !regex.is_match(text) {
                    return Err(format!("{at}: does not match pattern `{pattern}`"));
                }
            }
        }
        Value::Number(number) => {
            let x = number.as_f64().unwrap_or(f64::NAN);
            let bound = |key: &str| rules.get(key).and_then(Value::as_f64);
            if bound("minimum").is_some_and(|min| x < min)
                || bound("exclusiveMinimum").is_some_and(|min| x <= min)
            {
                return Err(format!("{at}: {x} is below the minimum"));
            }
            if bound("maximum").is_some_and(|max| x > max)
                || bound("exclusiveMaximum").is_some_and(|max| x >= max)
            {
                return Err(format!("{at}: {x} is above the maximum"));
            }
        }
        _ => {}
    }
    Ok(())
}

fn short(value: &Value) -> String {
    let text = value.to_string();
    if text.len() > 40 {
        let cut = (0..=40)
            .rev()
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(0);
        format!("{}…", &text[..cut])
    } else {
        text
    }
}

/// Checks a schema is an object llama.cpp can use, before any generation.
pub fn check_schema(schema: &Value) -> Result<()> {
    if !schema.is_object() {
        return Err(Error::Schema("a JSON Schema must be an object".into()));
    }
    Ok(())
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
        check(json!({"name": "a"}), Some("missing required field `tags`"));
        check(
            json!({"name": "a", "tags": [1]}),
            Some("$.tags[0]: expected string"),
        );
        check(
            json!({"name": "a", "tags": [], "extra": 1}),
            Some("unexpected field `extra`"),
        );
        check(
            json!({"name": "a", "tags": [], "owner": {"age": -1}}),
            Some("below the minimum"),
        );
        check(json!({"name": "", "tags": []}), Some("shorter than 1"));
        check(
            json!({"name": "a", "tags": ["a", "b", "c", "d"]}),
            Some("at most 3"),
        );
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
