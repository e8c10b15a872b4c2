"""A vocabulary maps tokens to indices and back, with the four special tokens of seq2seq models.

A model sees a sentence as a row of integers: ``encode`` turns tokens into indices (unknown
tokens into ``<unk>``), ``decode`` turns a model's output back into tokens, stopping at the end
of the sentence (``<eos>``) and leaving out padding and the start token (``<bos>``).

References
----------
1. I. Sutskever, O. Vinyals, Q. V. Le, "Sequence to sequence learning with neural networks",
   NeurIPS (2014).
2. A. Zhang, Z. C. Lipton, M. Li, A. J. Smola, *Dive into Deep Learning*, sections 8.2 and
   9.5 (Chinese 2nd ed.) / 9.2 and 10.5 (English): vocabularies and machine translation data.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import torch

from attnlab._validation import describe

__all__ = ["SPECIAL_TOKENS", "Vocabulary"]

SPECIAL_TOKENS = ("<pad>", "<bos>", "<eos>", "<unk>")
"""Padding, start of sentence, end of sentence, unknown token: indices 0 to 3 of every
:class:`Vocabulary`, so that a tensor filled with zeros is all padding."""


class Vocabulary:
    """Tokens and their indices: the special tokens first, then the given tokens in order.

    Parameters
    ----------
    tokens : iterable of str
        The ordinary tokens; repeats and special tokens among them are skipped.

    Attributes
    ----------
    tokens : tuple of str
        ``tokens[i]`` is the token of index ``i``.
    pad, bos, eos, unk : int
        The indices of ``<pad>`` (0), ``<bos>`` (1), ``<eos>`` (2) and ``<unk>`` (3).

    Examples
    --------
    >>> vocab = Vocabulary(["march", "of", "third"])
    >>> len(vocab), vocab["of"], vocab["april"] == vocab.unk
    (7, 5, True)
    >>> indices = vocab.encode(["third", "of", "march"]) + [vocab.eos, vocab.pad]
    >>> indices
    [6, 5, 4, 2, 0]
    >>> vocab.decode(indices)
    ['third', 'of', 'march']
    >>> vocab.decode(indices, strip=False)
    ['third', 'of', 'march', '<eos>', '<pad>']
    """

    def __init__(self, tokens: Iterable[str]) -> None:
        if isinstance(tokens, str):
            raise TypeError(
                "Vocabulary: tokens must be an iterable of str (a list of words); got the single "
                f"string {tokens!r}. Use Vocabulary({tokens.split()!r}) for its words."
            )
        ordered = dict.fromkeys(SPECIAL_TOKENS)
        for token in tokens:
            if not isinstance(token, str):
                raise TypeError(f"Vocabulary: every token must be a str; got {describe(token)}.")
            ordered.setdefault(token)
        self.tokens: tuple[str, ...] = tuple(ordered)
        self._index = {token: index for index, token in enumerate(self.tokens)}
        self.pad, self.bos, self.eos, self.unk = (self._index[t] for t in SPECIAL_TOKENS)

    def __len__(self) -> int:
        return len(self.tokens)

    def __iter__(self) -> Iterator[str]:
        return iter(self.tokens)

    def __contains__(self, token: object) -> bool:
        return token in self._index

    def __getitem__(self, token: str) -> int:
        """The index of ``token``, or of ``<unk>`` if the vocabulary does not hold it."""
        return self._index.get(token, self.unk)

    def __repr__(self) -> str:
        shown = ", ".join(self.tokens[len(SPECIAL_TOKENS) :][:6])
        more = ", ..." if len(self) > len(SPECIAL_TOKENS) + 6 else ""
        return f"Vocabulary({len(self)} tokens: specials, {shown}{more})"

    def encode(self, tokens: Sequence[str]) -> list[int]:
        """Indices of ``tokens`` (``<unk>`` for unknown ones); no ``<eos>`` is added."""
        if isinstance(tokens, str):
            raise TypeError(
                f"Vocabulary.encode: tokens must be a sequence of str; got the single string "
                f"{tokens!r}. Use vocab.encode({tokens.split()!r}) for its words."
            )
        return [self[token] for token in tokens]

    def decode(
        self, indices: Sequence[int] | torch.Tensor, *, strip: bool = True
    ) -> list[str] | list[list[str]]:
        """Tokens of ``indices``: one sentence (1-D) or a batch of them (2-D, one list per row).

        With ``strip`` (the default) decoding stops at the first ``<eos>`` and leaves out
        ``<pad>`` and ``<bos>``, which is what a model's generated output needs; with
        ``strip=False`` every index is translated.
        """
        func = "Vocabulary.decode"
        values = torch.as_tensor(indices) if not isinstance(indices, torch.Tensor) else indices
        if values.ndim not in (1, 2) or (values.numel() and values.is_floating_point()):
            raise ValueError(
                f"{func}: indices must be integers in a 1-D (one sentence) or 2-D (a batch) "
                f"sequence; got {describe(indices)}."
            )
        if values.ndim == 2:
            return [self.decode(row, strip=strip) for row in values]
        rows = values.tolist()
        bad = [index for index in rows if not 0 <= index < len(self)]
        if bad:
            raise ValueError(
                f"{func}: indices must be in [0, {len(self)}) for this vocabulary of "
                f"{len(self)} tokens; got {bad[0]}."
            )
        if not strip:
            return [self.tokens[index] for index in rows]
        if self.eos in rows:
            rows = rows[: rows.index(self.eos)]
        return [self.tokens[index] for index in rows if index not in (self.pad, self.bos)]
