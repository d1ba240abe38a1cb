#!/usr/bin/env python3
"""Generate the completely held-out third set: benches/foreign/third/ and third/manifest.csv.

    KERAS_BACKEND=torch /tmp/tenv/bin/python benches/foreign/make_third.py [--only ID] [--list]

Other data and losses than make_runs.py: a tiny CNN on MNIST, 12-class tabular
data with label smoothing, binary classification with BCE, Huber/L1
regression, bag-of-words text classification on generated documents.
Nobody tunes on this set.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import *  # noqa: E402,F401,F403
from common import (HERE, mnist, tabular, split, mlp, TinyCNN, make_opt, torch_loop, lightning_run,  # noqa
                    keras_run, hf_run, seed_all, main)
import numpy as np  # noqa: E402
from torch import nn  # noqa: E402
import make_runs as M  # noqa: E402

REG = []


def run(id, writer, scenario, verdicts, note):
    def deco(fn):
        path = {"torch-tb": f"third/{id}", "tbx": f"third/{id}",
                "lightning-csv": f"third/{id}/lightning_logs/version_0",
                "lightning-tb": f"third/{id}/lightning_logs/version_0",
                "keras-csv": f"third/{id}/training.csv",
                "hf-trainer": f"third/{id}/trainer_state.json"}[writer]
        REG.append(dict(id=id, writer=writer, scenario=scenario, verdicts=verdicts, note=note, fn=fn, path=path))
        return fn
    return deco


def binary(n, dim, seed, informative=6, flip=0.0):
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, (n, dim)).astype(np.float32)
    w = np.random.default_rng(99).normal(0, 1, informative)
    s = np.tanh(x[:, :informative] @ w) + 0.3 * (x[:, 0] * x[:, 1])
    y = (s > 0).astype(np.int64)
    if flip:
        f = rng.random(n) < flip
        y[f] = 1 - y[f]
    return x, y


def bow(n, vocab, classes, seed, doc_len=40, topic_words=30):
    """Generated documents: each class has its own topic words mixed into common words; bag-of-words counts."""
    rng = np.random.default_rng(seed)
    trng = np.random.default_rng(777)
    topics = [trng.choice(vocab, topic_words, replace=False) for _ in range(classes)]
    y = rng.integers(0, classes, n)
    x = np.zeros((n, vocab), np.float32)
    for i in range(n):
        k = rng.binomial(doc_len, 0.25)
        words = np.concatenate([rng.choice(topics[y[i]], k), rng.integers(0, vocab, doc_len - k)])
        np.add.at(x[i], words, 1.0)
    return np.log1p(x), y.astype(np.int64)


def poly(n, seed, noise=0.2, outliers=0.0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2, 2, (n, 1)).astype(np.float32)
    y = 0.5 * x ** 3 - x ** 2 + 0.5 * x + rng.normal(0, noise, (n, 1))
    if outliers:
        o = rng.random(n) < outliers
        y[o] += rng.normal(0, 5, (o.sum(), 1))
    return x, y.astype(np.float32)


@run("t01-tb-mnist-cnn", "torch-tb", "healthy", "healthy",
     "tiny CNN on 3k MNIST digits, SGD momentum, 6 epochs")
def _(d):
    seed_all(101)
    data = mnist(3000, 1000, seed=101, flat=False)
    m = TinyCNN()
    return torch_loop(M.tbw(d), m, make_opt("sgd", m.parameters(), 0.02, momentum=0.9), data, 6, 32,
                      tags={"train_step": "Loss/train", "val_loss": "Loss/valid", "val_acc": "Accuracy/valid"},
                      step_every=10, val_bs=500)


@run("t02-lcsv-tabular12-ls", "lightning-csv", "healthy", "healthy",
     "12-class synthetic tabular data, cross-entropy with label smoothing 0.1, Adam 20 epochs")
def _(d):
    x, y = tabular(6000, 16, 12, seed=102, informative=6)
    return M.lrun(d, "csv", lambda: mlp([16, 128, 128, 12]), split(x, y, 1500), 20, 64, 2e-3, opt="adam",
                  task="ce_ls", seed=102, log_every=20, lr_monitor=True)


@run("t03-keras-binary-overfit", "keras-csv", "overfitting", "overfitting",
     "Keras binary_crossentropy on 200 rows x 50 features, 256-256 MLP, 60 epochs")
def _(d):
    x, y = binary(1200, 50, seed=103, flip=0.1)
    xtr, ytr, xva, yva = split(x, y, 1000)
    return keras_run(M.kcsv(d), M.kdense([50, 256, 256, 1], out="sigmoid"), (xtr, ytr, xva, yva), 60, 16,
                     M.kadam(1e-3), "binary_crossentropy", seed=103)


@run("t04-hf-binary-bce-lr", "hf-trainer", "diverging", "diverging",
     "HF Trainer, BCEWithLogits binary classifier, AdamW lr 5")
def _(d):
    x, y = binary(4000, 20, seed=104)
    return hf_run(M.hdir(d), mlp([20, 256, 256, 1]), split(x, y, 1000), task="bce", num_train_epochs=8,
                  learning_rate=5.0, per_device_train_batch_size=32, logging_steps=10, seed=104,
                  lr_scheduler_type="constant")


@run("t05-tbx-poly-huber", "tbx", "healthy", "healthy",
     "Huber (smooth L1) regression of a cubic with 5% outliers, tanh MLP, Adam 30 epochs")
def _(d):
    seed_all(105)
    x, y = poly(3000, seed=105, outliers=0.05)
    m = mlp([1, 64, 64, 1], act="tanh")
    return torch_loop(M.tbxw(d), m, make_opt("adam", m.parameters(), 3e-3), split(x, y, 1000), 30, 64,
                      task="huber", tags={"train_epoch": "train/huber", "val_loss": "val/huber"})


@run("t06-ltb-poly-l1-short", "lightning-tb", "too_short", "too_early",
     "L1 regression of a cubic, plain SGD lr 0.01, stopped after 3 epochs")
def _(d):
    x, y = poly(3000, seed=106)
    return M.lrun(d, "tb", lambda: mlp([1, 64, 64, 1], act="tanh"), split(x, y, 1000), 3, 32, 0.01,
                  opt="sgd", task="l1", seed=106, log_every=5)


@run("t07-tb-bow-overfit", "torch-tb", "overfitting", "overfitting",
     "bag-of-words text classification (generated docs, 2000-word vocab), 150 training docs, wide MLP, Adam 40 epochs")
def _(d):
    seed_all(107)
    x, y = bow(1150, 2000, 4, seed=107)
    xtr, ytr, xva, yva = split(x, y, 1000)
    m = mlp([2000, 512, 4])
    return torch_loop(M.tbw(d), m, make_opt("adam", m.parameters(), 1e-3), (xtr, ytr, xva, yva), 40, 16,
                      tags={"train_step": "train_loss", "val_loss": "val_loss", "val_acc": "val_acc"},
                      step_every=2)


@run("t08-lcsv-binary-sgd100", "lightning-csv", "diverging", "diverging",
     "Lightning BCEWithLogits binary classifier, SGD momentum lr 100")
def _(d):
    x, y = binary(4000, 20, seed=108)
    return M.lrun(d, "csv", lambda: mlp([20, 128, 128, 1]), split(x, y, 1000), 8, 32, 100.0, opt="sgd",
                  momentum=0.9, task="bce", seed=108, log_every=10)


@run("t09-keras-tabular12-sgd1e-5", "keras-csv", "stalled", "stalled|underfitting",
     "Keras 12-class tabular data, plain SGD lr 1e-5, 20 epochs")
def _(d):
    x, y = tabular(5000, 16, 12, seed=109, informative=6)
    return keras_run(M.kcsv(d), M.kdense([16, 128, 12]), split(x, y, 1000), 20, 64, M.ksgd(1e-5),
                     "sparse_categorical_crossentropy", seed=109)


@run("t10-hf-mnist-ls-permuted", "hf-trainer", "mismatch", "mismatch",
     "HF Trainer, label-smoothed CE on MNIST; eval labels use a different class order (9 - y)")
def _(d):
    xtr, ytr, xva, yva = mnist(3000, 1000, seed=110)
    return hf_run(M.hdir(d), mlp([784, 256, 10]), (xtr, ytr, xva, 9 - yva), task="ce_ls", num_train_epochs=8,
                  learning_rate=1e-3, per_device_train_batch_size=32, logging_steps=25, seed=110)


@run("t11-tbx-cnn-sigmoid", "tbx", "stalled", "stalled",
     "MNIST CNN with 6 sigmoid conv layers, plain SGD lr 0.01")
def _(d):
    seed_all(111)
    data = mnist(2000, 500, seed=111, flat=False)
    layers = [nn.Conv2d(1, 8, 3, padding=1), nn.Sigmoid()]
    for _ in range(5):
        layers += [nn.Conv2d(8, 8, 3, padding=1), nn.Sigmoid()]
    m = nn.Sequential(*layers, nn.MaxPool2d(4), nn.Flatten(), nn.Linear(8 * 49, 10))
    return torch_loop(M.tbxw(d), m, make_opt("sgd", m.parameters(), 0.01), data, 6, 32,
                      tags={"train_step": "Loss/train", "val_loss": "Loss/val", "val_acc": "Acc/val"},
                      step_every=10, val_bs=500)


@run("t12-ltb-bow-healthy", "lightning-tb", "healthy", "healthy",
     "bag-of-words classification of generated docs, 3k docs, small MLP with weight decay, Adam 10 epochs")
def _(d):
    x, y = bow(4000, 1000, 5, seed=112)
    return M.lrun(d, "tb", lambda: mlp([1000, 64, 5], dropout=0.3), split(x, y, 1000), 10, 64, 1e-3,
                  opt="adamw", wd=0.05, seed=112, log_every=10, lr_monitor=True)


@run("t13-tb-poly-valunits", "torch-tb", "mismatch", "mismatch",
     "Huber regression; validation targets in other units (x100) than training targets")
def _(d):
    seed_all(113)
    x, y = poly(3000, seed=113)
    xtr, ytr, xva, yva = split(x, y, 1000)
    m = mlp([1, 64, 64, 1], act="tanh")
    return torch_loop(M.tbw(d), m, make_opt("adam", m.parameters(), 3e-3), (xtr, ytr, xva, yva * 100), 20, 64,
                      task="huber", tags={"train_step": "loss/train", "val_loss": "loss/val"}, step_every=10)


@run("t14-keras-binary-short", "keras-csv", "too_short", "too_early",
     "Keras binary_crossentropy classifier, SGD lr 0.05, stopped after 3 epochs")
def _(d):
    x, y = binary(5000, 20, seed=114)
    return keras_run(M.kcsv(d), M.kdense([20, 64, 64, 1], out="sigmoid"), split(x, y, 1000), 3, 32,
                     M.ksgd(0.05), "binary_crossentropy", seed=114)


@run("t15-lcsv-mnist-nanfeat", "lightning-csv", "nan", "diverging",
     "Lightning tiny CNN on MNIST where a preprocessing step divides by a zero per-pixel std (0/0 = NaN)")
def _(d):
    xtr, ytr, xva, yva = mnist(2000, 500, seed=115, scale="unit", flat=False)
    mu, sd = xtr.mean(0, keepdims=True), xtr.std(0, keepdims=True)
    with np.errstate(all="ignore"):
        xtr, xva = ((xtr - mu) / sd).astype(np.float32), ((xva - mu) / sd).astype(np.float32)
    return M.lrun(d, "csv", lambda: TinyCNN(), (xtr, ytr, xva, yva), 4, 32, 1e-3, opt="adam", seed=115,
                  log_every=10)

# What each run actually shows; the manifest's scenario, verdicts and note come from here.
OBSERVED = {
    "t01-tb-mnist-cnn": ("healthy", "healthy|overfitting", "tiny CNN on 3k MNIST, SGD momentum, 6 epochs; val acc 95.5%, but val loss min 0.142 at epoch 3 then 0.15-0.17 while train loss ->0.04 (mild late overfit)"),
    "t02-lcsv-tabular12-ls": ("healthy", "healthy", "12-class tabular data, label-smoothed CE, Adam 20 epochs; val loss 1.34->1.08 flattening, val acc ~78%, modest gap"),
    "t03-keras-binary-overfit": ("overfitting", "overfitting", "Keras BCE on 200 rows x 50 features, 256-256 MLP, 60 epochs; val loss min 0.61 (epoch 4) then ->1.35, train acc 100%"),
    "t04-hf-binary-bce-lr": ("diverging", "diverging|stalled", "HF Trainer BCEWithLogits, AdamW lr 5; eval loss 0.85 -> 166 spike -> stuck ~3.2, eval acc at chance (48-56%)"),
    "t05-tbx-poly-huber": ("healthy", "healthy", "Huber regression of a cubic with 5% outliers, tanh MLP, Adam 30 epochs; train ~0.18, val ~0.22 flat from epoch 4"),
    "t06-ltb-poly-l1-short": ("too_short", "too_early", "L1 regression of a cubic, plain SGD 0.01, 3 epochs; val L1 1.06->0.98->0.88, still falling"),
    "t07-tb-bow-overfit": ("healthy", "healthy", "planned as overfitting (150 generated bag-of-words docs, wide MLP, 40 epochs) but the docs are too easy: val loss keeps falling 1.18->0.096, val acc 98.7%"),
    "t08-lcsv-binary-sgd100": ("nan", "diverging", "Lightning BCEWithLogits, SGD lr 100 momentum; every logged train and val loss NaN"),
    "t09-keras-tabular12-sgd1e-5": ("stalled", "stalled|underfitting", "Keras 12-class tabular, plain SGD lr 1e-5, 20 epochs; loss 2.534->2.528, flat, acc ~9%"),
    "t10-hf-mnist-ls-permuted": ("mismatch", "mismatch", "HF Trainer label-smoothed CE, eval labels as 9-y; train loss 0.84->0.57 while eval loss ~4.7-5.0 from epoch 1, eval acc <1%"),
    "t11-tbx-cnn-sigmoid": ("stalled", "stalled", "MNIST CNN with 6 sigmoid conv layers, plain SGD 0.01; loss flat at 2.31 for 6 epochs"),
    "t12-ltb-bow-healthy": ("healthy", "healthy", "generated bag-of-words docs, 1000-64-5 MLP + dropout, AdamW, 10 epochs; val loss 0.77->0.019 tracking train, acc 99.8%"),
    "t13-tb-poly-valunits": ("mismatch", "mismatch", "Huber regression, val targets x100 (other units); train 0.69->0.02 while val loss flat at ~147 from epoch 1"),
    "t14-keras-binary-short": ("too_short", "too_early", "Keras BCE classifier, SGD 0.05, 3 epochs; val loss 0.32->0.21->0.19, still falling"),
    "t15-lcsv-mnist-nanfeat": ("nan", "diverging", "tiny CNN on MNIST standardized by a per-pixel std that is 0 at the borders (0/0 = NaN); every loss NaN"),
}
for _r in REG:
    _r["scenario"], _r["verdicts"], _r["note"] = OBSERVED[_r["id"]]


if __name__ == "__main__":
    main(REG, os.path.join(HERE, "third"), os.path.join(HERE, "third", "manifest.csv"), split_name="third")
