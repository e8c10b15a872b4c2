"""The book's transformer encoder and decoder, under both editions' constructors.

Each stack embeds its tokens, scales the embeddings by ``sqrt(num_hiddens)`` (positional
encodings lie in [-1, 1] and should not drown them), adds the positional encoding and runs
``num_blks`` blocks. The decoder ends with a linear layer to scores over the target vocabulary.
Both record each block's attention weights, in the book's ``(batch * num_heads, ...)`` shape.

References
----------
1. A. Vaswani et al., "Attention is all you need", NeurIPS (2017), section 3.
2. A. Zhang, Z. C. Lipton, M. Li, A. J. Smola, *Dive into Deep Learning*, section 10.7
   (Chinese 2nd ed.) / 11.7 (English).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from attnlab._validation import check_positive_int
from attnlab.d2l._editions import CHINESE, bind_edition, signature
from attnlab.d2l.blocks import (
    CHINESE_BLOCK,
    ENGLISH_BLOCK,
    TransformerDecoderBlock,
    TransformerEncoderBlock,
)
from attnlab.d2l.encoder_decoder import AttentionDecoder, Encoder
from attnlab.d2l.multihead import PositionalEncoding

__all__ = ["TransformerDecoder", "TransformerEncoder"]


def _stack(module: nn.Module, func: str, a: dict) -> dict:
    """Set a stack's sizes and embedding; return the arguments for its blocks."""
    module.num_hiddens = check_positive_int(a["num_hiddens"], "num_hiddens", func)
    blocks = a.pop("num_blks", None) or a.pop("num_layers", None)
    module.num_blks = module.num_layers = check_positive_int(blocks, "num_blks", func)
    module.vocab_size = check_positive_int(a.pop("vocab_size"), "vocab_size", func)
    module.embedding = nn.Embedding(module.vocab_size, module.num_hiddens)
    module.pos_encoding = PositionalEncoding(module.num_hiddens, a["dropout"])
    module.blks = nn.Sequential()
    return a


class TransformerEncoder(Encoder):
    """Embedding, positional encoding and ``num_blks`` encoder blocks.

    ``TransformerEncoder(vocab_size, num_hiddens, ffn_num_hiddens, num_heads, num_blks, dropout,
    use_bias=False)`` (English) or the Chinese edition's ``TransformerEncoder(vocab_size,
    key_size, query_size, value_size, num_hiddens, norm_shape, ffn_num_input, ffn_num_hiddens,
    num_heads, num_layers, dropout, use_bias=False)``. After a call, ``attention_weights`` holds
    each block's weights, of shape ``(batch * num_heads, num_steps, num_steps)``.

    Examples
    --------
    >>> import torch
    >>> encoder = TransformerEncoder(200, 24, 48, 8, 2, 0.5).eval()
    >>> encoder(torch.ones((2, 100), dtype=torch.long), torch.tensor([3, 2])).shape
    torch.Size([2, 100, 24])
    >>> [weights.shape for weights in encoder.attention_weights]
    [torch.Size([16, 100, 100]), torch.Size([16, 100, 100])]
    """

    _forms = (
        signature("vocab_size", *ENGLISH_BLOCK, "num_blks", "dropout", use_bias=False),
        signature("vocab_size", *CHINESE_BLOCK, "num_layers", "dropout", use_bias=False),
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__()
        func = "TransformerEncoder"
        self.edition, a = bind_edition(func, args, kwargs, *self._forms)
        block_arguments = _stack(self, func, a)
        for i in range(self.num_blks):
            self.blks.add_module(f"block{i}", TransformerEncoderBlock(**block_arguments))
        self.attention_weights: list[torch.Tensor | None] = [None] * self.num_blks

    def forward(self, X: torch.Tensor, valid_lens=None, *args) -> torch.Tensor:
        X = self.pos_encoding(self.embedding(X) * math.sqrt(self.num_hiddens))  # (b, n, d)
        self.attention_weights = [None] * len(self.blks)
        for i, block in enumerate(self.blks):
            X = block(X, valid_lens)
            self.attention_weights[i] = block.attention.attention.attention_weights
        return X


class TransformerDecoder(AttentionDecoder):
    """Embedding, positional encoding, ``num_blks`` decoder blocks and a linear layer to tokens.

    ``TransformerDecoder(vocab_size, num_hiddens, ffn_num_hiddens, num_heads, num_blks,
    dropout)`` (English) or the Chinese edition's ``TransformerDecoder(vocab_size, key_size,
    query_size, value_size, num_hiddens, norm_shape, ffn_num_input, ffn_num_hiddens, num_heads,
    num_layers, dropout)``. ``attention_weights`` is ``[self-attention weights per block,
    cross-attention weights per block]`` of the last call. Decoding one token at a time gives
    the same outputs as decoding the whole target at once: positions continue from the cache.

    Examples
    --------
    >>> import torch
    >>> decoder = TransformerDecoder(10, 24, 48, 8, 2, 0.5).eval()
    >>> state = decoder.init_state(torch.ones((2, 5, 24)), torch.tensor([3, 2]))
    >>> output, state = decoder(torch.zeros((2, 1), dtype=torch.long), state)
    >>> output.shape, decoder.attention_weights[1][0].shape  # cross-attention of block 0
    (torch.Size([2, 1, 10]), torch.Size([16, 1, 5]))
    """

    _forms = (
        signature("vocab_size", *ENGLISH_BLOCK, "num_blks", "dropout"),
        signature("vocab_size", *CHINESE_BLOCK, "num_layers", "dropout"),
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__()
        func = "TransformerDecoder"
        self.edition, a = bind_edition(func, args, kwargs, *self._forms)
        block_arguments = _stack(self, func, a)
        for i in range(self.num_blks):
            self.blks.add_module(f"block{i}", TransformerDecoderBlock(**block_arguments, i=i))
        if self.edition == CHINESE:
            self.dense = nn.Linear(self.num_hiddens, self.vocab_size)
        else:  # built on the first call, as in the English edition (same draws for a seed)
            self.dense = nn.LazyLinear(self.vocab_size)
        self._attention_weights: list[list[torch.Tensor | None]] = [[], []]

    def init_state(self, enc_outputs, enc_valid_lens, *args) -> list:
        """``[enc_outputs, enc_valid_lens, one empty cache per block]``."""
        return [enc_outputs, enc_valid_lens, [None] * self.num_blks]

    def forward(self, X: torch.Tensor, state: list):
        # positions continue after the ones already decoded (the book restarts them at 0 on
        # every call, so each token decoded one at a time gets position 0's encoding)
        past = state[2][0]
        offset = 0 if past is None else past.shape[1]
        n, max_len = X.shape[1], self.pos_encoding.max_len
        if offset + n > max_len:
            raise ValueError(
                f"TransformerDecoder: positions {offset} to {offset + n - 1} exceed the "
                f"positional encoding's max_len={max_len}; got {n} tokens after {offset}."
            )
        X = self.embedding(X) * math.sqrt(self.num_hiddens)  # (b, n, d)
        X = self.pos_encoding(X, offset=offset)
        self._attention_weights = [[None] * len(self.blks) for _ in range(2)]
        for i, block in enumerate(self.blks):
            X, state = block(X, state)
            self._attention_weights[0][i] = block.attention1.attention.attention_weights
            self._attention_weights[1][i] = block.attention2.attention.attention_weights
        return self.dense(X), state  # (b, n, vocab)

    @property
    def attention_weights(self) -> list[list[torch.Tensor | None]]:
        return self._attention_weights
