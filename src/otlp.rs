//! OpenTelemetry traces in the OTLP JSON encoding (pure): the spans of an export that carry a
//! prompt digest, with what `trace` needs to judge each (ids, name, start time, environment).
//!
//! The encoding is opentelemetry-proto's "JSON Protobuf Encoding": the proto3 JSON mapping
//! with lowerCamelCase keys, `traceId` / `spanId` as case-insensitive hex (not base64), enums
//! as integers, 64-bit integers (`startTimeUnixNano`, `intValue`) as decimal strings or
//! numbers, and unknown fields ignored. An export is one `TracesData` /
//! `ExportTraceServiceRequest` document (`{"resourceSpans": […]}`), or several of them one
//! after another (the collector's file exporter writes one per line).
//!
//! Hostile input fails closed with an error naming the span by its place in the document
//! (`resourceSpans[0].scopeSpans[1].spans[2]`): a digest that is not 64 hex digits, an
//! attribute given twice with different values, a start time missing or past what a
//! timestamp can hold, ids that are not hex. Nesting is bounded by the JSON parser (at most
//! 128 levels), invalid UTF-8 is a parse error with its line and column, and the caller bounds
//! the file's size.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::types::Sha256Hex;

/// The attribute an application sets to the SHA-256 of the prompt bytes it used.
pub const DIGEST_ATTRIBUTE: &str = "promptrail.prompt.sha256";
/// What the application says the prompt is (informational: the digest decides; `trace` flags
/// a span whose labels disagree with the record of its digest).
pub const PATH_ATTRIBUTE: &str = "promptrail.prompt.path";
pub const VERSION_ATTRIBUTE: &str = "promptrail.prompt.version";
/// The semantic-convention attribute naming the environment (span or resource).
pub const ENVIRONMENT_ATTRIBUTE: &str = "deployment.environment.name";
/// Its name before semantic conventions 1.27, still read when the new one is absent.
pub const LEGACY_ENVIRONMENT_ATTRIBUTE: &str = "deployment.environment";

/// Why an export cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum OtlpError {
    #[error("not OTLP JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error(
        "no `resourceSpans` in the file: not an OTLP JSON trace export (expected \
         {{\"resourceSpans\": [{{\"scopeSpans\": [{{\"spans\": […]}}]}}]}})"
    )]
    NotTraces,
    #[error("{at}: {what}")]
    Span { at: String, what: String },
}

/// One span that carries the digest attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptSpan {
    /// Its place in the export: `resourceSpans[0].scopeSpans[0].spans[1]` (in a file of
    /// several documents, prefixed by `document N: `).
    pub location: String,
    /// Lowercase hex, 32 digits.
    pub trace_id: String,
    /// Lowercase hex, 16 digits.
    pub span_id: String,
    pub name: String,
    /// The resource's `service.name`.
    pub service: Option<String>,
    pub start: DateTime<Utc>,
    /// From the span's attributes, else the resource's; `None` when neither names one.
    pub environment: Option<String>,
    pub sha256: Sha256Hex,
    /// The span's `promptrail.prompt.path`, if it has one.
    pub claimed_path: Option<String>,
    /// The span's `promptrail.prompt.version` (an `intValue`, or a `stringValue` such as
    /// `12` or `v12`), if it has one.
    pub claimed_version: Option<u64>,
}

/// What an export holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Export {
    /// Every span read, with the attribute or without.
    pub spans: usize,
    /// The spans with the attribute, in document order.
    pub prompt_spans: Vec<PromptSpan>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TracesData {
    resource_spans: Option<Vec<ResourceSpans>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResourceSpans {
    #[serde(default)]
    resource: Option<Resource>,
    #[serde(default)]
    scope_spans: Vec<ScopeSpans>,
}

#[derive(Deserialize)]
struct Resource {
    #[serde(default)]
    attributes: Vec<KeyValue>,
}

#[derive(Deserialize)]
struct ScopeSpans {
    #[serde(default)]
    spans: Vec<Span>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Span {
    #[serde(default)]
    trace_id: String,
    #[serde(default)]
    span_id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    start_time_unix_nano: Option<serde_json::Value>,
    #[serde(default)]
    attributes: Vec<KeyValue>,
}

#[derive(Deserialize)]
struct KeyValue {
    key: String,
    #[serde(default)]
    value: Option<AnyValue>,
}

/// `AnyValue`: exactly one of these is set; only strings name a digest or an environment.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AnyValue {
    string_value: Option<String>,
    bool_value: Option<IgnoredAny>,
    int_value: Option<serde_json::Value>,
    double_value: Option<IgnoredAny>,
    array_value: Option<IgnoredAny>,
    kvlist_value: Option<IgnoredAny>,
    bytes_value: Option<IgnoredAny>,
}

impl AnyValue {
    fn kind(&self) -> &'static str {
        match self {
            AnyValue {
                string_value: Some(_),
                ..
            } => "stringValue",
            AnyValue {
                bool_value: Some(_),
                ..
            } => "boolValue",
            AnyValue {
                int_value: Some(_), ..
            } => "intValue",
            AnyValue {
                double_value: Some(_),
                ..
            } => "doubleValue",
            AnyValue {
                array_value: Some(_),
                ..
            } => "arrayValue",
            AnyValue {
                kvlist_value: Some(_),
                ..
            } => "kvlistValue",
            AnyValue {
                bytes_value: Some(_),
                ..
            } => "bytesValue",
            _ => "no value",
        }
    }
}

/// Reads an export and returns the spans whose attributes carry `attribute`.
pub fn parse(data: &[u8], attribute: &str) -> Result<Export, OtlpError> {
    let mut export = Export::default();
    let mut documents = 0usize;
    let mut any_traces = false;
    let mut docs: Vec<TracesData> = Vec::new();
    for doc in serde_json::Deserializer::from_slice(data).into_iter::<TracesData>() {
        docs.push(doc?);
    }
    let several = docs.len() > 1;
    for doc in docs {
        documents += 1;
        let Some(resource_spans) = doc.resource_spans else {
            continue;
        };
        any_traces = true;
        for (r, rs) in resource_spans.iter().enumerate() {
            let resource_attrs = rs.resource.as_ref().map_or(&[][..], |r| &r.attributes[..]);
            for (s, ss) in rs.scope_spans.iter().enumerate() {
                for (k, span) in ss.spans.iter().enumerate() {
                    export.spans += 1;
                    let location = format!(
                        "{}resourceSpans[{r}].scopeSpans[{s}].spans[{k}]",
                        if several {
                            format!("document {documents}: ")
                        } else {
                            String::new()
                        }
                    );
                    let fail = |what: String| OtlpError::Span {
                        at: location.clone(),
                        what,
                    };
                    let Some(digest) =
                        string_attribute(&span.attributes, attribute).map_err(fail)?
                    else {
                        continue;
                    };
                    let sha256 = digest_of(digest).map_err(fail)?;
                    let environment = match env_attribute(&span.attributes).map_err(fail)? {
                        Some(e) => Some(e),
                        None => env_attribute(resource_attrs)
                            .map_err(|e| fail(format!("its resource: {e}")))?,
                    };
                    let claimed_path =
                        string_attribute(&span.attributes, PATH_ATTRIBUTE).map_err(fail)?;
                    let claimed_version = version_attribute(&span.attributes).map_err(fail)?;
                    let service = string_attribute(resource_attrs, "service.name")
                        .ok()
                        .flatten()
                        .map(str::to_owned);
                    export.prompt_spans.push(PromptSpan {
                        trace_id: hex_id(&span.trace_id, 16, "traceId").map_err(fail)?,
                        span_id: hex_id(&span.span_id, 8, "spanId").map_err(fail)?,
                        name: span.name.clone(),
                        service,
                        start: start_time(span.start_time_unix_nano.as_ref()).map_err(fail)?,
                        environment: environment.map(str::to_owned),
                        sha256,
                        claimed_path: claimed_path.map(str::to_owned),
                        claimed_version,
                        location,
                    });
                }
            }
        }
    }
    if documents == 0 || !any_traces {
        return Err(OtlpError::NotTraces);
    }
    Ok(export)
}

/// The string value of `key` in `attrs`: `None` when absent; an error when it is not a
/// string or is given twice with different values (which one would the backend show?).
fn string_attribute<'a>(attrs: &'a [KeyValue], key: &str) -> Result<Option<&'a str>, String> {
    let mut found: Option<&str> = None;
    for kv in attrs.iter().filter(|kv| kv.key == key) {
        let value = match &kv.value {
            Some(AnyValue {
                string_value: Some(s),
                ..
            }) => s.as_str(),
            Some(v) => {
                return Err(format!(
                    "attribute `{key}` is a {}, expected a stringValue",
                    v.kind()
                ));
            }
            None => return Err(format!("attribute `{key}` has no value")),
        };
        match found {
            Some(f) if f != value => {
                return Err(format!(
                    "attribute `{key}` is given twice with different values (`{}` and `{}`): \
                     refusing to pick one",
                    f.escape_debug(),
                    value.escape_debug()
                ));
            }
            _ => found = Some(value),
        }
    }
    Ok(found)
}

/// `promptrail.prompt.version`: an `intValue` (a decimal string or a number, as OTLP JSON
/// writes 64-bit integers) or a `stringValue` (`12`, `v12`).
fn version_attribute(attrs: &[KeyValue]) -> Result<Option<u64>, String> {
    let mut found = None;
    for kv in attrs.iter().filter(|kv| kv.key == VERSION_ATTRIBUTE) {
        let n = match &kv.value {
            Some(AnyValue {
                int_value: Some(serde_json::Value::Number(n)),
                ..
            }) => n.as_u64(),
            Some(AnyValue {
                int_value: Some(serde_json::Value::String(s)),
                ..
            }) => s.parse().ok(),
            Some(AnyValue {
                string_value: Some(s),
                ..
            }) => s.strip_prefix('v').unwrap_or(s).parse().ok(),
            _ => None,
        };
        let Some(n) = n else {
            return Err(format!(
                "attribute `{VERSION_ATTRIBUTE}` is not a version number (an intValue, or a \
                 stringValue such as `12`)"
            ));
        };
        if found.is_some_and(|f| f != n) {
            return Err(format!(
                "attribute `{VERSION_ATTRIBUTE}` is given twice with different values: refusing \
                 to pick one"
            ));
        }
        found = Some(n);
    }
    Ok(found)
}

fn env_attribute(attrs: &[KeyValue]) -> Result<Option<&str>, String> {
    Ok(match string_attribute(attrs, ENVIRONMENT_ATTRIBUTE)? {
        Some(e) => Some(e),
        None => string_attribute(attrs, LEGACY_ENVIRONMENT_ATTRIBUTE)?,
    })
}

/// 64 hex digits (either case, an optional `sha256:` prefix), lowercased.
fn digest_of(value: &str) -> Result<Sha256Hex, String> {
    let hex = value
        .strip_prefix("sha256:")
        .unwrap_or(value)
        .to_ascii_lowercase();
    Sha256Hex::parse(&hex).ok_or_else(|| {
        format!(
            "the prompt digest `{}` is not a SHA-256 (64 hex digits): the application must \
             attach the full sha256 of the prompt bytes",
            shorten(value).escape_debug()
        )
    })
}

/// A trace or span id: `bytes` bytes as hex (case-insensitive), lowercased.
fn hex_id(value: &str, bytes: usize, field: &str) -> Result<String, String> {
    if value.len() == bytes * 2 && value.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(value.to_ascii_lowercase())
    } else {
        Err(format!(
            "`{field}` `{}` is not {} hex digits (OTLP JSON encodes ids as hex, not base64)",
            shorten(value).escape_debug(),
            bytes * 2
        ))
    }
}

/// `startTimeUnixNano`: nanoseconds since the Unix epoch, as a decimal string or a number.
fn start_time(value: Option<&serde_json::Value>) -> Result<DateTime<Utc>, String> {
    let nanos: u64 = match value {
        None => return Err("the span has no `startTimeUnixNano`".into()),
        Some(serde_json::Value::String(s)) => s.parse().map_err(|_| {
            format!(
                "`startTimeUnixNano` `{}` is not a decimal count of nanoseconds",
                shorten(s).escape_debug()
            )
        })?,
        Some(serde_json::Value::Number(n)) => n.as_u64().ok_or_else(|| {
            format!("`startTimeUnixNano` {n} is not a whole, non-negative count of nanoseconds")
        })?,
        Some(other) => {
            return Err(format!(
                "`startTimeUnixNano` is {}, expected a decimal string or a number",
                json_kind(other)
            ));
        }
    };
    if nanos == 0 {
        return Err("`startTimeUnixNano` is 0 (unset): the span's time is unknown".into());
    }
    let nanos = i64::try_from(nanos).map_err(|_| {
        format!(
            "`startTimeUnixNano` {nanos} is past the year 2262, the last time a timestamp can \
             hold"
        )
    })?;
    Ok(DateTime::from_timestamp_nanos(nanos))
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// At most 80 characters of a hostile value, for an error message.
fn shorten(s: &str) -> String {
    if s.chars().count() > 80 {
        format!("{}…", s.chars().take(80).collect::<String>())
    } else {
        s.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "db280268d2800b8b2d4b33c6ba7fcf0cb2a1c29b46d0bfb6b3aa6d0b8f1c0a11";

    fn export(span_extra: &str, resource: &str) -> String {
        format!(
            r#"{{"resourceSpans":[{{"resource":{{"attributes":[
                {{"key":"service.name","value":{{"stringValue":"intake-api"}}}}{resource}]}},
              "scopeSpans":[{{"scope":{{"name":"llm"}},"spans":[
                {{"traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"EEE19B7EC3C1B174",
                  "name":"unrelated","startTimeUnixNano":"1544712660000000000","kind":2}},
                {{"traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"EEE19B7EC3C1B175",
                  "parentSpanId":"EEE19B7EC3C1B174","name":"chat","kind":3,
                  "startTimeUnixNano":"1544712660500000000","endTimeUnixNano":1544712661000000000,
                  "attributes":[{{"key":"promptrail.prompt.sha256","value":{{"stringValue":"{SHA}"}}}}
                  {span_extra}],"status":{{"code":1}},"futureField":{{"x":[1,2]}}}}]}}]}}]}}"#
        )
    }

    #[test]
    fn spans_with_the_digest_are_read_with_ids_time_and_environment() {
        let env = r#",{"key":"deployment.environment.name","value":{"stringValue":"production"}}"#;
        let e = parse(export("", env).as_bytes(), DIGEST_ATTRIBUTE).unwrap();
        assert_eq!(e.spans, 2);
        let [s] = e.prompt_spans.as_slice() else {
            panic!("{e:?}")
        };
        assert_eq!(s.location, "resourceSpans[0].scopeSpans[0].spans[1]");
        assert_eq!(s.trace_id, "5b8efff798038103d269b633813fc60c");
        assert_eq!(s.span_id, "eee19b7ec3c1b175");
        assert_eq!(s.name, "chat");
        assert_eq!(s.service.as_deref(), Some("intake-api"));
        assert_eq!(s.environment.as_deref(), Some("production"));
        assert_eq!(s.sha256.as_str(), SHA);
        assert_eq!(
            s.start.timestamp_nanos_opt(),
            Some(1_544_712_660_500_000_000)
        );
        // The span's own environment wins over the resource's; without either, none.
        let span_env =
            r#",{"key":"deployment.environment.name","value":{"stringValue":"staging"}}"#;
        let e = parse(export(span_env, env).as_bytes(), DIGEST_ATTRIBUTE).unwrap();
        assert_eq!(e.prompt_spans[0].environment.as_deref(), Some("staging"));
        let e = parse(export("", "").as_bytes(), DIGEST_ATTRIBUTE).unwrap();
        assert_eq!(e.prompt_spans[0].environment, None);
        // Another attribute name finds nothing here.
        let e = parse(export("", "").as_bytes(), "app.prompt.sha256").unwrap();
        assert_eq!((e.spans, e.prompt_spans.len()), (2, 0));
        // Two documents one after another (the file exporter's JSON lines).
        let two = format!(
            "{}\n{}\n",
            export("", "").replace('\n', " "),
            export("", "")
        );
        let e = parse(two.as_bytes(), DIGEST_ATTRIBUTE).unwrap();
        assert_eq!(e.spans, 4);
        assert!(e.prompt_spans[1].location.starts_with("document 2: "));
    }

    #[test]
    fn hostile_values_fail_closed_naming_the_span() {
        let bad = |json: String| {
            parse(json.as_bytes(), DIGEST_ATTRIBUTE)
                .unwrap_err()
                .to_string()
        };
        let err = bad(export("", "").replace(SHA, "not-a-digest"));
        assert!(
            err.contains("spans[1]") && err.contains("is not a SHA-256"),
            "{err}"
        );
        let err = bad(export("", "").replace(SHA, &SHA[..40]));
        assert!(err.contains("is not a SHA-256"), "{err}");
        let twice = format!(
            r#",{{"key":"promptrail.prompt.sha256","value":{{"stringValue":"{}"}}}}"#,
            "0".repeat(64)
        );
        assert!(bad(export(&twice, "")).contains("given twice"));
        let int = export("", "").replace(
            &format!(r#"{{"stringValue":"{SHA}"}}"#),
            r#"{"intValue":"5"}"#,
        );
        assert!(bad(int).contains("is a intValue, expected a stringValue"));
        for (time, want) in [
            (r#""18446744073709551615""#, "past the year 2262"),
            (r#""-1""#, "not a decimal count"),
            (r#""0""#, "is 0 (unset)"),
            ("1.5e3", "not a whole"),
            ("[1]", "is an array"),
        ] {
            let err = bad(export("", "").replace(r#""1544712660500000000""#, time));
            assert!(err.contains(want), "{time}: {err}");
        }
        let err = bad(export("", "").replace("EEE19B7EC3C1B175", "7uGbfsPBsXU="));
        assert!(err.contains("not 16 hex digits"), "{err}");
        // Not OTLP, not JSON, bad UTF-8, nesting past the parser's limit.
        assert!(bad(r#"{"data":[]}"#.into()).contains("no `resourceSpans`"));
        assert!(bad(String::new()).contains("no `resourceSpans`"));
        assert!(bad("[1,2]".into()).contains("not OTLP JSON"));
        let mut utf8 = export("", "").into_bytes();
        let at = utf8.windows(4).position(|w| w == b"chat").unwrap();
        utf8[at] = 0xff;
        let err = parse(&utf8, DIGEST_ATTRIBUTE).unwrap_err().to_string();
        assert!(err.contains("line"), "{err}");
        // Nesting: an ignored value is skipped without recursing; a value that is parsed
        // stops at the parser's depth limit. Neither overflows the stack.
        let nest = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        let deep = format!(
            r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{"attributes":[{{"key":"k","value":{{"arrayValue":{}}}}}]}}]}}]}}]}}"#,
            nest(100_000)
        );
        assert_eq!(parse(deep.as_bytes(), DIGEST_ATTRIBUTE).unwrap().spans, 1);
        let err = bad(export("", "").replace(r#""1544712660500000000""#, &nest(100_000)));
        assert!(err.contains("recursion limit"), "{err}");
    }
}
