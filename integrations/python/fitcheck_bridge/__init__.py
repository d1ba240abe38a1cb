"""fitcheck bridge: let `fitcheck watch` see and steer a training loop it
does not own. Standard library only: `pip install ./integrations/python`,
or copy this one file (fitcheck_bridge/__init__.py) into your project.

For Lightning, Keras and the Hugging Face Trainer, add one callback instead
of editing the loop: fitcheck_bridge.lightning / .keras / .hf (see README.md).

    from fitcheck_bridge import Bridge

    bridge = Bridge("runs/exp1.jsonl")           # then: fitcheck watch runs/exp1.jsonl
    for epoch in range(epochs):
        for x, y in batches:
            for g in opt.param_groups:
                g["lr"] = base_lr * bridge.lr_factor
            ...
        bridge.log(epoch=epoch, step=step, train_loss=tl, val_loss=vl,
                   train_acc=ta, val_acc=va, lr=base_lr * bridge.lr_factor)
        bridge.poll()
        if bridge.save_requested:
            torch.save(model.state_dict(), "ckpt.pt"); bridge.save_requested = False
        if not bridge.wait_while_paused() or bridge.stop_requested:
            break

The log is fitcheck's minimal JSON-lines schema: one object per line with
any of step, epoch, train_loss, val_loss, train_acc, val_acc, lr, wall_time
(and any other numbers, which `fitcheck watch --map` can name). Each line is
written with a single os.write on a file opened for appending, so a reader
never sees half a line from us.

Commands come from `<log>.commands`, which fitcheck appends to, one JSON
object per line with an increasing "id":
    {"id": 1, "command": "scale_lr", "factor": 2.0}
    {"id": 2, "command": "pause"}   /  "resume"  /  "stop"  /  "save"
poll() reads the lines added since the last call (an unfinished last line
waits for the next call), acts on each id once and returns them.
"""

import json
import math
import os
import time

__all__ = ["Bridge", "COMMANDS", "MAX_LR_FACTOR", "__version__"]

__version__ = "0.3.0"

COMMANDS = ("scale_lr", "pause", "resume", "stop", "save")

# lr_factor never leaves [1/MAX_LR_FACTOR, MAX_LR_FACTOR]: a key held down in
# the dashboard must not walk the script's learning rate to 1e35.
MAX_LR_FACTOR = 1024.0


class Bridge:
    """One run's log and command file."""

    def __init__(self, path, commands_path=None, fresh=True):
        """Open the log at `path` for appending.

        fresh=True empties the log (a new run) and ignores commands already
        in the command file (they were meant for an earlier run).
        """
        self.path = os.fspath(path)
        self.commands_path = os.fspath(commands_path) if commands_path else self.path + ".commands"
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
        if fresh:
            flags |= os.O_TRUNC
        self._fd = os.open(self.path, flags, 0o644)
        self._cmd_offset = 0
        self._cmd_partial = b""
        self._last_id = 0
        if fresh:
            try:
                self._cmd_offset = os.path.getsize(self.commands_path)
            except OSError:
                self._cmd_offset = 0
        # State the commands change; the loop reads it.
        self.lr_factor = 1.0
        # True once a scale_lr was cut at the bound (said once on stderr).
        self.lr_clamped = False
        self.paused = False
        self.stop_requested = False
        self.save_requested = False

    # -- logging ----------------------------------------------------------

    def start(self, framework=None, hparams=None, keys=None):
        """Write the start line: which bridge and framework wrote the log,
        the commands the loop obeys, and the run's hyperparameters. Call it
        first, before any log().

            {"bridge": "fitcheck_bridge", "bridge_version": "0.3.0",
             "framework": "lightning", "keys": "scale_lr,pause,stop,save",
             "hparams": "{\"lr\": 0.01, ...}"}

        keys: the names in COMMANDS the loop acts on ("resume" goes with
        "pause"); fitcheck's footer and help then show only those keys.
        None leaves "keys" out, which fitcheck reads as all of them (logs
        written before 0.3.0 have no "keys").

        Every value is a string, so fitcheck's JSON-lines reader takes no
        metric from it, and there is no "type" key (a string "type" on the
        first line would mark fitcheck's own run log). hparams is a JSON
        text (values json.dumps cannot write are written as repr)."""
        row = {"bridge": "fitcheck_bridge", "bridge_version": __version__}
        if framework:
            row["framework"] = str(framework)
        if keys is not None:
            row["keys"] = ",".join(k for k in COMMANDS if k in set(keys) and k != "resume")
        if hparams:
            row["hparams"] = json.dumps(dict(hparams), default=repr, sort_keys=True)
        self._write(row)

    def event(self, name, **info):
        """Write a line saying what the loop did on a command:
        {"bridge_event": "paused"} / "resumed" / "stopped" / "saved" (with
        "path") / "lr" (with "lr_factor" as text). Only strings: no metric
        and no step, so the reader's epochs are not touched."""
        row = {"bridge_event": str(name)}
        for key, value in info.items():
            if value is not None:
                row[key] = str(value)
        self._write(row)

    def _write(self, row):
        data = (json.dumps(row, separators=(",", ":")) + "\n").encode()
        written = 0
        while written < len(data):
            written += os.write(self._fd, data[written:])

    def log(self, **metrics):
        """Append one JSON line: step=, epoch=, train_loss=, val_loss=,
        train_acc=, val_acc=, lr=, or any other number. None is left out;
        wall_time is added when not given."""
        row = {}
        for key, value in metrics.items():
            if value is None:
                continue
            if hasattr(value, "item"):  # a 0-d tensor or numpy scalar
                value = value.item()
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"fitcheck_bridge.log: {key}={value!r} is not a number")
            if isinstance(value, float) and not math.isfinite(value):
                # JSON has no NaN: a diverged loss is logged as a string the
                # reader skips, rather than breaking the line.
                value = str(value)
            row[key] = value
        row.setdefault("wall_time", time.time())
        self._write(row)

    # -- commands ---------------------------------------------------------

    def poll(self):
        """Commands issued since the last poll, oldest first, each a dict
        like {"id": 3, "command": "scale_lr", "factor": 2.0}. The bridge's
        state (lr_factor, paused, stop_requested, save_requested) is
        updated before they are returned."""
        try:
            with open(self.commands_path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                if size < self._cmd_offset:  # the file was replaced
                    self._cmd_offset, self._cmd_partial = 0, b""
                f.seek(self._cmd_offset)
                data = f.read()
        except FileNotFoundError:
            return []
        self._cmd_offset += len(data)
        data = self._cmd_partial + data
        lines = data.split(b"\n")
        self._cmd_partial = lines.pop()  # b"" when data ended with a newline
        out = []
        for line in lines:
            if not line.strip():
                continue
            try:
                cmd = json.loads(line)
            except ValueError:
                continue
            if not isinstance(cmd, dict) or not isinstance(cmd.get("id"), int):
                continue
            if cmd["id"] <= self._last_id:
                continue
            self._last_id = cmd["id"]
            if self._apply(cmd):
                out.append(cmd)
        return out

    def _apply(self, cmd):
        name = cmd.get("command")
        if name == "scale_lr":
            factor = cmd.get("factor")
            if not isinstance(factor, (int, float)) or not factor > 0 or not math.isfinite(factor):
                return False
            wanted = self.lr_factor * float(factor)
            bounded = min(max(wanted, 1.0 / MAX_LR_FACTOR), MAX_LR_FACTOR)
            if bounded != wanted and not self.lr_clamped:
                import sys
                print(f"fitcheck bridge: learning-rate factor held at {bounded:g} "
                      f"(the bridge scales the script's rate by at most {MAX_LR_FACTOR:g}x either way)",
                      file=sys.stderr)
            self.lr_clamped = self.lr_clamped or bounded != wanted
            self.lr_factor = bounded
        elif name == "pause":
            self.paused = True
        elif name == "resume":
            self.paused = False
        elif name == "stop":
            self.stop_requested = True
            self.paused = False
        elif name == "save":
            self.save_requested = True
        else:
            return False
        return True

    def wait_while_paused(self, timeout=None, interval=0.1):
        """Block while paused, polling for resume or stop. Returns True when
        the loop may go on, False when it should end (stop requested, or
        still paused after `timeout` seconds)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        self.poll()
        while self.paused and not self.stop_requested:
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(interval)
            self.poll()
        return not self.stop_requested

    def close(self):
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
