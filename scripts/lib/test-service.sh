# Shared by scripts/test-postgres.sh, test-slapd.sh and test-samba.sh: the
# steps every throwaway test server takes the same way (a lock, a Debian
# install that starts no system daemon, a free port, a pid check that a
# reused pid cannot fool, a stop that escalates, a private CA). Sourced,
# not run; each function logs through the caller's `log`.

# Serialises every invocation of one service's script (tests call it from
# parallel processes) on fd 9, held until the script exits. Servers are
# started with 9>&- so that they do not inherit it.
lock_service_dir() {
    mkdir -p "$1"
    exec 9>"$1/.lock"
    flock 9
}

# Installs Debian packages without letting them start a system instance on
# all interfaces (policy-rc.d answers "not now" to every invoke-rc.d).
# Needs root and apt; otherwise says what to install and fails. apt's
# output goes to LOG, whose end is shown if the install fails.
install_debian_packages() {
    local log_file=$1; shift
    if ! command -v apt-get >/dev/null || [ "$(id -u)" -ne 0 ]; then
        log "not installed; install it (Debian: apt-get install $*)"
        exit 1
    fi
    log "installing $* from Debian's packages"
    local guard=/usr/sbin/policy-rc.d created=""
    if [ ! -e "$guard" ]; then
        printf '#!/bin/sh\nexit 101\n' > "$guard" && chmod +x "$guard" && created=1
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends "$@"; } >"$log_file" 2>&1; then
        log "installing $* failed; the end of $log_file:"
        tail -n 20 "$log_file" >&2
        exit 1
    fi
    # An if, not `[ ... ] && rm`: as the last command that would fail the
    # function (and the script, under set -e) when the guard was not ours.
    if [ -n "$created" ]; then rm -f "$guard"; trap - EXIT; fi
}

# A TCP port nothing listens on at the moment, on 127.0.0.1.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Whether the pid in PIDFILE is a live COMMAND: /proc/PID/stat reads
# "PID (COMMAND) STATE ...", so neither a reused pid nor a zombie that
# init has yet to reap passes.
pid_file_alive() {
    local pid_file=$1 command=$2 pid stat
    pid=$(cat "$pid_file" 2>/dev/null) && stat=$(cat "/proc/$pid/stat" 2>/dev/null) &&
        [[ "$stat" == "$pid ($command) "[!Z]* ]]
}

# Stops the COMMAND whose pid is in PIDFILE: TERM, up to 10 s, then KILL.
stop_pid_file() {
    local pid_file=$1 command=$2 pid
    pid_file_alive "$pid_file" "$command" || return 0
    pid=$(cat "$pid_file")
    kill "$pid"
    for _ in $(seq 1 100); do pid_file_alive "$pid_file" "$command" || break; sleep 0.1; done
    if pid_file_alive "$pid_file" "$command"; then
        log "$command $pid did not stop in 10 s; killing it"
        kill -9 "$pid"
    fi
    rm -f "$pid_file"
}

# DIR/ca.pem and a leaf DIR/server.pem (key DIR/server.key) signed by it
# for LEAF_CN and SUBJECT_ALT_NAMES: rustls refuses a self-signed leaf
# that is its own CA, so the chain has two levels. Kept while the names
# stay the same, so ca.pem (which tests trust) survives rebuilds.
make_test_certificates() {
    local dir=$1 ca_cn=$2 leaf_cn=$3 alt_names=$4
    [ -f "$dir/server.pem" ] && [ -f "$dir/ca.pem" ] &&
        grep -qxF "subjectAltName=$alt_names" "$dir/server.ext" 2>/dev/null && return 0
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=$ca_cn" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=$leaf_cn" \
        -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
    printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
        "extendedKeyUsage=serverAuth" "subjectAltName=$alt_names" > "$dir/server.ext"
    openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
        -CAcreateserial -days 3650 -extfile "$dir/server.ext" -out "$dir/server.pem" 2>/dev/null
    chmod 600 "$dir/server.key" "$dir/ca.key"
}

# Waits up to TENTHS tenths of a second for READY_COMMAND... to succeed
# while the server CHILD (a pid) lives; on failure kills it, shows the end
# of LOG_FILE and exits.
wait_until_ready() {
    local name=$1 child=$2 log_file=$3 tenths=$4; shift 4
    for _ in $(seq 1 "$tenths"); do
        "$@" && return 0
        kill -0 "$child" 2>/dev/null || break
        sleep 0.1
    done
    kill "$child" 2>/dev/null || true
    log "$name did not start; the end of $log_file:"
    tail -n 20 "$log_file" >&2
    exit 1
}
