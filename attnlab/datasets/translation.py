"""A small translation task with a known alignment: dates written in words to ISO digits.

"twenty third of march nineteen eighty four" becomes ``1 9 8 4 - 0 3 - 2 3``. Each output
token comes from one or two source words, and the order changes: the year, said last, is
written first, so a model that has learned the task attends off the diagonal, in blocks that
a heatmap shows at a glance. Years are said as people say them ("nineteen oh five", "two
thousand and five", "twenty ten"); every example is generated on the spot from a seed.

References
----------
1. D. Bahdanau, K. Cho, Y. Bengio, "Neural machine translation by jointly learning to align
   and translate", arXiv:1409.0473 (2014): alignment heatmaps of a translation model.
2. A. Zhang, Z. C. Lipton, M. Li, A. J. Smola, *Dive into Deep Learning*, sections 9.5 and
   10.4 (Chinese 2nd ed.) / 10.5 and 11.4 (English): the English-French data this replaces
   offline, and the Bahdanau model trained on it.
"""

from __future__ import annotations

import datetime
from typing import NamedTuple

import torch
from torch.utils.data import TensorDataset

from attnlab._validation import check_choice, check_positive_int, describe
from attnlab.datasets.vocabulary import Vocabulary

__all__ = [
    "MONTHS",
    "ORDERS",
    "TARGET_FIELDS",
    "TranslationTask",
    "Translations",
    "date_in_words",
    "translation_task",
]

MONTHS = (
    "january", "february", "march", "april", "may", "june",
    "july", "august", "september", "october", "november", "december",
)  # fmt: skip
"""Month names, January first."""

ORDERS = ("day_first", "month_first", "mixed")
"""How a source sentence orders day and month: "third of march ..." (``"day_first"``),
"march third ..." (``"month_first"``), or either, at random per example (``"mixed"``)."""

TARGET_FIELDS = ("year",) * 4 + ("-",) + ("month",) * 2 + ("-",) + ("day",) * 2
"""What each of the 10 target characters writes: ``date.isoformat()`` is ``YYYY-MM-DD``."""

_UNITS = ("", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_TEENS = ("ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
          "eighteen", "nineteen")  # fmt: skip
_TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_ORDINAL_UNITS = ("", "first", "second", "third", "fourth", "fifth", "sixth", "seventh",
                  "eighth", "ninth")  # fmt: skip
_ORDINAL_TEENS = ("tenth", "eleventh", "twelfth", "thirteenth", "fourteenth", "fifteenth",
                  "sixteenth", "seventeenth", "eighteenth", "nineteenth")  # fmt: skip
_ORDINAL_TENS = {20: "twentieth", 30: "thirtieth"}
_YEARS = (1000, 9999)  # four-digit years, so every target has the same length


def _cardinal(number: int) -> list[str]:
    """1 to 99 in words: ``42 -> ["forty", "two"]``."""
    if number < 10:
        return [_UNITS[number]]
    if number < 20:
        return [_TEENS[number - 10]]
    tens, units = divmod(number, 10)
    return [_TENS[tens]] + ([_UNITS[units]] if units else [])


def _ordinal(day: int) -> list[str]:
    """1 to 31 as an ordinal: ``23 -> ["twenty", "third"]``."""
    if day < 10:
        return [_ORDINAL_UNITS[day]]
    if day < 20:
        return [_ORDINAL_TEENS[day - 10]]
    tens, units = divmod(day, 10)
    return [_ORDINAL_TENS[10 * tens]] if not units else [_TENS[tens], _ORDINAL_UNITS[units]]


def _year(year: int) -> list[str]:
    """A four-digit year as it is said: in hundreds ("nineteen oh five"), or in thousands when
    the hundreds digit is 0 and the year ends in 0-9 ("two thousand and five")."""
    thousands, rest = divmod(year, 1000)
    if rest < 10:
        return [_UNITS[thousands], "thousand"] + (["and", _UNITS[rest]] if rest else [])
    century, rest = divmod(year, 100)
    if rest == 0:
        return [*_cardinal(century), "hundred"]
    if rest < 10:
        return [*_cardinal(century), "oh", _UNITS[rest]]
    return _cardinal(century) + _cardinal(rest)


def date_in_words(date: datetime.date, order: str = "day_first") -> list[str]:
    """The source sentence of ``date``, as a list of words.

    Examples
    --------
    >>> import datetime
    >>> " ".join(date_in_words(datetime.date(1984, 3, 23)))
    'twenty third of march nineteen eighty four'
    >>> " ".join(date_in_words(datetime.date(2005, 11, 1), order="month_first"))
    'november first two thousand and five'
    """
    func = "date_in_words"
    if not isinstance(date, datetime.date) or not _YEARS[0] <= date.year <= _YEARS[1]:
        raise TypeError(
            f"{func}: date must be a datetime.date with a four-digit year; got {describe(date)}."
        )
    check_choice(order, "order", func, ORDERS[:2])
    return [word for _, word in _parts(date, order)]


def _parts(date: datetime.date, order: str) -> list[tuple[str, str]]:
    """``(field, word)`` for each word of the sentence, field one of day, of, month, year."""
    day = [("day", word) for word in _ordinal(date.day)]
    month = [("month", MONTHS[date.month - 1])]
    head = [*day, ("of", "of"), *month] if order == "day_first" else [*month, *day]
    return head + [("year", word) for word in _year(date.year)]


def _source_words() -> list[str]:
    """Every word a source sentence can use, in a fixed order."""
    words = [*_UNITS[1:], *_TEENS, *_TENS[2:], *_ORDINAL_UNITS[1:], *_ORDINAL_TEENS]
    return [*words, *_ORDINAL_TENS.values(), "hundred", "thousand", "and", "oh", "of", *MONTHS]


class Translations(TensorDataset):
    """One split of a translation task: four tensors, indexed together, for a ``DataLoader``.

    ``dataset[i]`` is ``(source, source_valid_len, target, target_valid_len)``, the order of the
    book's machine-translation batches. Sentences end with ``<eos>`` and are padded with
    ``<pad>`` (index 0); a valid length counts the tokens up to and including ``<eos>``.
    """

    def __init__(
        self, source, source_valid_lens, target, target_valid_lens, dates, source_words, fields
    ) -> None:
        super().__init__(source, source_valid_lens, target, target_valid_lens)
        self.dates: tuple[datetime.date, ...] = tuple(dates)
        """The date of each example."""
        self.source_words: tuple[tuple[str, ...], ...] = tuple(map(tuple, source_words))
        """Each source sentence as words, without ``<eos>``."""
        self.source_fields: tuple[tuple[str, ...], ...] = tuple(map(tuple, fields))
        """What each source word says: ``"day"``, ``"of"``, ``"month"`` or ``"year"``; with
        :data:`TARGET_FIELDS`, the alignment a model should find."""

    source = property(lambda self: self.tensors[0], doc="``(n, source_len)`` int64 indices.")
    source_valid_lens = property(lambda self: self.tensors[1], doc="``(n,)`` int64.")
    target = property(lambda self: self.tensors[2], doc="``(n, target_len)`` int64 indices.")
    target_valid_lens = property(lambda self: self.tensors[3], doc="``(n,)`` int64.")


class TranslationTask(NamedTuple):
    """A translation task: training and held-out splits and the two vocabularies."""

    train: Translations
    """Training examples."""
    test: Translations
    """Held-out examples: none of their dates is in ``train``."""
    source_vocab: Vocabulary
    """Words of the source sentences."""
    target_vocab: Vocabulary
    """Digits and ``-``."""


def _encode(sentences: list[list[str]], vocab: Vocabulary, length: int):
    """Indices with ``<eos>`` appended, padded to ``length``; and the valid lengths."""
    rows = [[*vocab.encode(words), vocab.eos] for words in sentences]
    out = torch.full((len(rows), length), vocab.pad, dtype=torch.int64)  # (n, length)
    for i, row in enumerate(rows):
        out[i, : len(row)] = torch.tensor(row)
    return out, torch.tensor([len(row) for row in rows], dtype=torch.int64)


def translation_task(
    n_train: int = 4000,
    n_test: int = 500,
    *,
    years: tuple[int, int] = (1900, 2099),
    order: str = "mixed",
    seed: int = 0,
) -> TranslationTask:
    """Dates in words and in ISO digits: a seeded translation task with a known alignment.

    Dates are drawn without replacement from ``years``, so no held-out date is seen in
    training. Source sentences use the words of :func:`date_in_words` (up to 8 words, then
    ``<eos>``); targets are the 10 characters of ``date.isoformat()``, then
    ``<eos>``.

    Parameters
    ----------
    n_train, n_test : int, default 4000, 500
        Numbers of training and held-out examples.
    years : (int, int), default (1900, 2099)
        First and last year, both included, four-digit.
    order : {"mixed", "day_first", "month_first"}, default "mixed"
        Word order of the sources, see :data:`ORDERS`.
    seed : int, default 0
        Seed of a private ``torch.Generator``: the global random state is left alone.

    Returns
    -------
    TranslationTask
        ``(train, test, source_vocab, target_vocab)``.

    Examples
    --------
    >>> task = translation_task(n_train=100, n_test=10, seed=0)
    >>> source, source_valid_len, target, target_valid_len = task.train[0]
    >>> task.source_vocab.decode(source), source_valid_len
    (['thirteenth', 'of', 'february', 'twenty', 'seventy', 'five'], tensor(7))
    >>> "".join(task.target_vocab.decode(target)), target_valid_len
    ('2075-02-13', tensor(11))
    >>> task.train.source.shape, task.test.target.shape
    (torch.Size([100, 9]), torch.Size([10, 11]))
    """
    func = "translation_task"
    check_positive_int(n_train, "n_train", func)
    check_positive_int(n_test, "n_test", func)
    check_choice(order, "order", func, ORDERS)
    if (
        not isinstance(years, tuple | list)
        or len(years) != 2
        or not all(isinstance(y, int) and not isinstance(y, bool) for y in years)
        or not _YEARS[0] <= years[0] <= years[1] <= _YEARS[1]
    ):
        raise ValueError(
            f"{func}: years must be (first, last) with {_YEARS[0]} <= first <= last <= "
            f"{_YEARS[1]}; got {years!r}."
        )
    first = datetime.date(years[0], 1, 1)
    n_days = (datetime.date(years[1], 12, 31) - first).days + 1
    if n_train + n_test > n_days:
        raise ValueError(
            f"{func}: n_train + n_test must be at most the {n_days} dates in years={years!r}; "
            f"got {n_train} + {n_test} = {n_train + n_test}. Widen years or ask for fewer."
        )
    # 1) draw distinct dates, then each sentence's word order, from one private generator
    generator = torch.Generator().manual_seed(seed)
    offsets = torch.randperm(n_days, generator=generator)[: n_train + n_test].tolist()
    day_first = torch.rand(n_train + n_test, generator=generator) < 0.5
    if order != "mixed":
        day_first.fill_(order == "day_first")
    dates = [first + datetime.timedelta(days=offset) for offset in offsets]
    # 2) write each date in words and in digits
    parts = [
        _parts(date, "day_first" if flag else "month_first")
        for date, flag in zip(dates, day_first.tolist(), strict=True)
    ]
    sources = [[word for _, word in sentence] for sentence in parts]
    fields = [[field for field, _ in sentence] for sentence in parts]
    targets = [list(date.isoformat()) for date in dates]
    source_vocab = Vocabulary(_source_words())
    target_vocab = Vocabulary(["-", *"0123456789"])
    # 3) indices, <eos>, padding to the longest sentence any date can have, so that every task
    # has the same shapes: day (2 words), "of", month, year (4 words), <eos>; then the split
    source, source_valid_lens = _encode(sources, source_vocab, 9)  # (n, 9), (n,)
    target, target_valid_lens = _encode(targets, target_vocab, len(targets[0]) + 1)  # (n, 11)
    splits = []
    for part in (slice(0, n_train), slice(n_train, n_train + n_test)):
        tensors = (source[part], source_valid_lens[part], target[part], target_valid_lens[part])
        splits.append(Translations(*tensors, dates[part], sources[part], fields[part]))
    return TranslationTask(splits[0], splits[1], source_vocab, target_vocab)
