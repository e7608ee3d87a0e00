#!/usr/bin/env bash
# A throwaway OpenLDAP server for the tests, in target/slapd, on 127.0.0.1:
# plain LDAP (with StartTLS) and LDAPS with a private CA, an AD-like schema
# (tests/ldap/ad-schema.ldif) and a few users and groups (tests/ldap/base.ldif).
#
#   scripts/test-slapd.sh start    # install if missing, start if stopped; prints the env
#   scripts/test-slapd.sh env      # prints the env of the running server
#   scripts/test-slapd.sh stop
#   scripts/test-slapd.sh reset    # back to the base data only (same ports)
#   scripts/test-slapd.sh bulk N [OU]  # exactly N generated users under ou=OU (default Bulk;
#                                      # every 10th disabled); the benchmark uses its own OU
#
# The env lines (CUBE_TEST_LDAP_URL=..., ...) are what host/tests/sandbox/ldap.rs
# reads. Idempotent and safe to call from parallel test processes (flock);
# reset and bulk change what every test sees, so call them with care. The
# directory is rebuilt when this script or tests/ldap/*.ldif change.
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/lib/test-service.sh
root="$PWD"
dir="$root/target/slapd"
lock_service_dir "$dir"

log() { echo "test-slapd: $*" >&2; }

# Also in tests/ldap/*.ldif.
suffix="dc=example,dc=com"
admin_dn="cn=admin,$suffix"
admin_pw="admin-secret"
sync_dn="cn=sync,ou=Service,$suffix"
sync_pw="sync-secret"
export PATH="$PATH:/usr/sbin"

install_slapd() {
    # No system instance: no debconf-made database either.
    if [ "$(id -u)" -eq 0 ] && command -v debconf-set-selections >/dev/null; then
        echo "slapd slapd/no_configuration boolean true" | debconf-set-selections
    fi
    install_debian_packages "$dir/apt.log" slapd ldap-utils openssl
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

# The pid file is slapd's own (it removes it when it stops).
running() { pid_file_alive "$dir/slapd.pid" slapd; }

stop_slapd() { stop_pid_file "$dir/slapd.pid" slapd; }

make_certificates() {
    make_test_certificates "$dir" "CUBE test CA" localhost "DNS:localhost,IP:127.0.0.1"
}

# What the directory is built from: a change rebuilds it.
fingerprint() {
    cat scripts/test-slapd.sh scripts/lib/test-service.sh tests/ldap/*.ldif | sha256sum | cut -d' ' -f1
}

# cn=config, loaded offline; an empty database.
build() {
    rm -rf "$dir/slapd.d" "$dir/db" "$dir/fingerprint"
    mkdir -p "$dir/slapd.d" "$dir/db"
    make_certificates
    sed -e "s|@DIR@|$dir|g" -e "s|@ROOT@|$root|g" -e "s|@ADMIN_HASH@|$(slappasswd -s "$admin_pw")|g" \
        tests/ldap/config.ldif > "$dir/config.ldif"
    slapadd -n0 -F "$dir/slapd.d" -l "$dir/config.ldif" >/dev/null
    fingerprint > "$dir/fingerprint"
}

ldap() {
    local tool=$1; shift
    "$tool" -x -H "ldap://127.0.0.1:$(cat "$dir/port")" -D "$admin_dn" -w "$admin_pw" "$@"
}

# Starts slapd on the ports in $dir/port and $dir/tls_port and waits until
# it answers. In the foreground (-d) so that its log goes to slapd.log;
# setsid, no stdio and no lock (9>&-) so that it outlives this script and
# the test that called it.
launch() {
    local port tls_port
    port=$(cat "$dir/port") tls_port=$(cat "$dir/tls_port")
    rm -f "$dir/slapd.pid"
    setsid slapd -d stats -F "$dir/slapd.d" -h "ldap://127.0.0.1:$port/ ldaps://127.0.0.1:$tls_port/" \
        </dev/null >"$dir/slapd.log" 2>&1 9>&- &
    wait_until_ready slapd $! "$dir/slapd.log" 100 answers
    log "slapd listening on 127.0.0.1:$port and :$tls_port (LDAPS)"
}

answers() {
    ldapsearch -x -H "ldap://127.0.0.1:$(cat "$dir/port")" -s base -b "" 1.1 >/dev/null 2>&1 && running
}

# Online, so that the memberof overlay records the memberships.
load_base() {
    sed -e "s|@SYNC_PW@|$sync_pw|g" tests/ldap/base.ldif | ldap ldapadd >/dev/null
}

start() {
    if running && [ "$(cat "$dir/fingerprint" 2>/dev/null)" = "$(fingerprint)" ]; then return 0; fi
    [ -x /usr/sbin/slapd ] && command -v ldapsearch >/dev/null && command -v openssl >/dev/null ||
        install_slapd
    local fresh=""
    if [ "$(cat "$dir/fingerprint" 2>/dev/null)" != "$(fingerprint)" ]; then
        running && log "the configuration or base data changed: rebuilding"
        stop_slapd
        build
        fresh=1
    fi
    free_port > "$dir/port"
    free_port > "$dir/tls_port"
    launch
    [ -z "$fresh" ] || load_base
}

# N users under ou=Bulk: kept when there are N already, else made anew.
bulk() {
    local n=$1 ou=$2 have
    have=$(ldap ldapsearch -LLL -b "ou=$ou,$suffix" -s one 1.1 2>/dev/null | grep -c '^dn:' || true)
    if [ "$have" -eq "$n" ] && [ "$n" -gt 0 ]; then
        log "ou=$ou already has $n users"
        return 0
    fi
    ldap ldapdelete -r "ou=$ou,$suffix" 2>/dev/null || true
    python3 - "$n" "$suffix" "$ou" > "$dir/bulk-$ou.ldif" <<'EOF'
import base64, hashlib, sys
n, suffix, ou = int(sys.argv[1]), sys.argv[2], sys.argv[3]
prefix = "bulk" if ou == "Bulk" else ou.lower()
tag = hashlib.sha256(ou.encode()).digest()[:2]
print(f"dn: ou={ou},{suffix}\nobjectClass: organizationalUnit\nou: {ou}\n")
for i in range(1, n + 1):
    uid = f"{prefix}{i:06d}"
    guid = base64.b64encode((b"\xb0\x1c" if ou == "Bulk" else tag) + i.to_bytes(14, "big")).decode()
    print(f"""dn: uid={uid},ou={ou},{suffix}
objectClass: top
objectClass: person
objectClass: organizationalPerson
objectClass: inetOrgPerson
objectClass: user
uid: {uid}
cn: Bulk User {i}
givenName: Bulk
sn: User {i}
mail: {uid}@example.com
sAMAccountName: {uid}
userPrincipalName: {uid}@example.com
userAccountControl: {514 if i % 10 == 0 else 512}
objectGUID:: {guid}
""")
EOF
    ldap ldapadd -f "$dir/bulk-$ou.ldif" >/dev/null
    log "ou=$ou has $n users"
}

case "${1:-start}" in
start)
    start
    print_env
    ;;
env)
    running || { log "not running; use start"; exit 1; }
    print_env
    ;;
stop)
    if running; then stop_slapd; log "stopped"; fi
    ;;
reset)
    # A new, empty database on the same ports, so running tests keep their URLs.
    if running; then
        stop_slapd
        rm -rf "$dir/db" && mkdir -p "$dir/db"
        launch
        load_base
    else
        rm -f "$dir/fingerprint"
        start
    fi
    log "back to the base data"
    print_env
    ;;
bulk)
    [[ "${2:-}" =~ ^[0-9]+$ ]] || { echo "usage: $0 bulk N [OU]" >&2; exit 2; }
    [[ "${3:-Bulk}" =~ ^[A-Za-z][A-Za-z0-9]*$ ]] || { echo "the OU is a plain name: $3" >&2; exit 2; }
    start
    bulk "$2" "${3:-Bulk}"
    print_env
    ;;
*)
    echo "usage: $0 start|env|stop|reset|bulk N" >&2
    exit 2
    ;;
esac
