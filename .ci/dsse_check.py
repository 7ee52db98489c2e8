#!/usr/bin/env python3
"""Independent interoperability check of promptrail's audit log.

Reads every entries/**.json blob (a Sigstore bundle v0.3 carrying a DSSE
envelope) from the audit branch with plain git, and verifies each DSSE
signature with the generic DSSE implementation in securesystemslib -- code
that shares nothing with promptrail's own Rust verifier.

Usage:
    python3 .ci/dsse_check.py --repo DIR --branch promptrail/audit --key PUB.pem

Per entry it checks:
  * the bundle's mediaType is a Sigstore bundle v0.3;
  * the envelope holds exactly one signature, whose keyid equals
    verificationMaterial.publicKey.hint and the key's id (hex SHA-256 of the
    public key's SubjectPublicKeyInfo DER);
  * securesystemslib.dsse.Envelope.verify accepts the signature (DSSE PAE,
    ECDSA P-256 / SHA-256) with an SSlibKey built from the PEM;
  * the payload is an in-toto Statement v1 JSON document with predicateType
    https://promptrail.dev/audit-event/v1 and a sha256 digest on every subject.

Negative controls, so the check cannot pass vacuously: the first entry with one
payload byte flipped, and the first entry checked against a freshly generated
P-256 key that claims the same keyid, must both be rejected by securesystemslib.

Prints one line per entry and ends with "N passed, 0 failed"; exits non-zero on
any failure, or when the branch holds no entry.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import copy
import hashlib
import json
import re
import sys

sys.path.insert(0, __import__("os").path.dirname(__file__))
from audit_branch import git, list_entries, resolve_branch  # noqa: E402

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_public_key,
)
from securesystemslib import exceptions as sslib_exceptions
from securesystemslib.dsse import Envelope
from securesystemslib.signer import SSlibKey

BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://promptrail.dev/audit-event/v1"
SCHEME = "ecdsa-sha2-nistp256"
HEX64 = re.compile(r"^[0-9a-f]{64}$")


class CheckError(Exception):
    """An entry failed a check."""


def load_key(pem_path: str) -> tuple[SSlibKey, str]:
    with open(pem_path, "rb") as f:
        pem = f.read()
    public_key = load_pem_public_key(pem)
    if not isinstance(public_key, ec.EllipticCurvePublicKey) or not isinstance(
        public_key.curve, ec.SECP256R1
    ):
        raise RuntimeError(f"{pem_path}: not an ECDSA P-256 public key")
    spki_der = public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    keyid = hashlib.sha256(spki_der).hexdigest()
    key = SSlibKey.from_crypto(public_key, keyid=keyid, scheme=SCHEME)
    return key, keyid


def b64decode_strict(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError, TypeError) as e:
        raise CheckError(f"{what} is not standard base64: {e}") from e


def envelope_dict(bundle: dict) -> dict:
    """The DSSE envelope in the shape Envelope.from_dict takes, deep-copied:
    from_dict rewrites each signature's "sig" in place (base64 -> hex)."""
    env = bundle.get("dsseEnvelope")
    if not isinstance(env, dict):
        raise CheckError("bundle has no dsseEnvelope object")
    return copy.deepcopy(
        {
            "payload": env["payload"],
            "payloadType": env["payloadType"],
            "signatures": env["signatures"],
        }
    )


def sslib_verify(env: dict, key: SSlibKey) -> None:
    """Raise securesystemslib's VerificationError unless the signature verifies."""
    envelope = Envelope.from_dict(copy.deepcopy(env))
    accepted = envelope.verify([key], 1)
    if set(accepted) != {key.keyid}:
        raise CheckError(f"securesystemslib accepted unexpected keys {sorted(accepted)}")


def check_entry(raw: bytes, key: SSlibKey, keyid: str) -> dict:
    try:
        bundle = json.loads(raw)
    except ValueError as e:
        raise CheckError(f"not JSON: {e}") from e
    if not isinstance(bundle, dict):
        raise CheckError("bundle is not a JSON object")
    if bundle.get("mediaType") != BUNDLE_MEDIA_TYPE:
        raise CheckError(f"mediaType is {bundle.get('mediaType')!r}")

    try:
        hint = bundle["verificationMaterial"]["publicKey"]["hint"]
    except (KeyError, TypeError) as e:
        raise CheckError("no verificationMaterial.publicKey.hint") from e

    try:
        env = envelope_dict(bundle)
    except KeyError as e:
        raise CheckError(f"dsseEnvelope lacks {e}") from e
    if env["payloadType"] != PAYLOAD_TYPE:
        raise CheckError(f"payloadType is {env['payloadType']!r}")

    sigs = env["signatures"]
    if not isinstance(sigs, list) or len(sigs) != 1:
        n = len(sigs) if isinstance(sigs, list) else "non-list"
        raise CheckError(f"expected exactly one signature, found {n}")
    sig = sigs[0]
    if not isinstance(sig, dict) or "keyid" not in sig or "sig" not in sig:
        raise CheckError("signature lacks keyid/sig")
    if sig["keyid"] != hint:
        raise CheckError(f"signature keyid {sig['keyid']} != publicKey.hint {hint}")
    if sig["keyid"] != keyid:
        raise CheckError(f"signature keyid {sig['keyid']} != trusted key id {keyid}")
    b64decode_strict(sig["sig"], "signature")
    payload = b64decode_strict(env["payload"], "payload")

    try:
        sslib_verify(env, key)
    except sslib_exceptions.VerificationError as e:
        raise CheckError(f"securesystemslib rejected the DSSE signature: {e}") from e

    try:
        statement = json.loads(payload)
    except ValueError as e:
        raise CheckError(f"payload is not JSON: {e}") from e
    if not isinstance(statement, dict):
        raise CheckError("payload is not a JSON object")
    if statement.get("_type") != STATEMENT_TYPE:
        raise CheckError(f"_type is {statement.get('_type')!r}")
    if statement.get("predicateType") != PREDICATE_TYPE:
        raise CheckError(f"predicateType is {statement.get('predicateType')!r}")
    subjects = statement.get("subject")
    if not isinstance(subjects, list) or not subjects:
        raise CheckError("statement has no subject")
    for i, subject in enumerate(subjects):
        digest = subject.get("digest") if isinstance(subject, dict) else None
        sha = digest.get("sha256") if isinstance(digest, dict) else None
        if not isinstance(sha, str) or not HEX64.match(sha):
            raise CheckError(f"subject[{i}] has no sha256 digest (got {sha!r})")
    return statement


def negative_checks(raw: bytes, key: SSlibKey) -> list[str]:
    """Tampered inputs that securesystemslib must reject. Returns failures."""
    failures = []
    env = envelope_dict(json.loads(raw))

    # 1. One payload byte flipped; the signature stays as it was.
    payload = bytearray(base64.b64decode(env["payload"]))
    pos = len(payload) // 2
    payload[pos] ^= 0x01
    tampered = copy.deepcopy(env)
    tampered["payload"] = base64.b64encode(bytes(payload)).decode()
    try:
        sslib_verify(tampered, key)
        failures.append("securesystemslib ACCEPTED a payload with a flipped byte")
    except sslib_exceptions.VerificationError:
        print(f"reject  tampered payload (byte {pos} flipped): rejected as expected")

    # 2. A different P-256 key that claims the trusted keyid.
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    impostor = SSlibKey.from_crypto(other, keyid=key.keyid, scheme=SCHEME)
    try:
        sslib_verify(env, impostor)
        failures.append("securesystemslib ACCEPTED the signature under a foreign key")
    except sslib_exceptions.VerificationError:
        print("reject  foreign key with the same keyid: rejected as expected")

    return failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", required=True, help="git repository")
    parser.add_argument("--branch", default="promptrail/audit", help="audit branch")
    parser.add_argument("--key", required=True, help="trusted public key (PEM)")
    args = parser.parse_args()

    key, keyid = load_key(args.key)
    commit = resolve_branch(args.repo, args.branch)
    entries = list_entries(args.repo, commit)
    print(f"branch {args.branch} at {commit[:12]}: {len(entries)} entries; key {keyid}")

    passed = failed = 0
    first_raw = None
    for path, oid in entries:
        raw = git(args.repo, "cat-file", "blob", oid)
        try:
            statement = check_entry(raw, key, keyid)
        except CheckError as e:
            failed += 1
            print(f"FAIL    {path}: {e}")
            continue
        passed += 1
        if first_raw is None:
            first_raw = raw
        names = ", ".join(s.get("name", "?") for s in statement["subject"])
        event = (statement.get("predicate") or {}).get("event", "?")
        print(f"ok      {path}: DSSE signature verified by securesystemslib ({event}: {names})")

    if not entries:
        print(f"FAIL    no entries/**.json on {args.branch}")
        failed += 1
    elif first_raw is not None:
        for failure in negative_checks(first_raw, key):
            print(f"FAIL    negative check: {failure}")
            failed += 1

    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (RuntimeError, OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        print("0 passed, 1 failed")
        sys.exit(2)
