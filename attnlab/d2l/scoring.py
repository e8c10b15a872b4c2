"""The book's attention scoring functions: masked softmax, dot-product and additive attention.

Section 10.3 (Chinese 2nd ed.) / 11.3 (English) builds attention from a scoring function and a
softmax that ignores padding. Here the computations are attnlab's own (``attnlab.masked_softmax``,
``attnlab.dot_product_attention``, ``attnlab.AdditiveAttention``) behind the book's conventions:
a module returns the output only and keeps the weights it computed, before dropout, in
``.attention_weights``.

References
----------
1. D. Bahdanau, K. Cho, Y. Bengio, "Neural machine translation by jointly learning to align and
   translate", arXiv:1409.0473 (2014): additive attention.
2. A. Vaswani et al., "Attention is all you need", NeurIPS (2017), section 3.2.1.
3. A. Zhang, Z. C. Lipton, M. Li, A. J. Smola, *Dive into Deep Learning*, section 10.3
   (Chinese 2nd ed.) / 11.3 (English); ``sequence_mask``: section 9.7 / 10.7.
"""

from __future__ import annotations

import torch
from torch import nn

import attnlab
from attnlab._validation import check_positive_int, check_probability, describe
from attnlab.d2l._editions import CHINESE, bind_edition, signature

__all__ = ["AdditiveAttention", "DotProductAttention", "masked_softmax", "sequence_mask"]


def masked_softmax(X: torch.Tensor, valid_lens: torch.Tensor | None = None) -> torch.Tensor:
    """Softmax over the last axis that ignores keys at positions ``>= valid_lens``.

    :func:`attnlab.masked_softmax` under the book's name: ``valid_lens`` of shape ``(batch,)``
    (one length per sequence) or ``(batch, n_queries)`` (one per query). A row with no key to
    attend to gets zero weights; the book's ``-1e6`` trick gives it uniform weights instead.

    Examples
    --------
    >>> import torch
    >>> masked_softmax(torch.zeros(2, 2, 4), torch.tensor([2, 3]))[:, 0]
    tensor([[0.5000, 0.5000, 0.0000, 0.0000],
            [0.3333, 0.3333, 0.3333, 0.0000]])
    """
    return attnlab.masked_softmax(X, valid_lens)


def sequence_mask(X: torch.Tensor, valid_len: torch.Tensor, value: float = 0) -> torch.Tensor:
    """Replace the entries of each sequence past its valid length by ``value``.

    ``X`` has the sequences on axis 0 and their positions on axis 1 (any axes after that are
    masked alike). Unlike the book's, which overwrites ``X`` and returns it, this returns a new
    tensor and leaves ``X`` as it was; the book's cells use the returned tensor either way.

    Examples
    --------
    >>> import torch
    >>> sequence_mask(torch.tensor([[1, 2, 3], [4, 5, 6]]), torch.tensor([1, 2]))
    tensor([[1, 0, 0],
            [4, 5, 0]])
    """
    func = "sequence_mask"
    if not isinstance(X, torch.Tensor) or X.ndim < 2:
        raise TypeError(
            f"{func}: X must be a tensor of shape (batch, num_steps, ...); got {describe(X)}."
        )
    valid_len = torch.as_tensor(valid_len, device=X.device)
    if valid_len.shape != (X.shape[0],):
        raise ValueError(
            f"{func}: valid_len must hold one length per sequence, shape ({X.shape[0]},); "
            f"got valid_len.shape={tuple(valid_len.shape)}."
        )
    positions = torch.arange(X.shape[1], device=X.device)  # (num_steps,)
    keep = positions < valid_len[:, None]  # (b, 1) vs (num_steps,) -> (b, num_steps)
    keep = keep.reshape(*keep.shape, *(1,) * (X.ndim - 2))  # broadcast over trailing axes
    return torch.where(keep, X, torch.full((), value, dtype=X.dtype, device=X.device))


class DotProductAttention(nn.Module):
    """Scaled dot-product attention with the book's conventions.

    ``forward`` returns the output only; ``.attention_weights`` keeps the weights of the last
    call, of shape ``(batch, n_queries, n_keys)``, taken before dropout as in the book. The
    computation is :func:`attnlab.dot_product_attention`.

    Parameters
    ----------
    dropout : float, default 0.0
        Dropout on the weights in training mode (the pooled output uses the dropped weights).

    Examples
    --------
    The book's example: every key is the same, so the output averages the valid values.

    >>> import torch
    >>> queries, keys = torch.normal(0, 1, (2, 1, 2)), torch.ones((2, 10, 2))
    >>> values = torch.arange(40, dtype=torch.float32).reshape(1, 10, 4).repeat(2, 1, 1)
    >>> attention = DotProductAttention(dropout=0.5)
    >>> attention.eval()
    DotProductAttention(
      (dropout): Dropout(p=0.5, inplace=False)
    )
    >>> attention(queries, keys, values, torch.tensor([2, 6]))
    tensor([[[ 2.,  3.,  4.,  5.]],
    <BLANKLINE>
            [[10., 11., 12., 13.]]])
    >>> attention.attention_weights.shape
    torch.Size([2, 1, 10])
    """

    attention_weights: torch.Tensor | None

    def __init__(self, dropout: float = 0.0) -> None:
        super().__init__()
        self.dropout = nn.Dropout(check_probability(dropout, "dropout", "DotProductAttention"))
        self.attention_weights = None

    def forward(self, queries, keys, values, valid_lens=None) -> torch.Tensor:
        """Attend; ``valid_lens`` of shape ``(batch,)`` or ``(batch, n_queries)`` masks keys."""
        # 1) score, 2) normalise over the valid keys, 3) pool: attnlab's attention, no dropout
        output, weights = attnlab.dot_product_attention(
            queries, keys, values, valid_lens=valid_lens
        )  # (b, q, v), (b, q, k)
        self.attention_weights = weights  # kept before dropout, as the book does
        if self.training and self.dropout.p > 0:
            # the book pools with dropped-out weights: redo step 3 with them
            output = self.dropout(weights) @ values.to(weights.dtype)  # (b, q, k) @ (b, k, v)
        return output


class _DropoutKeepingInput(nn.Dropout):
    """``nn.Dropout`` that remembers what it was applied to: the weights before dropout."""

    kept: torch.Tensor | None = None

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        self.kept = input
        return super().forward(input)

    def _get_name(self) -> str:
        return "Dropout"  # printed like the book's module


_ENGLISH = signature("num_hiddens", dropout=0.0)
_CHINESE = signature("key_size", "query_size", "num_hiddens", "dropout")


class AdditiveAttention(attnlab.AdditiveAttention):
    """Additive attention under both editions' constructors, with the book's conventions.

    ``AdditiveAttention(num_hiddens, dropout)`` (English edition) infers the query and key sizes
    on the first call; ``AdditiveAttention(key_size, query_size, num_hiddens, dropout)`` (Chinese
    2nd edition) builds ``W_k`` and ``W_q`` with those input sizes. The parameters are the
    book's, ``W_k.weight``, ``W_q.weight`` and ``w_v.weight``, so either edition's
    ``state_dict`` loads. ``forward`` returns the output only; ``.attention_weights`` keeps the
    weights before dropout. The computation is :class:`attnlab.AdditiveAttention`'s.

    Examples
    --------
    >>> import torch
    >>> queries, keys = torch.normal(0, 1, (2, 1, 20)), torch.ones((2, 10, 2))
    >>> values = torch.arange(40, dtype=torch.float32).reshape(1, 10, 4).repeat(2, 1, 1)
    >>> attention = AdditiveAttention(key_size=2, query_size=20, num_hiddens=8, dropout=0.1)
    >>> attention.eval()(queries, keys, values, torch.tensor([2, 6])).detach()
    tensor([[[ 2.,  3.,  4.,  5.]],
    <BLANKLINE>
            [[10., 11., 12., 13.]]])
    >>> AdditiveAttention(num_hiddens=8, dropout=0.1).W_k
    LazyLinear(in_features=0, out_features=8, bias=False)
    """

    def __init__(self, *args, **kwargs) -> None:
        func = "AdditiveAttention"
        edition, arguments = bind_edition(func, args, kwargs, _ENGLISH, _CHINESE)
        num_hiddens = check_positive_int(arguments["num_hiddens"], "num_hiddens", func)
        dropout = check_probability(arguments["dropout"], "dropout", func)
        # the layers are rebuilt below in the book's order, so that a seed gives the book's
        # parameters; attnlab's own construction must then not draw from the generator
        with torch.random.fork_rng(devices=[]):
            super().__init__(num_hiddens, dropout)
        if edition == CHINESE:
            key_size = check_positive_int(arguments["key_size"], "key_size", func)
            query_size = check_positive_int(arguments["query_size"], "query_size", func)
            self.W_k = nn.Linear(key_size, num_hiddens, bias=False)
            self.W_q = nn.Linear(query_size, num_hiddens, bias=False)
            self.w_v = nn.Linear(num_hiddens, 1, bias=False)
        else:  # built on the first call, after W_q and W_k, as in the English edition
            self.w_v = nn.LazyLinear(1, bias=False)
        self.dropout = _DropoutKeepingInput(dropout)
        self.edition = edition

    def forward(self, queries, keys, values, valid_lens=None) -> torch.Tensor:
        """Attend; ``valid_lens`` of shape ``(batch,)`` or ``(batch, n_queries)`` masks keys."""
        # attnlab's additive attention scores, normalises, drops out and pools; its dropout
        # layer hands over the weights as they were before dropout, which the book keeps
        output, weights = super().forward(queries, keys, values, valid_lens)
        kept, self.dropout.kept = self.dropout.kept, None
        self.attention_weights = weights if kept is None else kept
        return output
