#!/usr/bin/env bash
# bench/anchors.sh - compare pocketftpd with vsftpd and Pure-FTPd, side by side on loopback.
#
# Fetches vsftpd and Pure-FTPd from Debian's packages without installing them (the two
# packages conflict: `apt-get download` + `dpkg -x` into a work folder), writes their
# configs, creates one unix user for them (vsftpd checks it through PAM, Pure-FTPd through a
# PureDB entry with the same hash; pocketftpd gets the same name and password in its own
# accounts.ini), starts both on loopback high ports, then runs the load generator
# (`cargo bench --bench load`), which starts pocketftpd itself and prints one markdown table.
# Everything it started is stopped and the user and work folder are removed on exit.
#
# Needs root (a unix user; vsftpd and Pure-FTPd switch to it after login).
# Sizes and counts: the BENCH_* variables documented in benches/load/main.rs, e.g.
#   BENCH_BIG_MB=256 BENCH_SMALL_FILES=500 bench/anchors.sh
# Other settings:
#   ANCHORS=pocketftpd,vsftpd,pure-ftpd   which servers to measure (default: all three)
#   VSFTPD_PORT=21211 PUREFTPD_PORT=21212 control ports
#   BENCH_EXTRA_SERVERS=name=self:BINARY  more entries for BENCH_SERVERS (see bench/memory.sh)
#   BENCH_ONLY=memory,login               run only some measure groups
#   BENCH_OUT=FILE                        also write the table there
#   BENCH_KEEP=1                          keep the work folder (configs, logs) for a look
set -euo pipefail

say() { printf '[anchors] %s\n' "$*" >&2; }

ROOT=$(cd "$(dirname "$0")/.." && pwd)
ANCHORS=${ANCHORS:-pocketftpd,vsftpd,pure-ftpd}
VSFTPD_PORT=${VSFTPD_PORT:-21211}
PUREFTPD_PORT=${PUREFTPD_PORT:-21212}
export BENCH_USER=${BENCH_USER:-ftpbench}
export BENCH_PASS=${BENCH_PASS:-bench-Pass-42}
export BENCH_PASV_PORTS=${BENCH_PASV_PORTS:-40000-40999}   # pocketftpd (self-hosted)
VSFTPD_PASV=(41000 41999)
PUREFTPD_PASV=(42000 42999)

if [ "$(id -u)" != 0 ]; then
    say "needs root: it creates a unix user for vsftpd and Pure-FTPd"
    exit 1
fi

WORK=$(mktemp -d /tmp/pocketftpd-anchors.XXXXXX)
chmod 755 "$WORK"
PIDS=()
CREATED_USER=0

cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        # Bounded wait for each server to go, then insist.
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [ "$CREATED_USER" = 1 ]; then
        userdel "$BENCH_USER" 2>/dev/null || true
    fi
    if [ "${BENCH_KEEP:-0}" = 1 ]; then
        say "kept $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT

want() { [[ ",$ANCHORS," == *",$1,"* ]]; }

# Waits (bounded) until 127.0.0.1:$1 accepts connections.
wait_port() {
    for _ in $(seq 100); do
        if timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    say "nothing listens on 127.0.0.1:$1"
    return 1
}

# --- Fetch the two servers from Debian's packages ------------------------------------------
if want vsftpd || want pure-ftpd; then
    export DEBIAN_FRONTEND=noninteractive
    # vsftpd links libwrap; a plain library, harmless to install.
    if ! dpkg -s libwrap0 >/dev/null 2>&1; then
        say "apt-get install libwrap0 (vsftpd needs it)"
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends libwrap0 >/dev/null
    fi
    mkdir -p "$WORK/debs"
    say "apt-get download vsftpd pure-ftpd; dpkg -x into $WORK/root"
    if ! (cd "$WORK/debs" && apt-get download vsftpd pure-ftpd >/dev/null 2>&1); then
        apt-get update -qq
        (cd "$WORK/debs" && apt-get download vsftpd pure-ftpd >/dev/null)
    fi
    for deb in "$WORK"/debs/*.deb; do dpkg -x "$deb" "$WORK/root"; done
fi

# --- One user for everyone ------------------------------------------------------------------
HOME_DIR="$WORK/home"
mkdir -p "$HOME_DIR"
if want vsftpd || want pure-ftpd; then
    if id "$BENCH_USER" >/dev/null 2>&1; then
        say "unix user $BENCH_USER exists already: using it with home $HOME_DIR"
        usermod -d "$HOME_DIR" "$BENCH_USER"
    else
        say "useradd $BENCH_USER (removed again at exit)"
        useradd -M -d "$HOME_DIR" -s /usr/sbin/nologin "$BENCH_USER"
        CREATED_USER=1
    fi
    echo "$BENCH_USER:$BENCH_PASS" | chpasswd
    chown "$BENCH_USER:" "$HOME_DIR"
fi

SERVERS=()
if want pocketftpd; then
    SERVERS+=("pocketftpd=self")
fi

# --- vsftpd -----------------------------------------------------------------------------------
if want vsftpd; then
    mkdir -p "$WORK/vsftpd-empty"
    cat > "$WORK/vsftpd.conf" <<EOF
# Standalone, in the foreground, on loopback only.
listen=YES
listen_ipv6=NO
listen_address=127.0.0.1
listen_port=$VSFTPD_PORT
background=NO
# Local users only, jailed in their home, allowed to write.
anonymous_enable=NO
local_enable=YES
write_enable=YES
local_umask=022
chroot_local_user=YES
allow_writeable_chroot=YES
secure_chroot_dir=$WORK/vsftpd-empty
# No such PAM service, so PAM falls back to /etc/pam.d/other (pam_unix): the unix password.
pam_service_name=pocketftpd-bench
userlist_enable=NO
tcp_wrappers=NO
session_support=NO
# Passive mode on its own range; no limits on clients.
pasv_enable=YES
pasv_min_port=${VSFTPD_PASV[0]}
pasv_max_port=${VSFTPD_PASV[1]}
connect_from_port_20=NO
max_clients=0
max_per_ip=0
idle_session_timeout=600
data_connection_timeout=300
# Quiet: no transfer log, no greeting files.
xferlog_enable=NO
dirmessage_enable=NO
ftpd_banner=vsftpd ready.
# The seccomp sandbox rejects some syscalls of newer glibc/kernels.
seccomp_sandbox=NO
EOF
    say "starting vsftpd on 127.0.0.1:$VSFTPD_PORT"
    "$WORK/root/usr/sbin/vsftpd" "$WORK/vsftpd.conf" >"$WORK/vsftpd.log" 2>&1 &
    PIDS+=($!)
    wait_port "$VSFTPD_PORT"
    SERVERS+=("vsftpd=127.0.0.1:$VSFTPD_PORT@${PIDS[-1]}")
fi

# --- Pure-FTPd --------------------------------------------------------------------------------
if want pure-ftpd; then
    # A PureDB virtual user mapped onto the unix user. Its hash is the one chpasswd wrote
    # to /etc/shadow (the same one vsftpd checks through PAM): `pure-pw useradd` would
    # choose argon2id with t=2047, about 5 s per login, which measures nothing useful.
    # (`-l unix` would need a login shell listed in /etc/shells.)
    HASH=$(getent shadow "$BENCH_USER" | cut -d: -f2)
    printf '%s:%s:%s:%s::%s/./::::::::::::\n' "$BENCH_USER" "$HASH" \
        "$(id -u "$BENCH_USER")" "$(id -g "$BENCH_USER")" "$HOME_DIR" >"$WORK/pureftpd.passwd"
    chmod 600 "$WORK/pureftpd.passwd"
    "$WORK/root/usr/bin/pure-pw" mkdb "$WORK/pureftpd.pdb" -f "$WORK/pureftpd.passwd"
    say "starting Pure-FTPd on 127.0.0.1:$PUREFTPD_PORT"
    # -l puredb: the user above; -A: chroot everyone; -E: no anonymous;
    # -c/-C: room for the idle sessions and the crowd; -H: don't resolve names;
    # -f none: no syslog; -I: idle timeout in minutes. It stays in the foreground.
    "$WORK/root/usr/sbin/pure-ftpd" \
        -S "127.0.0.1,$PUREFTPD_PORT" -l "puredb:$WORK/pureftpd.pdb" -A -E -H -f none -I 10 \
        -c 250 -C 250 -p "${PUREFTPD_PASV[0]}:${PUREFTPD_PASV[1]}" -U 133:022 \
        >"$WORK/pure-ftpd.log" 2>&1 &
    PIDS+=($!)
    wait_port "$PUREFTPD_PORT"
    SERVERS+=("pure-ftpd=127.0.0.1:$PUREFTPD_PORT@${PIDS[-1]}")
fi

# --- The load generator -----------------------------------------------------------------------
if [ -n "${BENCH_EXTRA_SERVERS:-}" ]; then
    SERVERS+=("$BENCH_EXTRA_SERVERS")
fi
BENCH_SERVERS=$(IFS=,; echo "${SERVERS[*]}")
export BENCH_SERVERS
export BENCH_TMP=${BENCH_TMP:-$WORK}
say "BENCH_SERVERS=$BENCH_SERVERS"
say "cargo bench --bench load"
cd "$ROOT"
cargo bench --bench load
