#!/usr/bin/env node
// Independent interoperability check of promptrail's audit log with Sigstore's
// own JavaScript libraries (@sigstore/bundle, @sigstore/verify), pinned in
// .ci/sigstore-js/package-lock.json.
//
// Usage (from a directory where `npm ci` installed .ci/sigstore-js/, beside
// sigstore_js_common.mjs, since ES modules resolve packages next to the script,
// .ci/run copies both there):
//     node sigstore_js_check.mjs --repo DIR --branch promptrail/audit --key PUB.pem
//
// Per entries/**.json blob on the audit branch (read with plain git):
//   * @sigstore/bundle bundleFromJSON parses it and asserts the bundle shape
//     (assertBundleLatest for v0.3: mediaType, one DSSE signature, public-key
//     verification material, tlogEntries present), and the mediaType is exactly
//     BUNDLE_V03_MEDIA_TYPE;
//   * @sigstore/verify verifies it: toSignedEntity(bundle), trust material from
//     toTrustMaterial(<empty TrustedRoot>, { <keyid>: <PublicKey from the PEM> }),
//     and new Verifier(trust, { tlogThreshold: 0, ctlogThreshold: 0,
//     timestampThreshold: 0 }).verify(entity): key mode, so no transparency log,
//     SCT or timestamp is required, but the hint must name the trusted key and
//     the DSSE signature (PAE, ECDSA P-256 / SHA-256) must verify.
//
// Negative controls on the first entry, so that the check cannot pass vacuously:
// a flipped payload byte, a foreign P-256 key under the trusted keyid, a hint
// naming no trusted key, a bundle with no signature, and the verifier's default
// options (which require a tlog entry and a timestamp) must all be rejected.
//
// Prints one line per entry and ends with "N passed, 0 failed"; exits non-zero
// on any failure, or when the branch holds no entry.

import { createHash, createPublicKey, generateKeyPairSync } from "node:crypto";
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";

import { BUNDLE_V03_MEDIA_TYPE, ValidationError, bundleFromJSON } from "@sigstore/bundle";
import { PublicKey } from "@sigstore/protobuf-specs";
import { VerificationError, Verifier, toSignedEntity, toTrustMaterial } from "@sigstore/verify";

import { EMPTY_TRUSTED_ROOT, checkEntries, expectRejected, readEntries, runMain } from "./sigstore_js_common.mjs";

const KEY_MODE = { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 };

// The trusted key: its SPKI DER, and its id (hex SHA-256 of that DER).
function loadKey(pemPath) {
  const key = createPublicKey(readFileSync(pemPath));
  if (key.asymmetricKeyType !== "ec" || key.asymmetricKeyDetails?.namedCurve !== "prime256v1") {
    throw new Error(`${pemPath}: not an ECDSA P-256 public key`);
  }
  const der = key.export({ type: "spki", format: "der" });
  return { der, keyid: createHash("sha256").update(der).digest("hex") };
}

// Trust material for key mode: an empty trusted root (no CA, tlog, ctlog or
// TSA), and the one public key, looked up by the bundle's publicKey.hint.
function trustMaterialFor(keyid, der) {
  const publicKey = PublicKey.fromJSON({
    rawBytes: der.toString("base64"),
    keyDetails: "PKIX_ECDSA_P256_SHA_256",
  });
  return toTrustMaterial(EMPTY_TRUSTED_ROOT, { [keyid]: publicKey });
}

function verifyJSON(json, trust, options = KEY_MODE) {
  const bundle = bundleFromJSON(json);
  if (bundle.mediaType !== BUNDLE_V03_MEDIA_TYPE) {
    throw new Error(`mediaType is ${bundle.mediaType}, not ${BUNDLE_V03_MEDIA_TYPE}`);
  }
  if (bundle.content.$case !== "dsseEnvelope") throw new Error(`content is ${bundle.content.$case}`);
  if (bundle.verificationMaterial.content.$case !== "publicKey") {
    throw new Error(`verification material is ${bundle.verificationMaterial.content.$case}`);
  }
  const signer = new Verifier(trust, options).verify(toSignedEntity(bundle));
  return { bundle, signer };
}

function checkEntry(raw, trust, keyid, trustedKey) {
  const json = JSON.parse(raw);
  const { bundle, signer } = verifyJSON(json, trust);
  const hint = bundle.verificationMaterial.content.publicKey.hint;
  if (hint !== keyid) throw new Error(`publicKey.hint ${hint} is not the trusted key id ${keyid}`);
  const sigKeyid = bundle.content.dsseEnvelope.signatures[0].keyid;
  if (sigKeyid !== keyid) throw new Error(`signature keyid ${sigKeyid} is not the trusted key id ${keyid}`);
  if (!signer.key.equals(trustedKey)) {
    throw new Error("the verifier returned a signer key other than the trusted one");
  }
  const statement = JSON.parse(bundle.content.dsseEnvelope.payload.toString("utf8"));
  return statement;
}

// Each case must throw `expect`, with `reason` in its code or invalid fields.
function negativeChecks(raw, trust, keyid) {
  const failures = [];
  const rejected = (...args) => expectRejected(failures, ...args);

  // 1. One payload byte flipped; the signature stays as it was.
  const tampered = JSON.parse(raw);
  const payload = Buffer.from(tampered.dsseEnvelope.payload, "base64");
  const pos = Math.floor(payload.length / 2);
  payload[pos] ^= 0x01;
  tampered.dsseEnvelope.payload = payload.toString("base64");
  rejected(`tampered payload (byte ${pos} flipped)`, VerificationError, "SIGNATURE_ERROR", () =>
    verifyJSON(tampered, trust),
  );

  // 2. A different P-256 key trusted under the same keyid.
  const foreign = generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey.export({ type: "spki", format: "der" });
  rejected("foreign key with the same keyid", VerificationError, "SIGNATURE_ERROR", () =>
    verifyJSON(JSON.parse(raw), trustMaterialFor(keyid, foreign)),
  );

  // 3. A hint that names no trusted key.
  const unknown = JSON.parse(raw);
  unknown.verificationMaterial.publicKey.hint = "0".repeat(64);
  rejected("publicKey.hint naming no trusted key", VerificationError, "PUBLIC_KEY_ERROR", () =>
    verifyJSON(unknown, trust),
  );

  // 4. No signature at all: @sigstore/bundle's shape check.
  const unsigned = JSON.parse(raw);
  unsigned.dsseEnvelope.signatures = [];
  rejected("envelope without a signature", ValidationError, "content.dsseEnvelope.signatures", () =>
    verifyJSON(unsigned, trust),
  );

  // 5. The verifier's defaults want a timestamp and a tlog entry: the key-mode
  //    options above are what accept these bundles, not a verifier that checks nothing.
  rejected("default Verifier options (timestamp and tlog entry required)", VerificationError, "_ERROR", () =>
    verifyJSON(JSON.parse(raw), trust, {}),
  );
  return failures;
}

function main() {
  const { values } = parseArgs({
    options: {
      repo: { type: "string" },
      branch: { type: "string", default: "promptrail/audit" },
      key: { type: "string" },
    },
  });
  if (!values.repo || !values.key) throw new Error("usage: --repo DIR [--branch NAME] --key PUB.pem");

  const { der, keyid } = loadKey(values.key);
  const trust = trustMaterialFor(keyid, der);
  const trustedKey = createPublicKey({ key: der, format: "der", type: "spki" });
  const { commit, entries } = readEntries(values.repo, values.branch);
  console.log(`branch ${values.branch} at ${commit.slice(0, 12)}: ${entries.length} entries; key ${keyid}`);

  return checkEntries(
    values.branch,
    entries,
    (raw) => {
      const statement = checkEntry(raw, trust, keyid, trustedKey);
      const names = (statement.subject ?? []).map((s) => s.name).join(", ");
      return `verified by @sigstore/verify (${statement.predicate?.event}: ${names})`;
    },
    (raw) => negativeChecks(raw, trust, keyid),
  );
}

runMain(main);
