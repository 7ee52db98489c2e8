//! The published predicate schema accepts what promptrail writes and rejects what it must not.

mod common;

use common::*;

fn validator() -> jsonschema::Validator {
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/schema/audit-event.v1.json"
        ))
        .unwrap(),
    )
    .unwrap();
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap()
}

#[test]
fn schema_accepts_real_entries_and_rejects_broken_ones() {
    let r = recorded_repo();
    assert_eq!(assert_schema_valid(&r), 4);
    let v = validator();
    let good = statements(&r).remove(3)["predicate"].clone();
    assert!(v.is_valid(&good));
    let broken = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut p = good.clone();
        edit(&mut p);
        p
    };
    for (what, p) in [
        (
            "no recordedAt",
            broken(&|p| {
                p.as_object_mut().unwrap().remove("recordedAt");
            }),
        ),
        (
            "short digest",
            broken(&|p| p["prompts"][0]["digest"]["sha256"] = "abc".into()),
        ),
        (
            "version 0",
            broken(&|p| p["prompts"][0]["version"] = 0.into()),
        ),
        (
            "local time",
            broken(&|p| p["recordedAt"] = "2026-11-20T14:30:00+01:00".into()),
        ),
        ("unknown field", broken(&|p| p["extra"] = true.into())),
        (
            "deployment without details",
            broken(&|p| p["event"] = "deployment".into()),
        ),
        (
            "control character in a path",
            broken(&|p| p["prompts"][0]["path"] = "a\nb".into()),
        ),
    ] {
        assert!(!v.is_valid(&p), "{what} must be rejected");
    }
}

#[test]
fn the_schemas_event_kinds_are_exactly_the_event_type_enum() {
    use promptrail::attestation::predicate::EventType;
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/schema/audit-event.v1.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let in_schema: Vec<&str> = schema["properties"]["event"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let in_code: Vec<&str> = EventType::ALL.iter().map(EventType::as_str).collect();
    assert_eq!(in_schema, in_code);
    for kind in EventType::ALL {
        // What an entry carries is the name the schema lists, and it reads back as the kind.
        let wire = serde_json::to_value(kind).unwrap();
        assert_eq!(wire, kind.as_str());
        assert_eq!(serde_json::from_value::<EventType>(wire).unwrap(), kind);
    }
}
