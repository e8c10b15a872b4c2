"""Training parametric attention pooling with autograd: the book's learnable Nadaraya-Watson.

Nadaraya-Watson with a learnable bandwidth is fitted by gradient descent on the squared error of
predicting the training targets from the training points. Each point must be left out of its own
prediction: otherwise the best bandwidth is zero, and the model memorises the noise.

References
----------
1. E. A. Nadaraya (1964); G. S. Watson (1964): kernel regression.
2. W. Härdle, *Applied Nonparametric Regression* (1990), section 5.1: leave-one-out.
3. D. P. Kingma, J. Ba, "Adam: a method for stochastic optimization", ICLR (2015).
4. A. Zhang, Z. C. Lipton, M. Li, A. J. Smola, *Dive into Deep Learning*, section 10.2.4
   (Chinese 2nd edition: parametric attention pooling); the English edition, section 11.2.3,
   adapts the bandwidth by hand instead.
"""

from __future__ import annotations

import math
from numbers import Real
from typing import Any

import torch
from torch import nn

from attnlab._validation import as_float_tensor, check_finite, check_positive_int

__all__ = ["Adam", "train_pooling"]

_PROGRESS_DELAY_S = 1.0  # a bar for a fraction of a second is noise: show it only after this


def train_pooling(
    module: nn.Module,
    x_train,
    y_train,
    *,
    epochs: int = 200,
    lr: float = 0.1,
    leave_one_out: bool = True,
    progress: bool = False,
) -> list[float]:
    """Fit a pooling module's parameters to a regression by full-batch Adam on the squared error.

    Every epoch predicts each training target from the training set itself (queries = keys =
    ``x_train``, values = ``y_train``) and takes one Adam step on the mean squared error.

    Why leave each point out: if a point may attend to itself, the cheapest way to predict it is
    to copy its own target. Shrinking the bandwidth moves all the weight onto the point itself,
    so the training loss falls towards 0 as ``h -> 0``: the bandwidth collapses and the model
    interpolates the noise (1-nearest-neighbour on new data). With ``leave_one_out=True`` each
    point gets zero weight on itself (leave-one-out cross-validation, the criterion that
    :func:`attnlab.select_bandwidth` minimises), so a too-small bandwidth is punished by the
    noise of the neighbours and the loss has a proper minimum. The book gets the same effect by
    removing each point from its own keys.

    Parameters
    ----------
    module : torch.nn.Module
        A pooling with trainable parameters whose ``forward(queries, keys, values, *,
        leave_one_out=...)`` returns ``(output, weights)``, such as
        :class:`attnlab.NadarayaWatson`. Trained in place.
    x_train : torch.Tensor of shape (n,) or (n, d)
        Training inputs (also the keys).
    y_train : torch.Tensor of shape (n,) or (n, d_v)
        Training targets (the values).
    epochs : int, default 200
        Number of full-batch steps.
    lr : float, default 0.1
        Adam's learning rate (:class:`Adam`, the same steps as ``torch.optim.Adam``); for
        :class:`attnlab.NadarayaWatson` a step changes the log-bandwidth by about ``lr``.
    leave_one_out : bool, default True
        Give each point zero weight on itself (see above). False shows the collapse.
    progress : bool, default False
        Show a tqdm progress bar with the current loss (once training has lasted a second).

    Returns
    -------
    list of float
        The loss (mean squared error) before each step, one per epoch.

    Examples
    --------
    >>> from attnlab import NadarayaWatson
    >>> from attnlab.datasets import toy_regression
    >>> data = toy_regression(seed=0)
    >>> pooling = NadarayaWatson(bandwidth=1.0)
    >>> history = train_pooling(pooling, data.x_train, data.y_train)
    >>> len(history), history[-1] < history[0]
    (200, True)
    >>> 0.1 < pooling.bandwidth.item() < 0.5
    True
    """
    func = "train_pooling"
    parameters = _trainable_parameters(module, func)
    check_positive_int(epochs, "epochs", func)
    if isinstance(lr, bool) or not isinstance(lr, Real) or not (0 < lr < math.inf):
        raise ValueError(f"{func}: lr must be a positive number; got {lr!r}.")
    x_train, y_train = _check_training_set(x_train, y_train, leave_one_out, func)

    optimizer = Adam(parameters, lr=lr)
    history: list[float] = []
    module.train()
    with _ProgressBar(epochs, progress, func) as bar:
        for _ in range(epochs):
            optimizer.zero_grad()
            # 1) pool the training targets at the training points  2) squared error  3) step
            output, _ = module(x_train, x_train, y_train, leave_one_out=leave_one_out)  # (n, ...)
            loss = (output - y_train).square().mean()
            if not loss.requires_grad:
                raise ValueError(_no_gradient_message(module, func))
            loss.backward()
            optimizer.step()
            history.append(loss.item())
            bar.update(history[-1])
    return history


class Adam:
    """Adam on a few parameters, step for step as ``torch.optim.Adam`` with its defaults.

    Written out because ``torch.optim``'s first use imports torch's compiler (``torch._dynamo``,
    about 1.5 s and 500 modules, to keep it from tracing the optimizer): a learner's first
    ``train_pooling`` would wait that long for two numbers to update.

    Examples
    --------
    >>> import torch
    >>> weight = torch.tensor([1.0], requires_grad=True)
    >>> optimizer = Adam([weight], lr=0.1)
    >>> (weight**2).sum().backward()
    >>> optimizer.step()
    >>> weight.detach()  # the first step moves by lr, whatever the gradient's size
    tensor([0.9000])
    """

    def __init__(
        self,
        parameters: list[torch.Tensor],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        self.parameters, self.lr, self.betas, self.eps = list(parameters), lr, betas, eps
        self.steps = 0
        self.first = [
            torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.parameters
        ]
        self.second = [
            torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.parameters
        ]

    def zero_grad(self) -> None:
        for parameter in self.parameters:
            parameter.grad = None

    @torch.no_grad()
    def step(self) -> None:
        """One step: moments of the gradient, bias-corrected, as Kingma and Ba (2015)."""
        beta1, beta2 = self.betas
        self.steps += 1
        correction1 = 1 - beta1**self.steps
        correction2 = 1 - beta2**self.steps
        for parameter, first, second in zip(self.parameters, self.first, self.second, strict=True):
            if parameter.grad is None:
                continue
            gradient = parameter.grad
            first.lerp_(gradient, 1 - beta1)  # m = beta1 m + (1 - beta1) g
            second.mul_(beta2).addcmul_(gradient, gradient, value=1 - beta2)  # v
            denominator = (second.sqrt() / math.sqrt(correction2)).add_(self.eps)
            parameter.addcdiv_(first, denominator, value=-self.lr / correction1)


def _trainable_parameters(module: Any, func: str) -> list[nn.Parameter]:
    if not isinstance(module, nn.Module):
        raise TypeError(
            f"{func}: module must be a torch.nn.Module such as attnlab.NadarayaWatson; "
            f"got {type(module).__name__}."
        )
    parameters = [p for p in module.parameters() if p.requires_grad]
    if not parameters:
        raise ValueError(
            f"{func}: module has no trainable parameters (for NadarayaWatson, pass "
            "learnable=True); nothing to train."
        )
    return parameters


def _check_training_set(
    x_train: Any, y_train: Any, leave_one_out: bool, func: str
) -> tuple[torch.Tensor, torch.Tensor]:
    x_train = as_float_tensor(x_train, "x_train", func).detach()
    y_train = as_float_tensor(y_train, "y_train", func).detach()
    if x_train.ndim not in (1, 2) or y_train.ndim not in (1, 2) or len(x_train) != len(y_train):
        raise ValueError(
            f"{func}: x_train must have shape (n,) or (n, d) and y_train (n,) or (n, d_v) with "
            f"the same n; got x_train.shape={tuple(x_train.shape)}, "
            f"y_train.shape={tuple(y_train.shape)}."
        )
    if len(x_train) < (3 if leave_one_out else 1):
        raise ValueError(
            f"{func}: leave-one-out training needs at least 3 points; got {len(x_train)}."
        )
    check_finite(x_train, "x_train", func)
    check_finite(y_train, "y_train", func)
    return x_train, y_train


def _no_gradient_message(module: nn.Module, func: str) -> str:
    """Why the loss has no gradient: with attnlab's pooling, a kernel constant in ``h``."""
    kernel = getattr(module, "kernel", None)
    if kernel is not None:
        return (
            f"{func}: the loss does not depend on the bandwidth with the {kernel.name} kernel: "
            "its score is constant inside its window and -inf outside, so gradient descent "
            "cannot move h. Train with a kernel whose score changes with the distance "
            "(gaussian, epanechnikov, triangular, tricube), or choose h for this kernel with "
            "attnlab.select_bandwidth."
        )
    return (
        f"{func}: the loss does not depend on the module's trainable parameters (no gradient "
        "flows to them), so there is nothing to learn."
    )


class _ProgressBar:
    """A tqdm bar with the current loss, shown only if training lasts over a second."""

    def __init__(self, total: int, enabled: bool, description: str) -> None:
        self.bar = None
        if enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc=description, unit="epoch", delay=_PROGRESS_DELAY_S)

    def __enter__(self) -> _ProgressBar:
        return self

    def update(self, loss: float) -> None:
        if self.bar is not None:
            self.bar.set_postfix(loss=f"{loss:.4f}", refresh=False)
            self.bar.update()

    def __exit__(self, *exc_info) -> None:
        if self.bar is not None:
            self.bar.close()
