"""fitcheck for PyTorch Lightning: one callback.

    from fitcheck_bridge.lightning import FitcheckCallback
    trainer = lightning.Trainer(callbacks=[FitcheckCallback("runs/exp1.jsonl")])
    trainer.fit(model, train_loader, val_loader)   # fitcheck watch runs/exp1.jsonl

Logs per training step: step, epoch, train_loss (the loss training_step
returned), lr (the rate the optimizer used), grad_norm (L2 over all
parameters, before clipping), and whatever the module logged on the step;
after each validation and each training epoch: the metrics the module logged
(`trainer.callback_metrics`, by their own names: val_loss, val_acc, ...).

Keys: `+`/`-` scale the lr of every param group of every optimizer, inside
optimizer.step() (see _torch.py: composed with any scheduler); `space`
pauses between two training steps; `s` calls trainer.save_checkpoint;
`X` sets trainer.should_stop (the run ends after the current step, and
Lightning's usual end of fit runs).
"""

import lightning.pytorch as pl

from ._steer import Steering, numbers, number
from ._torch import LrScaler

__all__ = ["FitcheckCallback"]


def _grad_norm(module):
    import torch

    norms = [p.grad.detach().float().norm(2) for p in module.parameters() if p.grad is not None]
    if not norms:
        return None
    return torch.linalg.vector_norm(torch.stack(norms), 2).item()


class FitcheckCallback(pl.Callback):
    """Log to `path` (JSON lines) and obey `<path>.commands`.

    checkpoint_dir: where `s` saves (default: `<path without .jsonl>-checkpoints/`,
    files `step-<N>.ckpt`). log_every: log every n-th training step (1).
    grad_norm: compute the gradient norm each logged step (True).
    pause_timeout: seconds a pause may last before the run is stopped (None: no limit).
    """

    def __init__(self, path, checkpoint_dir=None, log_every=1, grad_norm=True, pause_timeout=None,
                 commands_path=None):
        super().__init__()
        self.steering = Steering(path, "lightning", checkpoint_dir, commands_path, pause_timeout)
        self.scaler = LrScaler(self.steering)
        self.log_every = max(1, int(log_every))
        self.want_grad_norm = grad_norm
        self._grad_norm = None
        self._step_keys = set()
        self._validated = False
        self._values = {}  # callback_metrics last seen, as numbers
        self._objects = {}  # and as the objects Lightning held
        self.saved = []  # checkpoint paths written on `s`

    # -- start --------------------------------------------------------------

    def on_fit_start(self, trainer, pl_module):
        if not trainer.is_global_zero:
            return
        hp = {}
        try:
            hp.update(dict(pl_module.hparams))
        except Exception:
            pass
        hp.setdefault("max_epochs", trainer.max_epochs)
        if trainer.max_steps and trainer.max_steps > 0:
            hp.setdefault("max_steps", trainer.max_steps)
        self.steering.start(hp)

    def on_train_start(self, trainer, pl_module):
        for opt in trainer.optimizers:
            self.scaler.attach(opt)

    # -- per step -----------------------------------------------------------

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        if self.want_grad_norm and trainer.global_step % self.log_every == 0:
            self._grad_norm = _grad_norm(pl_module)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if not trainer.is_global_zero:
            return
        step = trainer.global_step
        if step % self.log_every == 0:
            loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
            row = {}
            raw = dict(trainer.callback_metrics)
            metrics = numbers(raw)
            if not self._validated:
                # Before the first validation, every metric is a step-level one.
                self._step_keys.update(metrics)
            for key, value in metrics.items():
                # what the module logged on this step (an epoch aggregate
                # re-cached here is last epoch's value: left out)
                if not key.endswith("_epoch") and self._values.get(key) != value:
                    row[key] = value
            self._values.update(metrics)
            self._objects = raw
            row.pop("epoch", None)
            row.pop("step", None)
            train_loss = number(loss)
            if train_loss is not None:
                row["train_loss"] = train_loss
            self.steering.log(step=step, epoch=trainer.current_epoch, lr=self.scaler.last_lr,
                              grad_norm=self._grad_norm, **row)
            self._grad_norm = None
        self.steering.between_steps(save=lambda: self._save(trainer), stop=lambda: self._stop(trainer))

    # -- per epoch ----------------------------------------------------------

    def _epoch_line(self, trainer):
        raw = dict(trainer.callback_metrics)
        metrics = numbers(raw)
        row = {}
        for key, value in metrics.items():
            if key.endswith("_step") or key in ("epoch", "step"):
                continue
            # A key logged at step level holds the last step's value here;
            # its `_epoch` twin (on_epoch=True) is the epoch's.
            if key in self._step_keys and not key.endswith("_epoch"):
                continue
            # Computed since the last look: Lightning puts a new tensor in
            # callback_metrics for each metric (re)computed, even when its
            # value is the same (a constant val_acc); earlier ones stay.
            if self._objects.get(key) is not raw[key]:
                row[key] = value
        self._values.update(metrics)
        self._objects = raw
        if row:
            self.steering.log(step=trainer.global_step, epoch=trainer.current_epoch, **row)

    def on_validation_end(self, trainer, pl_module):
        if trainer.is_global_zero and not trainer.sanity_checking:
            self._validated = True
            self._epoch_line(trainer)

    def on_train_epoch_end(self, trainer, pl_module):
        if trainer.is_global_zero:
            self._epoch_line(trainer)

    def on_fit_end(self, trainer, pl_module):
        self.scaler.detach()

    def teardown(self, trainer, pl_module, stage):
        if stage == "fit":
            self.scaler.detach()

    # -- commands -----------------------------------------------------------

    def _save(self, trainer):
        path = self.steering.checkpoint_path(f"step-{trainer.global_step}.ckpt")
        trainer.save_checkpoint(path)
        self.saved.append(path)
        return path

    def _stop(self, trainer):
        trainer.should_stop = True
