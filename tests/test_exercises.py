"""attnlab.exercises: the API, stubs, crashes, endless loops, changed inputs, how results print."""

import json
import threading
import time

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import attnlab.exercises
from attnlab.exercises import GRADE_RESULTS_VARIABLE, Result, check, describe, names

NAMES = [
    "softmax_rows",
    "nadaraya_watson",
    "leave_one_out_weights",
    "masked_softmax",
    "scaled_dot_product",
    "positional_encoding",
    "split_heads",
    "padding_mask",
    "leave_one_out_error",
    "additive_attention",
    "causal_mask",
]


def softmax_rows(scores):
    exponentials = (scores - scores.amax(-1, keepdim=True)).exp()
    return exponentials / exponentials.sum(-1, keepdim=True)


def first_paragraph(result: Result) -> str:
    return result.feedback.split("\n\n")[0]


def test_names_are_in_the_order_of_the_lessons():
    assert names() == NAMES
    names().append("changed")  # a copy: the registry stays as it was
    assert names() == NAMES


def test_check_rejects_an_unknown_name_and_suggests_one():
    with pytest.raises(
        ValueError,
        match=r"check: name must be one of \[.*\]; got 'masked'\. Did you mean 'masked_softmax'\?",
    ):
        check("masked", softmax_rows)
    with pytest.raises(ValueError, match=r"check: name must be one of .*; got 'pooling'\.$"):
        check("pooling", softmax_rows)
    with pytest.raises(TypeError, match=r"check: name must be a string, one of .*; got function"):
        check(softmax_rows, softmax_rows)


@pytest.mark.parametrize("time_limit", [0, -1.0, float("inf"), float("nan"), "5", True])
def test_check_rejects_a_bad_time_limit(time_limit):
    with pytest.raises(
        ValueError, match=r"check: time_limit must be a positive number of seconds; got"
    ):
        check("softmax_rows", softmax_rows, time_limit=time_limit)


def test_describe_says_what_is_asked_and_which_mistakes_are_recognised():
    text = describe("masked_softmax")
    assert text.startswith("masked_softmax(scores, valid_lens) -> weights")
    assert "Mistakes it recognises:" in text and "uniform weights" in text
    with pytest.raises(ValueError, match=r"describe: name must be one of"):
        describe("softmax")


def _dots(*args): ...


def _pass(*args):
    pass


def _documented(*args):
    """To do."""
    ...


def _returns_none(*args):
    return None


def _not_implemented(*args):
    raise NotImplementedError("write this")


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    "stub",
    [_dots, _pass, _documented, _returns_none, _not_implemented, None, ...],
    ids=lambda stub: getattr(stub, "__name__", repr(stub)),
)
def test_a_stub_is_not_attempted(name, stub):
    result = check(name, stub)
    assert result.status == "not attempted" and not result.passed and not result
    assert result.feedback.startswith("Not attempted yet: write ")
    assert name in result.feedback


def test_a_function_that_forgets_to_return_is_not_a_stub():
    def forgot(scores):
        scores.softmax(-1)

    result = check("softmax_rows", forgot)
    assert result.status == "failed"
    assert "Your function returned None: is a `return` missing?" in result.feedback


def test_a_function_that_raises_not_implemented_later_is_unfinished():
    def unfinished(scores, valid_lens):
        if valid_lens is not None and valid_lens.ndim == 2:
            raise NotImplementedError
        return attnlab.masked_softmax(scores, valid_lens)

    result = check("masked_softmax", unfinished)
    assert result.status == "failed"
    assert "raised NotImplementedError" in result.feedback
    assert "Part of your function is still to write." in result.feedback
    assert "valid_lens = torch.tensor([[1, 3], [2, 4]])" in result.feedback


def test_something_that_is_not_a_function_fails_with_a_message():
    result = check("softmax_rows", torch.zeros(3))
    assert result.status == "failed"
    assert "check expects your function itself, as in check('softmax_rows', softmax_rows)" in (
        result.feedback
    )


def test_an_exception_is_feedback_naming_it_the_line_and_the_input():
    def crashes(scores):
        total = scores.sum()
        return total / undefined_name  # noqa: F821

    result = check("softmax_rows", crashes)
    assert result.status == "failed"
    text = first_paragraph(result)
    assert text.startswith("Your function raised NameError: name 'undefined_name' is not defined")
    assert "scores = torch.tensor([[5.0]])" in result.feedback  # the first input
    line = crashes.__code__.co_firstlineno + 2
    assert (
        f"It was raised at line {line} of crashes: `return total / undefined_name"
        in result.feedback
    )


@pytest.mark.parametrize(
    ("error", "words"),
    [
        (SystemExit(3), "exit() and sys.exit() stop the program"),
        (KeyboardInterrupt(), "That is what an interrupt raises"),
        (MemoryError(), "raised MemoryError"),
    ],
)
def test_base_exceptions_cannot_stop_a_check(error, words):
    def stops(scores):
        raise error

    result = check("softmax_rows", stops)
    assert result.status == "failed" and words in result.feedback


def test_an_endless_loop_is_stopped_at_the_time_limit():
    def loops(scores):
        while True:
            pass

    start = time.monotonic()
    result = check("softmax_rows", loops, time_limit=0.5)
    assert time.monotonic() - start < 5
    assert first_paragraph(result).startswith(
        "Your function did not return within the time limit (0.5 s for all 15 inputs"
    )
    assert "is there a loop that never ends" in result.feedback


def test_a_loop_that_swallows_every_interruption_is_left_behind_and_reported():
    release = threading.Event()

    def stubborn(scores):
        while not release.is_set():
            try:
                while not release.is_set():
                    pass
            except BaseException:  # what a careless bare except does
                pass

    start = time.monotonic()
    try:
        result = check("softmax_rows", stubborn, time_limit=0.3)
    finally:
        release.set()  # let the thread left behind finish, so it does not slow other tests
    assert time.monotonic() - start < 10
    assert "it ignored every attempt to stop it" in result.feedback
    assert "restart the kernel" in result.feedback


def test_an_answer_that_catches_the_interruption_and_returns_still_timed_out():
    def catches(scores):
        try:
            time.sleep(0.01)
            while True:
                pass
        except BaseException:
            return softmax_rows(scores)

    result = check("softmax_rows", catches, time_limit=0.3)
    assert "did not return within the time limit" in result.feedback


def test_no_interruption_arrives_after_a_check_returns():
    def slow(scores):
        deadline = time.monotonic() + 0.02
        while time.monotonic() < deadline:
            pass
        return softmax_rows(scores)

    assert check("softmax_rows", slow, time_limit=0.2).status == "failed"  # timed out
    deadline = time.monotonic() + 0.5
    while time.monotonic() < deadline:  # a stray interruption would be raised in this loop
        pass


def test_a_check_runs_in_another_thread_with_its_time_limit():
    results = []

    def loops(scores):
        while True:
            pass

    worker = threading.Thread(
        target=lambda: results.append(check("softmax_rows", loops, time_limit=0.3))
    )
    worker.start()
    worker.join(10)
    assert not worker.is_alive()
    assert "did not return within the time limit" in results[0].feedback


def test_a_changed_input_is_reported_with_before_and_after():
    def in_place(scores):
        scores -= scores.amax(-1, keepdim=True)
        exponentials = scores.exp()
        return exponentials / exponentials.sum(-1, keepdim=True)

    result = check("softmax_rows", in_place)
    assert result.status == "failed"
    assert first_paragraph(result).startswith("Your function changed its input `scores` in place")
    assert "scores before:" in result.feedback and "scores after:" in result.feedback


@pytest.mark.parametrize(
    ("name", "answer", "words"),
    [
        (
            "softmax_rows",
            lambda scores: "weights",
            "Your function returned str 'weights' as weights; expected a tensor.",
        ),
        ("softmax_rows", lambda scores: object(), "expected a tensor"),
        (
            "scaled_dot_product",
            lambda q, k, v, valid_lens=None: q,
            "expected a pair (output, weights).",
        ),
        ("nadaraya_watson", lambda q, k, v, h: (q,), "expected a pair (output, weights)."),
    ],
)
def test_a_wrong_type_is_named(name, answer, words):
    result = check(name, answer)
    assert result.status == "failed" and words in result.feedback


def test_numpy_arrays_and_lists_are_accepted_as_outputs():
    assert check("softmax_rows", lambda scores: softmax_rows(scores).numpy()).passed
    assert check("causal_mask", lambda n: [[j <= i for j in range(n)] for i in range(n)]).passed


def test_warnings_in_the_answer_do_not_reach_the_caller(recwarn):
    def warns(scores):
        import warnings

        warnings.warn("student warning", UserWarning, stacklevel=1)
        return softmax_rows(scores)

    assert check("softmax_rows", warns).passed
    assert not [w for w in recwarn if "student warning" in str(w.message)]


def test_a_flaw_in_attnlab_itself_is_reported_not_raised(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("internal")

    monkeypatch.setattr(attnlab.exercises, "grade", broken)
    result = check("softmax_rows", softmax_rows)
    assert result.status == "failed"
    assert "attnlab could not check this answer (RuntimeError: internal)" in result.feedback


_ANY = st.one_of(
    st.none(),
    st.integers(),
    st.text(max_size=5),
    st.lists(st.floats(allow_nan=True), max_size=4),
    st.builds(torch.zeros, st.lists(st.integers(0, 3), max_size=3).map(tuple)),
    st.tuples(st.builds(torch.ones, st.integers(0, 3)), st.none()),
)
_ERRORS = st.sampled_from([ValueError, TypeError, RuntimeError, IndexError, ZeroDivisionError])


@settings(max_examples=40, deadline=None)
@given(name=st.sampled_from(NAMES), value=_ANY, error=st.none() | _ERRORS)
def test_check_never_raises_whatever_the_answer_does(name, value, error):
    def answer(*args):
        if error is not None:
            raise error("boom")
        return value

    result = check(name, answer, time_limit=5)
    assert result.status == "failed"
    assert result.feedback and name in str(result)


def test_result_prints_in_a_terminal_and_in_jupyter():
    result = Result(
        "split_heads", "failed", "Your <heads> are wrong.\n\n    X = torch.zeros(1)\n\nHint: look."
    )
    text = str(result)
    assert text.splitlines()[0] == "split_heads: FAILED"
    assert "      X = torch.zeros(1)" in text and repr(result) == text
    html = result._repr_html_()
    assert "&lt;heads&gt;" in html and "<pre><code>X = torch.zeros(1)</code></pre>" in html
    assert "<strong" in html and "failed" in html
    markdown = result._repr_markdown_()
    assert markdown.startswith("`split_heads`: **failed**")
    assert "```text\nX = torch.zeros(1)\n```" in markdown
    assert result.to_dict() == {
        "name": "split_heads",
        "status": "failed",
        "feedback": result.feedback,
    }


def test_result_wraps_long_lines_for_a_terminal():
    result = Result("causal_mask", "passed", "word " * 60)
    assert max(len(line) for line in str(result).splitlines()) <= 92


def test_result_rejects_an_unknown_status():
    with pytest.raises(
        ValueError,
        match=r"Result: status must be one of \('passed', 'failed', 'not attempted'\); got status='ok'\.",
    ):
        Result("causal_mask", "ok", "")


def test_check_records_its_result_for_a_grader(tmp_path, monkeypatch):
    path = tmp_path / "results.jsonl"
    monkeypatch.setenv(GRADE_RESULTS_VARIABLE, str(path))
    check("softmax_rows", softmax_rows)
    check("causal_mask", _dots)
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(r["name"], r["status"]) for r in records] == [
        ("softmax_rows", "passed"),
        ("causal_mask", "not attempted"),
    ]


def test_an_unwritable_results_file_does_not_break_a_check(tmp_path, monkeypatch):
    monkeypatch.setenv(GRADE_RESULTS_VARIABLE, str(tmp_path / "missing" / "results.jsonl"))
    assert check("softmax_rows", softmax_rows).passed


def test_without_a_grader_nothing_is_written(tmp_path, monkeypatch):
    monkeypatch.delenv(GRADE_RESULTS_VARIABLE, raising=False)
    monkeypatch.chdir(tmp_path)
    check("softmax_rows", softmax_rows)
    assert list(tmp_path.iterdir()) == []


class _Stalling(torch.Tensor):
    """A tensor whose every operation loops forever: the answer's own code, hidden in its output."""

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        while True:
            pass


def test_an_output_that_runs_code_of_its_own_is_bound_by_the_time_limit():
    start = time.monotonic()
    result = check(
        "softmax_rows", lambda scores: softmax_rows(scores).as_subclass(_Stalling), time_limit=0.5
    )
    assert time.monotonic() - start < 10
    assert "did not return within the time limit" in result.feedback


def test_an_exception_whose_message_itself_fails_is_still_feedback():
    class Unprintable(Exception):
        def __str__(self):
            raise RuntimeError("no message")

    def raises(scores):
        raise Unprintable

    result = check("softmax_rows", raises)
    assert result.status == "failed"
    assert "Your function raised Unprintable: (its message could not be shown)" in result.feedback
