"""Shared by the framework tests: write fitcheck's commands, watch the log."""

import json
import os
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # the package, also when not installed


class Commands:
    """Appends to `<log>.commands` as fitcheck's CommandWriter does: one
    line per command, one write, ids increasing from 1."""

    def __init__(self, log):
        self.path = str(log) + ".commands"
        self.next_id = 1

    _lock = threading.Lock()

    def send(self, command, **extra):
        with self._lock:
            line = json.dumps(dict(id=self.next_id, command=command, **extra)) + "\n"
            self.next_id += 1
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            try:
                os.write(fd, line.encode())
            finally:
                os.close(fd)


def lines(log):
    with open(log) as f:
        return [json.loads(l) for l in f if l.strip()]


def events(log):
    return [l["bridge_event"] for l in lines(log) if "bridge_event" in l]


class Pauser(threading.Thread):
    """Once the log says "paused": waits, checks that the log did not grow
    for `hold` seconds, sends save (done while paused) and resume."""

    def __init__(self, log, commands, hold=1.0):
        super().__init__(daemon=True)
        self.logpath, self.commands, self.hold = log, commands, hold
        self.steps_while_paused = None
        self.error = None

    def run(self):
        try:
            deadline = time.monotonic() + 60
            while "paused" not in events(self.logpath):
                if time.monotonic() > deadline:
                    raise RuntimeError("never paused")
                time.sleep(0.05)
            before = [l for l in lines(self.logpath) if "step" in l]
            time.sleep(self.hold)
            after = [l for l in lines(self.logpath) if "step" in l]
            self.steps_while_paused = len(after) - len(before)
            self.commands.send("save")
            time.sleep(0.3)
            self.commands.send("resume")
        except BaseException as e:  # reported by the test
            import traceback
            traceback.print_exc()
            self.error = e
            self.commands.send("resume")


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print("ok:", what)


def fitcheck_reads(log):
    """`fitcheck diagnose LOG` when a fitcheck binary is around (FITCHECK,
    or target/release/fitcheck of the repository): its exit status and the
    first lines of its report. None when there is no binary."""
    import subprocess

    exe = os.environ.get("FITCHECK") or os.path.join(HERE, "..", "..", "..", "target", "release", "fitcheck")
    if not os.path.exists(exe):
        return None
    out = subprocess.run([exe, "diagnose", str(log)], capture_output=True, text=True, timeout=60)
    epochs, verdict = 0, None
    for line in out.stdout.splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if row.get("type") == "epoch":
            epochs += 1
        elif row.get("type") == "summary":
            verdict = (row.get("diagnosis") or {}).get("verdict")
    print(f"fitcheck diagnose: exit {out.returncode}, {epochs} epochs, verdict {verdict}")
    return out.returncode, epochs
