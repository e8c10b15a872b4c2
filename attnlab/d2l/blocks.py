"""The transformer's building blocks, under both editions' constructors and names.

A transformer block is multi-head attention and a position-wise feed-forward network, each
wrapped in a residual connection followed by layer normalisation (``AddNorm``). An encoder block
self-attends; a decoder block adds a causal self-attention over the tokens generated so far and a
cross-attention over the encoder's outputs. The Chinese 2nd edition passes every input size
(``key_size``, ``norm_shape``, ``ffn_num_input``, ...), the English one infers them; each class
here takes either form, and the parameters keep the book's names.

References
----------
1. A. Vaswani et al., "Attention is all you need", NeurIPS (2017), section 3.
2. J. L. Ba, J. R. Kiros, G. E. Hinton, "Layer normalization", arXiv:1607.06450 (2016).
3. A. Zhang, Z. C. Lipton, M. Li, A. J. Smola, *Dive into Deep Learning*, section 10.7
   (Chinese 2nd ed.) / 11.7 (English).
"""

from __future__ import annotations

import torch
from torch import nn

from attnlab._validation import check_positive_int, check_probability
from attnlab.d2l._editions import CHINESE, bind_edition, signature
from attnlab.d2l.multihead import MultiHeadAttention

__all__ = [
    "CHINESE_BLOCK",
    "ENGLISH_BLOCK",
    "AddNorm",
    "DecoderBlock",
    "EncoderBlock",
    "PositionWiseFFN",
    "TransformerDecoderBlock",
    "TransformerEncoderBlock",
]

ENGLISH_BLOCK = ("num_hiddens", "ffn_num_hiddens", "num_heads")
"""The sizes of a block in the English edition's constructors; the input sizes are inferred."""
CHINESE_BLOCK = ("key_size", "query_size", "value_size", "num_hiddens", "norm_shape",
                 "ffn_num_input", "ffn_num_hiddens", "num_heads")  # fmt: skip
"""The sizes of a block in the Chinese 2nd edition's constructors, input sizes included."""


class PositionWiseFFN(nn.Module):
    """The same two-layer perceptron applied at every position: ``dense2(relu(dense1(X)))``.

    ``PositionWiseFFN(ffn_num_hiddens, ffn_num_outputs)`` (English edition, input size
    inferred) or ``PositionWiseFFN(ffn_num_input, ffn_num_hiddens, ffn_num_outputs)`` (Chinese).

    Examples
    --------
    >>> import torch
    >>> PositionWiseFFN(4, 4, 8)(torch.ones((2, 3, 4))).shape
    torch.Size([2, 3, 8])
    """

    _forms = (
        signature("ffn_num_hiddens", "ffn_num_outputs"),
        signature("ffn_num_input", "ffn_num_hiddens", "ffn_num_outputs"),
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__()
        func = "PositionWiseFFN"
        edition, a = bind_edition(func, args, kwargs, *self._forms)
        hiddens = check_positive_int(a["ffn_num_hiddens"], "ffn_num_hiddens", func)
        outputs = check_positive_int(a["ffn_num_outputs"], "ffn_num_outputs", func)
        self.edition = edition
        if edition == CHINESE:
            self.dense1 = nn.Linear(
                check_positive_int(a["ffn_num_input"], "ffn_num_input", func), hiddens
            )
            self.relu = nn.ReLU()
            self.dense2 = nn.Linear(hiddens, outputs)
        else:  # lazy, so that both layers draw their parameters on the first call, as the book's
            self.dense1 = nn.LazyLinear(hiddens)
            self.relu = nn.ReLU()
            self.dense2 = nn.LazyLinear(outputs)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.dense2(self.relu(self.dense1(X)))  # (..., d) -> (..., hiddens) -> (..., out)


class AddNorm(nn.Module):
    """Residual connection, then layer normalisation: ``ln(dropout(Y) + X)``.

    ``norm_shape`` (``normalized_shape`` in the Chinese edition) is the trailing shape that
    ``nn.LayerNorm`` normalises over, e.g. ``num_hiddens`` or the Chinese edition's ``[100, 24]``.

    Examples
    --------
    >>> import torch
    >>> add_norm = AddNorm([3, 4], 0.5).eval()
    >>> add_norm(torch.ones((2, 3, 4)), torch.ones((2, 3, 4))).shape
    torch.Size([2, 3, 4])
    """

    _forms = (signature("norm_shape", "dropout"), signature("normalized_shape", "dropout"))

    def __init__(self, *args, **kwargs) -> None:
        super().__init__()
        _, a = bind_edition("AddNorm", args, kwargs, *self._forms)
        self.dropout = nn.Dropout(check_probability(a["dropout"], "dropout", "AddNorm"))
        self.ln = nn.LayerNorm(a.get("norm_shape", a.get("normalized_shape")))

    def forward(self, X: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
        return self.ln(self.dropout(Y) + X)


def _attention(edition: str, a: dict, bias: bool) -> MultiHeadAttention:
    """A block's multi-head attention, from either edition's arguments."""
    if edition == CHINESE:
        sizes = ("key_size", "query_size", "value_size", "num_hiddens", "num_heads")
        return MultiHeadAttention(*(a[name] for name in sizes), a["dropout"], bias)
    return MultiHeadAttention(a["num_hiddens"], a["num_heads"], a["dropout"], bias)


def _add_norm(edition: str, a: dict) -> AddNorm:
    return AddNorm(a["norm_shape"] if edition == CHINESE else a["num_hiddens"], a["dropout"])


def _ffn(edition: str, a: dict) -> PositionWiseFFN:
    if edition == CHINESE:
        return PositionWiseFFN(a["ffn_num_input"], a["ffn_num_hiddens"], a["num_hiddens"])
    return PositionWiseFFN(a["ffn_num_hiddens"], a["num_hiddens"])


class TransformerEncoderBlock(nn.Module):
    """Self-attention and a feed-forward network, each followed by ``AddNorm``.

    ``TransformerEncoderBlock(num_hiddens, ffn_num_hiddens, num_heads, dropout, use_bias=False)``
    (English edition) or the Chinese edition's ``EncoderBlock(key_size, query_size, value_size,
    num_hiddens, norm_shape, ffn_num_input, ffn_num_hiddens, num_heads, dropout,
    use_bias=False)``; ``EncoderBlock`` is this class.

    Examples
    --------
    >>> import torch
    >>> block = EncoderBlock(24, 24, 24, 24, [100, 24], 24, 48, 8, 0.5).eval()
    >>> block(torch.ones((2, 100, 24)), torch.tensor([3, 2])).shape
    torch.Size([2, 100, 24])
    """

    _forms = (
        signature(*ENGLISH_BLOCK, "dropout", use_bias=False),
        signature(*CHINESE_BLOCK, "dropout", use_bias=False),
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__()
        self.edition, a = bind_edition("TransformerEncoderBlock", args, kwargs, *self._forms)
        self.attention = _attention(self.edition, a, bool(a["use_bias"]))
        self.addnorm1 = _add_norm(self.edition, a)
        self.ffn = _ffn(self.edition, a)
        self.addnorm2 = _add_norm(self.edition, a)

    def forward(self, X: torch.Tensor, valid_lens=None) -> torch.Tensor:
        Y = self.addnorm1(X, self.attention(X, X, X, valid_lens))  # (b, n, d)
        return self.addnorm2(Y, self.ffn(Y))


EncoderBlock = TransformerEncoderBlock


class TransformerDecoderBlock(nn.Module):
    """The ``i``-th decoder block: causal self-attention, cross-attention, feed-forward network.

    ``TransformerDecoderBlock(num_hiddens, ffn_num_hiddens, num_heads, dropout, i)`` (English)
    or the Chinese edition's ``DecoderBlock(key_size, query_size, value_size, num_hiddens,
    norm_shape, ffn_num_input, ffn_num_hiddens, num_heads, dropout, i)``. ``forward(X, state)``
    reads ``state = [enc_outputs, enc_valid_lens, cache]`` and appends ``X`` to ``cache[i]``, the
    block's inputs so far, which are the keys and values of its self-attention. Every position
    sees itself and the positions before it, in training and in evaluation alike (the book's
    block lets every position see the whole call's target in evaluation mode, which is right
    only one token at a time).

    Examples
    --------
    >>> import torch
    >>> block = TransformerDecoderBlock(24, 48, 8, 0.5, 0)
    >>> X, valid_lens = torch.ones((2, 100, 24)), torch.tensor([3, 2])
    >>> output, state = block(X, [X, valid_lens, [None]])
    >>> output.shape, state[2][0].shape
    (torch.Size([2, 100, 24]), torch.Size([2, 100, 24]))
    """

    _forms = (
        signature(*ENGLISH_BLOCK, "dropout", "i"),
        signature(*CHINESE_BLOCK, "dropout", "i"),
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__()
        self.edition, a = bind_edition("TransformerDecoderBlock", args, kwargs, *self._forms)
        self.i = a["i"]
        self.attention1 = _attention(self.edition, a, bias=False)
        self.addnorm1 = _add_norm(self.edition, a)
        self.attention2 = _attention(self.edition, a, bias=False)
        self.addnorm2 = _add_norm(self.edition, a)
        self.ffn = _ffn(self.edition, a)
        self.addnorm3 = _add_norm(self.edition, a)

    def forward(self, X: torch.Tensor, state: list):
        enc_outputs, enc_valid_lens = state[0], state[1]
        # 1) this block's keys and values: its inputs so far, this call's included
        past = state[2][self.i]
        offset = 0 if past is None else past.shape[1]  # how many positions came before
        key_values = X if past is None else torch.cat((past, X), dim=1)  # (b, offset + n, d)
        state[2][self.i] = key_values
        # 2) causal self-attention: position offset + j sees positions 0 .. offset + j. With the
        # whole target at once (training) these are the book's lengths 1 .. n; with one token at
        # a time they admit every cached position, as the book's None does
        batch_size, num_steps, _ = X.shape
        dec_valid_lens = torch.arange(offset + 1, offset + num_steps + 1, device=X.device)
        dec_valid_lens = dec_valid_lens.repeat(batch_size, 1)  # (b, n)
        Y = self.addnorm1(X, self.attention1(X, key_values, key_values, dec_valid_lens))
        # 3) attention to the encoder's outputs  4) feed-forward
        Z = self.addnorm2(Y, self.attention2(Y, enc_outputs, enc_outputs, enc_valid_lens))
        return self.addnorm3(Z, self.ffn(Z)), state


DecoderBlock = TransformerDecoderBlock
