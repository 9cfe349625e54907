#!/usr/bin/env python3
"""Benchmark: does a failed login take as long for an unknown user as for a
wrong password? Prints figures; asserts nothing (timing belongs here, not in
tests). The server verifies a dummy argon2 hash for unknown users, so the
two medians should agree within noise; a gap of about one hash time means
the dummy check is gone.

    bench/login_timing.py --port 2121 --user alice [--rounds 40]

Use a server with `login_fail_delay_ms = 0`, `ban_after = 0` and a high
`max_login_attempts`, so that the hash dominates, and a known user
(`--user`). Loopback only.
"""

import argparse
import socket
import statistics
import sys
import time


def attempt(host, port, user):
    with socket.create_connection((host, port), timeout=30) as sock:
        reader = sock.makefile("rb")
        reader.readline()  # 220
        sock.sendall(f"USER {user}\r\n".encode())
        reader.readline()  # 331
        started = time.perf_counter()
        sock.sendall(b"PASS definitely-wrong\r\n")
        reply = reader.readline()
        elapsed = time.perf_counter() - started
        sock.sendall(b"QUIT\r\n")
    return elapsed, reply.decode().strip()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--user", required=True, help="an existing user")
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    if not args.host.startswith("127."):
        sys.exit("loopback only")
    times = {"known user, wrong password": [], "unknown user": []}
    replies = set()
    for _ in range(args.rounds):
        for label, user in (("known user, wrong password", args.user),
                            ("unknown user", "no-such-user-x")):
            elapsed, reply = attempt(args.host, args.port, user)
            times[label].append(elapsed * 1000)
            replies.add(reply)
    for label, values in times.items():
        values.sort()
        print(f"{label:28} median {statistics.median(values):8.2f} ms"
              f"  p10 {values[len(values) // 10]:8.2f}"
              f"  p90 {values[len(values) * 9 // 10]:8.2f}")
    print("replies seen:", sorted(replies))


if __name__ == "__main__":
    main()
