"""The book's multi-head attention and positional encoding, under both editions' constructors.

Section 10.5 (Chinese 2nd ed.) / 11.5 (English) runs ``num_heads`` dot-product attentions side by
side by folding the heads into the batch axis: ``(batch, n, num_hiddens)`` becomes
``(batch * num_heads, n, num_hiddens / num_heads)``, one scaled dot-product attention attends in
all heads at once, and the heads are unfolded and mixed by ``W_o``. The book reads the weights at
``.attention.attention_weights`` in that folded shape, so the d2l layer keeps that structure, with
:func:`attnlab.dot_product_attention` doing the attending.

References
----------
1. A. Vaswani et al., "Attention is all you need", NeurIPS (2017), sections 3.2.2 and 3.5.
2. A. Zhang, Z. C. Lipton, M. Li, A. J. Smola, *Dive into Deep Learning*, sections 10.5-10.6
   (Chinese 2nd ed.) / 11.5-11.6 (English).
"""

from __future__ import annotations

import torch
from torch import nn

import attnlab
from attnlab._validation import check_positive_int, check_probability, describe
from attnlab.d2l._editions import CHINESE, bind_edition, signature
from attnlab.d2l.scoring import DotProductAttention

__all__ = ["MultiHeadAttention", "PositionalEncoding", "transpose_output", "transpose_qkv"]

PositionalEncoding = attnlab.PositionalEncoding
"""The book's ``PositionalEncoding(num_hiddens, dropout, max_len=1000)``:
:class:`attnlab.PositionalEncoding`, whose table ``P`` has the book's shape
``(1, max_len, num_hiddens)`` (computed in float64, then rounded)."""


def _check_folded(X, func: str) -> None:
    if not isinstance(X, torch.Tensor) or X.ndim != 3:
        raise TypeError(
            f"{func}: X must be a tensor of shape (batch, n, features); got {describe(X)}."
        )


def transpose_qkv(X: torch.Tensor, num_heads: int) -> torch.Tensor:
    """Fold the heads into the batch: ``(b, n, h * s)`` -> ``(b * h, n, s)``.

    Head ``i`` takes features ``i * s`` to ``(i + 1) * s``; the batch axis then runs over
    ``(example 0, head 0), (example 0, head 1), ...``, as in the book.

    Examples
    --------
    >>> import torch
    >>> transpose_qkv(torch.ones(2, 4, 100), num_heads=5).shape
    torch.Size([10, 4, 20])
    """
    _check_folded(X, "transpose_qkv")
    batch, n, features = X.shape
    if features % num_heads:
        raise ValueError(
            f"transpose_qkv: the feature size must be a multiple of num_heads={num_heads}; "
            f"got X.shape={tuple(X.shape)}."
        )
    heads = X.reshape(batch, n, num_heads, features // num_heads)  # (b, n, h, s)
    return heads.transpose(1, 2).reshape(batch * num_heads, n, -1)  # (b, h, n, s) -> (b*h, n, s)


def transpose_output(X: torch.Tensor, num_heads: int) -> torch.Tensor:
    """Unfold the heads again: ``(b * h, n, s)`` -> ``(b, n, h * s)``, undoing ``transpose_qkv``.

    Examples
    --------
    >>> import torch
    >>> X = torch.randn(2, 4, 100)
    >>> torch.equal(transpose_output(transpose_qkv(X, 5), 5), X)
    True
    """
    _check_folded(X, "transpose_output")
    folded, n, size = X.shape
    if folded % num_heads:
        raise ValueError(
            f"transpose_output: the batch axis must hold batch * num_heads={num_heads} items; "
            f"got X.shape={tuple(X.shape)}."
        )
    heads = X.reshape(folded // num_heads, num_heads, n, size)  # (b, h, n, s)
    return heads.transpose(1, 2).reshape(folded // num_heads, n, -1)  # (b, n, h, s) -> (b, n, h*s)


_CHINESE_SIZES = ("key_size", "query_size", "value_size")


_ENGLISH = signature("num_hiddens", "num_heads", dropout=0.0, bias=False)
_CHINESE = signature(*_CHINESE_SIZES, "num_hiddens", "num_heads", "dropout", bias=False)


class MultiHeadAttention(attnlab.MultiHeadAttention):
    """Multi-head attention under both editions' constructors, with the book's conventions.

    ``MultiHeadAttention(num_hiddens, num_heads, dropout, bias=False)`` (English edition) infers
    the input sizes on the first call; ``MultiHeadAttention(key_size, query_size, value_size,
    num_hiddens, num_heads, dropout, bias=False)`` (Chinese 2nd edition) builds the projections
    with those input sizes. The parameters are the book's (``W_q``, ``W_k``, ``W_v``, ``W_o``),
    so either edition's ``state_dict`` loads, and the heads use the same features as the book's.

    ``forward`` returns the output only. The weights are kept twice: in the book's place,
    ``.attention.attention_weights`` of shape ``(batch * num_heads, n_queries, n_keys)``, and as
    ``.attention_weights`` of shape ``(batch, num_heads, n_queries, n_keys)`` (a view of the
    same numbers), both before dropout. The output equals :class:`attnlab.MultiHeadAttention`'s
    for the same parameters.

    Examples
    --------
    >>> import torch
    >>> attention = MultiHeadAttention(100, 100, 100, 100, 5, 0.5).eval()  # Chinese edition
    >>> X, Y = torch.ones((2, 4, 100)), torch.ones((2, 6, 100))
    >>> attention(X, Y, Y, torch.tensor([3, 2])).shape
    torch.Size([2, 4, 100])
    >>> attention.attention.attention_weights.shape  # the heads folded into the batch
    torch.Size([10, 4, 6])
    >>> MultiHeadAttention(100, 5, 0.5).W_q  # English edition: input sizes come with the data
    LazyLinear(in_features=0, out_features=100, bias=False)
    """

    def __init__(self, *args, **kwargs) -> None:
        func = "MultiHeadAttention"
        edition, arguments = bind_edition(func, args, kwargs, _ENGLISH, _CHINESE)
        num_hiddens = check_positive_int(arguments["num_hiddens"], "num_hiddens", func)
        num_heads = check_positive_int(arguments["num_heads"], "num_heads", func)
        dropout = check_probability(arguments["dropout"], "dropout", func)
        bias = bool(arguments["bias"])
        super().__init__(num_hiddens, num_heads, dropout, bias)
        self.attention = DotProductAttention(dropout)
        for name in ("W_q", "W_k", "W_v", "W_o"):  # listed after attention, as in the book
            self._modules[name] = self._modules.pop(name)
        if edition == CHINESE:
            sizes = {
                name: check_positive_int(arguments[name], name, func) for name in _CHINESE_SIZES
            }
            self.W_q = nn.Linear(sizes["query_size"], num_hiddens, bias=bias)
            self.W_k = nn.Linear(sizes["key_size"], num_hiddens, bias=bias)
            self.W_v = nn.Linear(sizes["value_size"], num_hiddens, bias=bias)
            self.W_o = nn.Linear(num_hiddens, num_hiddens, bias=bias)
        self.edition = edition

    def extra_repr(self) -> str:
        return ""  # printed as the book's module is

    def transpose_qkv(self, X: torch.Tensor) -> torch.Tensor:
        """``(b, n, num_hiddens)`` -> ``(b * num_heads, n, num_hiddens / num_heads)``."""
        return transpose_qkv(X, self.num_heads)

    def transpose_output(self, X: torch.Tensor) -> torch.Tensor:
        """``(b * num_heads, n, num_hiddens / num_heads)`` -> ``(b, n, num_hiddens)``."""
        return transpose_output(X, self.num_heads)

    def forward(self, queries, keys, values, valid_lens=None) -> torch.Tensor:
        """Attend in every head; ``valid_lens`` of shape ``(batch,)`` or ``(batch, n_queries)``."""
        for name, tensor in (("queries", queries), ("keys", keys), ("values", values)):
            if not isinstance(tensor, torch.Tensor) or tensor.ndim != 3:
                raise TypeError(
                    f"MultiHeadAttention: {name} must be a tensor of shape (batch, n, features); "
                    f"got {describe(tensor)}."
                )
        # 1) project, and fold the heads into the batch axis
        queries = self.transpose_qkv(self.W_q(queries))  # (b, q, h*s) -> (b*h, q, s)
        keys = self.transpose_qkv(self.W_k(keys))  # (b, k, h*s) -> (b*h, k, s)
        values = self.transpose_qkv(self.W_v(values))  # (b, k, h*s) -> (b*h, k, s)
        if valid_lens is not None:
            # every head of an example masks alike: repeat each length once per head
            valid_lens = torch.repeat_interleave(valid_lens, self.num_heads, dim=0)  # (b*h, ...)
        # 2) attend in every head at once (attnlab's scaled dot-product attention)
        output = self.attention(queries, keys, values, valid_lens)  # (b*h, q, s)
        weights = self.attention.attention_weights  # (b*h, q, k)
        self.attention_weights = weights.unflatten(0, (-1, self.num_heads))  # (b, h, q, k)
        # 3) unfold the heads, concatenate them and mix them with W_o
        return self.W_o(self.transpose_output(output))  # (b*h, q, s) -> (b, q, h*s)
