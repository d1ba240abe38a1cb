"""The Hugging Face Trainer callback against a real Trainer (CPU, a few
dozen steps): double the lr, pause, save, resume, stop.

    python tests/test_hf.py      # needs torch and transformers (+ accelerate)
"""

import json
import os
import tempfile
import time

from _drive import Commands, Pauser, check, events, fitcheck_reads, lines

import torch
import transformers
from safetensors.torch import load_file

from fitcheck_bridge.hf import FitcheckCallback

torch.set_num_threads(1)
LR = 0.1


class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.net = torch.nn.Linear(4, 2)

    def forward(self, x, labels=None):
        logits = self.net(x)
        out = {"logits": logits}
        if labels is not None:
            out["loss"] = torch.nn.functional.cross_entropy(logits, labels)
        return out


class Sender(transformers.TrainerCallback):
    """The dashboard's keys at fixed steps, before the bridge polls."""

    def __init__(self, log):
        self.cmd, self.logpath = Commands(log), log
        self.pauser = None
        self.times = {}

    def on_step_end(self, args, state, control, **kw):
        s = state.global_step
        self.times[s] = time.monotonic()
        if s == 3:
            self.cmd.send("scale_lr", factor=2.0)
        elif s == 6:
            self.cmd.send("pause")
            self.pauser = Pauser(self.logpath, self.cmd)
            self.pauser.start()
        elif s == 12:
            self.cmd.send("stop")


class Reader(transformers.TrainerCallback):
    """The scheduler's rate before each step, and the rate the optimizer
    holds inside the step (a step pre-hook registered after the bridge's)."""

    def __init__(self):
        self.sched, self.in_step = {}, {}
        self.state = None

    def on_step_begin(self, args, state, control, optimizer=None, lr_scheduler=None, **kw):
        s = state.global_step + 1
        self.sched[s] = lr_scheduler.get_last_lr()[0]
        if self.state is None:
            self.state = state
            inner = getattr(optimizer, "optimizer", optimizer)
            inner.register_step_pre_hook(
                lambda o, a, k: self.in_step.__setitem__(self.state.global_step + 1, o.param_groups[0]["lr"]))


def main():
    tmp = tempfile.mkdtemp(prefix="fitcheck-hf-")
    log = os.path.join(tmp, "run.jsonl")
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 4, generator=g)
    y = (x[:, 0] + x[:, 1] > 0).long()
    data = [{"x": x[i], "labels": y[i]} for i in range(64)]
    args = transformers.TrainingArguments(
        output_dir=os.path.join(tmp, "out"), per_device_train_batch_size=8, per_device_eval_batch_size=32,
        num_train_epochs=20, learning_rate=LR, optim="sgd", lr_scheduler_type="linear", weight_decay=0.0,
        logging_steps=1, eval_strategy="epoch", save_strategy="no", report_to=[], use_cpu=True,
        disable_tqdm=True, dataloader_num_workers=0, seed=0)
    model = Tiny()
    sender, reader, bridge = Sender(log), Reader(), FitcheckCallback(log)
    trainer = transformers.Trainer(model=model, args=args, train_dataset=data, eval_dataset=data,
                                   callbacks=[sender, bridge, reader])
    trainer.train()

    total = 160  # 20 epochs of 8 steps: the linear schedule decays over them
    for s in range(1, 13):
        f = 2.0 if s >= 4 else 1.0
        sched = reader.sched[s]
        check(abs(sched - LR * (1 - (s - 1) / total)) < 1e-9, f"step {s}: the scheduler's own rate {sched:.5f} (linear decay, not disturbed)")
        check(abs(reader.in_step[s] - f * sched) < 1e-9,
              f"step {s}: the optimizer's lr inside the step {reader.in_step[s]:.5f} = {f:g} x {sched:.5f}")
    p = sender.pauser
    p.join(30)
    check(p.error is None, "the pause was seen in the log and resumed" if p.error is None else f"pauser: {p.error}")
    check(p.steps_while_paused == 0, "no step logged while paused")
    check(sender.times[7] - sender.times[6] > 1.0, f"step 7 came {sender.times[7] - sender.times[6]:.2f}s after step 6 (paused)")
    want = os.path.join(args.output_dir, "checkpoint-6")
    check(bridge.saved == [want] and os.path.isdir(want), f"checkpoint folder {bridge.saved}")
    weights = load_file(os.path.join(want, "model.safetensors"))
    fresh = Tiny()
    fresh.load_state_dict(weights)
    check(fresh.net.weight.shape == (2, 4), "its model.safetensors loads into the model")
    check(os.path.exists(os.path.join(want, "optimizer.pt")) and os.path.exists(os.path.join(want, "trainer_state.json")),
          "with optimizer and trainer state (resume_from_checkpoint can use it)")
    check(trainer.state.global_step == 12, f"stopped at step {trainer.state.global_step} of {total}")
    check(events(log) == ["lr", "paused", "resumed", "saved", "stopped"], f"events {events(log)}")
    rows = lines(log)
    check(rows[0].get("framework") == "hf" and "type" not in rows[0], f"start line: framework {rows[0].get('framework')}, hparams {sorted(json.loads(rows[0]['hparams']))[:4]}...")
    steps = [r for r in rows if "train_loss" in r]
    check(len(steps) == 12 and all("grad_norm" in r for r in steps), "12 step lines with train_loss and grad_norm")
    check(abs(steps[3]["lr"] - reader.in_step[4]) < 1e-12, "the log's lr at step 4 is the rate used")
    check(any("val_loss" in r and r["step"] == 8 for r in rows), "val_loss logged at the end of the first epoch")
    read = fitcheck_reads(log)
    if read is not None:
        check(read[0] in (0, 1) and read[1] == 2, "fitcheck diagnose reads the log: 2 epochs")
    print("hf: all passed")


if __name__ == "__main__":
    main()
