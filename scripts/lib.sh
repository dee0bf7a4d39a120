# shellcheck shell=bash
# Helpers shared by scripts/services, scripts/dev and scripts/test. Source it; don't run it.
# Human messages go to stderr so that stdout stays free for what a script prints for machines.

# shellcheck disable=SC2034 # read by the scripts that source this file
AIG_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/aig-target}"
AIG_BIN_DIR="$CARGO_TARGET_DIR/debug"

# Every provider the data plane knows, upper-cased as in AIG_PROVIDER_<NAME>_*.
AIG_PROVIDERS=(OPENAI ANTHROPIC MOONSHOT COHERE GOOGLE MISTRAL GROQ DEEPSEEK XAI TOGETHER)

if [[ -t 2 ]]; then
    _c_bold=$'\e[1m' _c_red=$'\e[31m' _c_green=$'\e[32m' _c_yellow=$'\e[33m' _c_off=$'\e[0m'
else
    _c_bold='' _c_red='' _c_green='' _c_yellow='' _c_off=''
fi

log() { printf '%s\n' "$*" >&2; }
info() { printf '%s==>%s %s\n' "$_c_bold" "$_c_off" "$*" >&2; }
warn() { printf '%swarning:%s %s\n' "$_c_yellow" "$_c_off" "$*" >&2; }
die() {
    printf '%serror:%s %s\n' "$_c_red" "$_c_off" "$*" >&2
    exit 1
}
ok() { printf '%sok%s %s\n' "$_c_green" "$_c_off" "$*" >&2; }

have() { command -v "$1" >/dev/null 2>&1; }
# as_root COMMAND...: run COMMAND as root (directly when root, else through sudo -n).
as_root() {
    if ((EUID == 0)); then
        DEBIAN_FRONTEND=noninteractive "$@"
    elif have sudo; then
        sudo -n env DEBIAN_FRONTEND=noninteractive "$@"
    else
        log "root is needed for: $*"
        return 1
    fi
}

# tcp_open HOST PORT: is something accepting connections there?
tcp_open() {
    (exec 3<>"/dev/tcp/$1/$2") >/dev/null 2>&1
}

# wait_tcp HOST PORT SECONDS [PID]: until the port accepts; gives up early if PID has exited.
wait_tcp() {
    local host=$1 port=$2 deadline=$((SECONDS + $3)) pid=${4:-}
    until tcp_open "$host" "$port"; do
        if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then
            return 1
        fi
        ((SECONDS < deadline)) || return 1
        sleep 0.2
    done
}

# wait_http URL SECONDS [PID]: until URL answers 2xx; gives up early if PID has exited.
wait_http() {
    local url=$1 deadline=$((SECONDS + $2)) pid=${3:-}
    until curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null; do
        if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then
            return 1
        fi
        ((SECONDS < deadline)) || return 1
        sleep 0.2
    done
}

# free_ports N: N distinct free TCP ports on 127.0.0.1, one a line.
free_ports() {
    python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
for s in socks:
    print(s.getsockname()[1])
PY
}

# pg_tool NAME: path to a PostgreSQL program, from PATH or the newest /usr/lib/postgresql/*/bin.
pg_tool() {
    local name=$1 dir
    if have "$name"; then
        command -v "$name"
        return 0
    fi
    while read -r dir; do
        if [[ -x $dir/$name ]]; then
            printf '%s\n' "$dir/$name"
            return 0
        fi
    done < <(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -type d -name bin 2>/dev/null | sort -rV)
    return 1
}

# Processes a script started, so that its trap stops exactly those.
AIG_STARTED_PIDS=()

# start_bg LOGFILE COMMAND...: run COMMAND in the background, output to LOGFILE; sets BG_PID.
start_bg() {
    local logfile=$1
    shift
    "$@" >"$logfile" 2>&1 &
    BG_PID=$!
    AIG_STARTED_PIDS+=("$BG_PID")
}

# stop_started: TERM what start_bg started, then KILL whatever is left after 5 s.
stop_started() {
    local pid deadline
    ((${#AIG_STARTED_PIDS[@]})) || return 0
    for pid in "${AIG_STARTED_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    deadline=$((SECONDS + 5))
    for pid in "${AIG_STARTED_PIDS[@]}"; do
        while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    AIG_STARTED_PIDS=()
}

# provider_env MOCK_ADDR: the AIG_PROVIDER_* variables that point every provider at the mock.
provider_env() {
    local addr=$1 name slug
    for name in "${AIG_PROVIDERS[@]}"; do
        slug=${name,,}
        case $slug in
        anthropic | cohere) printf 'AIG_PROVIDER_%s_BASE_URL=http://%s/%s\n' "$name" "$addr" "$slug" ;;
        *) printf 'AIG_PROVIDER_%s_BASE_URL=http://%s/%s/v1\n' "$name" "$addr" "$slug" ;;
        esac
        printf 'AIG_PROVIDER_%s_API_KEY=mock-key\n' "$name"
    done
}

# need_bins NAME...: fail, naming the build command, if a binary is missing from the target dir.
need_bins() {
    local name
    for name in "$@"; do
        if [[ ! -x $AIG_BIN_DIR/$name ]]; then
            printf '%serror:%s %s is missing; build it with: cargo build --bins -p aig-controlplane -p aig-dataplane -p aig-tests\n' \
                "$_c_red" "$_c_off" "$AIG_BIN_DIR/$name" >&2
            return 1
        fi
    done
}

# show_log FILE: the end of a log, for a failure message.
show_log() {
    [[ -f $1 ]] || return 0
    log "---- last lines of $1 ----"
    tail -n 40 "$1" >&2 || true
    log "----"
}
