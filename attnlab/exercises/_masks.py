"""Exercises on masks: ``causal_mask`` and ``padding_mask``, True where a query may attend.

A decoder's query may attend to its own position and the ones before it (a causal mask, section
10.7 (Chinese 2nd ed.) / 11.7 (English)); a padded batch lets every query attend to the first
``valid_lens`` keys of its sequence only. attnlab's masks, like torch's
``scaled_dot_product_attention``, say True for "may attend"; torch's ``nn.MultiheadAttention``
and ``nn.Transformer`` masks say True for "masked", the opposite.

References
----------
1. A. Vaswani et al., "Attention is all you need", NeurIPS (2017), section 3.2.3.
2. A. Zhang, Z. C. Lipton, M. Li, A. J. Smola, *Dive into Deep Learning*, sections 10.3 and
   10.7 (Chinese 2nd ed.) / 11.3 and 11.7 (English).
"""

from __future__ import annotations

import torch

from attnlab.exercises._engine import Exercise, Mistake, like
from attnlab.exercises._inputs import Case, Given

__all__ = ["CAUSAL_MASK", "PADDING_MASK"]

# ---------------------------------------------------------------------------------- causal_mask


def _causal(n: int) -> tuple[torch.Tensor]:
    positions = torch.arange(n)
    return (positions[None, :] <= positions[:, None],)  # key j <= query i: (n, n)


def _not_boolean(case: Case, got, expected) -> bool:
    weights = got[0]
    return (
        weights.dtype != torch.bool
        and weights.shape == expected[0].shape
        and bool((weights != 0).eq(expected[0]).all())
    )


CAUSAL_MASK = Exercise(
    name="causal_mask",
    signature="causal_mask(n) -> mask",
    task="A boolean (n, n) mask, True where query i may attend to key j: itself and the "
    "positions before it, never the future.",
    outputs=("mask",),
    reference=_causal,
    make_cases=lambda: [Case(n=n) for n in (1, 2, 3, 4, 6, 9)],
    mistakes=[
        Mistake(
            "Your mask is transposed: it lets each query see the future (the keys after it) "
            "and hides the past. Row i is query i; it may attend to keys 0 to i.",
            "Which entries of row 0 (the first query) may be True?",
            like(lambda n: (_causal(n)[0].T,)),
        ),
        Mistake(
            "Your mask excludes the diagonal: a query may not attend to its own position, and "
            "the first query can attend to nothing at all.",
            "Can query i attend to key i?",
            like(lambda n: (_causal(n)[0] & ~torch.eye(n, dtype=torch.bool),)),
        ),
        Mistake(
            "Your mask is inverted: True marks the keys a query may NOT attend to, the "
            "convention of torch.nn.MultiheadAttention's boolean attn_mask. In attnlab (and "
            "torch's scaled_dot_product_attention) True means 'may attend'.",
            "Which value should the entry for query 0 and key 0 have?",
            like(lambda n: (~_causal(n)[0],)),
        ),
        Mistake(
            "Your mask holds the right pattern but is not boolean: a float or integer mask is "
            "ambiguous, since torch adds a float mask to the scores as a bias.",
            "Which dtype does attnlab.masked_softmax(..., mask=...) accept?",
            _not_boolean,
        ),
    ],
    hint="Compare each key's position with the query's position; torch.arange gives positions.",
    covered="n from 1 to 9",
)


# --------------------------------------------------------------------------------- padding_mask


def _padding(valid_lens: torch.Tensor, n_keys: int) -> tuple[torch.Tensor]:
    return (torch.arange(n_keys)[None, :] < valid_lens[:, None],)  # (1, k) < (b, 1) -> (b, k)


def _lengths(n_keys: int, seed: int, batch: int) -> Given:
    generator = torch.Generator().manual_seed(seed)
    lengths = torch.randint(0, n_keys + 1, (batch,), generator=generator)
    seeded = f"generator=torch.Generator().manual_seed({seed})"
    code = f"torch.randint(0, {n_keys + 1}, ({batch},), {seeded})"
    return Given(lengths, code)


PADDING_MASK = Exercise(
    name="padding_mask",
    signature="padding_mask(valid_lens, n_keys) -> mask",
    task="For valid_lens of shape (batch,), the boolean (batch, n_keys) mask that is True where "
    "a key may be attended: key j of sequence b when j < valid_lens[b].",
    outputs=("mask",),
    reference=_padding,
    make_cases=lambda: [
        Case(valid_lens=torch.tensor([1]), n_keys=2),
        Case(valid_lens=torch.tensor([2]), n_keys=4),
        Case(valid_lens=torch.tensor([0, 3]), n_keys=3),
        Case(valid_lens=torch.tensor([1, 4, 2]), n_keys=5),
        Case(valid_lens=_lengths(8, seed=70, batch=6), n_keys=8),
        Case(valid_lens=torch.tensor([5, 5, 5, 5]), n_keys=5),
    ],
    mistakes=[
        Mistake(
            "Your mask is inverted: True marks the padding, the convention of torch's "
            "key_padding_mask (src_key_padding_mask in nn.Transformer). attnlab's mask, like "
            "torch's scaled_dot_product_attention, is True where a key may be attended.",
            "Which value should key 0 of a sequence with valid_lens 1 get?",
            like(lambda lengths, n: (~_padding(lengths, n)[0],)),
        ),
        Mistake(
            "Off by one: your mask lets each sequence attend to one key too many or one too "
            "few. valid_lens = 2 means keys 0 and 1, not key 2.",
            "Write the mask for valid_lens = 2 and 4 keys by hand and compare.",
            lambda case, got, expected: any(
                like(lambda lengths, n, s=shift: _padding((lengths + s).clamp(0, n), n))(
                    case, got, expected
                )
                for shift in (1, -1)
            ),
        ),
        Mistake(
            "Your mask is transposed: it has one row per key and one column per sequence; "
            "the mask has one row per sequence, (batch, n_keys).",
            "Which axis should the positions torch.arange(n_keys) run along?",
            lambda case, got, expected: (
                got[0].shape == expected[0].shape[::-1]
                and bool(torch.equal(got[0].T.bool(), expected[0]))
            ),
        ),
        Mistake(
            "Your mask holds the right pattern but is not boolean: a float or integer mask is "
            "ambiguous, since torch adds a float mask to the scores as a bias.",
            "Which dtype does attnlab.masked_softmax(..., mask=...) accept?",
            _not_boolean,
        ),
    ],
    hint="Compare the positions of the keys with each sequence's length; broadcasting a row of "
    "positions against a column of lengths gives the whole mask at once.",
    covered="lengths 0 to n_keys, batches of 1 to 6 sequences",
)
