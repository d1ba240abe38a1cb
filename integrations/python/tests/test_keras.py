"""The Keras 3 callback against a real model.fit (KERAS_BACKEND=torch by
default, CPU, a few dozen steps): double the lr, pause, save while paused,
resume, stop.

    KERAS_BACKEND=torch python tests/test_keras.py     # needs keras (+ torch)
"""

import json
import os
import tempfile
import time

os.environ.setdefault("KERAS_BACKEND", "torch")

from _drive import Commands, Pauser, check, events, fitcheck_reads, lines

import numpy as np
import keras

from fitcheck_bridge.keras import FitcheckCallback

LR = 0.1


def schedule(epoch, lr):
    return LR * 0.5 ** epoch  # LearningRateScheduler: sets the rate at each epoch's start


class Sender(keras.callbacks.Callback):
    """The dashboard's keys at fixed steps, before the bridge polls."""

    def __init__(self, log):
        super().__init__()
        self.cmd, self.logpath = Commands(log), log
        self.pauser = None
        self.times = {}

    def on_train_batch_end(self, batch, logs=None):
        s = int(self.model.optimizer.iterations)
        self.times[s] = time.monotonic()
        if s == 3:
            self.cmd.send("scale_lr", factor=2.0)
        elif s == 6:
            self.cmd.send("pause")
            self.pauser = Pauser(self.logpath, self.cmd)
            self.pauser.start()
        elif s == 12:
            self.cmd.send("stop")


class Reader(keras.callbacks.Callback):
    """After the bridge: the rate the optimizer holds for the coming step,
    and the rate it holds between steps."""

    def __init__(self):
        super().__init__()
        self.in_step, self.between = {}, {}

    def on_train_batch_begin(self, batch, logs=None):
        s = int(self.model.optimizer.iterations) + 1
        self.in_step[s] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))

    def on_train_batch_end(self, batch, logs=None):
        s = int(self.model.optimizer.iterations)
        self.between[s] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))


def main():
    tmp = tempfile.mkdtemp(prefix="fitcheck-keras-")
    log = os.path.join(tmp, "run.jsonl")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = (x[:, 0] + x[:, 1] > 0).astype("int32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(2)])
    model.compile(optimizer=keras.optimizers.SGD(LR),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    sender, reader, bridge = Sender(log), Reader(), FitcheckCallback(log)
    hist = model.fit(x, y, validation_data=(x, y), batch_size=8, epochs=20, verbose=0, shuffle=False,
                     callbacks=[keras.callbacks.LearningRateScheduler(schedule), sender, bridge, reader])

    expect = lambda s: LR * 0.5 ** ((s - 1) // 8)  # the scheduler's rate at step s (8 steps an epoch)
    for s in range(1, 13):
        f = 2.0 if s >= 4 else 1.0
        check(abs(reader.in_step[s] - f * expect(s)) < 1e-7,
              f"step {s}: optimizer.learning_rate in the step {reader.in_step[s]:.4f} = {f:g} x the scheduler's {expect(s):.4f}")
        check(abs(reader.between[s] - expect(s)) < 1e-7, f"step {s}: between steps it holds the scheduler's {expect(s):.4f}")
    p = sender.pauser
    p.join(30)
    check(p.error is None, "the pause was seen in the log and resumed" if p.error is None else f"pauser: {p.error}")
    check(p.steps_while_paused == 0, "no step logged while paused")
    check(sender.times[7] - sender.times[6] > 1.0, f"step 7 came {sender.times[7] - sender.times[6]:.2f}s after step 6 (paused)")
    check(len(bridge.saved) == 1 and os.path.exists(bridge.saved[0]), f"model saved: {bridge.saved}")
    loaded = keras.saving.load_model(bridge.saved[0])
    out = loaded.predict(x[:4], verbose=0)
    check(out.shape == (4, 2) and int(loaded.optimizer.iterations) == 6, "keras.saving.load_model loads it (step 6)")
    check(int(model.optimizer.iterations) == 12 and len(hist.history["loss"]) == 2,
          f"stopped at step {int(model.optimizer.iterations)} of 160, in epoch 2")
    check(events(log) == ["lr", "paused", "saved", "resumed", "stopped"], f"events {events(log)}")
    rows = lines(log)
    check(rows[0].get("framework") == "keras" and "type" not in rows[0], f"start line: framework {rows[0].get('framework')}, hparams {sorted(json.loads(rows[0]['hparams']))[:4]}...")
    check(any("val_loss" in r and "train_loss" in r and r.get("epoch") == 0 for r in rows), "epoch 0 line with train and val loss")
    check([r["lr"] for r in rows if "lr" in r][3] == reader.in_step[4], "the log's lr at step 4 is the rate used")
    read = fitcheck_reads(log)
    if read is not None:
        check(read[0] in (0, 1) and read[1] == 2, "fitcheck diagnose reads the log: 2 epochs")
    schedule_object()
    print("keras: all passed")


def schedule_object():
    """An optimizer built on a LearningRateSchedule: the factor multiplies
    the schedule's value, and the user's schedule is back after the fit."""
    tmp = tempfile.mkdtemp(prefix="fitcheck-keras-sched-")
    log = os.path.join(tmp, "run.jsonl")
    x = np.random.default_rng(1).normal(size=(32, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int32")
    sched = keras.optimizers.schedules.ExponentialDecay(LR, decay_steps=1, decay_rate=0.9)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile(optimizer=keras.optimizers.SGD(sched),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    cmd = Commands(log)

    class Send(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            s = int(self.model.optimizer.iterations)
            if s == 2:
                cmd.send("scale_lr", factor=2.0)
            elif s == 5:
                cmd.send("stop")

    reader = Reader()
    model.fit(x, y, batch_size=8, epochs=10, verbose=0, callbacks=[Send(), FitcheckCallback(log), reader])
    for s in range(1, 6):
        f = 2.0 if s >= 3 else 1.0
        want = f * LR * 0.9 ** (s - 1)
        check(abs(reader.in_step[s] - want) < 1e-6,
              f"schedule: step {s} used {reader.in_step[s]:.5f} = {f:g} x the schedule's {LR * 0.9 ** (s - 1):.5f}")
    check(model.optimizer._learning_rate is sched and int(model.optimizer.iterations) == 5,
          "schedule: stopped at step 5, the optimizer holds the user's schedule again")


if __name__ == "__main__":
    main()
