"""The bridge's core with the standard library only (any python3 >= 3.9):

    python3 -m unittest discover -s integrations/python/tests -p 'test_core.py'
"""

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.dont_write_bytecode = True

import fitcheck_bridge as fb  # noqa: E402
from fitcheck_bridge._steer import Steering, number, numbers  # noqa: E402


def read(path):
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip()]


class Tmp(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.log = os.path.join(self.dir.name, "run.jsonl")
        self.next_id = 1

    def tearDown(self):
        self.dir.cleanup()

    def send(self, command, raw=None, **extra):
        line = raw if raw is not None else json.dumps(dict(id=self.next_id, command=command, **extra)) + "\n"
        self.next_id += 1
        with open(self.log + ".commands", "a") as f:
            f.write(line)


class Core(Tmp):
    def test_import_pulls_in_no_framework(self):
        out = subprocess.run(
            [sys.executable, "-c", "import sys; sys.path.insert(0, %r); import fitcheck_bridge, fitcheck_bridge._steer, "
             "fitcheck_bridge._torch; print(sorted(m for m in ('torch', 'lightning', 'keras', 'transformers', 'numpy') "
             "if m in sys.modules))" % ROOT],
            capture_output=True, text=True, env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))
        self.assertEqual(out.stdout.strip(), "[]", out.stderr)

    def test_log_lines(self):
        with fb.Bridge(self.log) as b:
            b.log(step=1, epoch=0, train_loss=0.5, lr=0.1, val_loss=None)
            b.log(step=2, train_loss=float("nan"), grad_norm=float("inf"))
            with self.assertRaises(TypeError):
                b.log(step=3, train_loss="high")
        rows = read(self.log)
        self.assertEqual(len(rows), 2)
        self.assertEqual({k: rows[0][k] for k in ("step", "epoch", "train_loss", "lr")},
                         {"step": 1, "epoch": 0, "train_loss": 0.5, "lr": 0.1})
        self.assertNotIn("val_loss", rows[0])
        self.assertIn("wall_time", rows[0])
        self.assertEqual((rows[1]["train_loss"], rows[1]["grad_norm"]), ("nan", "inf"))

    def test_start_and_event_lines_hold_only_strings_and_no_type(self):
        with fb.Bridge(self.log) as b:
            b.start("lightning", {"lr": 0.1, "layers": [64, 64], "opt": object()})
            b.event("saved", path="/x/step-3.ckpt")
        start, ev = read(self.log)
        self.assertNotIn("type", start)
        self.assertEqual(start["framework"], "lightning")
        self.assertEqual(start["bridge_version"], fb.__version__)
        self.assertEqual(json.loads(start["hparams"])["layers"], [64, 64])
        self.assertTrue(all(isinstance(v, str) for v in start.values()))
        self.assertEqual(ev, {"bridge_event": "saved", "path": "/x/step-3.ckpt"})
        self.assertNotIn("keys", start)  # not said: fitcheck reads all of them

    def test_the_start_line_lists_the_keys_the_loop_obeys_in_a_fixed_order(self):
        with fb.Bridge(self.log) as b:
            b.start("my-loop", keys=["stop", "resume", "pause", "bogus"])
        (start,) = read(self.log)
        self.assertEqual(start["keys"], "pause,stop")
        s = Steering(self.log, "keras")
        s.keys = [k for k in s.keys if k != "scale_lr"]
        s.start({"backend": "jax"})
        s.close()
        (start,) = read(self.log)
        self.assertEqual((start["framework"], start["keys"]), ("keras", "pause,stop,save"))

    def test_fresh_empties_the_log_and_skips_old_commands(self):
        with open(self.log, "w") as f:
            f.write('{"step": 99}\n')
        self.send("stop")
        b = fb.Bridge(self.log)
        self.assertEqual(b.poll(), [])
        self.assertFalse(b.stop_requested)
        self.assertEqual(os.path.getsize(self.log), 0)
        self.send("pause")
        self.assertEqual([c["command"] for c in b.poll()], ["pause"])
        b.close()

    def test_commands_once_in_order_partial_lines_wait(self):
        b = fb.Bridge(self.log)
        self.send("scale_lr", factor=2.0)
        self.send(None, raw='{"id": 2, "command": "pau')
        self.assertEqual([c["id"] for c in b.poll()], [1])
        self.assertEqual(b.lr_factor, 2.0)
        with open(self.log + ".commands", "a") as f:
            f.write('se"}\nnot json\n{"id": 1, "command": "stop"}\n{"id": 3, "command": "bogus"}\n')
        self.assertEqual([c["command"] for c in b.poll()], ["pause"])
        self.assertTrue(b.paused)
        self.assertFalse(b.stop_requested)  # id 1 again is ignored
        self.assertEqual(b.poll(), [])
        b.close()

    def test_bad_factors_are_ignored(self):
        b = fb.Bridge(self.log)
        for f in (0, -2, "2", float("inf")):
            self.send("scale_lr", raw=json.dumps({"id": self.next_id, "command": "scale_lr", "factor": f}) + "\n")
        self.assertEqual(b.poll(), [])
        self.assertEqual(b.lr_factor, 1.0)
        b.close()

    def test_the_factor_is_clamped_both_ways(self):
        b = fb.Bridge(self.log)
        for _ in range(15):
            self.send("scale_lr", factor=2.0)
        b.poll()
        self.assertEqual((b.lr_factor, b.lr_clamped), (fb.MAX_LR_FACTOR, True))
        for _ in range(30):
            self.send("scale_lr", factor=0.5)
        b.poll()
        self.assertEqual(b.lr_factor, 1.0 / fb.MAX_LR_FACTOR)
        b.close()

    def test_a_replaced_command_file_is_read_from_its_start(self):
        b = fb.Bridge(self.log)
        for _ in range(3):
            self.send("scale_lr", factor=2.0)
        b.poll()
        os.remove(self.log + ".commands")
        self.next_id = 4
        self.send("pause")
        self.assertEqual([c["command"] for c in b.poll()], ["pause"])
        b.close()

    def test_wait_while_paused(self):
        b = fb.Bridge(self.log)
        self.send("pause")
        t0 = time.monotonic()
        self.assertFalse(b.wait_while_paused(timeout=0.3, interval=0.02))
        self.assertGreaterEqual(time.monotonic() - t0, 0.3)
        threading.Timer(0.2, self.send, ("resume",)).start()
        self.assertTrue(b.wait_while_paused(interval=0.02))
        self.assertFalse(b.paused)
        b.close()

    def test_numbers(self):
        class Scalar:
            def item(self):
                return 2.5

        class Vector:
            def item(self):
                raise ValueError("more than one element")

        self.assertEqual(number(Scalar()), 2.5)
        self.assertIsNone(number(Vector()))
        self.assertIsNone(number(True))
        self.assertEqual(numbers({"a": 1, "b": "x", "c": None, "d": Scalar()}), {"a": 1, "d": 2.5})


class Steer(Tmp):
    """What every callback does between two steps."""

    def test_save_pause_save_resume_stop(self):
        s = Steering(self.log, "test", checkpoint_dir=os.path.join(self.dir.name, "ck"), poll_interval=0.02)
        s.start({"lr": 0.1})
        saved, stopped = [], []

        def save():
            path = s.checkpoint_path(f"step-{len(saved)}.bin")
            open(path, "w").close()
            saved.append(path)
            return path

        stop = lambda: stopped.append(True)  # noqa: E731
        self.assertFalse(s.between_steps(save, stop))
        self.send("scale_lr", factor=2.0)
        self.send("save")
        self.assertFalse(s.between_steps(save, stop))
        self.assertEqual((s.lr_factor, len(saved)), (2.0, 1))
        self.send("pause")

        def while_paused():
            time.sleep(0.2)
            self.send("save")
            time.sleep(0.2)
            self.send("resume")

        threading.Thread(target=while_paused).start()
        t0 = time.monotonic()
        self.assertFalse(s.between_steps(save, stop))
        self.assertGreaterEqual(time.monotonic() - t0, 0.35)
        self.assertEqual(len(saved), 2)  # done while paused
        self.send("stop")
        self.assertTrue(s.between_steps(save, stop))
        self.assertTrue(s.between_steps(save, stop))
        self.assertEqual(stopped, [True])  # once
        s.close()
        rows = read(self.log)
        self.assertEqual(rows[0]["framework"], "test")
        self.assertEqual(rows[0]["keys"], "scale_lr,pause,stop,save")
        self.assertEqual([r["bridge_event"] for r in rows[1:]], ["lr", "saved", "paused", "saved", "resumed", "stopped"])
        self.assertTrue(all(os.path.exists(p) for p in saved))

    def test_a_failed_save_does_not_end_the_run(self):
        s = Steering(self.log, "test")
        self.send("save")

        def save():
            raise OSError("disk full")

        import io
        import contextlib
        with contextlib.redirect_stderr(io.StringIO()) as err:
            self.assertFalse(s.between_steps(save, lambda: None))
        self.assertIn("disk full", err.getvalue())
        self.assertEqual(read(self.log)[-1]["bridge_event"], "save_failed")
        s.close()

    def test_a_pause_past_its_timeout_stops(self):
        s = Steering(self.log, "test", pause_timeout=0.2, poll_interval=0.02)
        self.send("pause")
        stopped = []
        import io
        import contextlib
        with contextlib.redirect_stderr(io.StringIO()):
            self.assertTrue(s.between_steps(lambda: None, lambda: stopped.append(1)))
        self.assertEqual(stopped, [1])
        s.close()

    def test_the_default_checkpoint_folder_sits_beside_the_log(self):
        s = Steering(self.log, "test")
        self.assertEqual(s.checkpoint_path("a"), os.path.join(self.dir.name, "run-checkpoints", "a"))
        s.close()


class Example(Tmp):
    def test_logreg_example_runs_and_stops(self):
        script = os.path.join(ROOT, "examples", "logreg.py")
        p = subprocess.Popen([sys.executable, script, self.log, "--epochs", "500", "--sleep", "0.01"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))
        deadline = time.monotonic() + 20
        while not (os.path.exists(self.log) and len(read(self.log)) >= 3):
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.02)
        self.send("stop")
        out, err = p.communicate(timeout=20)
        self.assertEqual(p.returncode, 0, err)
        self.assertIn("stopped after epoch", out)
        self.assertLess(len(read(self.log)), 500)


if __name__ == "__main__":
    unittest.main()
