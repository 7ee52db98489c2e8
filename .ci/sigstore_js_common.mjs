// What .ci/sigstore_js_check.mjs (key mode) and .ci/sigstore_js_keyless_check.mjs
// share: reading the audit branch's entries with plain git, negative controls,
// and the summary line. .ci/run copies it beside them.

import { execFileSync } from "node:child_process";

import { ValidationError } from "@sigstore/bundle";
import { TrustedRoot } from "@sigstore/protobuf-specs";

const ENTRY_PATH = /^entries\/.+\.json$/;

// A trusted root that trusts nothing: no CA, transparency log, CT log or TSA.
export const EMPTY_TRUSTED_ROOT = TrustedRoot.fromJSON({
  mediaType: "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
  tlogs: [],
  certificateAuthorities: [],
  ctlogs: [],
  timestampAuthorities: [],
});

function git(repo, ...args) {
  return execFileSync("git", ["-C", repo, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    maxBuffer: 256 * 1024 * 1024,
  });
}

function resolveBranch(repo, branch) {
  for (const ref of [`refs/heads/${branch}`, `refs/remotes/origin/${branch}`, branch]) {
    try {
      const out = git(repo, "rev-parse", "--verify", "--quiet", `${ref}^{commit}`).toString().trim();
      if (out) return out;
    } catch {
      // try the next one
    }
  }
  throw new Error(`branch ${branch} not found in ${repo}`);
}

function listEntries(repo, commit) {
  const entries = [];
  for (const record of git(repo, "ls-tree", "-r", "-z", "--full-tree", commit).toString().split("\0")) {
    if (!record) continue;
    const tab = record.indexOf("\t");
    const [, type, oid] = record.slice(0, tab).split(" ");
    const path = record.slice(tab + 1);
    if (type === "blob" && ENTRY_PATH.test(path)) entries.push({ path, oid });
  }
  return entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

// The branch's commit and its entries/**.json blobs, in path order, as
// { path, raw } with raw the blob's text.
export function readEntries(repo, branch) {
  const commit = resolveBranch(repo, branch);
  const entries = listEntries(repo, commit).map(({ path, oid }) => ({
    path,
    raw: git(repo, "cat-file", "blob", oid).toString("utf8"),
  }));
  return { commit, entries };
}

// A negative control: `fn` must throw `expect`, and the error's reason
// (VerificationError's or PolicyError's code, ValidationError's invalid
// fields) must contain `reason`; otherwise a line is added to `failures`.
export function expectRejected(failures, label, expect, reason, fn) {
  try {
    fn();
    failures.push(`${label}: ACCEPTED`);
  } catch (e) {
    const why = e instanceof ValidationError ? `${e.message}: ${e.fields}` : `${e.code}: ${e.message}`;
    if (e instanceof expect && why.includes(reason)) {
      console.log(`reject  ${label}: rejected as expected (${why})`);
    } else {
      failures.push(`${label}: rejected for the wrong reason (want ${expect.name} ${reason}): ${e}`);
    }
  }
}

// Checks each entry with `check(raw)`, which throws or returns what to print
// after its path; then, on the first entry that passed, runs `negatives(raw)`,
// which returns the negative controls' failures. Prints one line each and the
// summary "N passed, M failed"; returns the exit code: 0 only if something
// passed and nothing failed (no entry at all is a failure).
export function checkEntries(branch, entries, check, negatives) {
  let passed = 0;
  let failed = 0;
  let firstRaw = null;
  for (const { path, raw } of entries) {
    let line;
    try {
      line = check(raw);
    } catch (e) {
      failed++;
      const code = e?.code ? `${e.code} ` : "";
      console.log(`FAIL    ${path}: ${e instanceof Error ? `${e.name}: ${code}${e.message}` : e}`);
      continue;
    }
    passed++;
    firstRaw ??= raw;
    console.log(`ok      ${path}: ${line}`);
  }

  if (entries.length === 0) {
    console.log(`FAIL    no entries/**.json on ${branch}`);
    failed++;
  } else if (firstRaw !== null) {
    for (const failure of negatives(firstRaw)) {
      console.log(`FAIL    negative check: ${failure}`);
      failed++;
    }
  }
  console.log(`${passed} passed, ${failed} failed`);
  return failed === 0 && passed > 0 ? 0 : 1;
}

// Runs a check's main(), which returns the exit code; an error (bad arguments,
// a missing branch) exits 2.
export function runMain(main) {
  try {
    process.exitCode = main();
  } catch (e) {
    console.error(`error: ${e instanceof Error ? e.message : e}`);
    console.log("0 passed, 1 failed");
    process.exitCode = 2;
  }
}
