#!/usr/bin/env bash
# bench/memory.sh - memory and login figures only: the server idle, with one and with
# BENCH_IDLE_SESSIONS (default 100) idle logged-in sessions, and the cost of each session.
#
# pocketftpd is measured twice: as `cargo bench` builds it (x86_64 glibc, dynamic) and as the
# static x86_64-unknown-linux-musl release binary, the build that goes on a USB stick, whose
# allocator (musl's) behaves differently. vsftpd and Pure-FTPd run beside them (via
# bench/anchors.sh, which also says how to choose servers and sizes).
#   bench/memory.sh                        # all four columns (as root)
#   ANCHORS=pocketftpd bench/memory.sh     # only the two pocketftpd builds
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
printf '[memory] %s\n' "cargo build --release --target x86_64-unknown-linux-musl" >&2
rustup target add x86_64-unknown-linux-musl >/dev/null 2>&1 || true
cargo build --release --target x86_64-unknown-linux-musl
export BENCH_ONLY=${BENCH_ONLY:-memory,login}
export BENCH_EXTRA_SERVERS="pocketftpd-musl=self:$ROOT/target/x86_64-unknown-linux-musl/release/pocketftpd"
exec "$ROOT/bench/anchors.sh"
