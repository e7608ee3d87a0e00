#!/usr/bin/env bash
# Makes sure this machine can build Rust connectors to WebAssembly.
#
# Two routes work (docs/decisions/0002-wasm-toolchain.md):
#   1. rustup's wasm32-unknown-unknown target (an ordinary developer machine);
#   2. Debian's rustc-web + rust-web-src + lld-16, building std from source
#      (Debian 12 machines whose rustup cannot download targets).
# Idempotent: does nothing when a route is already there.
set -euo pipefail

log() { echo "setup-wasm-toolchain: $*" >&2; }

have_rustup_target() {
    local sysroot
    sysroot=$(rustc --print sysroot 2>/dev/null) || return 1
    [ -d "$sysroot/lib/rustlib/wasm32-unknown-unknown/lib" ]
}

have_debian_route() {
    [ -x /usr/bin/rustc ] && [ -x /usr/bin/cargo ] &&
        compgen -G "/usr/src/rustc-*/library/std" >/dev/null &&
        { command -v wasm-ld-16 >/dev/null || command -v wasm-ld >/dev/null; }
}

if have_rustup_target; then
    log "using rustup's wasm32-unknown-unknown target"
    exit 0
fi
if have_debian_route; then
    log "using Debian's rustc-web toolchain"
    exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null; then sudo="sudo"; fi

# Debian (and derivatives that carry rustc-web): the route that needs no
# downloads outside the package registry.
if command -v apt-get >/dev/null && { [ "$(id -u)" -eq 0 ] || [ -n "$sudo" ]; }; then
    log "installing rustc-web, cargo-web, rust-web-src and lld-16 from Debian's packages"
    $sudo apt-get update -qq
    if apt-cache show rustc-web >/dev/null 2>&1; then
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            rustc-web cargo-web rust-web-src lld-16 >/dev/null
        if have_debian_route; then
            log "Debian's rustc-web toolchain is ready"
            exit 0
        fi
    else
        log "this system's package lists have no rustc-web"
    fi
fi

# Elsewhere: rustup's target. On machines without its download server this
# would hang, hence the timeout.
if command -v rustup >/dev/null; then
    log "adding rustup's wasm32-unknown-unknown target"
    if timeout 300 rustup target add wasm32-unknown-unknown && have_rustup_target; then
        exit 0
    fi
fi

cat >&2 <<'MSG'
setup-wasm-toolchain: no way to build WebAssembly was found or installed.
Install one of:
  - rustup's target:   rustup target add wasm32-unknown-unknown
  - on Debian 12:      apt-get install rustc-web cargo-web rust-web-src lld-16
MSG
exit 1
