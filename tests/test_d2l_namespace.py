"""attnlab.d2l as a namespace: every name the chapter's PyTorch cells use, the book's tensor
aliases and helpers, its figure helpers, and the one-line errors for what attnlab leaves out."""

import subprocess
import sys
import traceback

import matplotlib as mpl
import numpy as np
import pytest
import torch
from torch import nn

from attnlab import d2l
from attnlab.d2l import scope

# every d2l.<name> that the PyTorch cells of the chapter use, both editions (sections 10.1-10.7
# of the Chinese 2nd edition and 11.1-11.7 of the English one)
CHAPTER_NAMES = """AdditiveAttention Animator AttentionDecoder Decoder DotProductAttention Encoder
EncoderDecoder MTFraEng Module MultiHeadAttention PositionalEncoding Seq2Seq Seq2SeqEncoder Trainer
abs add_to_class arange astype bleu check_shape concat eye exp float32 init_seq2seq load_data_nmt
matmul normal numpy ones plot plt predict_seq2seq rand randn reduce_sum reshape sequence_mask
show_heatmaps sin tensor train_seq2seq try_gpu use_svg_display zeros""".split()
# and what the book's package defines for the chapter beyond its cells
PACKAGE_NAMES = """masked_softmax transpose_qkv transpose_output PositionWiseFFN AddNorm EncoderBlock
TransformerEncoderBlock TransformerEncoder""".split()


@pytest.mark.parametrize("name", CHAPTER_NAMES + PACKAGE_NAMES)
def test_every_name_of_the_chapter_is_there(name):
    assert hasattr(d2l, name)


@pytest.mark.slow
def test_importing_the_d2l_layer_imports_no_plotting():
    code = "import sys, attnlab.d2l; print('matplotlib' in sys.modules, 'IPython' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["False", "False"]


def test_plt_is_pyplot_and_every_public_name_is_listed():
    import matplotlib.pyplot as plt

    assert d2l.plt is plt
    assert "plt" in dir(d2l)
    assert all(hasattr(d2l, name) for name in d2l.__all__)


# --- tensor aliases ------------------------------------------------------------------------------


def test_aliases_are_torchs_functions():
    pairs = {"ones": torch.ones, "zeros": torch.zeros, "tensor": torch.tensor, "eye": torch.eye,
             "arange": torch.arange, "normal": torch.normal, "rand": torch.rand,
             "randn": torch.randn, "matmul": torch.matmul, "concat": torch.cat, "exp": torch.exp,
             "abs": torch.abs, "sin": torch.sin, "float32": torch.float32, "int64": torch.int64,
             "batch_matmul": torch.bmm, "stack": torch.stack}  # fmt: skip
    for name, function in pairs.items():
        assert getattr(d2l, name) is function, name


def test_method_aliases_do_what_the_book_means():
    X = torch.arange(6.0, requires_grad=True).reshape(2, 3)
    assert d2l.reshape(X, (3, 2)).shape == (3, 2)
    array = d2l.numpy(X)  # detached, so a tensor that needs grad converts
    assert isinstance(array, np.ndarray) and array.shape == (2, 3)
    assert d2l.astype(X, torch.int64).dtype == torch.int64
    assert d2l.transpose(X).shape == (3, 2) and d2l.swapaxes(X, 0, 1).shape == (3, 2)
    assert d2l.expand_dims(X, 0).shape == (1, 2, 3) and d2l.repeat(X, 2, 1).shape == (4, 3)
    assert d2l.reduce_sum(X).item() == 15.0 and d2l.reduce_mean(X, 0).tolist() == [1.5, 2.5, 3.5]
    assert d2l.argmax(X, 1).tolist() == [2, 2] and d2l.size(X) == 6
    assert d2l.to(X, torch.float64).dtype == torch.float64


def test_check_shape_and_check_len_raise_an_assertion_and_value_error():
    d2l.check_shape(torch.ones(2, 1, 4), (2, 1, 4))
    with pytest.raises(ValueError, match=r"check_shape: tensor's shape \(2, 1, 4\) != expected "
                       r"shape \(2, 4\)"):  # fmt: skip
        d2l.check_shape(torch.ones(2, 1, 4), (2, 4))
    with pytest.raises(AssertionError, match=r"check_len: list's length 2 != expected length 3"):
        d2l.check_len([1, 2], 3)
    with pytest.raises(TypeError, match=r"check_shape: a must be a tensor; got \[1, 2\] \(list\)"):
        d2l.check_shape([1, 2], (2,))


def test_add_to_class_and_devices():
    class Box:
        pass

    @d2l.add_to_class(Box)
    def size(self):
        return 3

    assert Box().size() == 3
    with pytest.raises(TypeError, match=r"add_to_class: cls must be a class; got 3 \(int\)"):
        d2l.add_to_class(3)
    assert d2l.cpu() == torch.device("cpu") and d2l.gpu(1) == torch.device("cuda:1")
    expected = [d2l.gpu(i) for i in range(torch.cuda.device_count())] or [d2l.cpu()]
    assert d2l.try_all_gpus() == expected and d2l.num_gpus() == torch.cuda.device_count()
    assert d2l.try_gpu(99) == d2l.cpu()


# --- figure helpers ------------------------------------------------------------------------------


def test_plot_draws_values_against_their_index_and_into_given_axes():
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots()
    assert d2l.plot([1.0, 4.0, 9.0], axes=axes, xscale="linear", yscale="log") is None
    (line,) = axes.get_lines()
    assert line.get_xdata().tolist() == [0, 1, 2] and line.get_ydata().tolist() == [1.0, 4.0, 9.0]
    assert axes.get_yscale() == "log" and len(figure.axes) == 1
    d2l.plot(2 * torch.arange(3.0), torch.ones(3, requires_grad=True), fmts=("r:",))  # detached
    (line,) = plt.gca().get_lines()
    assert line.get_xdata().tolist() == [0.0, 2.0, 4.0] and line.get_linestyle() == ":"


def test_set_figsize_sets_the_default_size_and_svg_display_is_a_no_op_outside_notebooks():
    with mpl.rc_context():
        formats = mpl.rcParams["savefig.format"]
        d2l.use_svg_display()  # no IPython shell: nothing changes
        assert mpl.rcParams["savefig.format"] == formats
        d2l.set_figsize((4.0, 1.5))
        assert tuple(mpl.rcParams["figure.figsize"]) == (4.0, 1.5)


def test_animator_draws_every_curve_with_the_books_formats():
    animator = d2l.Animator(xlabel="epoch", legend=["train", "test"], xlim=[1, 3], ylim=[0, 1],
                            nrows=1, ncols=2, figsize=(5, 2))  # fmt: skip
    for epoch in range(1, 4):
        animator.add(epoch, (0.5 / epoch, None if epoch == 2 else 0.3))
    train, test = animator.axes[0].get_lines()
    assert train.get_xdata().tolist() == [1, 2, 3] and test.get_xdata().tolist() == [1, 3]
    assert test.get_color() == "m" and test.get_linestyle() == "--"
    assert len(animator.axes) == 2 and animator.axes[0].get_xlabel() == "epoch"
    assert tuple(animator.fig.get_size_inches()) == (5, 2)


# --- what attnlab leaves out ----------------------------------------------------------------------


DATA_NAMES = [*scope.DATA_FUNCTIONS, *scope.DATA_CLASSES]
FRAMEWORK_NAMES = [*scope.FRAMEWORK_FUNCTIONS, *scope.FRAMEWORK_CLASSES]


def _call(name):
    return getattr(d2l, name)(64, 10)


@pytest.mark.parametrize("name", DATA_NAMES)
def test_the_books_data_gives_a_one_line_error_that_points_at_the_offline_task(name):
    with pytest.raises(d2l.DataNotAvailableError, match=rf"^d2l\.{name} needs the book's "
                       r"downloaded English-French data, and attnlab does not download data; "
                       r"attnlab\.datasets\.translation_task\(\.\.\.\) is a built-in, offline "
                       r"translation task to train on instead, as "
                       r"notebooks/07_bahdanau_attention\.ipynb and notebooks/08_transformer\.ipynb "
                       r"do\.$") as caught:  # fmt: skip
        _call(name)
    assert isinstance(caught.value, NotImplementedError) and "\n" not in str(caught.value)
    # one frame inside attnlab: the one that raises
    frames = traceback.extract_tb(caught.value.__traceback__)
    assert [frame.filename.endswith("scope.py") for frame in frames[-2:]] == [False, True]


@pytest.mark.parametrize("name", FRAMEWORK_NAMES)
def test_the_training_framework_gives_a_one_line_error(name):
    with pytest.raises(d2l.OutOfScopeError, match=rf"^d2l\.{name} is part of the book's training "
                       r"framework, which attnlab\.d2l does not provide; write the training loop "
                       r"in plain PyTorch, as notebooks/07_bahdanau_attention\.ipynb and "
                       r"notebooks/08_transformer\.ipynb do\.$") as caught:  # fmt: skip
        _call(name)
    frames = traceback.extract_tb(caught.value.__traceback__)
    assert [frame.filename.endswith("scope.py") for frame in frames[-2:]] == [False, True]


@pytest.mark.parametrize("name", ["DATA_HUB", "DATA_URL", "load_data_time_machine", "read_imdb"])
def test_data_constants_and_other_loaders_raise_on_access(name):
    with pytest.raises(d2l.DataNotAvailableError, match=rf"^d2l\.{name} needs the book's"):
        getattr(d2l, name)


def test_a_subclass_of_a_framework_class_still_cannot_be_built():
    class MyData(d2l.DataModule):
        pass

    with pytest.raises(d2l.OutOfScopeError, match=r"d2l\.DataModule is part of the book's"):
        MyData()


def test_module_is_a_base_class_whose_training_methods_raise():
    class Twice(d2l.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.Linear(2, 2)

    model = Twice()
    assert model(torch.ones(1, 2)).shape == (1, 2) and isinstance(model, nn.Module)
    calls = {"loss": (None, None), "plot": ("loss", 1.0, True), "training_step": (None,),
             "validation_step": (None,), "configure_optimizers": (), "apply_init": (None,)}  # fmt: skip
    for method, args in calls.items():
        with pytest.raises(d2l.OutOfScopeError, match=rf"^d2l\.Module\.{method} is part of the "):
            getattr(model, method)(*args)
    with pytest.raises(NotImplementedError, match=r"Module: define forward\(\.\.\.\), or a "
                       r"submodule self\.net to call"):  # fmt: skip
        d2l.Module()(torch.ones(1))


def test_an_unknown_name_gets_a_helpful_attribute_error():
    with pytest.raises(AttributeError, match=r"module 'attnlab.d2l' has no attribute "
                       r"'MultiheadAttention': it holds what the attention chapter uses \(Chinese "
                       r"2nd ed. chapter 10, English chapter 11\).*Did you mean "
                       r"d2l.MultiHeadAttention\?"):  # fmt: skip
        d2l.MultiheadAttention
    with pytest.raises(AttributeError, match=r"^module 'attnlab.d2l' has no attribute '_hidden'$"):
        d2l._hidden
    assert not hasattr(d2l, "train_ch6_something")
