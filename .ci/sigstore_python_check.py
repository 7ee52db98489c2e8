#!/usr/bin/env python3
"""Independent check of promptrail's keyless audit log with sigstore-python.

A third verifier beside promptrail's own (sigstore-rust) and Sigstore's
JavaScript one (.ci/sigstore_js_keyless_check.mjs): sigstore-python (PyPI
`sigstore`, pinned with its whole dependency set in
.ci/sigstore-python-requirements.txt) shares no code with either.

Per entries/**.json blob on the branch (read with plain git):
  * sigstore.models.Bundle.from_json parses it (bundle v0.3, a DSSE envelope,
    a certificate, one tlog entry);
  * sigstore.verify.Verifier(trusted_root=TrustedRoot.from_file(ROOT))
    .verify_dsse(bundle, Identity(identity=..., issuer=...)) verifies it: the
    signed entry timestamp gives the signing time, the certificate chains to
    the root's CA at that time, its embedded SCT verifies against the root's CT
    log, the tlog entry's checkpoint and inclusion proof verify against the
    root's Rekor key, the DSSE signature verifies with the certificate's key,
    and the dsse 0.0.1 tlog body names exactly the envelope's signatures with
    the certificate as Rekor canonicalises it (PEM with LF line endings) and
    the payload's SHA-256. Then the policy: the certificate's SAN equals
    --identity and its Fulcio issuer extension equals --issuer;
  * the payload type is in-toto's and the payload verify_dsse returns is the
    envelope's own.

Negative controls on the first entry, so that the check cannot pass
vacuously; each must be rejected: another identity, the identity's prefix,
another issuer, a flipped payload byte, another payloadType, a tampered signed
entry timestamp, and Sigstore's public-good trusted root.

Usage (with sigstore on PYTHONPATH):
    python3 .ci/sigstore_python_check.py --repo DIR --branch promptrail/audit \
        --trusted-root trusted_root.json --public-good-root public-good.json \
        --identity URI --issuer URL

Prints one line per entry and ends with "N passed, 0 failed"; exits non-zero
on any failure, or when the branch holds no entry.
"""

from __future__ import annotations

import argparse
import base64
import copy
import json
import os
import re
import sys
from importlib import metadata
from typing import Any, Callable

sys.path.insert(0, os.path.dirname(__file__))
from audit_branch import check_entries, list_entries, resolve_branch  # noqa: E402

from sigstore.errors import Error as SigstoreError  # noqa: E402
from sigstore.models import Bundle, TrustedRoot  # noqa: E402
from sigstore.verify import Verifier  # noqa: E402
from sigstore.verify.policy import Identity  # noqa: E402

PAYLOAD_TYPE = "application/vnd.in-toto+json"


class CheckError(Exception):
    """An entry failed a check."""


def verify(doc: Any, verifier: Verifier, identity: str, issuer: str) -> tuple[str, bytes]:
    """Parses and verifies one bundle (a JSON value); raises on any failure."""
    bundle = Bundle.from_json(json.dumps(doc))
    return verifier.verify_dsse(bundle, Identity(identity=identity, issuer=issuer))


def check_entry(raw: bytes, verifier: Verifier, identity: str, issuer: str) -> dict:
    doc = json.loads(raw)
    try:
        payload_type, payload = verify(doc, verifier, identity, issuer)
    except SigstoreError as e:
        raise CheckError(f"sigstore-python rejected it: {e}") from e
    if payload_type != PAYLOAD_TYPE:
        raise CheckError(f"payloadType is {payload_type!r}, not {PAYLOAD_TYPE}")
    if payload != base64.b64decode(doc["dsseEnvelope"]["payload"]):
        raise CheckError("verify_dsse returned another payload than the envelope's")
    entry = doc["verificationMaterial"]["tlogEntries"][0]
    return {"statement": json.loads(payload), "logIndex": entry["logIndex"]}


def negative_checks(
    raw: bytes, verifier: Verifier, public_good: Verifier, identity: str, issuer: str
) -> list[str]:
    failures: list[str] = []

    def expect_rejected(
        label: str,
        mutate: Callable[[dict], None],
        *,
        against: Verifier = verifier,
        who: str = identity,
        by: str = issuer,
    ) -> None:
        doc = copy.deepcopy(json.loads(raw))
        mutate(doc)
        try:
            verify(doc, against, who, by)
        except SigstoreError as e:
            print(f"reject  {label}: rejected as expected ({e})")
            return
        failures.append(f"{label}: accepted")

    def keep(_doc: dict) -> None:
        pass

    def flip_payload(doc: dict) -> None:
        payload = bytearray(base64.b64decode(doc["dsseEnvelope"]["payload"]))
        payload[len(payload) // 2] ^= 0x01
        doc["dsseEnvelope"]["payload"] = base64.b64encode(payload).decode()

    def retype(doc: dict) -> None:
        doc["dsseEnvelope"]["payloadType"] = "application/json"

    def tamper_set(doc: dict) -> None:
        promise = doc["verificationMaterial"]["tlogEntries"][0]["inclusionPromise"]
        set_bytes = bytearray(base64.b64decode(promise["signedEntryTimestamp"]))
        set_bytes[-1] ^= 0x01
        promise["signedEntryTimestamp"] = base64.b64encode(set_bytes).decode()

    other = re.sub(r"[^/]+\.ya?ml@", "other.yml@", identity)
    expect_rejected(f"identity {other}", keep, who=other)
    prefix = identity[: identity.rindex("@")]
    expect_rejected(f"identity {prefix} (a prefix)", keep, who=prefix)
    expect_rejected("issuer https://accounts.google.com", keep, by="https://accounts.google.com")
    expect_rejected("tampered payload (one byte flipped)", flip_payload)
    expect_rejected("payloadType changed", retype)
    expect_rejected("tampered signed entry timestamp", tamper_set)
    expect_rejected("Sigstore's public-good trusted root", keep, against=public_good)
    return failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", required=True, help="git repository")
    parser.add_argument("--branch", default="promptrail/audit", help="audit branch")
    parser.add_argument("--trusted-root", required=True, help="the Sigstore instance's trusted root")
    parser.add_argument("--public-good-root", required=True, help="a root that must reject them")
    parser.add_argument("--identity", required=True, help="the certificate identity (SAN URI)")
    parser.add_argument("--issuer", required=True, help="the OIDC issuer")
    args = parser.parse_args()

    verifier = Verifier(trusted_root=TrustedRoot.from_file(args.trusted_root))
    public_good = Verifier(trusted_root=TrustedRoot.from_file(args.public_good_root))
    commit = resolve_branch(args.repo, args.branch)
    entries = list_entries(args.repo, commit)
    print(
        f"branch {args.branch} at {commit[:12]}: {len(entries)} entries; "
        f"sigstore {metadata.version('sigstore')}; identity {args.identity}"
    )

    def check(raw: bytes) -> str:
        found = check_entry(raw, verifier, args.identity, args.issuer)
        statement = found["statement"]
        names = ", ".join(s.get("name", "?") for s in statement.get("subject", []))
        event = statement.get("predicate", {}).get("event")
        return f"verified by sigstore-python, Rekor index {found['logIndex']} ({event}: {names})"

    return check_entries(
        args.repo,
        args.branch,
        entries,
        check,
        lambda raw: negative_checks(raw, verifier, public_good, args.identity, args.issuer),
        (CheckError, ValueError, KeyError),
    )

if __name__ == "__main__":
    try:
        sys.exit(main())
    except (RuntimeError, OSError, ValueError, SigstoreError) as e:
        print(f"error: {e}", file=sys.stderr)
        print("0 passed, 1 failed")
        sys.exit(2)
