//! Property tests: parsers of untrusted input never panic, whatever they are given, and
//! well-formed values survive a round trip.

use proptest::prelude::*;
use std::path::Path;

use promptrail::attestation::Envelope;
use promptrail::checkpoint::Checkpoint;
use promptrail::config::Config;
use promptrail::proof::Proof;
use promptrail::store::decode_entry;

/// YAML-ish text: keys and values from the config's vocabulary, indentation, punctuation.
fn yamlish() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("version: ".to_owned()),
        Just("prompts:\n  include: [".to_owned()),
        Just("audit:\n  branch: ".to_owned()),
        Just("policy:\n  default:\n    approvals: ".to_owned()),
        Just("  rules:\n    - paths: [\"".to_owned()),
        Just("environments: [".to_owned()),
        Just("signing:\n  public_keys:\n    - path: ".to_owned()),
        Just("not_after: ".to_owned()),
        "[a-z*/\\[\\]{}:,\"' -]{0,12}",
        "[0-9]{1,20}",
        Just("\n".to_owned()),
        Just("  ".to_owned()),
    ];
    proptest::collection::vec(token, 0..24).prop_map(|v| v.concat())
}

/// JSON-ish text around the wire format's field names.
fn jsonish() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("{".to_owned()),
        Just("}".to_owned()),
        Just("[".to_owned()),
        Just("]".to_owned()),
        Just(",".to_owned()),
        Just(":".to_owned()),
        Just("\"mediaType\"".to_owned()),
        Just("\"dsseEnvelope\"".to_owned()),
        Just("\"payload\"".to_owned()),
        Just("\"payloadType\"".to_owned()),
        Just("\"signatures\"".to_owned()),
        Just("\"sig\"".to_owned()),
        Just("\"keyid\"".to_owned()),
        Just("\"verificationMaterial\"".to_owned()),
        Just("\"publicKey\"".to_owned()),
        Just("\"hint\"".to_owned()),
        Just("\"eyJhIjoxfQ==\"".to_owned()),
        Just("null".to_owned()),
        "\"[ -~]{0,10}\"",
        "-?[0-9]{1,25}",
    ];
    proptest::collection::vec(token, 0..40).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn config_parsing_never_panics(text in yamlish()) {
        let _ = Config::parse(&text, Path::new(".promptrail.yml"));
    }

    #[test]
    fn config_parsing_never_panics_on_any_text(text in "\\PC{0,200}") {
        let _ = Config::parse(&text, Path::new(".promptrail.yml"));
    }

    #[test]
    fn entry_decoding_never_panics(text in jsonish()) {
        let _ = decode_entry(text.as_bytes());
        let _ = serde_json::from_str::<Envelope>(&text);
        let _ = serde_json::from_str::<Proof>(&text);
    }

    #[test]
    fn entry_decoding_never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = decode_entry(&bytes);
    }

    #[test]
    fn checkpoint_parsing_never_panics(
        origin in "[ -~]{0,20}",
        size in "[0-9a-z]{0,22}",
        root in "[A-Za-z0-9+/=]{0,50}",
        sigs in proptest::collection::vec("(\u{2014} )?[ -~]{0,40}", 0..3),
        crlf in any::<bool>(),
    ) {
        let nl = if crlf { "\r\n" } else { "\n" };
        let text = format!("{origin}{nl}{size}{nl}{root}{nl}{nl}{}", sigs.join(nl));
        if let Ok(cp) = Checkpoint::parse(&text) {
            // Whatever parses renders back to a note that parses the same.
            prop_assert_eq!(Checkpoint::parse(&cp.to_text()), Ok(cp));
        }
    }

    #[test]
    fn pae_length_prefixes_make_it_injective(a in "[ -~]{0,8}", b in proptest::collection::vec(any::<u8>(), 0..16),
                                             c in "[ -~]{0,8}", d in proptest::collection::vec(any::<u8>(), 0..16)) {
        let same = promptrail::attestation::pae(&a, &b) == promptrail::attestation::pae(&c, &d);
        prop_assert_eq!(same, a == c && b == d);
    }
}
