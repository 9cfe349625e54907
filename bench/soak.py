#!/usr/bin/env python3
"""Soak test for pocketftpd: N sessions of mixed commands for M minutes.

Not a timed test: it prints figures. Each session thread logs in with
Python's ftplib (an independent client) and loops over a mix of commands:
uploads and downloads checked by MD5, resumed downloads, listings,
folders, renames, deletes, bad commands, overlong lines, and now and then
a session dropped without QUIT. A sampler reads the server's RSS, open
file descriptors and threads from /proc/<pid> every few seconds.

Against a running server:
    bench/soak.py --port 2121 --user u --password p --pid $(pidof pocketftpd)
Or let it start one (a temporary folder, user soak/soak, loopback only):
    cargo build --release
    bench/soak.py --spawn target/release/pocketftpd --sessions 8 --minutes 2

Exit status 1 if any session saw an unexpected error, or if the server's
fd count at the end is above its idle level at the start.
"""

import argparse
import ftplib
import hashlib
import io
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

LOOPBACK = "127.0.0.1"


def proc_figures(pid):
    """(rss_kib, fds, threads) of a process, from /proc."""
    rss = threads = 0
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("Threads:"):
                threads = int(line.split()[1])
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return rss, fds, threads


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.ops = 0
        self.sessions = 0
        self.bytes = 0
        self.errors = []

    def op(self, count=1, nbytes=0):
        with self.lock:
            self.ops += count
            self.bytes += nbytes

    def error(self, text):
        with self.lock:
            self.errors.append(text)


def session_loop(index, args, stats, stop):
    rng = random.Random(index)
    while not stop.is_set():
        ftp = ftplib.FTP()
        try:
            ftp.connect(args.host, args.port, timeout=30)
            ftp.login(args.user, args.password)
            with stats.lock:
                stats.sessions += 1
            base = f"s{index}"
            try:
                ftp.mkd(base)
            except ftplib.error_perm:
                pass
            ftp.cwd(base)
            for _ in range(rng.randint(5, 30)):
                if stop.is_set():
                    break
                one_command(ftp, rng, stats)
            ftp.cwd("/")
            if rng.random() < 0.2:
                # Vanish without QUIT (sometimes with a reset).
                if rng.random() < 0.5:
                    ftp.sock.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                    )
                ftp.sock.close()
            else:
                ftp.quit()
        except Exception as error:  # noqa: BLE001 - every failure is a finding
            stats.error(f"session {index}: {type(error).__name__}: {error}")
            try:
                ftp.close()
            except Exception:  # noqa: BLE001
                pass
            time.sleep(0.5)


def one_command(ftp, rng, stats):
    choice = rng.random()
    name = f"f{rng.randint(0, 5)}"
    if choice < 0.25:
        size = rng.choice([0, 1, 1000, 65536, 300_000, 2_000_000])
        data = rng.randbytes(size)
        ftp.storbinary(f"STOR {name}", io.BytesIO(data))
        got = io.BytesIO()
        ftp.retrbinary(f"RETR {name}", got.write)
        if hashlib.md5(got.getvalue()).digest() != hashlib.md5(data).digest():
            raise AssertionError(f"{name}: download differs from upload")
        stats.op(2, 2 * size)
    elif choice < 0.35:
        try:
            size = ftp.size(name)
        except ftplib.error_perm:
            return
        offset = rng.randint(0, size or 0)
        got = io.BytesIO()
        ftp.retrbinary(f"RETR {name}", got.write, rest=offset)
        if len(got.getvalue()) != size - offset:
            raise AssertionError(f"{name}: REST {offset} gave {len(got.getvalue())} of {size}")
        stats.op(2)
    elif choice < 0.5:
        rng.choice([lambda: ftp.nlst(), lambda: ftp.retrlines("LIST", lambda _l: None),
                    lambda: list(ftp.mlsd())])()
        stats.op()
    elif choice < 0.6:
        try:
            ftp.mkd("d")
            ftp.rmd("d")
        except ftplib.error_perm:
            pass
        stats.op(2)
    elif choice < 0.7:
        try:
            ftp.rename(name, name + ".r")
            ftp.rename(name + ".r", name)
        except ftplib.error_perm:
            pass
        stats.op(2)
    elif choice < 0.78:
        try:
            ftp.delete(name)
        except ftplib.error_perm:
            pass
        stats.op()
    elif choice < 0.9:
        # Hostile lines: each must get a 5xx and leave the session usable.
        # Sent raw: ftplib itself refuses CR or LF inside a command.
        line = rng.choice([b"FROB", b"CWD", b"RETR", b"PORT 1,2,3", b"X" * 5000, b"MKD a\rb",
                           b"CWD a\x00b", b"RETR \xff\xfe", b"CWD ../../../etc",
                           b"RETR /../../etc/passwd"])
        ftp.sock.sendall(line + b"\r\n")
        try:
            reply = ftp.getresp()
            raise AssertionError(f"{line[:20]!r} was accepted: {reply}")
        except (ftplib.error_perm, ftplib.error_temp):
            pass
        ftp.voidcmd("NOOP")
        stats.op()
    else:
        ftp.voidcmd("NOOP")
        ftp.pwd()
        stats.op(2)


def spawn(binary, workdir):
    """A temporary server on a free loopback port with user soak/soak."""
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        port = probe.getsockname()[1]
    os.makedirs(os.path.join(workdir, "home"))
    with open(os.path.join(workdir, "settings.ini"), "w") as f:
        f.write(f"[server]\nlisten = {LOOPBACK}:{port}\nmax_connections = 32\n"
                "[passive]\nports = 20000-30000\n"
                "[auth]\nlogin_fail_delay_ms = 100\n")
    open(os.path.join(workdir, "accounts.ini"), "w").close()
    config = os.path.join(workdir, "settings.ini")
    subprocess.run([binary, "user", "add", "soak", "--quota", "2G", "--password-stdin",
                    "--config", config], input=b"soak\n", check=True,
                   stdout=subprocess.DEVNULL)
    log = open(os.path.join(workdir, "server.log"), "w")
    child = subprocess.Popen([binary, "--config", config], stderr=log,
                             env={**os.environ, "RUST_LOG": "warn"})
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            socket.create_connection((LOOPBACK, port), timeout=1).close()
            return child, port
        except OSError:
            time.sleep(0.1)
    child.kill()
    sys.exit("the spawned server did not start")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default=LOOPBACK)
    parser.add_argument("--port", type=int, default=2121)
    parser.add_argument("--user", default="soak")
    parser.add_argument("--password", default="soak")
    parser.add_argument("--pid", type=int, help="server pid, for /proc figures")
    parser.add_argument("--spawn", metavar="BINARY", help="start a temporary server")
    parser.add_argument("--sessions", type=int, default=8)
    parser.add_argument("--minutes", type=float, default=2.0)
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between samples")
    args = parser.parse_args()
    if not args.host.startswith("127.") and args.host not in ("localhost", "::1"):
        sys.exit("loopback only: soak.py sends its load to this machine alone")

    child = workdir = None
    if args.spawn:
        workdir = tempfile.mkdtemp(prefix="pocketftpd-soak-")
        child, args.port = spawn(args.spawn, workdir)
        args.pid, args.user, args.password = child.pid, "soak", "soak"
    time.sleep(0.5)
    start = proc_figures(args.pid) if args.pid else None

    stats, stop = Stats(), threading.Event()
    threads = [threading.Thread(target=session_loop, args=(i, args, stats, stop), daemon=True)
               for i in range(args.sessions)]
    began = time.time()
    for thread in threads:
        thread.start()
    print(f"{'t(s)':>6} {'ops':>8} {'sessions':>8} {'MiB moved':>9} {'errors':>6}"
          f" {'RSS KiB':>8} {'fds':>5} {'threads':>7}")
    end = began + args.minutes * 60
    try:
        while time.time() < end:
            time.sleep(min(args.interval, max(0.0, end - time.time())))
            figures = proc_figures(args.pid) if args.pid else ("-", "-", "-")
            with stats.lock:
                print(f"{time.time() - began:6.0f} {stats.ops:8d} {stats.sessions:8d}"
                      f" {stats.bytes / 2**20:9.1f} {len(stats.errors):6d}"
                      f" {figures[0]:>8} {figures[1]:>5} {figures[2]:>7}", flush=True)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    ok = not stats.errors
    if args.pid:
        # Sessions dropped without QUIT end on the server a moment later.
        deadline = time.time() + 30
        while time.time() < deadline and proc_figures(args.pid)[1] > start[1]:
            time.sleep(0.2)
        finish = proc_figures(args.pid)
        print(f"idle before: RSS {start[0]} KiB, {start[1]} fds, {start[2]} threads")
        print(f"idle after:  RSS {finish[0]} KiB, {finish[1]} fds, {finish[2]} threads")
        if finish[1] > start[1]:
            print("FD LEAK: the fd count did not return to its idle level")
            ok = False
    print(f"{stats.ops} operations in {stats.sessions} sessions,"
          f" {stats.bytes / 2**20:.1f} MiB moved, {len(stats.errors)} errors")
    for error in stats.errors[:20]:
        print("  " + error)
    if child:
        child.terminate()
        child.wait(timeout=30)
        print(f"spawned server exited with {child.returncode}")
        ok = ok and child.returncode == 0
        shutil.rmtree(workdir, ignore_errors=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
