"""attnlab.d2l, section 10.2 (Chinese 2nd ed.) / 11.2 (English): Nadaraya-Watson regression with
the book's kernels, its weight layout and its learnable ``w``.

Oracles: the losses the book's code prints under ``torch.manual_seed(0)``, the kernel-regression
formula written out in the test, and attnlab's own kernels.
"""

import math
import warnings

import pytest
import torch
from torch import nn

from attnlab import d2l, kernels


@pytest.fixture
def seeded():
    with torch.random.fork_rng():
        torch.manual_seed(0)
        yield


def _f(x):
    return 2 * d2l.sin(x) + x**0.8


def _leave_one_out(x_train, y_train):
    """Each training point's keys and values: every other training point, one row per point."""
    n = len(x_train)
    others = (1 - d2l.eye(n)).type(torch.bool)
    keys = d2l.reshape(x_train.repeat((n, 1))[others], (n, -1))
    values = d2l.reshape(y_train.repeat((n, 1))[others], (n, -1))
    return keys, values


# --- the Chinese edition: data, average pooling, fixed and learned widths ----------------------


def test_chinese_section_runs_and_trains_with_the_books_losses(seeded):
    import matplotlib.pyplot as plt

    n_train = 50
    x_train, _ = torch.sort(d2l.rand(n_train) * 5)
    y_train = _f(x_train) + d2l.normal(0.0, 0.5, (n_train,))
    x_test = d2l.arange(0, 5, 0.1)
    y_truth = _f(x_test)
    assert len(x_test) == 50  # the book prints n_test

    def plot_kernel_reg(y_hat):
        d2l.plot(x_test, [y_truth, y_hat], "x", "y", legend=["Truth", "Pred"],
                 xlim=[0, 5], ylim=[-1, 5])  # fmt: skip
        d2l.plt.plot(x_train, y_train, "o", alpha=0.5)

    plot_kernel_reg(torch.repeat_interleave(y_train.mean(), len(x_test)))
    axes = plt.gca()
    assert len(axes.get_lines()) == 3 and axes.get_xlim() == (0, 5)  # the scatter joined it
    assert [text.get_text() for text in axes.get_legend().get_texts()] == ["Truth", "Pred"]

    keys, values = _leave_one_out(x_train, y_train)
    net = d2l.NWKernelRegression()
    loss = nn.MSELoss(reduction="none")
    trainer = torch.optim.SGD(net.parameters(), lr=0.5)
    animator = d2l.Animator(xlabel="epoch", ylabel="loss", xlim=[1, 5])
    losses = []
    for epoch in range(5):
        trainer.zero_grad()
        l = loss(net(x_train, keys, values), y_train)  # noqa: E741 (the book's name)
        l.sum().backward()
        trainer.step()
        losses.append(float(l.sum().detach()))
        animator.add(epoch + 1, float(l.sum().detach()))
    # what the book's code prints in this order of calls from seed 0 (torch 2.x, CPU)
    book = [61.950222, 20.359217, 20.299782, 20.239586, 20.178446]
    assert losses == pytest.approx(book, rel=1e-5)
    assert animator.axes[0].get_lines()[0].get_ydata().tolist() == pytest.approx(book, rel=1e-5)

    y_hat = net(x_test, x_train.repeat((50, 1)), y_train.repeat((50, 1))).unsqueeze(1).detach()
    plot_kernel_reg(y_hat)
    d2l.show_heatmaps(net.attention_weights.unsqueeze(0).unsqueeze(0),
                      xlabel="Sorted training inputs", ylabel="Sorted testing inputs")  # fmt: skip
    assert net.attention_weights.shape == (50, 50)


def test_the_books_batch_matrix_products():
    assert torch.bmm(d2l.ones((2, 1, 4)), d2l.ones((2, 4, 6))).shape == (2, 1, 6)
    weights = d2l.ones((2, 10)) * 0.1
    values = d2l.reshape(d2l.arange(20.0), (2, 10))
    pooled = torch.bmm(weights.unsqueeze(1), values.unsqueeze(-1))
    torch.testing.assert_close(pooled, torch.tensor([[[4.5]], [[14.5]]]))  # printed in the book


def test_nw_kernel_regression_equals_its_formula_with_gradients():
    generator = torch.Generator().manual_seed(0)
    queries = torch.rand(6, generator=generator) * 5
    keys, values = torch.rand(6, 9, generator=generator) * 5, torch.randn(6, 9, generator=generator)
    net = d2l.NWKernelRegression()
    with torch.no_grad():
        net.w.fill_(-1.7)  # the book's w may turn negative; only w^2 matters

    def formula(w):
        weights = torch.softmax(-(((queries[:, None] - keys) * w) ** 2) / 2, dim=1)
        return (weights * values).sum(1), weights

    output = net(queries, keys, values)
    w = torch.tensor([-1.7], requires_grad=True)
    expected, expected_weights = formula(w)
    torch.testing.assert_close(output, expected)
    torch.testing.assert_close(net.attention_weights, expected_weights)
    output.sum().backward()
    expected.sum().backward()
    torch.testing.assert_close(net.w.grad, w.grad)


def test_nw_kernel_regression_has_the_books_parameter_and_survives_w_zero():
    net = d2l.NWKernelRegression()
    assert list(net.state_dict()) == ["w"] and net.w.shape == (1,)
    net.load_state_dict({"w": torch.tensor([0.0])})  # the book's weights are uniform at w = 0
    output = net(
        torch.tensor([1.0]), torch.tensor([[0.0, 1.0, 5.0]]), torch.tensor([[3.0, 6.0, 9.0]])
    )
    torch.testing.assert_close(output.detach(), torch.tensor([6.0]))
    torch.testing.assert_close(net.attention_weights, torch.full((1, 3), 1 / 3))


def test_nw_kernel_regression_errors():
    net = d2l.NWKernelRegression()
    with pytest.raises(TypeError, match=r"NWKernelRegression: queries must be a 1-D tensor"):
        net(torch.ones(2, 1), torch.ones(2, 3), torch.ones(2, 3))
    with pytest.raises(TypeError, match=r"keys must be a tensor of shape \(n_queries, n_keys\), "
                       r"one row of training pairs per query; got a tensor of shape \(3,\)"):  # fmt: skip
        net(torch.ones(2), torch.ones(3), torch.ones(2, 3))
    with pytest.raises(ValueError, match=r"values must have one row per query, shape \(2, "
                       r"n_keys\); got values.shape=\(3, 3\)"):  # fmt: skip
        net(torch.ones(2), torch.ones(2, 3), torch.ones(3, 3))


# --- the English edition: four kernels, their fits and weights --------------------------------


def test_the_books_kernels_are_attnlab_kernels_up_to_scale_and_window():
    x = d2l.arange(-2.5, 2.5, 0.1)
    # the book's "epanechikov" is the triangular kernel
    torch.testing.assert_close(d2l.epanechikov(x), kernels.triangular(x))
    assert not torch.allclose(d2l.epanechikov(x), kernels.epanechnikov(x))
    torch.testing.assert_close(d2l.gaussian(x), kernels.gaussian(x) * math.sqrt(2 * math.pi))
    torch.testing.assert_close(d2l.constant(x), torch.ones_like(x))
    # the book's boxcar is the open window |x| < 1; attnlab's (0.5 on |x| <= 1) is closed
    edge = torch.tensor([-1.0, -0.5, 1.0, 1.5])
    assert d2l.boxcar(edge).tolist() == [False, True, False, False]
    assert (kernels.boxcar(edge) > 0).tolist() == [True, True, True, False]


def _nadaraya_watson_formula(x_train, y_train, x_val, kernel):
    """The kernel-regression formula with one row per training input, as the book lays it out."""
    k = kernel(x_train[:, None] - x_val[None, :]).to(torch.float32)  # (n_train, n_val)
    weights = k / k.sum(0)
    return y_train @ weights, weights


def test_english_section_fits_every_kernel_as_the_formula(seeded):
    import matplotlib.pyplot as plt

    def f(x):
        return 2 * d2l.sin(x) + x

    n = 40
    x_train, _ = torch.sort(d2l.rand(n) * 5)
    y_train = f(x_train) + d2l.randn(n)
    x_val = d2l.arange(0, 5, 0.1)
    named = (d2l.gaussian, d2l.boxcar, d2l.constant, d2l.epanechikov)
    widths = [
        lambda x, sigma=sigma: d2l.exp(-(x**2) / (2 * sigma**2)) for sigma in (0.1, 0.2, 0.5, 1)
    ]
    fig, axes = d2l.plt.subplots(1, 4, sharey=True, figsize=(12, 3))
    for kernel, ax in zip((*named, *widths), [*axes, *axes], strict=True):
        y_hat, attention_w = d2l.nadaraya_watson(x_train, y_train, x_val, kernel)
        expected, expected_w = _nadaraya_watson_formula(x_train, y_train, x_val, kernel)
        torch.testing.assert_close(y_hat, expected, atol=2e-6, rtol=1e-6)
        torch.testing.assert_close(attention_w, expected_w, atol=2e-7, rtol=1e-5)
        assert attention_w.shape == (n, len(x_val))  # one row per training input
        ax.plot(d2l.numpy(x_val), d2l.numpy(kernel(x_val)))
        pcm = ax.imshow(d2l.numpy(attention_w), cmap="Reds")
    fig.colorbar(pcm, ax=axes, shrink=0.7)
    assert len(plt.gcf().axes) == 5


def test_nadaraya_watson_gives_nan_for_a_query_outside_every_window_silently():
    x_train, y_train = torch.tensor([0.0, 1.0]), torch.tensor([1.0, 3.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y_hat, attention_w = d2l.nadaraya_watson(
            x_train, y_train, torch.tensor([0.5, 9.0]), d2l.boxcar
        )
    assert y_hat[0].item() == 2.0 and math.isnan(y_hat[1].item())
    assert attention_w[:, 1].tolist() == [0.0, 0.0]  # the book's would be NaN


def test_nadaraya_watson_passes_key_minus_query_to_the_kernel():
    # an asymmetric kernel tells the two orders apart: only keys below the query count
    def below(x):
        return (x < 0).float() + 0.0 * x

    y_hat, _ = d2l.nadaraya_watson(torch.tensor([0.0, 2.0]), torch.tensor([1.0, 5.0]),
                                   torch.tensor([1.0]), below)  # fmt: skip
    assert y_hat.tolist() == [1.0]


def test_nadaraya_watson_errors():
    with pytest.raises(TypeError, match=r"nadaraya_watson: kernel must be a callable K\(x\); got "
                       r"'gaussian' \(str\)"):  # fmt: skip
        d2l.nadaraya_watson(torch.ones(2), torch.ones(2), torch.ones(2), "gaussian")
    with pytest.raises(TypeError, match=r"nadaraya_watson: x_val must be a 1-D tensor; got a "
                       r"tensor of shape \(2, 1\)"):  # fmt: skip
        d2l.nadaraya_watson(torch.ones(2), torch.ones(2), torch.ones(2, 1), d2l.gaussian)
