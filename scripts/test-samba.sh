#!/usr/bin/env bash
# A throwaway Active Directory domain controller for the tests: Samba AD DC
# (Debian's samba 4.17) in target/samba, for the domain CUBE.TEST, bound to
# 127.0.0.2 only, with LDAPS under a private CA. Seeded with OU=Cube: four
# users (ken disabled) and two groups (engineers, nested in admins).
#
#   scripts/test-samba.sh start    # install if missing, start if stopped; prints the env
#   scripts/test-samba.sh env      # prints the env of the running DC
#   scripts/test-samba.sh stop
#
# The env lines (CUBE_TEST_SAMBA_URL=..., ...) are what
# test-support/src/samba.rs reads. The domain is provisioned and seeded
# once (6-12 s) and kept as a tarball; a start of a stopped DC restores it
# (the base data only, about half a second). Idempotent and safe to call
# from parallel test processes (flock). The ports are AD's fixed ones (389,
# 636, 88, ...) on 127.0.0.2, so there is one such DC per machine; samba
# runs as root and stops itself after $max_runtime seconds if forgotten.
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/lib/test-service.sh
root="$PWD"
dir="$root/target/samba"
lock_service_dir "$dir"

log() { echo "test-samba: $*" >&2; }

# 127.0.0.2, or the next loopback address whose LDAP port is free when
# another checkout's DC holds it (the ports are fixed): kept in $dir/address.
address=$(cat "$dir/address" 2>/dev/null || echo 127.0.0.2)
realm=CUBE.TEST
domain=CUBE
base="DC=cube,DC=test"
admin_pw="Cube-Admin-Secret-1"
sync_user="cube-sync"
sync_pw="Cube-Sync-Secret-1"
user_pw="Cube-User-Secret-1"
# A forgotten DC stops itself after two hours; a start finds one with less
# than a quarter of an hour left too old, and starts it again.
max_runtime=7200
export PATH="$PATH:/usr/sbin"

data="$dir/data"     # the DC's every directory (private, state, cache, ...)
conf="$dir/smb.conf"
template="$dir/template.tar"

install_samba() {
    # samba-ad-provision is only a Recommends, but provisioning needs its schema files.
    install_debian_packages "$dir/apt.log" samba samba-ad-dc samba-ad-provision ldap-utils openssl
}

installed() {
    command -v samba >/dev/null && command -v samba-tool >/dev/null &&
        [ -d /usr/share/samba/setup ] && command -v ldapsearch >/dev/null &&
        command -v openssl >/dev/null
}

print_env() {
    cat <<EOF
CUBE_TEST_SAMBA_HOST=$address
CUBE_TEST_SAMBA_URL=ldaps://$address:636
CUBE_TEST_SAMBA_CA=$dir/ca.pem
CUBE_TEST_SAMBA_REALM=$realm
CUBE_TEST_SAMBA_BASE=$base
CUBE_TEST_SAMBA_OU=OU=Cube,$base
CUBE_TEST_SAMBA_BIND_DN=CN=$sync_user,CN=Users,$base
CUBE_TEST_SAMBA_BIND_UPN=$sync_user@${realm,,}
CUBE_TEST_SAMBA_BIND_PASSWORD=$sync_pw
CUBE_TEST_SAMBA_ADMIN_DN=CN=Administrator,CN=Users,$base
CUBE_TEST_SAMBA_ADMIN_PASSWORD=$admin_pw
CUBE_TEST_SAMBA_USER_PASSWORD=$user_pw
CUBE_TEST_SAMBA_SMB_CONF=$conf
EOF
}

# samba's own pid file.
running() { pid_file_alive "$data/run/samba.pid" samba; }

stop_samba() {
    stop_pid_file "$data/run/samba.pid" samba
    # Its children (one per service) follow the master; wait for the ports.
    for _ in $(seq 1 50); do
        ss -Hltn "src $address" 2>/dev/null | grep -q . || break
        sleep 0.1
    done
}

# Kept across rebuilds, so ca.pem stays the same; for every address
# choose_address may pick.
make_certificates() {
    make_test_certificates "$dir" "CUBE test Samba CA" cubedc.cube.test \
        "DNS:cubedc.cube.test,DNS:cube.test,DNS:localhost,$(seq -s, -f 'IP:127.0.0.%g' 2 9)"
}

# Every directory under $data, so nothing goes to /var, /run or /etc.
write_conf() {
    cat > "$conf" <<EOF
[global]
    netbios name = CUBEDC
    realm = $realm
    workgroup = $domain
    server role = active directory domain controller
    server services = ldap
    interfaces = $address/8
    bind interfaces only = yes
    private dir = $data/private
    binddns dir = $data/bind-dns
    state directory = $data/state
    cache directory = $data/cache
    lock directory = $data/lock
    pid directory = $data/run
    ncalrpc dir = $data/ncalrpc
    winbindd socket directory = $data/winbindd
    ntp signd socket directory = $data/ntp_signd
    log file = $data/log/samba.log
    max log size = 10000
    tls enabled = yes
    tls keyfile = $dir/server.key
    tls certfile = $dir/server.pem
    tls cafile = $dir/ca.pem

[sysvol]
    path = $data/state/sysvol
    read only = no

[netlogon]
    path = $data/state/sysvol/${realm,,}/scripts
    read only = no
EOF
}

# What the domain is built from: a change provisions it again.
fingerprint() {
    cat scripts/test-samba.sh scripts/lib/test-service.sh | sha256sum | cut -d' ' -f1
}

tool() { samba-tool "$@" -s "$conf" >/dev/null; }

# OU=Cube: ada, grace and linus enabled, ken disabled (userAccountControl
# 514); engineers (ada, grace) is a member of admins (linus).
seed() {
    tool user create "$sync_user" "$sync_pw" --use-username-as-cn
    tool user setexpiry "$sync_user" --noexpiry
    tool ou add "OU=Cube,$base"
    local name given surname
    for name in ada:Ada:Lovelace grace:Grace:Hopper linus:Linus:Torvalds ken:Ken:Thompson; do
        IFS=: read -r name given surname <<<"$name"
        tool user create "$name" "$user_pw" --userou=OU=Cube --given-name="$given" \
            --surname="$surname" --mail-address="$name@cube.test" --job-title=Engineer
    done
    tool user disable ken
    tool group add engineers --groupou=OU=Cube --description="The engineers"
    tool group add admins --groupou=OU=Cube --description="The admins"
    tool group addmembers engineers ada,grace
    tool group addmembers admins linus,engineers
}

# Provisions and seeds the domain offline, then keeps it as the template.
provision() {
    stop_samba
    rm -rf "$data" "$template" "$dir/fingerprint"
    make_certificates
    mkdir -p "$data"/{private,bind-dns,state,cache,lock,run,ncalrpc,winbindd,ntp_signd,log}
    write_conf
    local t0=$SECONDS
    if ! samba-tool domain provision -s "$conf" --realm="$realm" --domain="$domain" \
        --server-role=dc --dns-backend=NONE --use-rfc2307 --adminpass="$admin_pw" \
        --host-ip="$address" --host-name=cubedc >"$dir/provision.log" 2>&1; then
        log "provisioning failed; the end of $dir/provision.log:"
        tail -n 20 "$dir/provision.log" >&2
        exit 1
    fi
    # Provisioning rewrites smb.conf with its own choices: ours again.
    write_conf
    seed
    (cd "$data" && tar -cf "$template" --exclude=./log --exclude=./run .)
    fingerprint > "$dir/fingerprint"
    log "provisioned $realm in $((SECONDS - t0)) s"
}

# The first of 127.0.0.2-9 where nothing listens on the LDAP port.
choose_address() {
    local n
    for n in 2 3 4 5 6 7 8 9; do
        if ! ss -Hltn "src 127.0.0.$n" 2>/dev/null | grep -q ':389\b'; then
            echo "127.0.0.$n"
            return 0
        fi
    done
    log "127.0.0.2-9 all have a DC on port 389; stop one (scripts/test-samba.sh stop in its checkout)"
    exit 1
}

# The template's data, then samba in the foreground (its log to
# samba.out); setsid, no stdio and no lock (9>&-) so that it outlives this
# script and the test that called it.
launch() {
    rm -rf "$data"
    mkdir -p "$data"/{log,run}
    tar -xf "$template" -C "$data"
    setsid samba -F -s "$conf" --maximum-runtime="$max_runtime" --debug-stdout \
        </dev/null >"$data/log/samba.out" 2>&1 9>&- &
    local child=$!
    date +%s > "$dir/started"
    wait_until_ready samba "$child" "$data/log/samba.out" 200 answers
    log "samba AD DC for $realm on $address (LDAPS 636)"
}

answers() {
    running && LDAPTLS_CACERT="$dir/ca.pem" ldapsearch -x -H "ldaps://$address:636" \
        -D "CN=$sync_user,CN=Users,$base" -w "$sync_pw" -s base -b "" highestCommittedUSN \
        >/dev/null 2>&1
}

fresh_enough() {
    local started
    started=$(cat "$dir/started" 2>/dev/null) || return 1
    [ $(($(date +%s) - started)) -lt $((max_runtime - 900)) ]
}

start() {
    local current=""
    [ "$(cat "$dir/fingerprint" 2>/dev/null)" = "$(fingerprint)" ] && [ -f "$template" ] && current=1
    if [ -n "$current" ] && running && fresh_enough; then return 0; fi
    installed || install_samba
    if [ -z "$current" ]; then
        running && log "this script changed: provisioning again"
        provision
    fi
    stop_samba
    address=$(choose_address)
    echo "$address" > "$dir/address"
    write_conf
    launch
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
    if running; then stop_samba; log "stopped"; fi
    ;;
*)
    echo "usage: $0 start|env|stop" >&2
    exit 2
    ;;
esac
