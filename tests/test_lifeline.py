"""The two process-level guarantees of the CLI, without a model: stdout carries only the
result (whatever the libraries underneath print), and processes die with their parent."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import psutil

from conftest import ROOT, run_cli


def gone(processes: list[psutil.Process], timeout: float) -> bool:
    _, alive = psutil.wait_procs(processes, timeout=timeout)
    return not alive


def kill_all(processes: list[psutil.Process]) -> None:
    for p in processes:
        try:
            p.kill()
        except psutil.Error:
            pass


NOISY_COMMAND = textwrap.dedent("""
    import os, subprocess, sys
    from paracycle.stdio import print_json, results_only
    with results_only():
        print("library chatter via print")
        sys.stdout.write("library chatter via sys.stdout\\n")
        os.write(1, b"C-level chatter on fd 1\\n")
        subprocess.run([sys.executable, "-c", "print('a child process inherits fd 1')"], check=True)
        print_json('{"answer": 42}')
    print("after the command, stdout is stdout again")
""")


def test_only_the_result_reaches_stdout():
    done = subprocess.run([sys.executable, "-c", NOISY_COMMAND], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stderr
    result, after = done.stdout.split("\n", 1)
    assert json.loads(result) == {"answer": 42}
    assert after == "after the command, stdout is stdout again\n"
    for chatter in ("via print", "via sys.stdout", "C-level chatter", "a child process inherits fd 1"):
        assert chatter in done.stderr


def test_help_still_goes_to_stdout():
    done = run_cli("cycle", "--help")
    assert done.returncode == 0 and "--max-revisions" in done.stdout


TREE = textwrap.dedent("""
    import subprocess, sys, time
    from paracycle import lifeline
    lifeline.ensure()
    # a child, and a grandchild that leaves for its own session (as a daemon would)
    code = "import subprocess,sys,time; subprocess.Popen([sys.executable,'-c','import time; time.sleep(120)'], start_new_session=True); time.sleep(120)"
    subprocess.Popen([sys.executable, "-c", code])
    print("ready", flush=True)
    time.sleep(120)
""")


def test_descendants_die_with_a_sigkilled_parent():
    parent = subprocess.Popen([sys.executable, "-c", TREE], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    tree: list[psutil.Process] = []
    try:
        assert parent.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 20
        while len(tree) < 3 and time.monotonic() < deadline:  # watchdog, child, grandchild
            tree = psutil.Process(parent.pid).children(recursive=True)
            time.sleep(0.05)
        assert len(tree) == 3, tree
        # the grandchild started its own session: a process-group kill would miss it
        assert len({os.getsid(p.pid) for p in tree}) == 3
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        assert gone(tree, timeout=15), [p for p in tree if p.is_running()]
    finally:
        kill_all(tree)
        parent.kill()


def test_a_normal_exit_leaves_nothing_behind_either():
    script = TREE.replace('print("ready", flush=True)\ntime.sleep(120)', 'print("ready", flush=True)')
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    from paracycle.lifeline import MARK

    try:
        assert parent.stdout.readline().strip() == "ready"
        assert parent.wait(timeout=30) == 0
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and marked_by(parent.pid, MARK):
            time.sleep(0.1)
        assert not marked_by(parent.pid, MARK)
    finally:
        kill_all([psutil.Process(p) for p in marked_by(parent.pid, MARK) if psutil.pid_exists(p)])


def marked_by(pid: int, mark: str) -> list[int]:
    found = []
    for p in psutil.process_iter():
        try:
            if p.environ().get(mark, "").startswith(f"{pid}-"):
                found.append(p.pid)
        except psutil.Error:
            pass
    return found
