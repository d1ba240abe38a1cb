"""fitcheck for Keras 3: one callback.

    from fitcheck_bridge.keras import FitcheckCallback
    model.fit(x, y, validation_data=(xv, yv), epochs=20,
              callbacks=[FitcheckCallback("runs/exp1.jsonl")])   # fitcheck watch runs/exp1.jsonl

Logs per training step: step (optimizer.iterations), epoch, lr (the rate
the step used), and the batch logs Keras passes (`loss` as train_loss, and
the compiled metrics by their names; Keras reports them as running means
over the epoch so far); per epoch: the epoch logs (train_loss, val_loss and
the metrics, `accuracy` / `val_accuracy` ...). Keras exposes no gradient
norm to callbacks: none is logged.

Keys: `+`/`-` scale `optimizer.learning_rate` for each step (set before the
batch, put back after it, so LearningRateScheduler and ReduceLROnPlateau
keep working on their own values and the factor multiplies them); an
optimizer built on a LearningRateSchedule gets the schedule wrapped for the
fit (the factor multiplies the schedule's value). `space` pauses between two
batches; `s` calls model.save(<dir>/step-<N>.keras); `X` sets
model.stop_training (Keras ends the fit after the current batch).
"""

import keras

from ._steer import Steering, numbers

__all__ = ["FitcheckCallback"]

_RENAME = {"loss": "train_loss"}
_DROP = {"learning_rate", "lr"}  # the callback logs the rate actually used


class _ScaledSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """The user's schedule times the bridge's factor (a Python number read
    at each call: eager backends, e.g. torch, see every change)."""

    def __init__(self, inner, steering):
        self.inner = inner
        self.steering = steering

    def __call__(self, step):
        return self.inner(step) * self.steering.lr_factor

    def get_config(self):
        return self.inner.get_config()


class FitcheckCallback(keras.callbacks.Callback):
    """Log to `path` (JSON lines) and obey `<path>.commands`.

    checkpoint_dir: where `s` saves (default `<path without .jsonl>-checkpoints/`,
    files `step-<N>.keras`). log_every: log every n-th step (1).
    pause_timeout: seconds a pause may last before the run is stopped (None: no limit).
    """

    def __init__(self, path, checkpoint_dir=None, log_every=1, pause_timeout=None, commands_path=None):
        super().__init__()
        self.steering = Steering(path, "keras", checkpoint_dir, commands_path, pause_timeout)
        self.log_every = max(1, int(log_every))
        self.saved = []  # model files written on `s`
        self._base = None  # the optimizer's own rate during a step
        self._scaled = None
        self._schedule = None  # (optimizer, the user's schedule) while wrapped
        self._epoch = 0
        self._step_lr = None

    # -- helpers --------------------------------------------------------------

    @property
    def _opt(self):
        return getattr(self.model, "optimizer", None)

    def _step(self):
        opt = self._opt
        try:
            return int(opt.iterations)
        except Exception:
            return None

    def _current_lr(self):
        try:
            return float(keras.ops.convert_to_numpy(self._opt.learning_rate))
        except Exception:
            return None

    # -- fit ------------------------------------------------------------------

    def on_train_begin(self, logs=None):
        opt = self._opt
        hp = dict(self.params or {})
        if opt is not None:
            try:
                hp["optimizer"] = opt.get_config()
            except Exception:
                hp["optimizer"] = type(opt).__name__
            lr = getattr(opt, "_learning_rate", None)
            if isinstance(lr, keras.optimizers.schedules.LearningRateSchedule):
                self._schedule = (opt, lr)
                opt._learning_rate = _ScaledSchedule(lr, self.steering)
        hp["backend"] = keras.backend.backend()
        if hp["backend"] != "torch":
            # Only the torch backend is tested to take a rate change at the
            # next batch (JAX keeps optimizer state outside the variables
            # during an epoch; TensorFlow traces schedules): fitcheck then
            # leaves `+`/`-` out of its footer rather than promise them.
            self.steering.keys = [k for k in self.steering.keys if k != "scale_lr"]
        self.steering.start(hp)

    def on_train_end(self, logs=None):
        self._unwrap()

    def _unwrap(self):
        if self._schedule is not None:
            opt, inner = self._schedule
            opt._learning_rate = inner
            self._schedule = None

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        opt = self._opt
        if opt is None:
            return
        if self._schedule is None:
            factor = self.steering.lr_factor
            base = self._current_lr()
            self._base = self._scaled = None
            if factor != 1.0 and base is not None:
                self._base, self._scaled = base, base * factor
                opt.learning_rate = self._scaled
        self._step_lr = self._current_lr()

    def on_train_batch_end(self, batch, logs=None):
        opt = self._opt
        if self._base is not None and opt is not None:
            current = self._current_lr()
            if current is not None and abs(current - self._scaled) <= 1e-12 * max(1.0, abs(current)):
                opt.learning_rate = self._base  # the step is done: back to the script's own rate
            self._base = self._scaled = None
        step = self._step()
        if step is None or step % self.log_every == 0:
            row = {_RENAME.get(k, k): v for k, v in numbers(logs).items() if k not in _DROP}
            self.steering.log(step=step, epoch=self._epoch, lr=self._step_lr, **row)
        self.steering.between_steps(save=self._save, stop=self._stop)

    def on_epoch_end(self, epoch, logs=None):
        row = {_RENAME.get(k, k): v for k, v in numbers(logs).items() if k not in _DROP}
        if row:
            self.steering.log(step=self._step(), epoch=epoch, **row)

    # -- commands -------------------------------------------------------------

    def _save(self):
        path = self.steering.checkpoint_path(f"step-{self._step()}.keras")
        wrapped = self._schedule
        self._unwrap()  # save the user's schedule, not the wrapper
        try:
            self.model.save(path)
        finally:
            if wrapped is not None:
                opt, inner = wrapped
                self._schedule = wrapped
                opt._learning_rate = _ScaledSchedule(inner, self.steering)
        self.saved.append(path)
        return path

    def _stop(self):
        self.model.stop_training = True
