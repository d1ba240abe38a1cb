#!/usr/bin/env python3
"""Generate the foreign-writer benchmark runs of benches/foreign/runs/ and manifest.csv.

    KERAS_BACKEND=torch /tmp/tenv/bin/python benches/foreign/make_runs.py [--only ID] [--list]

Every run is a real (small) training run logged by a real writer; each has one
known fault or none. See README.md.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import *  # noqa: E402,F401,F403
from common import (HERE, mnist, moons, spirals, blobs, tabular, split, sine, char_text, char_lm_data, mlp,  # noqa
                    CharGRU, make_opt, torch_loop, lightning_run, keras_run, hf_run, seed_all, main)

REG = []


def run(id, writer, scenario, verdicts, note):
    def deco(fn):
        path = {"torch-tb": f"runs/{id}", "tbx": f"runs/{id}",
                "lightning-csv": f"runs/{id}/lightning_logs/version_0",
                "lightning-tb": f"runs/{id}/lightning_logs/version_0",
                "keras-csv": f"runs/{id}/training.csv",
                "hf-trainer": f"runs/{id}/trainer_state.json"}[writer]
        REG.append(dict(id=id, writer=writer, scenario=scenario, verdicts=verdicts, note=note, fn=fn, path=path))
        return fn
    return deco


def tbw(d):
    from torch.utils.tensorboard import SummaryWriter
    return SummaryWriter(log_dir=d)


def tbxw(d):
    from tensorboardX import SummaryWriter
    return SummaryWriter(logdir=d)


def kcsv(d):
    return os.path.join(d, "training.csv")


def ldir(d):
    return d  # lightning writes d/lightning_logs/version_0


def lrun(d, kind, *a, **k):
    return lightning_run(d, kind, *a, **k)[1]


def hdir(d):
    return d


def kdense(sizes, act="relu", out="softmax", l2=None, dropout=0.0):
    def build(keras):
        reg = keras.regularizers.L2(l2) if l2 else None
        layers = [keras.Input((sizes[0],))]
        for h in sizes[1:-1]:
            layers.append(keras.layers.Dense(h, activation=act, kernel_regularizer=reg))
            if dropout:
                layers.append(keras.layers.Dropout(dropout))
        layers.append(keras.layers.Dense(sizes[-1], activation=out, kernel_regularizer=reg))
        return keras.Sequential(layers)
    return build


def ksgd(lr, momentum=0.0):
    return lambda keras: keras.optimizers.SGD(learning_rate=lr, momentum=momentum)


def kadam(lr):
    return lambda keras: keras.optimizers.Adam(learning_rate=lr)


SCE = "sparse_categorical_crossentropy"

# ====================================================================== healthy


@run("r01-tb-mnist-mlp", "torch-tb", "healthy", "healthy",
     "784-128-10 MLP, SGD momentum on 4k MNIST, 8 epochs; val loss tracks train and flattens near 0.25")
def _(d):
    seed_all(1)
    data = mnist(8000, 2000, seed=1)
    m = mlp([784, 128, 10], dropout=0.2)
    return torch_loop(tbw(d), m, make_opt("sgd", m.parameters(), 0.01, momentum=0.9, wd=5e-4), data, 12, 64,
                      tags={"train_step": "Loss/train", "val_loss": "Loss/val", "val_acc": "Accuracy/val"},
                      step_every=10, val_step="global")


@run("r02-tbx-moons", "tbx", "healthy", "healthy",
     "noisy moons (noise 0.35), 2-32-32-2 MLP, Adam; accuracy caps near 86% with val >= train")
def _(d):
    seed_all(2)
    x, y = moons(2400, 0.35, seed=2)
    m = mlp([2, 32, 32, 2])
    return torch_loop(tbxw(d), m, make_opt("adam", m.parameters(), 5e-3), split(x, y, 800), 25, 64,
                      tags={"train_epoch": "train_loss", "train_acc": "train_acc", "val_loss": "val_loss",
                            "val_acc": "val_acc"})


@run("r03-lcsv-blobs", "lightning-csv", "healthy", "healthy",
     "4 overlapping Gaussian blobs (ceiling ~80%), small MLP, Adam 20 epochs with LR monitor; val ~ train")
def _(d):
    x, y = blobs(3000, 4, 2, 1.6, seed=3)
    return lrun(d, "csv", lambda: mlp([2, 32, 4]), split(x, y, 1000), 20, 64, 3e-3, opt="adam",
                lr_monitor=True, log_every=10, seed=3, hparams={"hidden": 32})


@run("r04-keras-mnist", "keras-csv", "healthy", "healthy",
     "Keras Dense 128 + dropout on 4k MNIST, Adam, 8 epochs; val accuracy ~94% and val loss flat")
def _(d):
    data = mnist(4000, 2000, seed=4, scale="unit")
    return keras_run(kcsv(d), kdense([784, 128, 10], dropout=0.3), data, 14, 64, kadam(1e-3), SCE, seed=4)


@run("r05-hf-spirals", "hf-trainer", "healthy", "healthy",
     "3-arm spirals, 2-64-64-3 MLP, HF Trainer AdamW lr 1e-2, 30 epochs; eval accuracy ~97%, eval loss low")
def _(d):
    x, y = spirals(3000, 3, 0.15, seed=5)
    return hf_run(hdir(d), mlp([2, 64, 64, 3]), split(x, y, 900), num_train_epochs=30, learning_rate=1e-2,
                  per_device_train_batch_size=64, logging_steps=20, seed=5)


@run("r06-ltb-tabular", "lightning-tb", "healthy", "healthy",
     "6 overlapping Gaussian blobs in 8-D, MLP, Adam 15 epochs; val ~ train at the overlap ceiling")
def _(d):
    x, y = blobs(5000, 6, 8, 1.8, seed=6)
    return lrun(d, "tb", lambda: mlp([8, 64, 6]), split(x, y, 1500), 15, 64, 2e-3, opt="adam", seed=6,
                log_every=20)

# ====================================================================== too short


@run("r07-tb-mnist-short", "torch-tb", "too_short", "too_early",
     "plain SGD lr 0.01 on 4k MNIST stopped after 3 epochs; train and val loss still falling fast")
def _(d):
    seed_all(7)
    data = mnist(4000, 2000, seed=7)
    m = mlp([784, 128, 10])
    return torch_loop(tbw(d), m, make_opt("sgd", m.parameters(), 0.01), data, 3, 64,
                      tags={"train_step": "train_loss", "val_loss": "val_loss", "val_acc": "val_accuracy"},
                      step_every=5)


@run("r08-keras-spirals-short", "keras-csv", "too_short", "too_early",
     "Keras MLP on spirals, Adam 1e-3, stopped after 3 epochs; loss still falling steeply")
def _(d):
    x, y = spirals(4000, 3, 0.15, seed=8)
    return keras_run(kcsv(d), kdense([2, 64, 64, 3]), split(x, y, 1000), 3, 32, kadam(3e-3), SCE, seed=8)


@run("r09-hf-mnist-short", "hf-trainer", "too_short", "too_early",
     "HF Trainer, 784-128-10 on 3k MNIST, 2 epochs at lr 2e-4; eval loss still dropping fast")
def _(d):
    data = mnist(3000, 1000, seed=9)
    return hf_run(hdir(d), mlp([784, 128, 10]), data, num_train_epochs=2, learning_rate=2e-4,
                  per_device_train_batch_size=32, logging_steps=10, seed=9, lr_scheduler_type="constant")


@run("r10-lcsv-tabular-short", "lightning-csv", "too_short", "too_early",
     "Lightning MLP on synthetic tabular data, SGD lr 0.05, 3 epochs; loss still falling fast")
def _(d):
    x, y = tabular(5000, 20, 5, seed=10)
    return lrun(d, "csv", lambda: mlp([20, 64, 5]), split(x, y, 1500), 3, 32, 0.05, opt="sgd", seed=10,
                log_every=10)

# ====================================================================== overfitting


@run("r11-tbx-mnist-overfit", "tbx", "overfitting", "overfitting",
     "500 MNIST digits, 784-512-512-10, Adam 40 epochs; val loss bottoms early then climbs")
def _(d):
    seed_all(11)
    data = mnist(500, 2000, seed=11)
    m = mlp([784, 512, 512, 10])
    return torch_loop(tbxw(d), m, make_opt("adam", m.parameters(), 1e-3), data, 40, 50,
                      tags={"train_step": "loss/train", "val_loss": "loss/val", "val_acc": "acc/val",
                            "train_acc": "acc/train"}, step_every=2)


@run("r12-ltb-mnist-overfit", "lightning-tb", "overfitting", "overfitting",
     "300 MNIST digits, wide MLP, Adam 35 epochs; val loss climbs after epoch ~5")
def _(d):
    data = mnist(300, 1500, seed=12)
    return lrun(d, "tb", lambda: mlp([784, 512, 512, 10]), data, 35, 32, 1e-3, opt="adam", seed=12,
                log_every=5, lr_monitor=True)


@run("r13-keras-tabular-overfit", "keras-csv", "overfitting", "overfitting",
     "300-row 30-feature tabular set, Keras 256-256 MLP, Adam 60 epochs; val loss U-shaped")
def _(d):
    x, y = tabular(1300, 30, 4, seed=13, flip=0.05)
    return keras_run(kcsv(d), kdense([30, 256, 256, 4]), split(x, y, 1000), 60, 32, kadam(1e-3), SCE, seed=13)


@run("r14-hf-mnist-overfit", "hf-trainer", "overfitting", "overfitting",
     "HF Trainer, 400 MNIST digits, 784-512-512-10, 30 epochs constant lr; eval loss rises after early min")
def _(d):
    data = mnist(400, 1500, seed=14)
    return hf_run(hdir(d), mlp([784, 512, 512, 10]), data, num_train_epochs=30, learning_rate=1e-3,
                  per_device_train_batch_size=32, logging_steps=10, seed=14, lr_scheduler_type="constant")

# ====================================================================== label noise


@run("r15-tb-mnist-noisy", "torch-tb", "label_noise", "overfitting",
     "2k MNIST with 40% random labels, 784-512-512-10 Adam 30 epochs; train loss falls, val loss climbs")
def _(d):
    seed_all(15)
    data = mnist(2000, 2000, seed=15, label_noise=0.4)
    m = mlp([784, 512, 512, 10])
    return torch_loop(tbw(d), m, make_opt("adam", m.parameters(), 1e-3), data, 30, 64,
                      tags={"train_step": "Loss/train", "train_epoch": "Loss/train_epoch", "val_loss": "Loss/val",
                            "val_acc": "Accuracy/val"}, step_every=10)


@run("r16-lcsv-mnist-noisy", "lightning-csv", "label_noise", "overfitting",
     "1.5k MNIST with 50% random labels, wide MLP, Adam 30 epochs; memorizes, val loss climbs")
def _(d):
    data = mnist(1500, 1500, seed=16, label_noise=0.5)
    return lrun(d, "csv", lambda: mlp([784, 512, 512, 10]), data, 30, 64, 1e-3, opt="adam", seed=16,
                log_every=10)


@run("r17-keras-tabular-noisy", "keras-csv", "label_noise", "overfitting",
     "1.5k tabular rows with 40% random labels, Keras 512-512 MLP, 50 epochs; val loss climbs")
def _(d):
    x, y = tabular(2500, 30, 5, seed=17)
    rng = np.random.default_rng(17)
    f = rng.random(len(y)) < 0.4
    f[:1000] = False
    y = y.copy()
    y[f] = rng.integers(0, 5, f.sum())
    return keras_run(kcsv(d), kdense([30, 512, 512, 5]), split(x, y, 1000), 30, 32, kadam(1e-3), SCE, seed=17)


@run("r18-hf-tabular-noisy", "hf-trainer", "label_noise", "overfitting",
     "HF Trainer, 1.2k tabular rows with 40% random training labels, 30-512-512-5 MLP, 40 epochs; eval loss climbs")
def _(d):
    x, y = tabular(2200, 30, 5, seed=18)
    xtr, ytr, xva, yva = split(x, y, 1000)
    rng = np.random.default_rng(18)
    f = rng.random(len(ytr)) < 0.4
    ytr = ytr.copy()
    ytr[f] = rng.integers(0, 5, f.sum())
    return hf_run(hdir(d), mlp([30, 512, 512, 5]), (xtr, ytr, xva, yva), num_train_epochs=40,
                  learning_rate=1e-3, per_device_train_batch_size=32, logging_steps=20, seed=18,
                  lr_scheduler_type="constant")


import numpy as np  # noqa: E402

# ====================================================================== lr too high


@run("r19-tb-mnist-sgd20", "torch-tb", "lr_too_high", "diverging",
     "plain SGD lr 20 on 3k MNIST MLP")
def _(d):
    seed_all(19)
    data = mnist(3000, 1000, seed=19)
    m = mlp([784, 256, 10])
    return torch_loop(tbw(d), m, make_opt("sgd", m.parameters(), 20.0, momentum=0.9), data, 8, 64,
                      tags={"train_step": "train/loss", "val_loss": "val/loss", "val_acc": "val/acc"},
                      step_every=5)


@run("r20-tbx-mnist-adam1", "tbx", "lr_too_high", "diverging|stalled",
     "Adam lr 1.0 on 3k MNIST MLP")
def _(d):
    seed_all(20)
    data = mnist(3000, 1000, seed=20)
    m = mlp([784, 256, 256, 10])
    return torch_loop(tbxw(d), m, make_opt("adam", m.parameters(), 1.0), data, 10, 64,
                      tags={"train_step": "Train/Loss", "val_loss": "Val/Loss", "val_acc": "Val/Acc"},
                      step_every=5)


@run("r21-ltb-tabular-sgd5", "lightning-tb", "lr_too_high", "diverging",
     "SGD momentum 0.9 lr 5 on tabular MLP under Lightning")
def _(d):
    x, y = tabular(4000, 20, 4, seed=21)
    return lrun(d, "tb", lambda: mlp([20, 128, 128, 4]), split(x, y, 1000), 12, 64, 5.0, opt="sgd",
                momentum=0.9, seed=21, log_every=10, lr_monitor=True)


@run("r22-keras-mnist-sgd10", "keras-csv", "lr_too_high", "diverging",
     "Keras SGD lr 10 on 3k MNIST MLP")
def _(d):
    data = mnist(3000, 1000, seed=22, scale="unit")
    return keras_run(kcsv(d), kdense([784, 128, 10]), data, 10, 32, ksgd(10.0), SCE, seed=22)


@run("r23-hf-mnist-lr2", "hf-trainer", "lr_too_high", "diverging",
     "HF Trainer AdamW lr 2 on MNIST MLP")
def _(d):
    data = mnist(3000, 1000, seed=23)
    return hf_run(hdir(d), mlp([784, 256, 10]), data, num_train_epochs=10, learning_rate=2.0,
                  per_device_train_batch_size=32, logging_steps=10, seed=23, lr_scheduler_type="constant")

# ====================================================================== lr too low


@run("r24-tbx-mnist-sgd1e-4", "tbx", "lr_too_low", "underfitting|stalled",
     "plain SGD lr 1e-4 on 3k MNIST, 20 epochs")
def _(d):
    seed_all(24)
    data = mnist(3000, 1000, seed=24)
    m = mlp([784, 128, 10])
    return torch_loop(tbxw(d), m, make_opt("sgd", m.parameters(), 1e-4), data, 20, 64,
                      tags={"train_epoch": "loss", "val_loss": "val_loss", "val_acc": "val_acc",
                            "lr": "learning_rate"})


@run("r25-lcsv-spirals-sgd1e-5", "lightning-csv", "lr_too_low", "underfitting|stalled",
     "Lightning, plain SGD lr 1e-5 on spirals MLP, 15 epochs")
def _(d):
    x, y = spirals(3000, 3, 0.15, seed=25)
    return lrun(d, "csv", lambda: mlp([2, 64, 64, 3]), split(x, y, 900), 15, 32, 1e-5, opt="sgd", seed=25,
                log_every=10, lr_monitor=True)


@run("r26-keras-tabular-sgd1e-4", "keras-csv", "lr_too_low", "underfitting|stalled",
     "Keras plain SGD lr 1e-4 on tabular MLP, 25 epochs")
def _(d):
    x, y = tabular(4000, 20, 5, seed=26)
    return keras_run(kcsv(d), kdense([20, 64, 5]), split(x, y, 1000), 25, 64, ksgd(1e-4), SCE, seed=26)

# ====================================================================== unnormalized


@run("r27-tb-mnist-raw", "torch-tb", "unnormalized", "diverging|stalled|underfitting",
     "raw 0..255 MNIST pixels, SGD lr 0.01")
def _(d):
    seed_all(27)
    data = mnist(3000, 1000, seed=27, scale="raw")
    m = mlp([784, 128, 10])
    return torch_loop(tbw(d), m, make_opt("sgd", m.parameters(), 0.01), data, 8, 64,
                      tags={"train_step": "Loss/train", "val_loss": "Loss/test", "val_acc": "Accuracy/test"},
                      step_every=10)


@run("r28-ltb-mnist-raw", "lightning-tb", "unnormalized", "diverging|stalled|underfitting",
     "Lightning, raw 0..255 MNIST pixels, SGD momentum lr 0.05")
def _(d):
    data = mnist(3000, 1000, seed=28, scale="raw")
    return lrun(d, "tb", lambda: mlp([784, 256, 10]), data, 8, 64, 0.05, opt="sgd", momentum=0.9, seed=28,
                log_every=10)


@run("r29-keras-tabular-raw", "keras-csv", "unnormalized", "diverging|stalled|underfitting",
     "Keras, tabular features at scale 1e3 (not standardized), SGD lr 0.01")
def _(d):
    x, y = tabular(4000, 20, 4, seed=29)
    x = x * 1000.0 + 500.0
    return keras_run(kcsv(d), kdense([20, 64, 4]), split(x, y, 1000), 12, 32, ksgd(0.01), SCE, seed=29)

# ====================================================================== weight decay


@run("r30-tbx-mnist-wd2", "tbx", "weight_decay", "underfitting|stalled",
     "SGD momentum with weight_decay=2 on MNIST MLP")
def _(d):
    seed_all(30)
    data = mnist(4000, 1000, seed=30)
    m = mlp([784, 256, 10])
    return torch_loop(tbxw(d), m, make_opt("sgd", m.parameters(), 0.05, wd=2.0, momentum=0.9), data, 10, 64,
                      tags={"train_step": "loss/train", "val_loss": "loss/val", "val_acc": "accuracy/val"},
                      step_every=10, val_step="global")


@run("r31-lcsv-tabular-adamw50", "lightning-csv", "weight_decay", "underfitting|stalled",
     "Lightning AdamW weight_decay=50 on tabular MLP")
def _(d):
    x, y = tabular(4000, 20, 5, seed=31)
    return lrun(d, "csv", lambda: mlp([20, 128, 5]), split(x, y, 1000), 15, 64, 3e-3, opt="adamw", wd=50.0,
                seed=31, log_every=10, train_acc=True)


@run("r32-hf-mnist-wd50", "hf-trainer", "weight_decay", "underfitting|stalled",
     "HF Trainer AdamW weight_decay=50 on MNIST MLP")
def _(d):
    data = mnist(3000, 1000, seed=32)
    return hf_run(hdir(d), mlp([784, 128, 10]), data, num_train_epochs=8, learning_rate=3e-3,
                  weight_decay=50.0, per_device_train_batch_size=32, logging_steps=20, seed=32,
                  lr_scheduler_type="constant")


@run("r33-keras-mnist-l2", "keras-csv", "weight_decay", "underfitting|stalled",
     "Keras Dense layers with L2(1.0) kernel regularizer on MNIST")
def _(d):
    data = mnist(4000, 1000, seed=33, scale="unit")
    return keras_run(kcsv(d), kdense([784, 128, 10], l2=0.1), data, 10, 64, kadam(1e-3), SCE, seed=33)

# ====================================================================== deep sigmoid


@run("r34-tb-mnist-sigmoid10", "torch-tb", "deep_sigmoid", "stalled",
     "10 sigmoid layers, plain SGD lr 0.05 on MNIST, grad histograms every 3 epochs")
def _(d):
    seed_all(34)
    data = mnist(3000, 1000, seed=34)
    m = mlp([784] + [64] * 10 + [10], act="sigmoid")
    return torch_loop(tbw(d), m, make_opt("sgd", m.parameters(), 0.05), data, 12, 64,
                      tags={"train_step": "Loss/train", "val_loss": "Loss/val", "val_acc": "Accuracy/val"},
                      step_every=10, hist_epochs=(0, 3, 6, 9))


@run("r35-lcsv-mnist-sigmoid12", "lightning-csv", "deep_sigmoid", "stalled",
     "Lightning, 12 sigmoid layers, plain SGD lr 0.1 on MNIST")
def _(d):
    data = mnist(3000, 1000, seed=35)
    return lrun(d, "csv", lambda: mlp([784] + [64] * 12 + [10], act="sigmoid"), data, 10, 64, 0.1,
                opt="sgd", seed=35, log_every=10)


@run("r36-keras-mnist-sigmoid8", "keras-csv", "deep_sigmoid", "stalled",
     "Keras, 8 sigmoid layers, plain SGD lr 0.5 on MNIST")
def _(d):
    data = mnist(3000, 1000, seed=36, scale="unit")
    return keras_run(kcsv(d), kdense([784] + [64] * 8 + [10], act="sigmoid"), data, 15, 32, ksgd(0.5), SCE,
                     seed=36)

# ====================================================================== tiny model


@run("r37-tbx-mnist-784-2-10", "tbx", "tiny_model", "underfitting",
     "784-2-10 MLP on MNIST, Adam 10 epochs")
def _(d):
    seed_all(37)
    data = mnist(4000, 1000, seed=37)
    m = mlp([784, 2, 10])
    return torch_loop(tbxw(d), m, make_opt("adam", m.parameters(), 3e-3), data, 10, 64,
                      tags={"train_step": "train_loss", "val_loss": "val_loss", "val_acc": "val_acc"},
                      step_every=10)


@run("r38-ltb-spirals-linear", "lightning-tb", "tiny_model", "underfitting",
     "Lightning, linear model on 3-arm spirals, Adam 20 epochs")
def _(d):
    x, y = spirals(3000, 3, 0.1, seed=38)
    return lrun(d, "tb", lambda: nn.Linear(2, 3), split(x, y, 900), 20, 32, 1e-2, opt="adam", seed=38,
                log_every=10)


@run("r39-hf-spirals-linear", "hf-trainer", "tiny_model", "underfitting",
     "HF Trainer, linear model on 4-arm spirals, 20 epochs")
def _(d):
    x, y = spirals(3000, 4, 0.1, seed=39)
    return hf_run(hdir(d), nn.Linear(2, 4), split(x, y, 900), num_train_epochs=20, learning_rate=1e-2,
                  per_device_train_batch_size=32, logging_steps=20, seed=39)


@run("r40-keras-mnist-784-1-10", "keras-csv", "tiny_model", "underfitting",
     "Keras 784-1-10 MLP on MNIST, Adam 12 epochs")
def _(d):
    data = mnist(4000, 1000, seed=40, scale="unit")
    return keras_run(kcsv(d), kdense([784, 1, 10]), data, 12, 64, kadam(3e-3), SCE, seed=40)

# ====================================================================== train/eval mismatch


@run("r41-tb-mnist-valraw", "torch-tb", "train_eval_mismatch", "mismatch",
     "BatchNorm MLP trained on normalized MNIST, validated on raw 0..255 pixels")
def _(d):
    seed_all(41)
    xtr, ytr, _, _ = mnist(4000, 1000, seed=41)
    _, _, xva, yva = mnist(4000, 1000, seed=41, scale="raw")
    m = mlp([784, 256, 10], bn=True)
    return torch_loop(tbw(d), m, make_opt("adam", m.parameters(), 1e-3), (xtr, ytr, xva, yva), 10, 64,
                      tags={"train_step": "Loss/train", "val_loss": "Loss/val", "val_acc": "Accuracy/val"},
                      step_every=10)


@run("r42-lcsv-mnist-valshift", "lightning-csv", "train_eval_mismatch", "mismatch",
     "Lightning, validation labels shifted by one ((y+1) mod 10) relative to training")
def _(d):
    xtr, ytr, xva, yva = mnist(3000, 1000, seed=42)
    return lrun(d, "csv", lambda: mlp([784, 128, 10]), (xtr, ytr, xva, (yva + 1) % 10), 10, 64, 1e-3,
                opt="adam", seed=42, log_every=10)


@run("r43-tbx-mnist-bntrain", "tbx", "train_eval_mismatch", "mismatch",
     "BatchNorm+dropout MLP validated in train mode with batch size 2 on class-sorted val set")
def _(d):
    seed_all(43)
    xtr, ytr, xva, yva = mnist(3000, 1000, seed=43)
    o = np.argsort(yva, kind="stable")
    m = mlp([784, 256, 256, 10], bn=True, dropout=0.3)
    return torch_loop(tbxw(d), m, make_opt("adam", m.parameters(), 1e-3), (xtr, ytr, xva[o], yva[o]), 10, 64,
                      tags={"train_step": "loss/train", "val_loss": "loss/val", "val_acc": "acc/val"},
                      step_every=10, val_bs=2, val_train_mode=True)


@run("r44-hf-blobs-valshift", "hf-trainer", "train_eval_mismatch", "mismatch",
     "HF Trainer, eval labels shifted by one class relative to training labels")
def _(d):
    x, y = blobs(3000, 5, 10, 1.0, seed=44)
    xtr, ytr, xva, yva = split(x, y, 1000)
    return hf_run(hdir(d), mlp([10, 64, 5]), (xtr, ytr, xva, (yva + 1) % 5), num_train_epochs=10,
                  learning_rate=3e-3, per_device_train_batch_size=32, logging_steps=20, seed=44)


@run("r45-keras-tabular-valunscaled", "keras-csv", "train_eval_mismatch", "mismatch",
     "Keras, train features standardized, validation features left at raw scale (x*50+20)")
def _(d):
    x, y = tabular(4000, 20, 4, seed=45)
    xtr, ytr, xva, yva = split(x, y, 1000)
    return keras_run(kcsv(d), kdense([20, 64, 4]), (xtr, ytr, xva * 50 + 20, yva), 12, 64, kadam(1e-3), SCE,
                     seed=45)

# ====================================================================== regression


@run("r46-tb-sine-mse", "torch-tb", "regression", "healthy",
     "MSE regression on noisy sine, 1-64-64-1 tanh MLP, Adam 40 epochs; val MSE ~ noise level")
def _(d):
    seed_all(46)
    x, y = sine(3000, seed=46)
    m = mlp([1, 64, 64, 1], act="tanh")
    return torch_loop(tbw(d), m, make_opt("adam", m.parameters(), 3e-3), split(x, y, 1000), 40, 64, task="mse",
                      tags={"train_step": "loss/train", "val_loss": "loss/val"}, step_every=10)


@run("r47-lcsv-reg-overfit", "lightning-csv", "regression", "overfitting",
     "MSE regression, 40 rows x 20 features (linear target + noise), 20-512-512-1 MLP, Adam 60 epochs; val MSE bottoms then climbs")
def _(d):
    rng = np.random.default_rng(47)
    x = rng.normal(0, 1, (1040, 20)).astype(np.float32)
    w = rng.normal(0, 1, (20, 1)) / np.sqrt(20)
    y = (2 * x @ w + rng.normal(0, 1.0, (1040, 1))).astype(np.float32)
    return lrun(d, "csv", lambda: mlp([20, 512, 512, 1]), split(x, y, 1000), 60, 8, 1e-3, opt="adam",
                task="mse", seed=47, log_every=1)


@run("r48-keras-sine-trainonly", "keras-csv", "regression", "healthy",
     "Keras MSE regression on noisy sine without validation data; loss converges")
def _(d):
    x, y = sine(3000, seed=48)
    return keras_run(kcsv(d), kdense([1, 64, 64, 1], act="tanh", out=None), (x, y, None, None), 30, 32,
                     kadam(3e-3), "mse", metrics=(), val=False, seed=48)

# ====================================================================== language model


def lm_loop(d, wfn, text_chars, n_val, epochs, lr, opt, hidden, tags, seed, bs=32, seq=64, step_every=5):
    seed_all(seed)
    text = char_text(text_chars + n_val)
    xtr, ytr, xva, yva, V = char_lm_data(text, seq, n_val, vocab=sorted(set(char_text(200000))))
    m = CharGRU(V, hidden=hidden)
    return torch_loop(wfn(d), m, make_opt(opt, m.parameters(), lr), (xtr, ytr, xva, yva), epochs, bs, task="lm",
                      tags=tags, step_every=step_every, val_bs=64, seed=seed)


@run("r49-tbx-charlm", "tbx", "language_model", "healthy",
     "char-level GRU LM on README + stdlib source, Adam, 8 epochs; val loss falls with train")
def _(d):
    return lm_loop(d, tbxw, 60000, 8000, 12, 3e-3, "adam", 128,
                   {"train_step": "train/loss", "val_loss": "val/loss"}, seed=49)


@run("r50-tb-charlm-overfit", "torch-tb", "language_model", "overfitting",
     "char GRU (256 hidden) on only 6k chars, Adam, 40 epochs; val loss climbs")
def _(d):
    return lm_loop(d, tbw, 6000, 4000, 40, 3e-3, "adam", 256,
                   {"train_step": "Loss/train", "val_loss": "Loss/val"}, seed=50, bs=16, step_every=2)


@run("r51-lcsv-charlm-lr", "lightning-csv", "language_model", "diverging",
     "Lightning char GRU LM with SGD lr 50")
def _(d):
    text = char_text(30000 + 4000)
    xtr, ytr, xva, yva, V = char_lm_data(text, 64, 4000, vocab=sorted(set(char_text(200000))))
    return lrun(d, "csv", lambda: CharGRU(V, hidden=128), (xtr, ytr, xva, yva), 6, 32, 50.0, opt="sgd",
                task="lm", seed=51, log_every=5, val_bs=64)

# ====================================================================== nan


def with_missing(x, frac, seed):
    x = x.copy()
    rng = np.random.default_rng(seed)
    x[rng.random(x.shape) < frac] = np.nan
    return x


@run("r52-lcsv-tabular-nanfeat", "lightning-csv", "nan", "diverging",
     "Lightning on tabular data with unimputed missing values (NaN features); every loss NaN")
def _(d):
    x, y = tabular(4000, 20, 4, seed=52)
    x = with_missing(x, 0.02, 52)
    return lrun(d, "csv", lambda: mlp([20, 64, 4]), split(x, y, 1000), 8, 64, 1e-3, opt="adam", seed=52,
                log_every=10)


@run("r53-keras-tabular-nanfeat", "keras-csv", "nan", "diverging",
     "Keras on tabular data with NaN missing values; loss NaN every epoch")
def _(d):
    x, y = tabular(4000, 20, 4, seed=53)
    x = with_missing(x, 0.02, 53)
    return keras_run(kcsv(d), kdense([20, 64, 4]), split(x, y, 1000), 8, 64, kadam(1e-3), SCE, seed=53)


@run("r54-tbx-mnist-logsoftmax", "tbx", "nan", "diverging",
     "hand-written cross-entropy -(log(softmax(z))*onehot) with Adam lr 0.05; log(0) makes loss NaN")
def _(d):
    seed_all(54)
    data = mnist(3000, 1000, seed=54)
    m = mlp([784, 512, 512, 10])
    return torch_loop(tbxw(d), m, make_opt("adam", m.parameters(), 0.05), data, 8, 64, task="ce_manual",
                      tags={"train_step": "loss", "val_loss": "val_loss", "val_acc": "val_acc"}, step_every=5)


# ====================================================================== train only


@run("r55-tb-mnist-trainonly", "torch-tb", "train_only", "healthy",
     "train loss only, 784-256-10 SGD momentum on 5k MNIST, 10 epochs; converges smoothly")
def _(d):
    seed_all(55)
    data = mnist(5000, 10, seed=55)
    m = mlp([784, 256, 10])
    return torch_loop(tbw(d), m, make_opt("sgd", m.parameters(), 0.02, momentum=0.9), data, 10, 64,
                      tags={"train_step": "train_loss"}, step_every=10, val=False)


@run("r56-tbx-tabular-trainonly-sgd30", "tbx", "train_only", "diverging",
     "train loss only, SGD lr 30 on tabular MLP; loss blows up")
def _(d):
    seed_all(56)
    x, y = tabular(4000, 20, 4, seed=56)
    m = mlp([20, 128, 128, 4])
    return torch_loop(tbxw(d), m, make_opt("sgd", m.parameters(), 30.0, momentum=0.9), split(x, y, 0), 10, 32,
                      tags={"train_step": "Loss/train", "train_epoch": "Loss/epoch"}, step_every=5, val=False)


@run("r57-ltb-moons-trainonly", "lightning-tb", "train_only", "healthy",
     "Lightning TensorBoardLogger, train loss only, moons MLP, Adam 20 epochs; converges")
def _(d):
    x, y = moons(3000, 0.2, seed=57)
    return lrun(d, "tb", lambda: mlp([2, 32, 32, 2]), split(x, y, 0), 20, 64, 3e-3, opt="adam", seed=57,
                log_every=10, val=False)

# What each run actually shows (read off the printed per-epoch numbers); the
# manifest's verdicts and note come from here.
OBSERVED = {
    "r01-tb-mnist-mlp": ("healthy", "784-128-10 MLP with dropout, SGD momentum, 8k MNIST, 12 epochs; val loss 0.31->0.16-0.17, flat over the last 4 epochs, val acc 95%"),
    "r02-tbx-moons": ("healthy", "noisy moons (noise 0.35), 2-32-32-2 MLP, Adam 25 epochs; train and val loss both ~0.27 from epoch 6, accuracy capped at ~88%"),
    "r03-lcsv-blobs": ("healthy", "4 overlapping 2-D blobs, 2-32-4 MLP, Adam 20 epochs, LR monitor; val loss 0.94->0.58 flat, val acc ~73% (data ceiling), val ~ train"),
    "r04-keras-mnist": ("healthy", "Keras Dense128+dropout on 4k MNIST, Adam 14 epochs; val loss 0.49->0.20 and flattening, val acc ~94%"),
    "r05-hf-spirals": ("healthy", "3-arm spirals, 2-64-64-3 MLP, HF Trainer lr 1e-2 linear decay, 30 epochs; eval loss ->0.01, eval acc 99.8%"),
    "r06-ltb-tabular": ("healthy", "6 overlapping 8-D blobs, 8-64-6 MLP, Adam 15 epochs; val loss 0.42->0.25 flat from epoch 8, val ~ train, acc ~91%"),
    "r07-tb-mnist-short": ("too_early", "plain SGD lr 0.01 on 4k MNIST stopped after 3 epochs; val loss 1.31->0.80->0.61, still falling fast"),
    "r08-keras-spirals-short": ("too_early", "Keras MLP on spirals, Adam 3e-3, 3 epochs; loss 1.07->1.03->0.94, val 1.07->0.86, falling faster each epoch"),
    "r09-hf-mnist-short": ("too_early", "HF Trainer 784-128-10 on 3k MNIST, 2 epochs at constant lr 2e-4; eval loss 0.76->0.49, still dropping fast"),
    "r10-lcsv-tabular-short": ("too_early", "Lightning MLP on 5-class tabular data, SGD 0.05, 3 epochs; val loss 1.16->0.85->0.71, still falling"),
    "r11-tbx-mnist-overfit": ("overfitting", "500 MNIST digits, 784-512-512-10, Adam 40 epochs; val loss min 0.44 at epoch 4 then climbs to 0.53 while train loss ->3e-4"),
    "r12-ltb-mnist-overfit": ("overfitting", "300 MNIST digits, wide MLP, Adam 35 epochs; val loss min 0.49 at epoch 4, climbs to 0.62, train ->3e-4"),
    "r13-keras-tabular-overfit": ("overfitting", "300 tabular rows, Keras 256-256 MLP, Adam 60 epochs; val loss 0.91 (epoch 4) -> 1.75, train acc 100%, val acc ~64%"),
    "r14-hf-mnist-overfit": ("overfitting", "HF Trainer, 400 MNIST digits, 784-512-512-10, 30 epochs; eval loss min 0.43 (epoch 4-5) then 0.55-0.59, train loss ->1e-4"),
    "r15-tb-mnist-noisy": ("overfitting", "2k MNIST with 40% random labels, 784-512-512-10 Adam 30 epochs; val loss min 0.76 at epoch 4 then ->1.6, train loss 1.9->0.05"),
    "r16-lcsv-mnist-noisy": ("overfitting", "1.5k MNIST with 50% random labels, wide MLP, Adam 30 epochs; val loss ~0.99 until epoch 6 then ->2.4, train loss ->0.04"),
    "r17-keras-tabular-noisy": ("overfitting", "1.5k tabular rows with 40% random labels, Keras 512-512 MLP, 30 epochs; val loss 1.06->2.4, train acc ->100%"),
    "r18-hf-tabular-noisy": ("overfitting", "HF Trainer, 1.2k tabular rows with 40% random labels, 30-512-512-5 MLP, 40 epochs; eval loss min 0.95 (epoch 3) then ->2.5"),
    "r19-tb-mnist-sgd20": ("diverging", "SGD lr 20 momentum 0.9 on MNIST MLP; losses 1e10-1e15 for 5 epochs, then train ~22 and val stuck at 1.2e9, accuracy at chance"),
    "r20-tbx-mnist-adam1": ("diverging|stalled", "Adam lr 1.0 on MNIST MLP; train loss 2.7e4 in epoch 1, then stuck at ~2.33 (chance), val loss stuck at 29, acc 10%"),
    "r21-ltb-tabular-sgd5": ("diverging|stalled", "SGD lr 5 momentum 0.9 on tabular MLP; train loss ~1.5 noisy (>ln4), val loss jumps 1.36->5 and stays, val acc 16-34%"),
    "r22-keras-mnist-sgd10": ("diverging|stalled", "Keras SGD lr 10 on MNIST MLP; blows up in epoch 1, then loss flat at 14.4 (saturated softmax), acc 10%"),
    "r23-hf-mnist-lr2": ("diverging|stalled", "HF Trainer AdamW lr 2 on MNIST MLP; train loss 28-330 for 4 epochs then stuck ~2.5, eval loss 64->17 flat, eval acc ~12%"),
    "r24-tbx-mnist-sgd1e-4": ("underfitting|stalled", "plain SGD lr 1e-4 on MNIST, 20 epochs; nearly straight slow decline 2.32->2.18, val acc 22%"),
    "r25-lcsv-spirals-sgd1e-5": ("underfitting|stalled", "plain SGD lr 1e-5 on spirals MLP, 15 epochs; loss flat at 1.111 (val 1.107) to 4 digits"),
    "r26-keras-tabular-sgd1e-4": ("underfitting|stalled", "Keras plain SGD lr 1e-4, 25 epochs; loss 1.727->1.693, nearly flat slow decline, acc ~21%"),
    "r27-tb-mnist-raw": ("diverging|stalled|underfitting", "raw 0..255 MNIST pixels, SGD lr 0.01; first-epoch loss 57, then stuck ~2.0, val acc ~20%"),
    "r28-ltb-mnist-raw": ("diverging|stalled", "raw 0..255 MNIST pixels, SGD momentum 0.05; epoch-1 loss 2.5e4, then flat at 2.303 (chance)"),
    "r29-keras-tabular-raw": ("diverging|stalled", "tabular features at scale 1e3, Keras SGD 0.01; loss flat at 13.8 from epoch 1, acc 15%"),
    "r30-tbx-mnist-wd2": ("underfitting|stalled", "SGD momentum weight_decay=2 on MNIST MLP; loss pinned at 2.303 (chance) from epoch 2, train = val"),
    "r31-lcsv-tabular-adamw50": ("underfitting|stalled", "AdamW weight_decay=50 on 5-class tabular MLP; loss ~1.56 (ln5=1.61) flat, train ~ val, acc ~40%"),
    "r32-hf-mnist-wd50": ("underfitting|stalled", "HF Trainer AdamW weight_decay=50 on MNIST MLP; loss ~1.6 flat, train ~ val, eval acc ~55%"),
    "r33-keras-mnist-l2": ("underfitting|stalled", "Keras L2(0.1) on every Dense layer; loss (incl. penalty) levels off at ~1.95, train ~ val, acc ~75%"),
    "r34-tb-mnist-sigmoid10": ("stalled", "10 sigmoid layers, SGD lr 0.05 on MNIST, grad histograms at 4 epochs; loss flat at 2.30 for 12 epochs"),
    "r35-lcsv-mnist-sigmoid12": ("stalled", "12 sigmoid layers, SGD lr 0.1 on MNIST; loss flat at 2.31 for 10 epochs, acc 10%"),
    "r36-keras-mnist-sigmoid8": ("stalled", "Keras, 8 sigmoid layers, SGD lr 0.5 on MNIST; loss flat at ~2.305 for 15 epochs (no late start)"),
    "r37-tbx-mnist-784-2-10": ("underfitting", "784-2-10 MLP on MNIST, Adam 10 epochs; loss levels at ~1.82 (val 1.86), no gap, acc ~25%"),
    "r38-ltb-spirals-linear": ("underfitting", "linear model on 3-arm spirals, Adam 20 epochs; loss flat at 1.066 (val 1.056) from epoch 2, acc ~48%"),
    "r39-hf-spirals-linear": ("underfitting", "HF Trainer linear model on 4-arm spirals, 20 epochs; loss ~1.34 flat from epoch 2, eval acc ~37%"),
    "r40-keras-mnist-784-1-10": ("underfitting", "Keras 784-1-10 MLP on MNIST, 12 epochs; loss 2.20->1.76 slowly, train = val, acc 29%"),
    "r41-tb-mnist-valraw": ("mismatch", "BN MLP trained on normalized MNIST, validated on raw 0..255 pixels; train loss ->0.02 while val loss 18-29 from epoch 1"),
    "r42-lcsv-mnist-valshift": ("mismatch", "val labels shifted by one; train loss 0.90->0.06 while val loss rises 7.4->12.7 from epoch 1, val acc <1%"),
    "r43-tbx-mnist-bntrain": ("mismatch", "BN+dropout MLP evaluated in train mode, batch 2, class-sorted val; train loss 0.90->0.05, val loss rises 3.0->4.6, val acc ~13%"),
    "r44-hf-blobs-valshift": ("mismatch", "HF Trainer, eval labels shifted by one class; train loss ->0.02, eval loss rises 5.7->10.2, eval acc 0.4%"),
    "r45-keras-tabular-valunscaled": ("mismatch", "Keras, train standardized, val features at raw scale (x*50+20); train loss 1.28->0.50, val loss 6.6->5.9 flat, val acc 61%"),
    "r46-tb-sine-mse": ("healthy", "MSE regression on noisy sine, tanh MLP, Adam 40 epochs; train and val MSE ~0.012-0.014 (noise 0.01), no gap"),
    "r47-lcsv-reg-overfit": ("overfitting", "MSE regression, 40 rows x 20 features, 20-512-512-1 MLP, 60 epochs; train MSE ->1e-4 while val MSE falls to ~3.0 by epoch 8 then stays flat (large gap, no clear climb)"),
    "r48-keras-sine-trainonly": ("healthy", "Keras MSE regression on noisy sine, no validation data, 30 epochs; loss 0.22->0.018 (noise 0.01)"),
    "r49-tbx-charlm": ("healthy", "char-level GRU LM on README + stdlib source, Adam 12 epochs; train 3.44->1.64, val 2.61->1.78 and flattening"),
    "r50-tb-charlm-overfit": ("overfitting", "char GRU (256 hidden) on 6k chars, Adam 40 epochs; val loss min 2.96 at epoch 17-18 then ->3.89 while train 3.5->0.21"),
    "r51-lcsv-charlm-lr": ("diverging", "char GRU LM with SGD lr 50; loss jumps from ln(V)~4.5 to 140-330 and stays there, noisy"),
    "r52-lcsv-tabular-nanfeat": ("diverging", "tabular data with unimputed NaN features; every logged train and val loss is NaN"),
    "r53-keras-tabular-nanfeat": ("diverging", "Keras on tabular data with NaN features; loss and val_loss NaN every epoch"),
    "r54-tbx-mnist-logsoftmax": ("diverging", "hand-written -(log(softmax)*onehot) loss, Adam lr 0.05; log(0) makes every logged loss NaN from step 5"),
    "r55-tb-mnist-trainonly": ("healthy", "train loss only, 784-256-10 SGD momentum on 5k MNIST, 10 epochs; 0.66->0.013, smooth"),
    "r56-tbx-tabular-trainonly-sgd30": ("diverging", "train loss only, SGD lr 30 momentum on tabular MLP; epoch-1 loss 1.6e20, then 24-38 noisy (chance acc)"),
    "r57-ltb-moons-trainonly": ("healthy", "Lightning TensorBoardLogger, train loss only, moons MLP, Adam 20 epochs; 0.43->0.07 and flat"),
}
for _r in REG:
    _r["verdicts"], _r["note"] = OBSERVED[_r["id"]]


if __name__ == "__main__":
    main(REG, os.path.join(HERE, "runs"), os.path.join(HERE, "manifest.csv"))
