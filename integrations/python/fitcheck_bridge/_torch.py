"""The learning-rate factor on PyTorch optimizers (Lightning and the HF
Trainer). Imports nothing itself; the caller has torch.

The factor is applied inside optimizer.step() only: a step pre-hook
multiplies every param group's lr by the bridge's factor and a post-hook
puts back the value it found. Between steps the groups hold the rate the
script, its scheduler or ReduceLROnPlateau set, so a scheduler (chainable
like StepLR or closed-form like LambdaLR) keeps computing from its own
values and the factor multiplies whatever it decides: composed, not fought.
"""


def innermost(optimizer):
    """The torch.optim.Optimizer inside Lightning's / accelerate's wrappers."""
    seen = set()
    while id(optimizer) not in seen:
        seen.add(id(optimizer))
        inner = getattr(optimizer, "_optimizer", None) or getattr(optimizer, "optimizer", None)
        if inner is None or not hasattr(inner, "param_groups"):
            break
        optimizer = inner
    return optimizer


class LrScaler:
    """Scales the lr of every param group of the optimizers attached."""

    def __init__(self, steering):
        self.steering = steering
        self._handles = []
        self._attached = set()
        # The rate the last step used (group 0 of the first optimizer), and
        # the scheduler's rate it was computed from.
        self.last_lr = None
        self.last_base_lr = None

    def attach(self, optimizer):
        opt = innermost(optimizer)
        if id(opt) in self._attached or not hasattr(opt, "register_step_pre_hook"):
            return
        first = not self._attached
        self._attached.add(id(opt))
        saved = {}

        def pre(o, args, kwargs):
            factor = self.steering.lr_factor
            saved.clear()
            for i, g in enumerate(o.param_groups):
                base = g["lr"]
                if factor != 1.0 and isinstance(base, (int, float)):
                    g["lr"] = base * factor
                    saved[i] = (base, g["lr"])
            if first and o.param_groups:
                lr = o.param_groups[0]["lr"]
                self.last_lr = lr if isinstance(lr, (int, float)) else float(lr)
                base = saved.get(0, (self.last_lr,))[0]
                self.last_base_lr = base

        def post(o, args, kwargs):
            for i, (base, scaled) in saved.items():
                g = o.param_groups[i]
                if g["lr"] == scaled:  # untouched during the step
                    g["lr"] = base
            saved.clear()

        self._handles.append(opt.register_step_pre_hook(pre))
        self._handles.append(opt.register_step_post_hook(post))

    def detach(self):
        for h in self._handles:
            h.remove()
        self._handles.clear()
        self._attached.clear()
