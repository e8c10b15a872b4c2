"""Multi-head attention and sinusoidal positional encoding, the parts of a transformer block.

Multi-head attention projects queries, keys and values ``num_heads`` times into smaller spaces,
attends in each independently and concatenates the results, so that different heads can look at
different things. Self-attention is the case ``queries = keys = values``; since it ignores
order, a positional encoding adds a fixed pattern of sines and cosines to each position first.

References
----------
1. A. Vaswani et al., "Attention is all you need", NeurIPS (2017), sections 3.2.2 and 3.5.
2. A. Zhang, Z. C. Lipton, M. Li, A. J. Smola, *Dive into Deep Learning*, sections 10.5-10.6
   (Chinese 2nd edition) / 11.5-11.6 (English).
"""

from __future__ import annotations

import math
from numbers import Integral

import torch
from torch import nn
from torch.nn import functional as F

from attnlab._validation import (
    broadcast_shapes,
    check_positive_int,
    check_probability,
    check_queries_keys_values,
)
from attnlab.attention import attend
from attnlab.masking import build_mask
from attnlab.modules import KeepsWeights, check_layer_input

__all__ = ["MultiHeadAttention", "PositionalEncoding"]

# torch's fused attention outputs zeros for a query with no admissible key since 2.5 (NaN before).
_SDPA_ZEROS_EMPTY_ROWS = torch.__version__ >= "2.5"


class MultiHeadAttention(KeepsWeights):
    """Multi-head scaled dot-product attention (the book's ``MultiHeadAttention``).

    Each of ``num_heads`` heads attends with its own ``num_hiddens // num_heads``-dimensional
    slice of the projected queries, keys and values:
    ``head_i = attention(queries W_q_i, keys W_k_i, values W_v_i)`` and
    ``output = concat(head_1, ..., head_h) W_o``. Input sizes are inferred on the first call.
    The layout matches ``torch.nn.MultiheadAttention``: head ``i`` uses features
    ``i * head_size`` to ``(i + 1) * head_size`` of each projection.

    Inputs are checked once per call, on both paths: shapes, masks, and the feature sizes and
    dtype the lazy projections were built for on the first call. NaN inputs give NaN outputs
    (torch's convention for code inside models).

    Parameters
    ----------
    num_hiddens : int
        Size of the projections and of the output; a multiple of ``num_heads``.
    num_heads : int
    dropout : float, default 0.0
        Dropout on the attention weights during training.
    bias : bool, default False
        Whether the four projections have biases.

    Examples
    --------
    Self-attention with the book's shapes: each of 5 heads has its own weights.

    >>> import torch
    >>> attention = MultiHeadAttention(num_hiddens=100, num_heads=5).eval()
    >>> X = torch.ones(2, 4, 100)
    >>> output, weights = attention(X, X, X, torch.tensor([3, 2]))
    >>> output.shape, weights.shape
    (torch.Size([2, 4, 100]), torch.Size([2, 5, 4, 4]))
    >>> attention.attention_weights[1, 0, 0]  # a detached copy; keys 2 and 3 are masked
    tensor([0.5000, 0.5000, 0.0000, 0.0000])
    >>> output, weights = attention(X, X, X, need_weights=False)  # torch's fused kernel
    >>> weights is None
    True
    """

    def __init__(
        self, num_hiddens: int, num_heads: int, dropout: float = 0.0, bias: bool = False
    ) -> None:
        super().__init__()
        func = "MultiHeadAttention"
        check_positive_int(num_hiddens, "num_hiddens", func)
        check_positive_int(num_heads, "num_heads", func)
        if num_hiddens % num_heads:
            suggestion = -(-num_hiddens // num_heads) * num_heads
            raise ValueError(
                f"{func}: num_hiddens must be divisible by num_heads (each head gets "
                f"num_hiddens // num_heads features); got num_hiddens={num_hiddens}, "
                f"num_heads={num_heads}. Use, e.g., num_hiddens={suggestion} "
                "or a num_heads that divides num_hiddens."
            )
        self.num_hiddens = num_hiddens
        self.num_heads = num_heads
        self.dropout = check_probability(dropout, "dropout", func)
        self.W_q = nn.LazyLinear(num_hiddens, bias=bias)
        self.W_k = nn.LazyLinear(num_hiddens, bias=bias)
        self.W_v = nn.LazyLinear(num_hiddens, bias=bias)
        self.W_o = nn.LazyLinear(num_hiddens, bias=bias)

    def _split_heads(self, X: torch.Tensor) -> torch.Tensor:
        """``(*b, n, num_hiddens)`` -> ``(*b, num_heads, n, head_size)``."""
        return X.unflatten(-1, (self.num_heads, -1)).transpose(-3, -2)

    def _inputs(self, queries, keys, values, valid_lens, mask, contiguous=False):
        """Validate, project and split into heads; build the mask with a head axis.

        ``contiguous`` heads are for the weights path: with the transposed views, both batched
        matrix products would copy their inputs anyway, and more slowly.
        """
        func = "MultiHeadAttention"
        same = queries is keys and keys is values
        checked = check_queries_keys_values(func, queries, keys, values, same_features=False)
        queries, keys, values = checked.queries, checked.keys, checked.values
        if same:  # conversion may have made three copies of one input: keep one
            keys = values = queries
        for layer, tensor, name in ((self.W_q, queries, "queries"), (self.W_k, keys, "keys"),
                                    (self.W_v, values, "values")):  # fmt: skip
            check_layer_input(layer, tensor, name, func)
        scores_shape = (*checked.batch_shape, queries.shape[-2], keys.shape[-2])  # (*b, q, k)
        allowed = build_mask(scores_shape, valid_lens, mask, func, device=queries.device)
        if allowed is not None and allowed.ndim >= 3:
            allowed = allowed.unsqueeze(-3)  # (*b, q, k) -> (*b, 1, q, k): same for every head
        if queries is keys and keys is values and not nn.parameter.is_lazy(self.W_q.weight):
            return (*self._project_packed(queries, contiguous), allowed)
        queries = self._split_heads(self.W_q(queries))  # (*b, q, h*s) -> (*b, h, q, s)
        keys = self._split_heads(self.W_k(keys))  # (*b, k, h*s) -> (*b, h, k, s)
        values = self._split_heads(self.W_v(values))  # (*b, k, h*s) -> (*b, h, k, s)
        if contiguous:
            queries, keys, values = queries.contiguous(), keys.contiguous(), values.contiguous()
        return queries, keys, values, allowed

    def _project_packed(self, X: torch.Tensor, contiguous: bool) -> tuple[torch.Tensor, ...]:
        """Self-attention: one matrix product for the three projections, as torch does.

        This calls ``F.linear`` with the layers' parameters, not the layers themselves, and
        returns queries, keys and values split into heads, ``(*b, h, n, s)`` each.
        """
        weight = torch.cat([self.W_q.weight, self.W_k.weight, self.W_v.weight])  # (3hs, d)
        bias = self.W_q.bias
        if bias is not None:
            bias = torch.cat([self.W_q.bias, self.W_k.bias, self.W_v.bias])  # (3hs,)
        if contiguous and bias is not None and not torch.is_grad_enabled():
            # inference: add the bias while copying into the heads' layout, one pass instead
            # of two (out= has no autograd, so training takes the path below)
            packed = F.linear(X, weight).unflatten(-1, (3, self.num_heads, -1))
            packed = packed.movedim(-3, 0).transpose(-3, -2)  # (3, *b, h, n, s), a view
            bias = bias.view(3, *(1,) * (packed.ndim - 4), self.num_heads, 1, -1)
            out = torch.empty(packed.shape, dtype=packed.dtype, device=packed.device)
            packed = torch.add(packed, bias, out=out)  # contiguous (3, *b, h, n, s)
        else:
            packed = F.linear(X, weight, bias).unflatten(-1, (3, self.num_heads, -1))
            packed = packed.movedim(-3, 0).transpose(-3, -2)  # (3, *b, h, n, s), a view
            packed = packed.contiguous() if contiguous else packed  # one copy for all three
        return packed.unbind(0)  # backward: one stack, not three scatters

    def forward(
        self,
        queries,
        keys,
        values,
        valid_lens: torch.Tensor | None = None,
        *,
        mask: torch.Tensor | None = None,
        need_weights: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Attend with every head, concatenate the heads and project.

        Parameters
        ----------
        queries : torch.Tensor of shape (*batch, n_queries, d_q)
        keys : torch.Tensor of shape (*batch, n_keys, d_k)
        values : torch.Tensor of shape (*batch, n_keys, d_v)
        valid_lens : torch.Tensor of shape (*batch,) or (*batch, n_queries), optional
            Keys at positions ``>= valid_lens`` are masked in every head.
        mask : torch.Tensor of bool, broadcastable to (*batch, n_queries, n_keys), optional
            True where a query may attend to a key, in every head.
        need_weights : bool, default True
            If False, use torch's fused ``scaled_dot_product_attention``, which is faster and
            never forms the weights; ``weights`` is then None.

        Returns
        -------
        output : torch.Tensor of shape (*batch, n_queries, num_hiddens)
        weights : torch.Tensor of shape (*batch, num_heads, n_queries, n_keys) or None
            Per-head weights; a query with no admissible key has zero weights (and output
            ``W_o`` applied to zeros, i.e. the output bias).
        """
        queries, keys, values, allowed = self._inputs(
            queries, keys, values, valid_lens, mask, contiguous=need_weights
        )
        dropout = self.dropout if self.training else 0.0
        # 1) score, 2) normalise over admissible keys, 3) weighted sum, all per head
        if need_weights:
            scale = 1.0 / math.sqrt(queries.shape[-1])
            heads, weights = attend(
                queries, keys, values, allowed, scale, dropout, self.training
            )  # (*b, h, q, s), (*b, h, q, k)
        else:
            # torch's kernel does not broadcast every batch shape (an empty one, say): expand
            # the three to one batch shape first (views, no copies)
            shapes = {"queries": queries.shape[:-2], "keys": keys.shape[:-2],
                      "values": values.shape[:-2]}  # fmt: skip
            batch = broadcast_shapes("MultiHeadAttention", "batch axes", shapes)
            queries, keys, values = (
                t.expand(*batch, *t.shape[-2:]) for t in (queries, keys, values)
            )
            heads = F.scaled_dot_product_attention(
                queries, keys, values, attn_mask=allowed, dropout_p=dropout
            )  # (*b, h, q, s)
            if allowed is not None and not _SDPA_ZEROS_EMPTY_ROWS:
                heads = torch.where(allowed.any(-1, keepdim=True), heads, 0.0)
            weights = None
        # 4) concatenate the heads and mix them with the output projection
        output = self.W_o(heads.transpose(-3, -2).flatten(-2))  # (*b, q, h, s) -> (*b, q, h*s)
        return self.keep(output, weights)

    def recompute_weights(
        self, queries, keys, values, valid_lens=None, *, mask=None, **_
    ) -> torch.Tensor:
        """The weights a call with these arguments attends with, before dropout (what
        :func:`attnlab.record_attention` records for a call made with ``need_weights=False``)."""
        queries, keys, values, allowed = self._inputs(
            queries, keys, values, valid_lens, mask, contiguous=True
        )
        return attend(queries, keys, values, allowed, 1.0 / math.sqrt(queries.shape[-1]))[1]

    def extra_repr(self) -> str:
        return f"num_hiddens={self.num_hiddens}, num_heads={self.num_heads}, dropout={self.dropout}"


class PositionalEncoding(nn.Module):
    """Add the sinusoidal position table of Vaswani et al. (2017) to a sequence of features.

    ``P[i, 2j] = sin(i / 10000^(2j/d))`` and ``P[i, 2j+1] = cos(i / 10000^(2j/d))`` for
    position ``i`` and feature pair ``j``: each pair of columns is a clock turning at its own
    frequency, so nearby positions get similar rows and any fixed offset is a rotation.

    Parameters
    ----------
    num_hiddens : int
        Feature size ``d`` of the inputs; even, since sines and cosines come in pairs.
    dropout : float, default 0.0
        Dropout applied to the sum during training.
    max_len : int, default 1000
        Longest sequence the table covers.

    Attributes
    ----------
    P : torch.Tensor of shape (1, max_len, num_hiddens)
        The table, a non-persistent buffer: it moves with ``.to(device)`` but is not saved in
        the ``state_dict``, since it is a formula, not a parameter.

    Examples
    --------
    >>> import torch
    >>> encoding = PositionalEncoding(num_hiddens=4, max_len=60)
    >>> encoding(torch.zeros(2, 3, 4))[0]
    tensor([[ 0.0000,  1.0000,  0.0000,  1.0000],
            [ 0.8415,  0.5403,  0.0100,  0.9999],
            [ 0.9093, -0.4161,  0.0200,  0.9998]])
    >>> encoding.P.shape, "P" in encoding.state_dict()
    (torch.Size([1, 60, 4]), False)
    """

    P: torch.Tensor

    def __init__(self, num_hiddens: int, dropout: float = 0.0, max_len: int = 1000) -> None:
        super().__init__()
        func = "PositionalEncoding"
        check_positive_int(num_hiddens, "num_hiddens", func)
        if num_hiddens % 2:
            raise ValueError(
                f"{func}: num_hiddens must be even (each frequency fills a sine and a cosine "
                f"column); got num_hiddens={num_hiddens}. Use {num_hiddens + 1}, for example."
            )
        check_positive_int(max_len, "max_len", func)
        self.num_hiddens = num_hiddens
        self.max_len = max_len
        self.dropout = nn.Dropout(check_probability(dropout, "dropout", func))
        # in float64, so positions near max_len keep their precision, then the default dtype
        positions = torch.arange(max_len, dtype=torch.float64)[:, None]  # (max_len, 1)
        exponents = torch.arange(0, num_hiddens, 2, dtype=torch.float64) / num_hiddens  # (d/2,)
        angles = positions * 10000.0**-exponents  # (max_len, 1) * (d/2,) -> (max_len, d/2)
        table = torch.zeros(1, max_len, num_hiddens, dtype=torch.float64)
        table[0, :, 0::2] = torch.sin(angles)
        table[0, :, 1::2] = torch.cos(angles)
        self.register_buffer("P", table.to(torch.get_default_dtype()), persistent=False)

    def forward(self, X: torch.Tensor, offset: int = 0) -> torch.Tensor:
        """Return ``dropout(X + P[offset : offset + n_positions])``.

        Parameters
        ----------
        X : torch.Tensor of shape (*batch, n_positions, num_hiddens)
        offset : int, default 0
            Position of the first row of ``X``: a decoder that generates one token at a time
            passes the number of tokens already generated, so each gets its own position.

        Returns
        -------
        torch.Tensor of the same shape

        Examples
        --------
        >>> import torch
        >>> encoding = PositionalEncoding(num_hiddens=4, max_len=10).eval()
        >>> whole = encoding(torch.zeros(1, 3, 4))
        >>> torch.equal(encoding(torch.zeros(1, 1, 4), offset=2), whole[:, 2:])
        True
        """
        func = "PositionalEncoding"
        if not isinstance(X, torch.Tensor) or not X.is_floating_point() or X.ndim < 2:
            got = f"X.shape={tuple(X.shape)}" if isinstance(X, torch.Tensor) else type(X).__name__
            raise TypeError(
                f"{func}: X must be a floating tensor of shape (*batch, n_positions, "
                f"num_hiddens); got {got}"
                + (f" of dtype {X.dtype}." if isinstance(X, torch.Tensor) else ".")
            )
        n_positions, d = X.shape[-2:]
        if d != self.num_hiddens:
            raise ValueError(
                f"{func}: X must have num_hiddens={self.num_hiddens} features (last axis); "
                f"got X.shape={tuple(X.shape)}."
            )
        if isinstance(offset, bool) or not isinstance(offset, Integral) or offset < 0:
            raise ValueError(f"{func}: offset must be an integer >= 0; got {offset!r}.")
        if offset + n_positions > self.max_len:
            raise ValueError(
                f"{func}: X has {n_positions} positions after offset {offset} but the table "
                f"covers max_len={self.max_len}; got X.shape={tuple(X.shape)}. Build "
                f"PositionalEncoding with max_len >= {offset + n_positions}."
            )
        rows = self.P[0, offset : offset + n_positions].to(X.dtype)  # (n, d)
        return self.dropout(X + rows)  # (*b, n, d) + (n, d)
