"""Shared pieces of make_runs.py and make_third.py: data, nets and one runner
per writer (plain PyTorch loop + torch/tensorboardX SummaryWriter, Lightning
with CSVLogger/TensorBoardLogger, Keras 3 CSVLogger, transformers.Trainer).

Every runner trains for real and lets the real library write its own files;
it returns a per-epoch history only so the generator can print it.
"""

import csv
import gzip
import json
import math
import os
import shutil
import struct
import sys
import time
import warnings
import logging

os.environ.setdefault("KERAS_BACKEND", "torch")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

torch.set_num_threads(1)
torch.set_num_interop_threads(1)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
MNIST = os.path.join(ROOT, "datasets", "mnist")
WRITERS = ["torch-tb", "tbx", "lightning-csv", "lightning-tb", "keras-csv", "hf-trainer"]


def seed_all(s):
    import random

    random.seed(s)
    np.random.seed(s)
    torch.manual_seed(s)


# ---------------------------------------------------------------- data


def _read_idx(name):
    with gzip.open(os.path.join(MNIST, name), "rb") as f:
        data = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    assert zero == 0 and dtype == 0x08, name
    dims = struct.unpack(">" + "I" * ndim, data[4 : 4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


_MNIST = {}


def mnist(n_train, n_val=2000, seed=0, scale="norm", label_noise=0.0, flat=True):
    """MNIST subsets. scale: 'norm' ((x/255-0.1307)/0.3081), 'unit' (x/255), 'raw' (0..255)."""
    if not _MNIST:
        _MNIST["xtr"] = _read_idx("train-images-idx3-ubyte.gz")
        _MNIST["ytr"] = _read_idx("train-labels-idx1-ubyte.gz").astype(np.int64)
        _MNIST["xte"] = _read_idx("t10k-images-idx3-ubyte.gz")
        _MNIST["yte"] = _read_idx("t10k-labels-idx1-ubyte.gz").astype(np.int64)
    rng = np.random.default_rng(seed)
    i = rng.permutation(60000)[:n_train]
    j = rng.permutation(10000)[:n_val]
    xtr, ytr = _MNIST["xtr"][i].astype(np.float32), _MNIST["ytr"][i].copy()
    xva, yva = _MNIST["xte"][j].astype(np.float32), _MNIST["yte"][j].copy()
    xtr, xva = scale_mnist(xtr, scale), scale_mnist(xva, scale)
    if label_noise > 0:
        flip = rng.random(n_train) < label_noise
        ytr[flip] = rng.integers(0, 10, flip.sum())
    if flat:
        xtr, xva = xtr.reshape(-1, 784), xva.reshape(-1, 784)
    else:
        xtr, xva = xtr[:, None], xva[:, None]
    return xtr, ytr, xva, yva


def scale_mnist(x, scale):
    if scale == "raw":
        return x.astype(np.float32)
    x = x / 255.0
    if scale == "norm":
        x = (x - 0.1307) / 0.3081
    return x.astype(np.float32)


def moons(n, noise, seed):
    rng = np.random.default_rng(seed)
    m = n // 2
    t1 = rng.uniform(0, np.pi, m)
    t2 = rng.uniform(0, np.pi, n - m)
    a = np.stack([np.cos(t1), np.sin(t1)], 1)
    b = np.stack([1 - np.cos(t2), 0.5 - np.sin(t2)], 1)
    x = np.concatenate([a, b]) + rng.normal(0, noise, (n, 2))
    y = np.concatenate([np.zeros(m), np.ones(n - m)]).astype(np.int64)
    p = rng.permutation(n)
    return x[p].astype(np.float32), y[p]


def spirals(n, classes, noise, seed, turns=1.5):
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    per = n // classes
    for c in range(classes):
        r = rng.uniform(0.05, 1.0, per)
        t = turns * 2 * np.pi * r + 2 * np.pi * c / classes + rng.normal(0, noise, per)
        xs.append(np.stack([r * np.sin(t), r * np.cos(t)], 1))
        ys.append(np.full(per, c))
    x, y = np.concatenate(xs), np.concatenate(ys).astype(np.int64)
    p = rng.permutation(len(x))
    return x[p].astype(np.float32), y[p]


def blobs(n, classes, dim, spread, seed):
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 1.0, (classes, dim)) * 2.0
    y = rng.integers(0, classes, n)
    x = centers[y] + rng.normal(0, spread, (n, dim))
    return x.astype(np.float32), y.astype(np.int64)


def tabular(n, dim, classes, seed, informative=8, flip=0.0):
    """Nonlinear synthetic tabular classification (a fixed random teacher net)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, (n, dim)).astype(np.float32)
    w1 = np.random.default_rng(1234 + classes).normal(0, 1, (informative, 32))
    w2 = np.random.default_rng(4321 + classes).normal(0, 1, (32, classes))
    logits = np.tanh(x[:, :informative] @ w1) @ w2
    y = logits.argmax(1)
    if flip:
        f = rng.random(n) < flip
        y[f] = rng.integers(0, classes, f.sum())
    return x, y.astype(np.int64)


def split(x, y, n_val):
    return x[n_val:], y[n_val:], x[:n_val], y[:n_val]


def sine(n, seed, noise=0.1, lo=-3, hi=3):
    rng = np.random.default_rng(seed)
    x = rng.uniform(lo, hi, (n, 1)).astype(np.float32)
    y = (np.sin(2 * x) + 0.3 * x + rng.normal(0, noise, (n, 1))).astype(np.float32)
    return x, y


def char_text(max_chars, seed=0):
    parts = [open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()]
    for mod in ("json/decoder.py", "json/encoder.py", "csv.py", "gzip.py", "shutil.py"):
        p = os.path.join(os.path.dirname(os.__file__), mod)
        if os.path.exists(p):
            parts.append(open(p, encoding="utf-8").read())
    text = "\n".join(parts)
    text = "".join(ch for ch in text if 32 <= ord(ch) < 127 or ch == "\n")
    return text[:max_chars]


def char_lm_data(text, seq, n_val_chars, vocab=None):
    vocab = vocab or sorted(set(text))
    idx = {c: i for i, c in enumerate(vocab)}
    ids = np.array([idx.get(c, 0) for c in text], dtype=np.int64)
    tr, va = ids[:-n_val_chars], ids[-n_val_chars:]

    def chunks(a):
        n = (len(a) - 1) // seq
        x = np.stack([a[i * seq : i * seq + seq] for i in range(n)])
        y = np.stack([a[i * seq + 1 : i * seq + seq + 1] for i in range(n)])
        return x, y

    xtr, ytr = chunks(tr)
    xva, yva = chunks(va)
    return xtr, ytr, xva, yva, len(vocab)


# ---------------------------------------------------------------- nets


def mlp(sizes, act="relu", bn=False, dropout=0.0):
    acts = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}
    layers = []
    for a, b in zip(sizes[:-2], sizes[1:-1]):
        layers.append(nn.Linear(a, b))
        if bn:
            layers.append(nn.BatchNorm1d(b))
        layers.append(acts[act]())
        if dropout:
            layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(sizes[-2], sizes[-1]))
    return nn.Sequential(*layers)


class CharGRU(nn.Module):
    def __init__(self, vocab, emb=32, hidden=128, layers=1):
        super().__init__()
        self.emb = nn.Embedding(vocab, emb)
        self.rnn = nn.GRU(emb, hidden, layers, batch_first=True)
        self.out = nn.Linear(hidden, vocab)

    def forward(self, x):
        h, _ = self.rnn(self.emb(x))
        return self.out(h)


class TinyCNN(nn.Module):
    def __init__(self, c1=8, c2=16, classes=10, bn=False):
        super().__init__()
        self.f = nn.Sequential(
            nn.Conv2d(1, c1, 3, padding=1), *( [nn.BatchNorm2d(c1)] if bn else []), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 3, padding=1), *( [nn.BatchNorm2d(c2)] if bn else []), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.head = nn.Linear(c2 * 49, classes)

    def forward(self, x):
        return self.head(self.f(x).flatten(1))


def make_opt(name, params, lr, wd=0.0, momentum=0.0):
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=wd)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, weight_decay=wd)
    raise ValueError(name)


def loss_and_acc(out, y, task):
    """task: 'ce' | 'mse' | 'lm' | 'bce' | 'huber' | 'l1' | 'ce_ls' (label smoothing 0.1)."""
    if task in ("ce", "ce_ls"):
        loss = F.cross_entropy(out, y, label_smoothing=0.1 if task == "ce_ls" else 0.0)
        return loss, (out.argmax(1) == y).float().mean()
    if task == "ce_manual":  # hand-written cross-entropy: log(softmax) hits log(0) = -inf, * 0 = nan
        p = torch.softmax(out, 1)
        loss = -(torch.log(p) * F.one_hot(y, out.shape[1])).sum(1).mean()
        return loss, (out.argmax(1) == y).float().mean()
    if task == "lm":
        return F.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1)), None
    if task == "bce":
        out = out.squeeze(-1)
        return F.binary_cross_entropy_with_logits(out, y.float()), ((out > 0).long() == y).float().mean()
    if task == "mse":
        return F.mse_loss(out, y), None
    if task == "huber":
        return F.smooth_l1_loss(out, y), None
    if task == "l1":
        return F.l1_loss(out, y), None
    raise ValueError(task)


def ylabels_tensor(y, task):
    return torch.from_numpy(y)


# ---------------------------------------------------------------- plain loop


def torch_loop(writer, model, opt, data, epochs, bs, task="ce", tags=None, step_every=10,
               val_step="epoch", hist_epochs=(), hist_every=None, val_bs=1000, val_train_mode=False,
               sched=None, seed=0, val=True, clip=None, log_lr=None):
    """A hand-written training loop the way a user would write one.

    tags: dict with any of train_step, train_epoch, train_acc, val_loss, val_acc, lr.
    val_step: 'epoch' (x = epoch number) or 'global' (x = global step) for epoch-level scalars.
    """
    tags = tags or {}
    xtr, ytr, xva, yva = data
    xtr_t, ytr_t = torch.from_numpy(xtr), torch.from_numpy(ytr)
    xva_t, yva_t = (torch.from_numpy(xva), torch.from_numpy(yva)) if val else (None, None)
    g = torch.Generator().manual_seed(seed)
    n = len(xtr_t)
    step = 0
    hist = []
    for ep in range(epochs):
        model.train()
        perm = torch.randperm(n, generator=g)
        tl, ta, nb = 0.0, 0.0, 0
        for b in range(0, n, bs):
            i = perm[b : b + bs]
            out = model(xtr_t[i])
            loss, acc = loss_and_acc(out, ytr_t[i], task)
            opt.zero_grad()
            loss.backward()
            if clip:
                nn.utils.clip_grad_norm_(model.parameters(), clip)
            if ep in hist_epochs and b == 0:
                for name, p in model.named_parameters():
                    if p.grad is not None and "weight" in name:
                        writer.add_histogram(f"grad/{name}", p.grad, step)
            opt.step()
            step += 1
            lv = loss.item()
            tl += lv
            ta += acc.item() if acc is not None else 0.0
            nb += 1
            if step_every and "train_step" in tags and step % step_every == 0:
                writer.add_scalar(tags["train_step"], lv, step)
        if sched is not None:
            sched.step()
        x_ep = ep if val_step == "epoch" else step
        rec = {"epoch": ep, "train_loss": tl / nb, "train_acc": ta / nb if acc is not None else None}
        if "train_epoch" in tags:
            writer.add_scalar(tags["train_epoch"], tl / nb, x_ep)
        if "train_acc" in tags and acc is not None:
            writer.add_scalar(tags["train_acc"], ta / nb, x_ep)
        if "lr" in tags:
            writer.add_scalar(tags["lr"], opt.param_groups[0]["lr"], x_ep)
        if val:
            if not val_train_mode:
                model.eval()
            vl, va, vn = 0.0, 0.0, 0
            with torch.no_grad():
                for b in range(0, len(xva_t), val_bs):
                    out = model(xva_t[b : b + val_bs])
                    loss, acc = loss_and_acc(out, yva_t[b : b + val_bs], task)
                    k = len(out)
                    vl += loss.item() * k
                    va += (acc.item() if acc is not None else 0) * k
                    vn += k
            rec["val_loss"] = vl / vn
            rec["val_acc"] = va / vn if acc is not None else None
            if "val_loss" in tags:
                writer.add_scalar(tags["val_loss"], vl / vn, x_ep)
            if "val_acc" in tags and acc is not None:
                writer.add_scalar(tags["val_acc"], va / vn, x_ep)
        hist.append(rec)
    writer.flush()
    writer.close()
    return hist


# ---------------------------------------------------------------- lightning


def lightning_run(run_dir, kind, net_fn, data, epochs, bs, lr, opt="adam", wd=0.0, momentum=0.0, task="ce",
                  log_every=10, lr_monitor=False, val=True, seed=0, val_bs=500, hparams=None,
                  val_train_mode=False, train_acc=False):
    import lightning as L
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
    from lightning.pytorch.callbacks import LearningRateMonitor

    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    logging.getLogger("lightning").setLevel(logging.ERROR)
    L.seed_everything(seed, workers=True, verbose=False)

    class LitModel(L.LightningModule):
        def __init__(self, lr, optimizer, weight_decay, momentum, batch_size, **arch):
            super().__init__()
            self.save_hyperparameters()
            self.net = net_fn()

        def forward(self, x):
            return self.net(x)

        def training_step(self, batch, batch_idx):
            x, y = batch
            loss, acc = loss_and_acc(self(x), y, task)
            self.log("train_loss", loss, on_step=True, on_epoch=True)
            if train_acc and acc is not None:
                self.log("train_acc", acc, on_step=False, on_epoch=True)
            return loss

        def validation_step(self, batch, batch_idx):
            x, y = batch
            if val_train_mode:
                self.net.train()
            loss, acc = loss_and_acc(self(x), y, task)
            self.log("val_loss", loss)
            if acc is not None:
                self.log("val_acc", acc)

        def configure_optimizers(self):
            return make_opt(self.hparams.optimizer, self.parameters(), self.hparams.lr,
                            self.hparams.weight_decay, self.hparams.momentum)

    xtr, ytr, xva, yva = data
    from torch.utils.data import DataLoader, TensorDataset

    g = torch.Generator().manual_seed(seed)
    tl = DataLoader(TensorDataset(torch.from_numpy(xtr), torch.from_numpy(ytr)), batch_size=bs, shuffle=True,
                    generator=g)
    vl = DataLoader(TensorDataset(torch.from_numpy(xva), torch.from_numpy(yva)), batch_size=val_bs) if val else None
    if kind == "csv":
        logger = CSVLogger(save_dir=run_dir, name="lightning_logs")
    else:
        logger = TensorBoardLogger(save_dir=run_dir, name="lightning_logs")
    cbs = [LearningRateMonitor(logging_interval="epoch")] if lr_monitor else []
    trainer = L.Trainer(max_epochs=epochs, accelerator="cpu", devices=1, logger=logger, callbacks=cbs,
                        enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False,
                        log_every_n_steps=log_every, num_sanity_val_steps=0, deterministic=True)
    model = LitModel(lr=lr, optimizer=opt, weight_decay=wd, momentum=momentum, batch_size=bs, **(hparams or {}))
    trainer.fit(model, tl, vl)
    vdir = os.path.join(run_dir, "lightning_logs", "version_0")
    return vdir, lightning_history(vdir, kind)


def lightning_history(vdir, kind):
    rows = {}
    if kind == "csv":
        with open(os.path.join(vdir, "metrics.csv")) as f:
            for r in csv.DictReader(f):
                if not r.get("epoch"):
                    continue
                e = int(r["epoch"])
                d = rows.setdefault(e, {"epoch": e})
                for k in ("train_loss_epoch", "val_loss", "val_acc", "train_acc"):
                    if r.get(k):
                        d[k.replace("_epoch", "")] = float(r[k])
    else:
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

        ea = EventAccumulator(vdir)
        ea.Reload()
        tags = ea.Tags()["scalars"]
        ep = {e.step: int(e.value) for e in ea.Scalars("epoch")} if "epoch" in tags else {}
        for k in ("train_loss_epoch", "val_loss", "val_acc", "train_acc"):
            if k in tags:
                for i, e in enumerate(ea.Scalars(k)):
                    d = rows.setdefault(i, {"epoch": i})
                    d[k.replace("_epoch", "")] = e.value
    return [rows[k] for k in sorted(rows)]


# ---------------------------------------------------------------- keras


def keras_run(csv_path, build, data, epochs, bs, optimizer, loss, metrics=("accuracy",), val=True, seed=0):
    import keras

    keras.utils.set_random_seed(seed)
    model = build(keras)
    model.compile(optimizer=optimizer(keras), loss=loss, metrics=list(metrics))
    xtr, ytr, xva, yva = data
    os.makedirs(os.path.dirname(csv_path), exist_ok=True)
    h = model.fit(xtr, ytr, validation_data=(xva, yva) if val else None, epochs=epochs, batch_size=bs,
                  verbose=0, callbacks=[keras.callbacks.CSVLogger(csv_path)])
    hist = []
    for e in range(len(h.history["loss"])):
        hist.append({"epoch": e, **{k: v[e] for k, v in h.history.items()}})
    return hist


# ---------------------------------------------------------------- transformers


class HFWrap(nn.Module):
    """A plain nn.Module whose forward returns a dict with `loss`, as Trainer expects."""

    def __init__(self, net, task):
        super().__init__()
        self.net = net
        self.task = task

    def forward(self, x, labels=None):
        out = self.net(x)
        res = {"logits": out}
        if labels is not None:
            res["loss"] = loss_and_acc(out, labels, self.task)[0]
        return res


class DictDS(torch.utils.data.Dataset):
    def __init__(self, x, y):
        self.x, self.y = torch.from_numpy(x), torch.from_numpy(y)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return {"x": self.x[i], "labels": self.y[i]}


def hf_run(out_dir, net, data, task="ce", val=True, seed=0, **targs):
    import transformers
    from transformers import Trainer, TrainingArguments

    transformers.logging.set_verbosity_error()
    logging.getLogger("transformers").setLevel(logging.ERROR)
    transformers.set_seed(seed)
    xtr, ytr, xva, yva = data
    defaults = dict(output_dir=out_dir, eval_strategy="epoch" if val else "no", logging_strategy="steps",
                    report_to="none", save_strategy="no", use_cpu=True, seed=seed, disable_tqdm=True,
                    dataloader_num_workers=0)
    defaults.update(targs)
    args = TrainingArguments(**defaults)

    def compute_metrics(p):
        preds = p.predictions[0] if isinstance(p.predictions, tuple) else p.predictions
        if task == "bce":
            return {"accuracy": float(((preds.reshape(-1) > 0).astype(int) == p.label_ids).mean())}
        return {"accuracy": float((preds.argmax(-1) == p.label_ids).mean())}

    trainer = Trainer(model=HFWrap(net, task), args=args, train_dataset=DictDS(xtr, ytr),
                      eval_dataset=DictDS(xva, yva) if val else None,
                      compute_metrics=compute_metrics if task in ("ce", "ce_ls", "bce") else None)
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        trainer.train()
    trainer.save_state()
    for name in os.listdir(out_dir):
        if name != "trainer_state.json":
            p = os.path.join(out_dir, name)
            shutil.rmtree(p) if os.path.isdir(p) else os.remove(p)
    st = json.load(open(os.path.join(out_dir, "trainer_state.json")))
    rows = {}
    for r in st["log_history"]:
        e = math.ceil(r.get("epoch", 0) - 1e-9)
        d = rows.setdefault(e, {"epoch": e})
        if "loss" in r:
            d["train_loss"] = r["loss"]
        for k in ("eval_loss", "eval_accuracy", "grad_norm"):
            if k in r:
                d[k] = r[k]
    return [rows[k] for k in sorted(rows)]


# ---------------------------------------------------------------- driver


def fmt(v):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def print_hist(run_id, hist, secs):
    keys = []
    for h in hist:
        for k in h:
            if k not in keys and k not in ("epoch",):
                keys.append(k)
    print(f"== {run_id} ({secs:.1f}s)")
    show = hist if len(hist) <= 16 else hist[:6] + [None] + hist[-6:] if False else hist
    step = max(1, len(hist) // 15)
    for i, h in enumerate(show):
        if i % step and i != len(show) - 1:
            continue
        print("  ep%3d " % h.get("epoch", i) + "  ".join(f"{k}={fmt(h.get(k))}" for k in keys))
    sys.stdout.flush()


def assign_splits(runs, split_name=None):
    by = {}
    for r in sorted(runs, key=lambda r: r["id"]):
        if split_name:
            r["split"] = split_name
        else:
            k = len(by.setdefault(r["scenario"], []))
            r["split"] = "tune" if k % 2 == 0 else "held-out"
            by[r["scenario"]].append(r)


def write_manifest(path, runs):
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["id", "path", "writer", "scenario", "split", "verdicts", "note"])
        for r in sorted(runs, key=lambda r: r["id"]):
            w.writerow([r["id"], r["path"], r["writer"], r["scenario"], r["split"], r["verdicts"], r["note"]])


def main(registry, base, manifest, split_name=None):
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("--only", action="append", help="run id (or prefix); repeatable")
    ap.add_argument("--list", action="store_true")
    args = ap.parse_args()
    runs = [dict(r) for r in registry]
    assign_splits(runs, split_name)
    if args.list:
        for r in sorted(runs, key=lambda r: r["id"]):
            print(r["id"], r["writer"], r["scenario"], r["split"], r["verdicts"])
        return
    t_all = time.time()
    for r in runs:
        if args.only and not any(r["id"].startswith(o) for o in args.only):
            continue
        run_dir = os.path.join(base, r["id"])
        shutil.rmtree(run_dir, ignore_errors=True)
        os.makedirs(run_dir)
        t0 = time.time()
        hist = r["fn"](run_dir)
        print_hist(r["id"], hist, time.time() - t0)
        target = os.path.join(os.path.dirname(base), r["path"])
        assert os.path.exists(target), target
    print(f"total {time.time() - t_all:.1f}s")
    write_manifest(manifest, runs)
