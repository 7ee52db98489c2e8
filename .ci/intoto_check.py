#!/usr/bin/env python3
"""Independent check that promptrail's audit entries carry valid in-toto Statements.

Reads every entries/**.json blob (a Sigstore bundle v0.3 carrying a DSSE
envelope) from the audit branch with plain git, and checks the DSSE payload
with implementations that share nothing with promptrail's Rust code:

  * in-toto's own Python bindings (PyPI in-toto-attestation): the payload is
    parsed strictly into the in_toto_attestation.v1 Statement protobuf
    (google.protobuf.json_format.Parse: unknown fields and wrong JSON types are
    errors), wrapped with Statement.copy_from_pb and checked with
    Statement.validate() (statement type, a digest on every subject, predicate
    type and predicate present); every subject passes
    ResourceDescriptor.validate(), and the parsed Statement converts back to the
    very JSON that was signed (nothing was dropped or reinterpreted);
  * each subject's digest set uses lowercase hex values, and every prompt the
    predicate names is a subject with the same digests;
  * the predicate (type https://promptrail.dev/audit-event/v1) validates
    against the repository's schema/audit-event.v1.json with the PyPI
    jsonschema package: Draft 2020-12, formats checked (date-time through
    rfc3339-validator, whose absence would make the check silently lenient and
    is therefore an error).

Negative controls on the first entry, so the check cannot pass vacuously: a
wrong _type, a subject without a digest, an unknown top-level field, a
predicate with an impossible date-time, and a predicate with an unknown
property must all be rejected.

Usage:
    python3 .ci/intoto_check.py --repo DIR --branch promptrail/audit \
        --schema schema/audit-event.v1.json

Prints one line per entry and ends with "N passed, 0 failed"; exits non-zero
on any failure, or when the branch holds no entry.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import copy
from importlib import metadata
import json
import re
import sys

sys.path.insert(0, __import__("os").path.dirname(__file__))
from audit_branch import git, list_entries, resolve_branch  # noqa: E402
from typing import Callable

import jsonschema
from google.protobuf import json_format
from in_toto_attestation.v1 import statement_pb2
from in_toto_attestation.v1.resource_descriptor import ResourceDescriptor
from in_toto_attestation.v1.statement import STATEMENT_TYPE_URI, Statement
from jsonschema import Draft202012Validator

PAYLOAD_TYPE = "application/vnd.in-toto+json"
PREDICATE_TYPE = "https://promptrail.dev/audit-event/v1"
LOWER_HEX = re.compile(r"^[0-9a-f]+$")


class CheckError(Exception):
    """An entry failed a check."""


def make_validator(schema_path: str) -> Draft202012Validator:
    with open(schema_path, encoding="utf-8") as f:
        schema = json.load(f)
    if schema.get("$schema") != "https://json-schema.org/draft/2020-12/schema":
        raise RuntimeError(f"{schema_path}: $schema is {schema.get('$schema')!r}, not Draft 2020-12")
    Draft202012Validator.check_schema(schema)
    checker = Draft202012Validator.FORMAT_CHECKER
    if "date-time" not in checker.checkers:
        raise RuntimeError("jsonschema cannot check format date-time here (install rfc3339-validator)")
    return Draft202012Validator(schema, format_checker=checker)


def payload_of(bundle_raw: bytes) -> bytes:
    try:
        bundle = json.loads(bundle_raw)
        env = bundle["dsseEnvelope"]
        payload_type, payload = env["payloadType"], env["payload"]
    except (ValueError, KeyError, TypeError) as e:
        raise CheckError(f"not a bundle with a DSSE envelope: {e!r}") from e
    if payload_type != PAYLOAD_TYPE:
        raise CheckError(f"payloadType is {payload_type!r}, not {PAYLOAD_TYPE}")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError, TypeError) as e:
        raise CheckError(f"payload is not standard base64: {e}") from e


def check_statement(payload: bytes) -> Statement:
    """in-toto-attestation's own parsing and validation of a Statement v1."""
    try:
        pb = json_format.Parse(payload, statement_pb2.Statement())
    except json_format.ParseError as e:
        raise CheckError(f"not an in-toto Statement v1 message: {' '.join(str(e).split())}") from e
    statement = Statement.copy_from_pb(pb)
    try:
        statement.validate()
        for i, subject in enumerate(statement.pb.subject):
            ResourceDescriptor.copy_from_pb(subject).validate()
    except ValueError as e:
        raise CheckError(f"in-toto Statement.validate(): {e}") from e
    # json_format.Parse maps the JSON onto proto fields, and also takes the proto
    # names (predicate_type for predicateType): check that the parsed message,
    # written back as in-toto JSON, is exactly what was signed.
    if json_format.MessageToDict(statement.pb) != json.loads(payload):
        raise CheckError("the Statement as in-toto-attestation parsed it differs from the signed JSON")
    return statement


def check_entry(bundle_raw: bytes, validator: Draft202012Validator) -> dict:
    payload = payload_of(bundle_raw)
    statement = check_statement(payload)
    if statement.pb.type != STATEMENT_TYPE_URI:  # validate() checks it too
        raise CheckError(f"_type is {statement.pb.type!r}")
    if statement.pb.predicate_type != PREDICATE_TYPE:
        raise CheckError(f"predicateType is {statement.pb.predicate_type!r}, not {PREDICATE_TYPE}")

    doc = json.loads(payload)  # the predicate as signed (the proto Struct makes numbers floats)
    subjects = {}
    for i, subject in enumerate(doc["subject"]):
        for alg, value in subject["digest"].items():
            if not LOWER_HEX.match(value):
                raise CheckError(f"subject[{i}] digest {alg} is not lowercase hex: {value!r}")
        subjects[subject.get("name")] = subject["digest"]

    predicate = doc["predicate"]
    errors = sorted(validator.iter_errors(predicate), key=lambda e: list(e.absolute_path))
    if errors:
        shown = "; ".join(
            f"/{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors[:5]
        )
        raise CheckError(f"predicate fails schema/audit-event.v1.json ({len(errors)} errors): {shown}")

    for prompt in predicate["prompts"]:
        if prompt["path"] not in subjects:
            raise CheckError(f"predicate prompt {prompt['path']!r} is not a subject")
        if subjects[prompt["path"]] != prompt["digest"]:
            raise CheckError(f"subject {prompt['path']!r}: digests differ from the predicate's")
    return doc


def negative_checks(bundle_raw: bytes, validator: Draft202012Validator) -> list[str]:
    """Broken statements that must be rejected. Returns failures."""
    failures = []
    doc = json.loads(payload_of(bundle_raw))

    def expect_rejected(label: str, mutate: Callable[[dict], None], reason: str) -> None:
        bad = copy.deepcopy(doc)
        mutate(bad)
        bundle = json.loads(bundle_raw)
        bundle["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(bad).encode()).decode()
        try:
            check_entry(json.dumps(bundle).encode(), validator)
        except CheckError as e:
            if reason in str(e):
                print(f"reject  {label}: rejected as expected ({e})")
            else:
                failures.append(f"{label}: rejected for the wrong reason (want {reason!r}): {e}")
            return
        failures.append(f"{label}: ACCEPTED")

    def set_key(key, value):
        return lambda d: d.__setitem__(key, value)

    expect_rejected(
        "wrong _type", set_key("_type", "https://in-toto.io/Statement/v0.1"), "Wrong statement type"
    )
    expect_rejected(
        "subject without a digest",
        lambda d: d["subject"][0].__setitem__("digest", {}),
        "At least one digest required",
    )
    expect_rejected(
        "unknown top-level field", set_key("issuer", "someone"), "not an in-toto Statement"
    )
    expect_rejected(
        "predicate recordedAt 2026-02-30T25:61:00Z (format date-time)",
        lambda d: d["predicate"].__setitem__("recordedAt", "2026-02-30T25:61:00Z"),
        "is not a 'date-time'",
    )
    expect_rejected(
        "predicate with an unknown property",
        lambda d: d["predicate"].__setitem__("approvedBy", "nobody"),
        "Additional properties are not allowed",
    )
    return failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", required=True, help="git repository")
    parser.add_argument("--branch", default="promptrail/audit", help="audit branch")
    parser.add_argument("--schema", required=True, help="schema/audit-event.v1.json")
    args = parser.parse_args()

    validator = make_validator(args.schema)
    commit = resolve_branch(args.repo, args.branch)
    entries = list_entries(args.repo, commit)
    versions = ", ".join(
        f"{name} {metadata.version(name)}"
        for name in ("in-toto-attestation", "protobuf", "jsonschema", "rfc3339-validator")
    )
    print(f"branch {args.branch} at {commit[:12]}: {len(entries)} entries; {versions}")

    passed = failed = 0
    first_raw = None
    for path, oid in entries:
        raw = git(args.repo, "cat-file", "blob", oid)
        try:
            doc = check_entry(raw, validator)
        except CheckError as e:
            failed += 1
            print(f"FAIL    {path}: {e}")
            continue
        passed += 1
        if first_raw is None:
            first_raw = raw
        predicate = doc["predicate"]
        prompts = ", ".join(
            f"{p['path']} v{p['version']}" + (f" {p['change']}" if "change" in p else "")
            for p in predicate["prompts"]
        )
        print(f"ok      {path}: in-toto Statement v1 valid, predicate matches the schema "
              f"({predicate['event']}: {prompts})")

    if not entries:
        print(f"FAIL    no entries/**.json on {args.branch}")
        failed += 1
    elif first_raw is not None:
        for failure in negative_checks(first_raw, validator):
            print(f"FAIL    negative check: {failure}")
            failed += 1

    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (RuntimeError, OSError, ValueError, jsonschema.SchemaError) as e:
        print(f"error: {e}", file=sys.stderr)
        print("0 passed, 1 failed")
        sys.exit(2)
