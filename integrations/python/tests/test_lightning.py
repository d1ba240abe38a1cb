"""The Lightning callback against a real lightning.Trainer (CPU, a few
dozen steps): double the lr, pause, save while paused, resume, stop.

    python tests/test_lightning.py      # needs torch and lightning
"""

import json
import os
import tempfile
import time

from _drive import Commands, Pauser, check, events, fitcheck_reads, lines

import torch
import lightning.pytorch as pl

from fitcheck_bridge.lightning import FitcheckCallback

torch.set_num_threads(1)
LR, GAMMA = 0.1, 0.95


class Tiny(pl.LightningModule):
    def __init__(self, lr=LR):
        super().__init__()
        self.save_hyperparameters()
        self.net = torch.nn.Linear(4, 2)
        self.seen = {}  # step -> (scheduler's lr, lr measured from the update)

    def training_step(self, batch, i):
        x, y = batch
        loss = torch.nn.functional.cross_entropy(self.net(x), y)
        self.log("train_loss", loss, on_step=True, on_epoch=True)
        return loss

    def validation_step(self, batch, i):
        x, y = batch
        logits = self.net(x)
        self.log("val_loss", torch.nn.functional.cross_entropy(logits, y))
        self.log("val_acc", (logits.argmax(1) == y).float().mean())
        self.log("val_const", 1.0)  # the same each time: must still be logged each time

    def configure_optimizers(self):
        opt = torch.optim.SGD(self.parameters(), lr=self.hparams.lr)
        sched = torch.optim.lr_scheduler.ExponentialLR(opt, GAMMA)  # chainable: reads group["lr"]
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    def on_before_optimizer_step(self, optimizer):
        w = self.net.weight
        # Lightning calls this inside optimizer.step (from its closure), so
        # the group already holds the scaled rate: the scheduler's own value
        # is its last_lr.
        sched_lr = self.lr_schedulers().get_last_lr()[0]
        self._before = (sched_lr, w.detach().clone(), w.grad.detach().clone())

    def on_train_batch_end(self, outputs, batch, i):
        sched_lr, w0, g = self._before
        used = ((w0 - self.net.weight.detach()) / g)[g.abs() > 1e-6].mean().item()
        self.seen[self.trainer.global_step] = (sched_lr, used)


class Driver(pl.Callback):
    """Sends the dashboard's keys at fixed steps (before the bridge polls),
    and reads the lr off the optimizer inside its step."""

    def __init__(self, log):
        self.cmd = Commands(log)
        self.logpath = log
        self.in_step = {}
        self.pauser = None
        self.step_times = {}

    def on_train_batch_start(self, trainer, pl_module, batch, i):
        if not self.in_step:
            opt = trainer.optimizers[0]
            # registered after the bridge's hook, so it sees what the step uses
            opt.register_step_pre_hook(
                lambda o, a, k: self.in_step.__setitem__(trainer.global_step + 1, o.param_groups[0]["lr"]))
            self.in_step[0] = None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, i):
        s = trainer.global_step
        self.step_times[s] = time.monotonic()
        if s == 3:
            self.cmd.send("scale_lr", factor=2.0)
        elif s == 6:
            self.cmd.send("pause")
            self.pauser = Pauser(self.logpath, self.cmd)
            self.pauser.start()
        elif s == 12:
            self.cmd.send("stop")


def main():
    tmp = tempfile.mkdtemp(prefix="fitcheck-lightning-")
    log = os.path.join(tmp, "run.jsonl")
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 4, generator=g)
    y = (x[:, 0] + x[:, 1] > 0).long()
    data = torch.utils.data.TensorDataset(x, y)
    train = torch.utils.data.DataLoader(data, batch_size=8, shuffle=False)
    val = torch.utils.data.DataLoader(data, batch_size=32)
    model = Tiny()
    driver = Driver(log)
    bridge = FitcheckCallback(log)
    trainer = pl.Trainer(max_epochs=20, callbacks=[driver, bridge], accelerator="cpu", logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(model, train, val)

    # lr: the factor is applied to what the scheduler decided, once.
    for step in (1, 2, 3):
        sched, used = model.seen[step]
        check(abs(used - sched) < 1e-4 * sched and abs(driver.in_step[step] - sched) < 1e-9,
              f"step {step}: lr used {used:.5f} = scheduler's {sched:.5f}")
    for step in range(4, 13):
        sched, used = model.seen[step]
        check(abs(sched - LR * GAMMA ** (step - 1)) < 1e-9, f"step {step}: the scheduler's lr {sched:.5f} is its own (not compounded)")
        check(abs(used - 2 * sched) < 1e-4 * sched and abs(driver.in_step[step] - 2 * sched) < 1e-9,
              f"step {step}: lr read from the optimizer in the step {driver.in_step[step]:.5f} = 2 x {sched:.5f}, the update agrees ({used:.5f})")
    # pause
    p = driver.pauser
    p.join(30)
    check(p.error is None, "the pause was seen in the log and resumed" if p.error is None else f"pauser: {p.error}")
    check(p.steps_while_paused == 0, "no step logged while paused")
    check(driver.step_times[7] - driver.step_times[6] > 1.0,
          f"step 7 came {driver.step_times[7] - driver.step_times[6]:.2f}s after step 6 (paused)")
    # save (asked for while paused)
    check(len(bridge.saved) == 1 and os.path.exists(bridge.saved[0]), f"checkpoint written: {bridge.saved}")
    ck = torch.load(bridge.saved[0], weights_only=False)
    check(ck["global_step"] == 6, "the checkpoint is of step 6")
    loaded = Tiny.load_from_checkpoint(bridge.saved[0])
    check(loaded.net.weight.shape == (2, 4) and loaded.hparams.lr == LR, "Tiny.load_from_checkpoint loads it")
    # stop
    check(trainer.global_step == 12, f"stopped at step {trainer.global_step} of 160")
    check(events(log) == ["lr", "paused", "saved", "resumed", "stopped"], f"events {events(log)}")
    rows = lines(log)
    check(rows[0].get("framework") == "lightning" and "type" not in rows[0], f"start line: framework {rows[0].get('framework')}, hparams {sorted(json.loads(rows[0]['hparams']))[:4]}...")
    steps = [r for r in rows if "train_loss" in r]
    check(len(steps) == 12 and all("grad_norm" in r and "lr" in r for r in steps), "12 step lines with loss, lr, grad_norm")
    check(abs(steps[3]["lr"] - 2 * LR * GAMMA ** 3) < 1e-9, f"the log says lr {steps[3]['lr']:.5f} at step 4")
    vals = [r for r in rows if "val_loss" in r]
    check([r["epoch"] for r in vals] == [0, 1] and all(r.get("val_acc") is not None and r.get("val_const") == 1.0 for r in vals),
          "val_loss, val_acc and the constant val_const logged after each validation (epochs 0 and 1)")
    check(not any("train_loss_epoch" in r for r in rows if "train_loss" in r), "no stale epoch aggregate on step lines")
    read = fitcheck_reads(log)
    if read is not None:
        check(read[0] in (0, 1) and read[1] == 2, "fitcheck diagnose reads the log: 2 epochs")
    print("lightning: all passed")


if __name__ == "__main__":
    main()
