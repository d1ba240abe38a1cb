"""fitcheck for the Hugging Face Trainer: one callback.

    from fitcheck_bridge.hf import FitcheckCallback
    trainer = Trainer(model=model, args=args, train_dataset=train, eval_dataset=val,
                      callbacks=[FitcheckCallback("runs/exp1.jsonl")])
    trainer.train()                                    # fitcheck watch runs/exp1.jsonl

Logs what the Trainer logs (on_log, every `logging_steps`): step, train_loss
(the Trainer's `loss`), grad_norm, and lr (the rate the last optimizer step
used, factor included); and each evaluation (on_evaluate): eval_* metrics as
val_* (eval_loss -> val_loss, eval_accuracy -> val_accuracy). No epoch
number: the Trainer's epoch is fractional; each evaluation closes an epoch
in fitcheck.

Keys: `+`/`-` scale the lr of every param group of the Trainer's optimizer
inside optimizer.step() (the scheduler still computes its own rates from its
own values and the factor multiplies them: composed, not fought); `space`
pauses between two optimizer steps (on_step_end); `s` sets
control.should_save: the Trainer writes output_dir/checkpoint-<step> right
after the step (with a pause, when the pause ends); `X` sets
control.should_training_stop (the Trainer ends after the current step, with
its usual end-of-epoch evaluation and save per its strategies).
"""

import os

import transformers

from ._steer import Steering, numbers
from ._torch import LrScaler

__all__ = ["FitcheckCallback"]

_HPARAMS = ("learning_rate", "per_device_train_batch_size", "gradient_accumulation_steps", "num_train_epochs",
            "max_steps", "weight_decay", "adam_beta1", "adam_beta2", "lr_scheduler_type", "warmup_steps",
            "warmup_ratio", "max_grad_norm", "optim", "seed", "logging_steps", "eval_strategy", "save_strategy")
_SKIP = ("runtime", "per_second", "total_flos", "learning_rate", "epoch")


class FitcheckCallback(transformers.TrainerCallback):
    """Log to `path` (JSON lines) and obey `<path>.commands`.

    pause_timeout: seconds a pause may last before the run is stopped (None: no limit).
    Checkpoints go where the Trainer puts them (args.output_dir).
    """

    def __init__(self, path, pause_timeout=None, commands_path=None):
        self.steering = Steering(path, "hf", None, commands_path, pause_timeout)
        self.scaler = LrScaler(self.steering)
        self.saved = []  # checkpoint folders written on `s`
        self._save_asked = False

    def on_train_begin(self, args, state, control, optimizer=None, **kwargs):
        if optimizer is not None:
            self.scaler.attach(optimizer)
        if state.is_world_process_zero:
            hp = {}
            try:
                d = args.to_dict()
                hp = {k: d[k] for k in _HPARAMS if k in d}
            except Exception:
                pass
            self.steering.start(hp)

    def on_step_begin(self, args, state, control, optimizer=None, **kwargs):
        # The Trainer may create its optimizer after on_train_begin (e.g. with
        # some accelerate setups): attach is idempotent.
        if optimizer is not None:
            self.scaler.attach(optimizer)

    def on_train_end(self, args, state, control, **kwargs):
        self.scaler.detach()

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        if not state.is_world_process_zero or any(k.startswith("eval_") for k in logs) or "train_runtime" in logs:
            return  # evaluations come through on_evaluate; the final summary is not a step
        row = {}
        for k, v in numbers(logs).items():
            if any(s in k for s in _SKIP):
                continue
            row["train_loss" if k == "loss" else k] = v
        lr = self.scaler.last_lr
        if lr is None and isinstance(logs.get("learning_rate"), (int, float)):
            lr = logs["learning_rate"] * self.steering.lr_factor
        if row:
            self.steering.log(step=state.global_step, lr=lr, **row)

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        if not state.is_world_process_zero:
            return
        row = {}
        for k, v in numbers(metrics).items():
            if any(s in k for s in _SKIP):
                continue
            row["val_" + k[5:] if k.startswith("eval_") else k] = v
        if row:
            self.steering.log(step=state.global_step, **row)

    def on_step_end(self, args, state, control, **kwargs):
        def save():
            control.should_save = True
            self._save_asked = True
            return None  # the Trainer saves after this hook; on_save says where

        def stop():
            control.should_training_stop = True

        self.steering.between_steps(save=save, stop=stop)
        return control

    def on_save(self, args, state, control, **kwargs):
        if self._save_asked:
            self._save_asked = False
            path = os.path.join(args.output_dir, f"checkpoint-{state.global_step}")
            self.saved.append(path)
            self.steering.bridge.event("saved", path=path)
