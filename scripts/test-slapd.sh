#!/usr/bin/env bash
# A throwaway OpenLDAP server for the tests, in target/slapd, on 127.0.0.1:
# plain LDAP (with StartTLS) and LDAPS, a private CA, a small AD-like
# schema, and a few users and groups (tests/ldap/base.ldif).
#
#   scripts/test-slapd.sh start   # install if missing, start if stopped; prints the env
#   scripts/test-slapd.sh env     # prints the env of the running server
#   scripts/test-slapd.sh stop
#
# The env lines (CUBE_TEST_LDAP_URL=..., ...) are what host/tests/ldap.rs
# reads. Idempotent and safe to call from parallel test processes (flock).
set -euo pipefail
cd "$(dirname "$0")/.."

root="$PWD"
dir="$root/target/slapd"
mkdir -p "$dir"
exec 9>"$dir/.lock"
flock 9

log() { echo "test-slapd: $*" >&2; }

suffix="dc=example,dc=com"
admin_dn="cn=admin,$suffix"
admin_pw="admin-secret"
sync_dn="cn=sync,ou=Service,$suffix"
sync_pw="sync-secret"

install_slapd() {
    if ! command -v apt-get >/dev/null || [ "$(id -u)" -ne 0 ]; then
        log "OpenLDAP is not installed; install it (Debian: apt-get install slapd ldap-utils openssl)"
        exit 1
    fi
    log "installing slapd from Debian's packages"
    echo "slapd slapd/no_configuration boolean true" | debconf-set-selections
    # Keep the package from starting a system instance on all interfaces.
    local guard=/usr/sbin/policy-rc.d created=""
    if [ ! -e "$guard" ]; then
        printf '#!/bin/sh\nexit 101\n' > "$guard" && chmod +x "$guard" && created=1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        slapd ldap-utils openssl >/dev/null
    [ -n "$created" ] && rm -f "$guard"
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

print_env() {
    cat <<EOF
CUBE_TEST_LDAP_URL=ldap://127.0.0.1:$(cat "$dir/port")
CUBE_TEST_LDAPS_URL=ldaps://127.0.0.1:$(cat "$dir/tls_port")
CUBE_TEST_LDAP_CA=$dir/ca.pem
CUBE_TEST_LDAP_BASE=$suffix
CUBE_TEST_LDAP_BIND_DN=$sync_dn
CUBE_TEST_LDAP_BIND_PASSWORD=$sync_pw
CUBE_TEST_LDAP_ADMIN_DN=$admin_dn
CUBE_TEST_LDAP_ADMIN_PASSWORD=$admin_pw
EOF
}

running() {
    [ -f "$dir/slapd.pid" ] && kill -0 "$(cat "$dir/slapd.pid")" 2>/dev/null
}

# A CA and a leaf signed by it: rustls refuses a self-signed leaf that is
# its own CA, so the chain has two levels.
make_certificates() {
    [ -f "$dir/server.pem" ] && return 0
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=CUBE test CA" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
        -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
    printf 'basicConstraints=CA:FALSE\nsubjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' \
        > "$dir/server.ext"
    openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
        -CAcreateserial -days 3650 -extfile "$dir/server.ext" -out "$dir/server.pem" 2>/dev/null
    chmod 644 "$dir"/*.pem "$dir"/*.key
}

# The cn=config database, loaded offline.
make_config() {
    local hash
    hash=$(slappasswd -s "$admin_pw")
    mkdir -p "$dir/slapd.d" "$dir/db"
    sed -e "s|@DIR@|$dir|g" -e "s|@SUFFIX@|$suffix|g" -e "s|@ADMIN_DN@|$admin_dn|g" \
        -e "s|@ADMIN_HASH@|$hash|g" -e "s|@SYNC_DN@|$sync_dn|g" \
        "$root/tests/ldap/config.ldif" > "$dir/config.ldif"
    slapadd -n0 -F "$dir/slapd.d" -l "$dir/config.ldif" >/dev/null
}

ldap_admin() {
    "$@" -x -H "ldap://127.0.0.1:$(cat "$dir/port")" -D "$admin_dn" -w "$admin_pw"
}

case "${1:-start}" in
start)
    if running; then print_env; exit 0; fi
    command -v slapd >/dev/null || [ -x /usr/sbin/slapd ] || install_slapd
    export PATH="$PATH:/usr/sbin"
    fresh=""
    if [ ! -d "$dir/slapd.d" ]; then
        make_certificates
        make_config
        fresh=1
    fi
    free_port > "$dir/port"
    free_port > "$dir/tls_port"
    slapd -F "$dir/slapd.d" -h "ldap://127.0.0.1:$(cat "$dir/port")/ ldaps://127.0.0.1:$(cat "$dir/tls_port")/" 9>&-
    for _ in $(seq 1 100); do
        if ldapsearch -x -H "ldap://127.0.0.1:$(cat "$dir/port")" -s base -b "" namingContexts >/dev/null 2>&1; then
            break
        fi
        sleep 0.1
    done
    running || { log "slapd did not start; see its log with: slapd -d 1 -F $dir/slapd.d"; exit 1; }
    if [ -n "$fresh" ]; then
        # Online, so the memberof overlay records memberships.
        sed -e "s|@SYNC_PW@|$sync_pw|g" "$root/tests/ldap/base.ldif" | ldap_admin ldapadd -c >/dev/null
    fi
    log "slapd listening on 127.0.0.1:$(cat "$dir/port") and :$(cat "$dir/tls_port") (LDAPS)"
    print_env
    ;;
env)
    running || { log "not running; use start"; exit 1; }
    print_env
    ;;
stop)
    if running; then
        kill "$(cat "$dir/slapd.pid")"
        for _ in $(seq 1 50); do running || break; sleep 0.1; done
        log "stopped"
    fi
    ;;
*)
    echo "usage: $0 start|env|stop" >&2
    exit 2
    ;;
esac
