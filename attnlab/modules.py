"""``torch.nn`` modules over the functional core, for book-style code and for training.

Each ``forward`` returns ``(output, weights)`` and keeps a detached copy of the weights in
``.attention_weights``, as the book's modules do, so the weights can be drawn after a call.
Inputs are validated once per call (shapes, masks, and the sizes and dtype that lazily built
layers were built for); the attention modules then keep torch's NaN-in, NaN-out convention,
while ``AveragePooling`` and ``NadarayaWatson`` refuse NaN data as their functions do.
``NadarayaWatson`` learns its bandwidth; ``AdditiveAttention`` learns its scoring function.

References
----------
1. E. A. Nadaraya (1964); G. S. Watson (1964): kernel regression.
2. D. Bahdanau, K. Cho, Y. Bengio, arXiv:1409.0473 (2014): additive attention.
3. A. Vaswani et al., "Attention is all you need" (2017): scaled dot-product attention.
4. A. Zhang, Z. C. Lipton, M. Li, A. J. Smola, *Dive into Deep Learning*, sections 10.2-10.3
   (Chinese 2nd edition) / 11.2-11.3 (English).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from attnlab._validation import (
    check_bandwidth,
    check_positive_int,
    check_probability,
    check_queries_keys_values,
)
from attnlab.attention import dot_product_attention
from attnlab.kernels import Kernel, get_kernel
from attnlab.masking import apply_mask, build_mask
from attnlab.pooling import average_pooling, nadaraya_watson

__all__ = [
    "AdditiveAttention",
    "AveragePooling",
    "DotProductAttention",
    "KeepsWeights",
    "NadarayaWatson",
    "check_layer_input",
]


class KeepsWeights(nn.Module):
    """Base class of attnlab's attention modules: the last weights, detached, in
    ``.attention_weights`` (what :func:`attnlab.record_attention` reads)."""

    attention_weights: torch.Tensor | None

    def __init__(self) -> None:
        super().__init__()
        self.attention_weights = None

    def keep(self, output: torch.Tensor, weights: torch.Tensor | None):
        """Remember ``weights`` (detached) and return ``(output, weights)``."""
        self.attention_weights = None if weights is None else weights.detach()
        return output, weights


def check_layer_input(layer: nn.Linear, tensor: torch.Tensor, name: str, func: str) -> None:
    """Refuse input that the (lazily built) ``layer`` cannot take, saying what it was built for.

    A lazy layer takes its input size from the first call; later calls with another size, or
    any call whose dtype differs from the parameters', would end in a bare matrix-product error.
    """
    weight = layer.weight
    if not nn.parameter.is_lazy(weight) and tensor.shape[-1] != weight.shape[1]:
        raise ValueError(
            f"{func}: {name} must have {weight.shape[1]} features (last axis), the size this "
            f"module was built for on its first call; got {name}.shape={tuple(tensor.shape)}. "
            f"A module's input sizes are fixed by its first call: build a new {func} for "
            "inputs of another size."
        )
    if tensor.dtype != weight.dtype:
        raise TypeError(
            f"{func}: {name} have dtype {tensor.dtype} but the module's parameters are "
            f"{weight.dtype}; convert the inputs ({name}.to({weight.dtype})) or the module "
            f"(module.to({tensor.dtype}))."
        )


class AveragePooling(KeepsWeights):
    """Average pooling as a module: every key gets weight ``1 / n_keys``.

    Examples
    --------
    >>> import torch
    >>> output, weights = AveragePooling()(torch.zeros(2), torch.arange(4.0), torch.arange(4.0))
    >>> output, weights.shape
    (tensor([1.5000, 1.5000]), torch.Size([2, 4]))
    """

    def forward(self, queries, keys, values) -> tuple[torch.Tensor, torch.Tensor]:
        """See :func:`attnlab.average_pooling`."""
        return self.keep(*average_pooling(queries, keys, values))


class NadarayaWatson(KeepsWeights):
    """Nadaraya-Watson pooling with a positive, optionally learnable bandwidth.

    The book's parametric attention pooling multiplies the distance by a learnable ``w``; here
    the same model is parameterised by the bandwidth ``h = 1 / w``, stored as its logarithm so
    that gradient steps can never make it negative.

    Parameters
    ----------
    kernel : str, Kernel or callable, default "gaussian"
    bandwidth : float or sequence of float, default 1.0
        Initial bandwidth; one per feature if a sequence.
    learnable : bool, default True
        Learn the bandwidth (a parameter) or keep it fixed (a buffer).

    Examples
    --------
    >>> import torch
    >>> pooling = NadarayaWatson(bandwidth=0.5)
    >>> keys, values = torch.arange(5.0), torch.arange(5.0) ** 2
    >>> output, weights = pooling(keys, keys, values, leave_one_out=True)
    >>> weights.diagonal().detach()
    tensor([0., 0., 0., 0., 0.])
    >>> pooling.bandwidth
    tensor(0.5000, grad_fn=<ExpBackward0>)
    """

    def __init__(
        self,
        kernel: str | Kernel | Callable[[torch.Tensor], torch.Tensor] = "gaussian",
        bandwidth: float | torch.Tensor = 1.0,
        learnable: bool = True,
    ) -> None:
        super().__init__()
        self.kernel = get_kernel(kernel, "NadarayaWatson")
        initial = check_bandwidth(bandwidth, "NadarayaWatson").detach().clone()
        log_bandwidth = torch.log(initial.to(torch.get_default_dtype()))
        if learnable:
            self.log_bandwidth = nn.Parameter(log_bandwidth)
        else:
            self.register_buffer("log_bandwidth", log_bandwidth)

    @property
    def bandwidth(self) -> torch.Tensor:
        """The bandwidth ``h = exp(log_bandwidth)``, positive by construction."""
        return self.log_bandwidth.exp()

    def forward(
        self, queries, keys, values, *, leave_one_out: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """See :func:`attnlab.nadaraya_watson`; ``leave_one_out`` when queries are the keys."""
        return self.keep(
            *nadaraya_watson(
                queries,
                keys,
                values,
                kernel=self.kernel,
                bandwidth=self.bandwidth,
                leave_one_out=leave_one_out,
            )
        )

    def extra_repr(self) -> str:
        shown = self.bandwidth.detach()
        shown = round(shown.item(), 4) if shown.numel() == 1 else shown.tolist()
        return f"kernel={self.kernel.name!r}, bandwidth={shown}"


class DotProductAttention(KeepsWeights):
    """Scaled dot-product attention as a module (the book's ``DotProductAttention``).

    Parameters
    ----------
    dropout : float, default 0.0
        Dropout on the attention weights during training.

    Examples
    --------
    >>> import torch
    >>> attention = DotProductAttention(dropout=0.5).eval()
    >>> queries = torch.normal(0, 1, (2, 1, 2))
    >>> keys = torch.ones(2, 10, 2)
    >>> values = torch.arange(40.0).reshape(1, 10, 4).repeat(2, 1, 1)
    >>> output, weights = attention(queries, keys, values, torch.tensor([2, 6]))
    >>> output
    tensor([[[ 2.,  3.,  4.,  5.]],
    <BLANKLINE>
            [[10., 11., 12., 13.]]])
    """

    def __init__(self, dropout: float = 0.0) -> None:
        super().__init__()
        self.dropout = check_probability(dropout, "dropout", "DotProductAttention")

    def forward(
        self, queries, keys, values, valid_lens=None, *, mask=None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """See :func:`attnlab.dot_product_attention`."""
        return self.keep(
            *dot_product_attention(
                queries,
                keys,
                values,
                valid_lens=valid_lens,
                mask=mask,
                dropout=self.dropout,
                training=self.training,
            )
        )


class AdditiveAttention(KeepsWeights):
    """Additive (Bahdanau) attention: ``score(q, k) = w_v^T tanh(W_q q + W_k k)``.

    Works when queries and keys have different sizes; input sizes are inferred on the first
    call (lazy layers), as in the book's newer edition.

    Parameters
    ----------
    num_hiddens : int
        Size of the hidden layer the queries and keys are projected to.
    dropout : float, default 0.0

    Examples
    --------
    >>> import torch
    >>> attention = AdditiveAttention(num_hiddens=8, dropout=0.1).eval()
    >>> queries = torch.normal(0, 1, (2, 1, 20))
    >>> keys = torch.ones(2, 10, 2)
    >>> values = torch.arange(40.0).reshape(1, 10, 4).repeat(2, 1, 1)
    >>> output, weights = attention(queries, keys, values, torch.tensor([2, 6]))
    >>> output.detach()
    tensor([[[ 2.,  3.,  4.,  5.]],
    <BLANKLINE>
            [[10., 11., 12., 13.]]])
    >>> weights.shape
    torch.Size([2, 1, 10])
    """

    def __init__(self, num_hiddens: int, dropout: float = 0.0) -> None:
        super().__init__()
        check_positive_int(num_hiddens, "num_hiddens", "AdditiveAttention")
        self.W_k = nn.LazyLinear(num_hiddens, bias=False)
        self.W_q = nn.LazyLinear(num_hiddens, bias=False)
        self.w_v = nn.Linear(num_hiddens, 1, bias=False)
        self.dropout = nn.Dropout(check_probability(dropout, "dropout", "AdditiveAttention"))

    def forward(
        self, queries, keys, values, valid_lens=None, *, mask=None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Score every query-key pair with a one-hidden-layer network, then pool the values."""
        func = "AdditiveAttention"
        checked = check_queries_keys_values(func, queries, keys, values, same_features=False)
        queries, keys, values = checked.queries, checked.keys, checked.values
        check_layer_input(self.W_q, queries, "queries", func)
        check_layer_input(self.W_k, keys, "keys", func)
        scores_shape = (*checked.batch_shape, queries.shape[-2], keys.shape[-2])  # (*b, q, k)
        allowed = build_mask(scores_shape, valid_lens, mask, func, device=queries.device)
        # 1) score: project, broadcast-add every query to every key, tanh, project to a scalar
        features = self.W_q(queries)[..., :, None, :] + self.W_k(keys)[..., None, :, :]
        scores = self.w_v(torch.tanh(features)).squeeze(-1)  # (*b, q, k, h) -> (*b, q, k)
        # 2) normalise over admissible keys  3) weighted sum of values (dropout as in the book)
        weights = self.dropout(apply_mask(scores, allowed))  # (*b, q, k)
        return self.keep(weights @ values, weights)  # (*b, q, k) @ (*b, k, v) -> (*b, q, v)
