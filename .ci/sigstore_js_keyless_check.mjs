#!/usr/bin/env node
// Independent interoperability check of promptrail's keyless audit log with
// Sigstore's own JavaScript libraries (@sigstore/bundle, @sigstore/verify),
// pinned in .ci/sigstore-js/package-lock.json.
//
// Usage (from a directory where `npm ci` installed .ci/sigstore-js/, beside
// sigstore_js_common.mjs, since ES modules resolve packages next to the script):
//     node sigstore_js_keyless_check.mjs --repo DIR --branch promptrail/audit \
//         --trusted-root trusted_root.json --public-good-root public-good.json \
//         --identity URI --issuer URL
// .ci/run makes DIR and both roots with `cargo run --example quickstart --
// --keyless --keep`: the roots are the Sigstore stand-ins' and Sigstore's
// public-good one (which promptrail trusts by default).
//
// Per entries/**.json blob on the branch (read with plain git):
//   * @sigstore/bundle bundleFromJSON parses it and asserts the bundle shape,
//     and the mediaType is exactly BUNDLE_V03_MEDIA_TYPE, the content a DSSE
//     envelope, the verification material a certificate, with exactly one tlog
//     entry of kind dsse 0.0.1;
//   * @sigstore/verify verifies it with Sigstore's default thresholds, spelled
//     out: new Verifier(toTrustMaterial(TrustedRoot.fromJSON(<trusted root>)),
//     { tlogThreshold: 1, ctlogThreshold: 1, timestampThreshold: 1 }). That is:
//     the signed entry timestamp (inclusion promise) gives the signing time; the
//     certificate chains to the root's CA at that time; its embedded SCT
//     verifies against the root's CT log; the tlog entry's checkpoint signature
//     and Merkle inclusion proof verify against the root's Rekor key, and its
//     body names the envelope's signature and payload hash; the DSSE signature
//     (PAE) verifies with the certificate's key. Then the policy: the
//     certificate's URI SAN must match `^<identity>$` (@sigstore/verify treats
//     subjectAlternativeName as a regular expression, so it is escaped and
//     anchored) and its Fulcio issuer extension must equal --issuer.
//
// Negative controls on the first entry, so that the check cannot pass
// vacuously, each must be rejected with the expected error code: another
// identity, the identity's prefix (an unanchored match would take it), another
// issuer, a flipped payload byte, another payloadType, a tampered signed entry
// timestamp, the public-good trusted root, an empty trusted root, and the
// stand-ins' root with the public-good CT logs or Rekor keys in place of its own.
//
// Prints one line per entry and ends with "N passed, 0 failed"; exits non-zero
// on any failure, or when the branch holds no entry.

import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";

import { BUNDLE_V03_MEDIA_TYPE, bundleFromJSON } from "@sigstore/bundle";
import { TrustedRoot } from "@sigstore/protobuf-specs";
import { PolicyError, VerificationError, Verifier, toSignedEntity, toTrustMaterial } from "@sigstore/verify";

import { EMPTY_TRUSTED_ROOT, checkEntries, expectRejected, readEntries, runMain } from "./sigstore_js_common.mjs";

// Sigstore's defaults (what `new Verifier(trust)` uses), written out so that a
// change of defaults in a later @sigstore/verify cannot weaken this check.
const DEFAULTS = { tlogThreshold: 1, ctlogThreshold: 1, timestampThreshold: 1 };

function trustFromFile(file) {
  return toTrustMaterial(TrustedRoot.fromJSON(JSON.parse(readFileSync(file, "utf8"))));
}

const EMPTY_ROOT = toTrustMaterial(EMPTY_TRUSTED_ROOT);

// An exact match for @sigstore/verify's regular-expression SAN policy.
function exactly(text) {
  return `^${text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`;
}

function policyFor(identity, issuer) {
  return { subjectAlternativeName: exactly(identity), extensions: { issuer } };
}

function verifyJSON(json, trust, policy) {
  const bundle = bundleFromJSON(json);
  if (bundle.mediaType !== BUNDLE_V03_MEDIA_TYPE) {
    throw new Error(`mediaType is ${bundle.mediaType}, not ${BUNDLE_V03_MEDIA_TYPE}`);
  }
  if (bundle.content.$case !== "dsseEnvelope") throw new Error(`content is ${bundle.content.$case}`);
  const material = bundle.verificationMaterial;
  if (material.content.$case !== "certificate") {
    throw new Error(`verification material is ${material.content.$case}, not certificate`);
  }
  const tlog = material.tlogEntries;
  if (tlog.length !== 1) throw new Error(`${tlog.length} tlog entries, not 1`);
  const { kind, version } = tlog[0].kindVersion ?? {};
  if (kind !== "dsse" || version !== "0.0.1") throw new Error(`tlog entry is ${kind} ${version}, not dsse 0.0.1`);
  const signer = new Verifier(trust, DEFAULTS).verify(toSignedEntity(bundle), policy);
  return { bundle, signer };
}

function checkEntry(raw, trust, policy, identity, issuer) {
  const { bundle, signer } = verifyJSON(JSON.parse(raw), trust, policy);
  // The policy matched; say exactly what was found, not just that a pattern matched.
  const found = signer.identity?.subjectAlternativeName;
  if (found !== identity) throw new Error(`signer identity ${found}, not ${identity}`);
  if (signer.identity?.extensions?.issuer !== issuer) throw new Error(`issuer ${signer.identity?.extensions?.issuer}`);
  const entry = bundle.verificationMaterial.tlogEntries[0];
  const statement = JSON.parse(bundle.content.dsseEnvelope.payload.toString("utf8"));
  return { statement, logIndex: entry.logIndex, integratedTime: Number(entry.integratedTime) };
}

function negativeChecks(raw, trust, roots, identity, issuer) {
  const failures = [];
  const rejected = (label, expect, reason, json, trustMaterial, policy) =>
    expectRejected(failures, label, expect, reason, () => verifyJSON(json, trustMaterial, policy));
  const good = policyFor(identity, issuer);
  const fresh = () => JSON.parse(raw);

  // 1-3. The policy: another workflow, the identity's prefix, another issuer.
  const other = identity.replace(/[^/]+\.ya?ml@/, "other.yml@");
  rejected(`identity ${other}`, PolicyError, "UNTRUSTED_SIGNER_ERROR", fresh(), trust, policyFor(other, issuer));
  const prefix = identity.slice(0, identity.lastIndexOf("@"));
  rejected(`identity ${prefix} (a prefix)`, PolicyError, "UNTRUSTED_SIGNER_ERROR", fresh(), trust, policyFor(prefix, issuer));
  rejected(
    "issuer https://accounts.google.com",
    PolicyError,
    "UNTRUSTED_SIGNER_ERROR",
    fresh(),
    trust,
    policyFor(identity, "https://accounts.google.com"),
  );

  // 4. One payload byte flipped; signature and tlog entry stay as they were. The
  //    tlog body's payload hash is compared before the signature is checked.
  const tampered = fresh();
  const payload = Buffer.from(tampered.dsseEnvelope.payload, "base64");
  const pos = Math.floor(payload.length / 2);
  payload[pos] ^= 0x01;
  tampered.dsseEnvelope.payload = payload.toString("base64");
  rejected(`tampered payload (byte ${pos} flipped)`, VerificationError, "TLOG_BODY_ERROR", tampered, trust, good);

  // 5. Another payloadType: the tlog body names only the signature and the
  //    payload's hash, so this reaches the DSSE signature check (PAE covers it).
  const retyped = fresh();
  retyped.dsseEnvelope.payloadType = "application/json";
  rejected("payloadType changed", VerificationError, "SIGNATURE_ERROR", retyped, trust, good);

  // 6. The signed entry timestamp with one byte of its signature flipped.
  const badSet = fresh();
  const promise = badSet.verificationMaterial.tlogEntries[0].inclusionPromise;
  const set = Buffer.from(promise.signedEntryTimestamp, "base64");
  set[set.length - 1] ^= 0x01;
  promise.signedEntryTimestamp = set.toString("base64");
  rejected("tampered signed entry timestamp", VerificationError, "TLOG_INCLUSION_PROMISE_ERROR", badSet, trust, good);

  // 7-10. Other trust: Sigstore's public-good root (its CA, Rekor and CT logs
  //      know nothing of the stand-ins), and an empty root.
  //      Then each part of the stand-ins' root swapped for the public-good one's
  //      alone, so that each is shown to be checked: the CT logs (the SCT), and
  //      Rekor (the signed entry timestamp, checked before the checkpoint).
  rejected("Sigstore's public-good trusted root", VerificationError, "CERTIFICATE_ERROR", fresh(), roots.publicGood, good);
  rejected("empty trusted root", VerificationError, "CERTIFICATE_ERROR", fresh(), EMPTY_ROOT, good);
  const ctlogs = { ...trust, ctlogs: roots.publicGood.ctlogs };
  rejected("public-good CT logs", VerificationError, "CERTIFICATE_ERROR", fresh(), ctlogs, good);
  const tlogs = { ...trust, tlogs: roots.publicGood.tlogs };
  rejected("public-good Rekor keys", VerificationError, "TLOG_INCLUSION_PROMISE_ERROR", fresh(), tlogs, good);
  return failures;
}

function main() {
  const { values } = parseArgs({
    options: {
      repo: { type: "string" },
      branch: { type: "string", default: "promptrail/audit" },
      "trusted-root": { type: "string" },
      "public-good-root": { type: "string" },
      identity: { type: "string" },
      issuer: { type: "string" },
    },
  });
  const required = ["repo", "trusted-root", "public-good-root", "identity", "issuer"];
  if (required.some((k) => !values[k])) {
    throw new Error(
      "usage: --repo DIR [--branch NAME] --trusted-root FILE --public-good-root FILE --identity URI --issuer URL",
    );
  }
  const { identity, issuer } = values;
  const trust = trustFromFile(values["trusted-root"]);
  const roots = { publicGood: trustFromFile(values["public-good-root"]) };
  const policy = policyFor(identity, issuer);
  const { commit, entries } = readEntries(values.repo, values.branch);
  console.log(`branch ${values.branch} at ${commit.slice(0, 12)}: ${entries.length} entries; identity ${identity}`);

  return checkEntries(
    values.branch,
    entries,
    (raw) => {
      const { statement, logIndex, integratedTime } = checkEntry(raw, trust, policy, identity, issuer);
      const names = (statement.subject ?? []).map((s) => s.name).join(", ");
      const when = new Date(integratedTime * 1000).toISOString();
      return `verified by @sigstore/verify, Rekor index ${logIndex} at ${when} (${statement.predicate?.event}: ${names})`;
    },
    (raw) => negativeChecks(raw, trust, roots, identity, issuer),
  );
}

runMain(main);
