#!/usr/bin/env bash
# Installs the promptrail binary for the GitHub Action (action.yml), verified:
#   1. a promptrail of the wanted version already on PATH is used as it is;
#   2. else the release archive for this platform, promptrail-<target>.tar.gz, is downloaded
#      with its .sha256 and accepted only when the digest matches AND
#      `gh attestation verify` finds a build provenance attestation of it made by the
#      release workflow (.github/workflows/release.yml) of the repository: the checksum
#      catches a corrupted download, the attestation a tampered release;
#   3. else (no archive for this platform or version: HTTP 404), or with
#      PROMPTRAIL_BUILD_FROM_SOURCE=always, it is built from the release tag with
#      `cargo install --locked --git`.
# It prints where the binary is and writes `bin=<path>` to $GITHUB_OUTPUT; it changes no PATH.
#
# Environment:
#   PROMPTRAIL_VERSION            the version to install (the release tag is v<version>)
#   PROMPTRAIL_REPOSITORY         owner/name of the repository whose releases to use
#   PROMPTRAIL_BUILD_FROM_SOURCE  if-no-release (default): build from the tag when the release
#                                 has no archive for this platform; always: never download;
#                                 never: fail unless a verified release archive is installed
#   PROMPTRAIL_INSTALL_DIR        where to install (default $RUNNER_TEMP/promptrail)
#   GH_TOKEN                      the token `gh attestation verify` reads attestations with
#   PROMPTRAIL_DOWNLOAD_BASE      tests only: replaces https://github.com/<repo>/releases/download;
#                                 accepted only when it is an http URL on a loopback address
#
# Exit codes: 0 installed; 2 anything else, with a `::error` line that says what to do.
set -euo pipefail

fail() {
    echo "::error title=promptrail::$*"
    exit 2
}

version="${PROMPTRAIL_VERSION:-}"
repo="${PROMPTRAIL_REPOSITORY:-}"
mode="${PROMPTRAIL_BUILD_FROM_SOURCE:-if-no-release}"
if [[ ! "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]]; then
    fail "input 'version' must look like 1.2.3, got '${version}'"
fi
if [[ ! "$repo" =~ ^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$ ]]; then
    fail "unexpected action repository '${repo}' (expected owner/name)"
fi
case "$mode" in
if-no-release | always | never) ;;
*) fail "input 'build-from-source' must be if-no-release, always or never, got '${mode}'" ;;
esac

base="https://github.com/${repo}/releases/download"
protocols="=https"
if [[ -n "${PROMPTRAIL_DOWNLOAD_BASE:-}" ]]; then
    # A test's stand-in release server: never anything that leaves the machine.
    if [[ ! "$PROMPTRAIL_DOWNLOAD_BASE" =~ ^http://(127\.0\.0\.1|localhost|\[::1\])(:[0-9]+)?(/[A-Za-z0-9._/-]*)?$ ]]; then
        fail "PROMPTRAIL_DOWNLOAD_BASE is for tests and must be an http URL on a loopback address, got '${PROMPTRAIL_DOWNLOAD_BASE}'"
    fi
    base="${PROMPTRAIL_DOWNLOAD_BASE%/}"
    protocols="=http"
fi

output() {
    echo "bin=$1" >>"${GITHUB_OUTPUT:-/dev/null}"
}

# 1. Already installed (a previous step of this job, the runner image, a cache).
if existing="$(command -v promptrail)"; then
    have="$(promptrail --version 2>/dev/null || true)"
    if [[ "$have" == "promptrail ${version}" ]]; then
        echo "Using ${existing} (${have})"
        output "$existing"
        exit 0
    fi
    echo "Ignoring ${existing} (${have:-unknown version}): version ${version} is wanted"
fi

# The release's name for this platform (as .github/workflows/release.yml builds it).
exe=""
case "$(uname -s)/$(uname -m)" in
Linux/x86_64) target=x86_64-unknown-linux-gnu ;;
Linux/aarch64 | Linux/arm64) target=aarch64-unknown-linux-gnu ;;
Darwin/x86_64) target=x86_64-apple-darwin ;;
Darwin/arm64 | Darwin/aarch64) target=aarch64-apple-darwin ;;
MINGW*/x86_64 | MSYS*/x86_64 | CYGWIN*/x86_64) target=x86_64-pc-windows-msvc exe=.exe ;;
*) target="" ;;
esac

root="${PROMPTRAIL_INSTALL_DIR:-${RUNNER_TEMP:-${TMPDIR:-/tmp}}/promptrail}/v${version}"
rm -rf "$root"
mkdir -p "$root/bin" "$root/download"

# Prints the HTTP status; fails on network errors (after retries).
download() {
    curl --silent --show-error --location --proto "$protocols" --proto-redir "$protocols" \
        --retry 3 --output "$2" --write-out '%{http_code}' "$1"
}

sha256_of() {
    if command -v sha256sum >/dev/null; then
        sha256sum "$1" | awk '{ print $1 }'
    else
        shasum -a 256 "$1" | awk '{ print $1 }'
    fi
}

installed=""
if [[ "$mode" != always && -z "$target" ]]; then
    echo "No release binary is built for $(uname -s)/$(uname -m)"
elif [[ "$mode" != always ]]; then
    asset="promptrail-${target}.tar.gz"
    archive="$root/download/$asset"
    url="${base}/v${version}/${asset}"
    echo "Downloading ${url}"
    code="$(download "$url" "$archive")" || fail "could not download ${url}"
    if [[ "$code" == 200 ]]; then
        code="$(download "${url}.sha256" "${archive}.sha256")" ||
            fail "could not download ${url}.sha256"
        if [[ "$code" != 200 ]]; then
            fail "${asset}.sha256 could not be downloaded (HTTP ${code}); refusing an unverified binary"
        fi
        # Only the digest is taken from the .sha256 file; the file checked is ours.
        expected="$(awk 'NR == 1 { print tolower($1) }' "${archive}.sha256")"
        if [[ ! "$expected" =~ ^[0-9a-f]{64}$ ]]; then
            fail "${asset}.sha256 holds no SHA-256 digest; refusing an unverified binary"
        fi
        actual="$(sha256_of "$archive")"
        if [[ "$actual" != "$expected" ]]; then
            fail "checksum mismatch for ${asset}: the release says ${expected}, the download is ${actual}; refusing it"
        fi
        echo "SHA-256 ${actual} matches ${asset}.sha256"

        # The attestation: made by this repository's release workflow, for this very file.
        signer="${repo}/.github/workflows/release.yml"
        if ! command -v gh >/dev/null; then
            fail "the GitHub CLI (gh) is needed to verify the release's provenance attestation and is not on PATH; install gh, or set build-from-source: always to build promptrail from the tag instead"
        fi
        if ! gh attestation verify "$archive" --repo "$repo" --signer-workflow "$signer"; then
            fail "${asset} has no valid provenance attestation from ${signer} (gh attestation verify failed); refusing it"
        fi

        mkdir "$root/extracted"
        member="promptrail-${target}/promptrail${exe}"
        # Only the binary is unpacked. tar runs beside the archive and is given relative
        # names: GNU tar reads a name with a colon (a Windows drive, D:\...) as a remote host.
        (cd "$root/download" && tar -xzf "$asset" -C ../extracted "$member") ||
            fail "${asset} holds no ${member}"
        install -m 0755 "$root/extracted/$member" "$root/bin/promptrail${exe}"
        installed="release ${asset}, checksum and attestation verified"
    elif [[ "$code" == 404 ]]; then
        echo "The v${version} release has no ${asset}"
    else
        fail "downloading ${asset} failed (HTTP ${code})"
    fi
fi

# 3. Build from the release tag.
if [[ -z "$installed" ]]; then
    if [[ "$mode" == never ]]; then
        fail "no release binary of v${version} for $(uname -s)/$(uname -m), and build-from-source is never"
    fi
    if ! command -v cargo >/dev/null; then
        fail "no release binary of v${version} for $(uname -s)/$(uname -m), and no cargo to build it (add a Rust toolchain to the job)"
    fi
    echo "Building promptrail v${version} from the tag"
    cargo install --locked --git "https://github.com/${repo}" --tag "v${version}" \
        --root "$root" promptrail
    [[ -x "$root/bin/promptrail" ]] || exe=.exe
    installed="built from the v${version} tag"
fi

bin="$root/bin/promptrail${exe}"
have="$("$bin" --version 2>/dev/null || true)"
if [[ "$have" != "promptrail ${version}" ]]; then
    fail "installed binary reports '${have}', expected 'promptrail ${version}'"
fi
echo "Installed ${have} (${installed}) at ${bin}"
output "$bin"
