#!/usr/bin/env python3
"""A real, tiny training loop driven through the fitcheck bridge: logistic
regression on two Gaussian blobs, in pure Python (standard library only).

    python3 integrations/python/examples/logreg.py run.jsonl
    fitcheck watch run.jsonl        # in another terminal: keys steer it

The loop logs one JSON line per epoch, polls the command file after each
epoch, scales its learning rate by bridge.lr_factor, waits while paused,
saves its weights on "save" and ends on "stop". tests/ingest.rs runs it.
"""

import argparse
import json
import math
import os
import random
import sys
import time

sys.dont_write_bytecode = True  # keep the repository free of __pycache__
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from fitcheck_bridge import Bridge  # noqa: E402


def blobs(n, rng):
    """n points: class 0 around (-1, -1), class 1 around (1, 1), sd 1.2."""
    data = []
    for i in range(n):
        y = i % 2
        c = 1.0 if y else -1.0
        data.append(([rng.gauss(c, 1.2), rng.gauss(c, 1.2)], y))
    return data


def sigmoid(z):
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def evaluate(w, b, data):
    loss, correct = 0.0, 0
    for x, y in data:
        p = sigmoid(w[0] * x[0] + w[1] * x[1] + b)
        p = min(max(p, 1e-12), 1 - 1e-12)
        loss -= y * math.log(p) + (1 - y) * math.log(1 - p)
        correct += (p >= 0.5) == (y == 1)
    return loss / len(data), correct / len(data)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("log")
    ap.add_argument("--epochs", type=int, default=200)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--sleep", type=float, default=0.05, help="seconds per epoch, to be watchable")
    args = ap.parse_args()

    rng = random.Random(0)
    train, val = blobs(400, rng), blobs(200, rng)
    w, b = [0.0, 0.0], 0.0
    bridge = Bridge(args.log)
    step = 0
    epoch = 0
    for epoch in range(1, args.epochs + 1):
        lr = args.lr * bridge.lr_factor
        rng.shuffle(train)
        for i in range(0, len(train), 20):
            gw, gb = [0.0, 0.0], 0.0
            batch = train[i : i + 20]
            for x, y in batch:
                err = sigmoid(w[0] * x[0] + w[1] * x[1] + b) - y  # d(loss)/dz
                gw[0] += err * x[0]
                gw[1] += err * x[1]
                gb += err
            w = [w[0] - lr * gw[0] / len(batch), w[1] - lr * gw[1] / len(batch)]
            b -= lr * gb / len(batch)
            step += 1
        tl, ta = evaluate(w, b, train)
        vl, va = evaluate(w, b, val)
        bridge.log(epoch=epoch, step=step, train_loss=tl, train_acc=ta, val_loss=vl, val_acc=va, lr=lr)
        for cmd in bridge.poll():
            print(f"epoch {epoch}: command {cmd['id']} {cmd['command']}", file=sys.stderr)
        if bridge.save_requested:
            with open(args.log + ".weights.json", "w") as f:
                json.dump({"w": w, "b": b, "epoch": epoch}, f)
            bridge.save_requested = False
        if not bridge.wait_while_paused(timeout=60) or bridge.stop_requested:
            break
        time.sleep(args.sleep)
    bridge.close()
    print(f"stopped after epoch {epoch}")


if __name__ == "__main__":
    main()
