#!/usr/bin/env python3
"""Reference values for src/nn/optim.rs tests, in float64 plain Python.

Written from the published update rules (PyTorch's torch.optim docs for SGD,
Nesterov, Adagrad, RMSprop; Kingma & Ba for Adam), independently of the Rust
code. Three steps of the gradients G on w = [1, -2]."""
import math

G = [[0.5, -1.0], [0.2, 0.3], [-0.4, 0.1]]

def sgd(lr, mu, nesterov):
    w, v = [1.0, -2.0], [0.0, 0.0]
    for g in G:
        for i in range(2):
            v[i] = mu * v[i] + g[i]
            w[i] -= lr * ((g[i] + mu * v[i]) if nesterov else v[i])
    return w

def adam(lr, b1, b2, eps=1e-8):
    w, m, v = [1.0, -2.0], [0.0, 0.0], [0.0, 0.0]
    for t, g in enumerate(G, 1):
        for i in range(2):
            m[i] = b1 * m[i] + (1 - b1) * g[i]
            v[i] = b2 * v[i] + (1 - b2) * g[i] ** 2
            w[i] -= lr * (m[i] / (1 - b1 ** t)) / (math.sqrt(v[i] / (1 - b2 ** t)) + eps)
    return w

def adagrad(lr, eps=1e-10):
    w, s = [1.0, -2.0], [0.0, 0.0]
    for g in G:
        for i in range(2):
            s[i] += g[i] ** 2
            w[i] -= lr * g[i] / (math.sqrt(s[i]) + eps)
    return w

def rmsprop(lr, rho, eps=1e-8):
    w, s = [1.0, -2.0], [0.0, 0.0]
    for g in G:
        for i in range(2):
            s[i] = rho * s[i] + (1 - rho) * g[i] ** 2
            w[i] -= lr * g[i] / (math.sqrt(s[i]) + eps)
    return w

for name, w in [("sgd", sgd(0.1, 0.0, False)), ("momentum", sgd(0.1, 0.9, False)),
                ("nesterov", sgd(0.1, 0.9, True)), ("adam", adam(0.01, 0.9, 0.999)),
                ("adagrad", adagrad(0.1)), ("rmsprop", rmsprop(0.01, 0.9))]:
    print(f"{name:9} [{w[0]:.6f}, {w[1]:.6f}]")
