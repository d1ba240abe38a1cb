"""What the three callbacks share, framework-free: the bridge, the numbers to
log, and what to do between two steps (poll, save, pause, stop)."""

import os
import sys
import time

from . import Bridge


def number(value):
    """A plain int/float from a Python number, a 0-d tensor, a numpy scalar
    or a Keras variable; None for anything else (strings, lists, tensors
    with more than one element)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value
    for convert in ("item", "__float__"):
        fn = getattr(value, convert, None)
        if fn is None:
            continue
        try:
            out = fn()
        except Exception:  # not a scalar
            return None
        if isinstance(out, bool):
            return None
        if isinstance(out, (int, float)):
            return out
    return None


def numbers(mapping):
    """The entries of a dict that are numbers (see number())."""
    out = {}
    for key, value in dict(mapping or {}).items():
        x = number(value)
        if x is not None:
            out[str(key)] = x
    return out


class Steering:
    """One run: its bridge and the between-steps part of every callback.

    A callback calls between_steps(save=..., stop=...) after each training
    step: it polls the command file, saves when asked (save() returns the
    path written), waits while paused (a save asked for while paused is done
    at once; save() returns None when the framework saves later, and the
    callback writes the event then) and calls stop() once when asked to stop. Each is written to
    the log as an event line.
    """

    # Every command a callback acts on (see each callback's docstring).
    KEYS = ("scale_lr", "pause", "save", "stop")

    def __init__(self, path, framework, checkpoint_dir=None, commands_path=None,
                 pause_timeout=None, poll_interval=0.1):
        self.bridge = Bridge(path, commands_path=commands_path)
        self.framework = framework
        self.path = self.bridge.path
        self.checkpoint_dir = os.fspath(checkpoint_dir) if checkpoint_dir else (
            os.path.splitext(self.path)[0] + "-checkpoints")
        self.pause_timeout = pause_timeout
        self.poll_interval = poll_interval
        self.stopped = False
        self.started = False
        # What the start line says the loop obeys; a callback narrows it
        # before start() where its framework cannot do one (Keras off torch).
        self.keys = list(self.KEYS)
        self._factor_logged = 1.0

    @property
    def lr_factor(self):
        return self.bridge.lr_factor

    def start(self, hparams=None):
        if not self.started:
            self.started = True
            self.bridge.start(self.framework, hparams, keys=self.keys)

    def log(self, **metrics):
        """Append one line; non-finite numbers are written as text, so the
        line stays JSON and fitcheck reads them as NaN/inf."""
        clean = {}
        for key, value in metrics.items():
            x = number(value)
            if x is None:
                continue
            clean[key] = x
        if clean:
            self.bridge.log(**clean)

    def checkpoint_path(self, name):
        os.makedirs(self.checkpoint_dir, exist_ok=True)
        return os.path.join(self.checkpoint_dir, name)

    def _commands(self):
        for cmd in self.bridge.poll():
            if cmd["command"] == "scale_lr" and self.bridge.lr_factor != self._factor_logged:
                self._factor_logged = self.bridge.lr_factor
                self.bridge.event("lr", lr_factor=repr(self.bridge.lr_factor))

    def _save(self, save):
        self.bridge.save_requested = False
        try:
            path = save()
        except Exception as e:  # a failed save must not end the run
            print(f"fitcheck bridge: save failed: {e!r}", file=sys.stderr)
            self.bridge.event("save_failed", error=repr(e))
            return
        if path is not None:  # None: the framework saves later and says so itself
            self.bridge.event("saved", path=path)

    def between_steps(self, save, stop):
        """Poll and act; returns True when the run should stop."""
        if self.stopped:
            return True
        self._commands()
        if self.bridge.save_requested:
            self._save(save)
        if self.bridge.paused and not self.bridge.stop_requested:
            self.bridge.event("paused")
            deadline = None if self.pause_timeout is None else time.monotonic() + self.pause_timeout
            while self.bridge.paused and not self.bridge.stop_requested:
                if deadline is not None and time.monotonic() >= deadline:
                    print("fitcheck bridge: still paused after the timeout; stopping", file=sys.stderr)
                    self.bridge.stop_requested = True
                    break
                time.sleep(self.poll_interval)
                self._commands()
                if self.bridge.save_requested:
                    self._save(save)
            if not self.bridge.stop_requested:
                self.bridge.event("resumed")
        if self.bridge.stop_requested:
            self.stopped = True
            stop()
            self.bridge.event("stopped")
            return True
        return False

    def close(self):
        self.bridge.close()

