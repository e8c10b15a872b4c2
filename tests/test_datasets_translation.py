"""The dates translation task: its sentences checked against num2words and the calendar, its
tensors, padding and valid lengths, its split, its seeding, and every error it raises."""

from __future__ import annotations

import calendar
import datetime

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch.utils.data import DataLoader

from attnlab import datasets

num2words = pytest.importorskip("num2words").num2words


def spoken(date: datetime.date, day_first: bool) -> list[str]:
    """The oracle: num2words writes the day and the year, the C locale's calendar the month."""
    day = num2words(date.day, to="ordinal").replace("-", " ").split()
    year = num2words(date.year, to="year").replace("-", " ").split()
    month = calendar.month_name[date.month].lower()
    return [*day, "of", month, *year] if day_first else [month, *day, *year]


@pytest.fixture(scope="module")
def task():
    return datasets.translation_task(n_train=3000, n_test=400, seed=5)


def test_sources_are_the_dates_in_words(task):
    vocab = task.source_vocab
    for split in (task.train, task.test):
        for source, date, words in zip(split.source, split.dates, split.source_words, strict=True):
            decoded = vocab.decode(source)
            assert decoded == list(words)
            assert decoded in (spoken(date, True), spoken(date, False)), (date, decoded)


def test_targets_are_the_iso_dates(task):
    for split in (task.train, task.test):
        for target, date in zip(split.target, split.dates, strict=True):
            text = "".join(task.target_vocab.decode(target))
            assert datetime.date.fromisoformat(text) == date


def test_fields_say_which_words_write_which_characters(task):
    assert datasets.TARGET_FIELDS == tuple(
        {"Y": "year", "M": "month", "D": "day", "-": "-"}[c] for c in "YYYY-MM-DD"
    )
    for split in (task.train, task.test):
        for words, fields, date in zip(
            split.source_words, split.source_fields, split.dates, strict=True
        ):
            assert len(fields) == len(words)
            by_field = {
                name: " ".join(w for w, f in zip(words, fields, strict=True) if f == name)
                for name in ("day", "of", "month", "year")
            }
            assert by_field["day"] == num2words(date.day, to="ordinal").replace("-", " ")
            assert by_field["year"] == num2words(date.year, to="year").replace("-", " ")
            assert by_field["month"] == calendar.month_name[date.month].lower()
            assert by_field["of"] in ("", "of")
            # each field is one run of words, in the sentence's order
            runs = [f for i, f in enumerate(fields) if i == 0 or fields[i - 1] != f]
            assert runs in (["day", "of", "month", "year"], ["month", "day", "year"])
            iso = date.isoformat()
            for character, field in zip(iso, datasets.TARGET_FIELDS, strict=True):
                if field != "-":
                    number = {"year": date.year, "month": date.month, "day": date.day}[field]
                    assert character in f"{number:0{4 if field == 'year' else 2}d}"


@given(st.dates(datetime.date(1000, 1, 1), datetime.date(9999, 12, 31)), st.booleans())
def test_date_in_words_agrees_with_num2words_on_every_year(date, day_first):
    order = "day_first" if day_first else "month_first"
    assert datasets.date_in_words(date, order) == spoken(date, day_first)


def test_both_orders_occur_and_can_be_fixed(task):
    day_first = ["of" in words for words in task.train.source_words]
    assert 0.4 < sum(day_first) / len(day_first) < 0.6
    for order, expected in (("day_first", True), ("month_first", False)):
        fixed = datasets.translation_task(50, 10, order=order, seed=1)
        assert all(("of" in words) == expected for words in fixed.train.source_words)
        dates = datasets.translation_task(50, 10, seed=1).train.dates
        assert fixed.train.dates == dates  # the order does not change which dates are drawn


def test_shapes_padding_and_valid_lengths(task):
    source_vocab, target_vocab = task.source_vocab, task.target_vocab
    assert task.train.source.shape == (3000, 9) and task.test.source.shape == (400, 9)
    assert task.train.target.shape == (3000, 11) and task.test.target.shape == (400, 11)
    for split in (task.train, task.test):
        for tensor in split.tensors:
            assert tensor.dtype == torch.int64
        for source, n, words in zip(
            split.source, split.source_valid_lens, split.source_words, strict=True
        ):
            assert n == len(words) + 1
            assert source[n - 1] == source_vocab.eos
            assert (source[n:] == source_vocab.pad).all() and (source[: n - 1] > 3).all()
        assert (split.target_valid_lens == 11).all()
        assert (split.target[:, -1] == target_vocab.eos).all()
    # every task pads to the longest sentence any date can have: 8 words and <eos>
    longest = datasets.date_in_words(datetime.date(2121, 12, 31))
    assert " ".join(longest) == "thirty first of december twenty one twenty one"
    wide = datasets.translation_task(5, 5, years=(2121, 2121), order="day_first", seed=0)
    assert wide.train.source.shape == (5, 9)


def test_held_out_dates_are_new_and_in_range(task):
    train, test = set(task.train.dates), set(task.test.dates)
    assert len(train) == 3000 and len(test) == 400 and not train & test
    assert all(1900 <= date.year <= 2099 for date in train | test)
    narrow = datasets.translation_task(300, 65, years=(1999, 1999), seed=0)
    assert set(narrow.train.dates) | set(narrow.test.dates) == {
        datetime.date(1999, 1, 1) + datetime.timedelta(days=i) for i in range(365)
    }


def test_vocabularies(task):
    source_vocab, target_vocab = task.source_vocab, task.target_vocab
    for vocab in (source_vocab, target_vocab):
        assert vocab.tokens[:4] == datasets.SPECIAL_TOKENS
        assert (vocab.pad, vocab.bos, vocab.eos, vocab.unk) == (0, 1, 2, 3)
        assert len(set(vocab.tokens)) == len(vocab)
        assert [vocab[token] for token in vocab] == list(range(len(vocab)))
    assert target_vocab.tokens[4:] == ("-", *"0123456789")
    used = {
        word for split in (task.train, task.test) for words in split.source_words for word in words
    }
    assert used == set(source_vocab.tokens[4:])  # every word occurs, none is missing
    assert {month for month in datasets.MONTHS} <= used


def test_dataloader_batches(task):
    generator = torch.Generator().manual_seed(0)
    loader = DataLoader(task.train, batch_size=64, shuffle=True, generator=generator)
    source, source_valid_lens, target, target_valid_lens = next(iter(loader))
    assert source.shape == (64, 9) and source_valid_lens.shape == (64,)
    assert target.shape == (64, 11) and target_valid_lens.shape == (64,)
    assert len(loader) == -(-3000 // 64)


def test_seeded_without_touching_global_state():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    first = datasets.translation_task(200, 20, seed=7)
    assert torch.equal(before, torch.rand(1))
    again = datasets.translation_task(200, 20, seed=7)
    for a, b in zip(
        first.train.tensors + first.test.tensors,
        again.train.tensors + again.test.tensors,
        strict=True,
    ):
        assert torch.equal(a, b)
    assert first.train.dates != datasets.translation_task(200, 20, seed=8).train.dates


def test_vocabulary_round_trip_and_decoding():
    vocab = datasets.Vocabulary(["b", "a", "b", "<eos>"])
    assert vocab.tokens == (*datasets.SPECIAL_TOKENS, "b", "a")
    assert vocab.encode(["a", "zzz", "b"]) == [5, vocab.unk, 4]
    assert "a" in vocab and "zzz" not in vocab
    assert vocab.decode(vocab.encode(["a", "b", "a"])) == ["a", "b", "a"]
    row = [vocab.bos, 4, vocab.pad, 5, vocab.eos, 4, vocab.pad]
    assert vocab.decode(row) == ["b", "a"]
    assert vocab.decode(row, strip=False) == ["<bos>", "b", "<pad>", "a", "<eos>", "b", "<pad>"]
    assert vocab.decode(torch.tensor([row, [5, 5, 2, 0, 0, 0, 0]])) == [["b", "a"], ["a", "a"]]
    assert vocab.decode([]) == []
    assert repr(vocab) == "Vocabulary(6 tokens: specials, b, a)"


@given(st.lists(st.sampled_from(["one", "of", "march", "<unk>", "x"]), max_size=12))
def test_vocabulary_decode_inverts_encode(words):
    vocab = datasets.Vocabulary(["one", "of", "march"])
    expected = [word if word in vocab else "<unk>" for word in words]
    assert vocab.decode([*vocab.encode(words), vocab.eos, vocab.pad]) == expected


def test_errors():
    with pytest.raises(
        ValueError, match="translation_task: n_train must be a positive integer; got 0"
    ):
        datasets.translation_task(0)
    with pytest.raises(
        ValueError, match="translation_task: n_test must be a positive integer; got -1"
    ):
        datasets.translation_task(10, -1)
    with pytest.raises(
        ValueError,
        match="translation_task: order must be one of 'day_first', 'month_first', 'mixed'; got 'us'",
    ):
        datasets.translation_task(order="us")
    with pytest.raises(
        ValueError,
        match=r"translation_task: years must be \(first, last\) with 1000 <= first <= last <= 9999; got \(2000, 1999\)",
    ):
        datasets.translation_task(years=(2000, 1999))
    with pytest.raises(ValueError, match=r"years must be .*; got \(999, 1999\)"):
        datasets.translation_task(years=(999, 1999))
    with pytest.raises(ValueError, match=r"years must be .*; got 1999"):
        datasets.translation_task(years=1999)
    with pytest.raises(
        ValueError,
        match=r"translation_task: n_train \+ n_test must be at most the 365 dates in years=\(1999, 1999\); got 300 \+ 66 = 366",
    ):
        datasets.translation_task(300, 66, years=(1999, 1999))
    with pytest.raises(
        TypeError,
        match="date_in_words: date must be a datetime.date with a four-digit year; got '1984-03-23' \\(str\\)",
    ):
        datasets.date_in_words("1984-03-23")
    with pytest.raises(
        TypeError, match="date_in_words: date must be .* got datetime.date\\(999, 1, 1\\)"
    ):
        datasets.date_in_words(datetime.date(999, 1, 1))
    with pytest.raises(
        ValueError,
        match="date_in_words: order must be one of 'day_first', 'month_first'; got 'mixed'",
    ):
        datasets.date_in_words(datetime.date(1984, 3, 23), "mixed")
    vocab = datasets.Vocabulary(["a"])
    with pytest.raises(
        TypeError,
        match="Vocabulary: tokens must be an iterable of str .* got the single string 'a b'. Use Vocabulary\\(\\['a', 'b'\\]\\)",
    ):
        datasets.Vocabulary("a b")
    with pytest.raises(TypeError, match="Vocabulary: every token must be a str; got 3 \\(int\\)"):
        datasets.Vocabulary(["a", 3])
    with pytest.raises(
        TypeError,
        match="Vocabulary.encode: tokens must be a sequence of str; got the single string 'a'",
    ):
        vocab.encode("a")
    with pytest.raises(
        ValueError,
        match=r"Vocabulary.decode: indices must be in \[0, 5\) for this vocabulary of 5 tokens; got 7",
    ):
        vocab.decode([4, 7])
    with pytest.raises(
        ValueError,
        match=r"Vocabulary.decode: indices must be integers in a 1-D .* got a tensor of shape \(2,\) and dtype torch.float32",
    ):
        vocab.decode(torch.tensor([1.0, 2.0]))
    with pytest.raises(
        ValueError,
        match=r"Vocabulary.decode: indices must be integers .* got a tensor of shape \(1, 1, 1\)",
    ):
        vocab.decode(torch.zeros(1, 1, 1, dtype=torch.int64))
