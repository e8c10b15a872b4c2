"""train_pooling: the learnable Nadaraya-Watson of the book, trained with leave-one-out keys."""

import numpy as np
import pytest
import torch
from torch import nn

import attnlab.training
from attnlab import NadarayaWatson, nadaraya_watson, select_bandwidth, train_pooling
from attnlab.datasets import toy_regression


def held_out_mse(model, data):
    with torch.no_grad():
        output, _ = model(data.x_test, data.x_train, data.y_train)
    return float((output - data.y_test).square().mean())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_parametric_nw_with_leave_one_out_beats_nonparametric_nw(seed):
    data = toy_regression(seed=seed)
    model = NadarayaWatson(bandwidth=1.0)
    history = train_pooling(model, data.x_train, data.y_train)
    baseline, _ = nadaraya_watson(data.x_test, data.x_train, data.y_train, bandwidth=1.0)
    baseline_mse = float((baseline - data.y_test).square().mean())
    assert held_out_mse(model, data) < 0.6 * baseline_mse
    assert len(history) == 200 and history[-1] < history[0]


@pytest.mark.parametrize("seed", [2])
def test_training_reaches_the_leave_one_out_bandwidth(seed):
    # gradient descent on the leave-one-out loss and the grid search minimise the same function
    data = toy_regression(seed=seed)
    model = NadarayaWatson(bandwidth=1.0)
    history = train_pooling(model, data.x_train, data.y_train, epochs=300)
    expected = select_bandwidth(data.x_train, data.y_train)
    assert model.bandwidth.item() == pytest.approx(expected, rel=0.02)
    x, y = data.x_train.double().numpy(), data.y_train.double().numpy()
    others = ~np.eye(len(x), dtype=bool)
    weights = np.exp(-0.5 * ((x[:, None] - x[None]) / model.bandwidth.item()) ** 2) * others
    loo_loss = np.mean((weights @ y / weights.sum(1) - y) ** 2)  # brute-force leave-one-out
    assert history[-1] == pytest.approx(loo_loss, rel=1e-3)


def test_without_leave_one_out_the_bandwidth_collapses_and_copies_the_targets():
    data = toy_regression(seed=0)
    kept, collapsed = NadarayaWatson(bandwidth=1.0), NadarayaWatson(bandwidth=1.0)
    train_pooling(kept, data.x_train, data.y_train)
    history = train_pooling(collapsed, data.x_train, data.y_train, leave_one_out=False)
    assert collapsed.bandwidth.item() < 0.05 * kept.bandwidth.item()
    assert history[-1] < 0.01 * history[0]  # it fits the noise of the training set ...
    with torch.no_grad():
        own, _ = collapsed(data.x_train, data.x_train, data.y_train)
    torch.testing.assert_close(own, data.y_train, atol=0.1, rtol=0)  # ... by copying targets
    assert held_out_mse(collapsed, data) > held_out_mse(kept, data)  # and generalises worse


def test_training_is_deterministic_and_multivariate():
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(40, 2, generator=generator) * 4
    y = torch.sin(x[:, 0]) + 0.1 * x[:, 1] + 0.2 * torch.randn(40, generator=generator)
    histories = []
    for _ in range(2):
        model = NadarayaWatson(bandwidth=[1.0, 1.0])
        histories.append(train_pooling(model, x, y, epochs=50))
    assert histories[0] == histories[1]
    assert model.bandwidth.shape == (2,) and model.bandwidth[1] > model.bandwidth[0]


def test_progress_bar_after_its_delay(capsys, monkeypatch):
    data = toy_regression(seed=0)
    history = train_pooling(NadarayaWatson(), data.x_train, data.y_train, epochs=5, progress=True)
    assert len(history) == 5
    assert capsys.readouterr().err == ""  # a fraction of a second: no bar
    monkeypatch.setattr(attnlab.training, "_PROGRESS_DELAY_S", 0.0)
    train_pooling(NadarayaWatson(), data.x_train, data.y_train, epochs=5, progress=True)
    err = capsys.readouterr().err
    assert "train_pooling" in err and "5/5" in err and "loss=" in err


def test_errors():
    data = toy_regression(seed=0)
    x, y = data.x_train, data.y_train
    with pytest.raises(TypeError, match="train_pooling: module must be a torch.nn.Module"):
        train_pooling(lambda q, k, v: (v, None), x, y)
    with pytest.raises(ValueError, match="module has no trainable parameters"):
        train_pooling(NadarayaWatson(learnable=False), x, y)
    with pytest.raises(ValueError, match="epochs must be a positive integer; got 0"):
        train_pooling(NadarayaWatson(), x, y, epochs=0)
    with pytest.raises(ValueError, match="lr must be a positive number; got -0.1"):
        train_pooling(NadarayaWatson(), x, y, lr=-0.1)
    with pytest.raises(ValueError, match=r"the same n; got x_train.shape=\(50,\), y_train.shape"):
        train_pooling(NadarayaWatson(), x, y[:-1])
    with pytest.raises(ValueError, match="needs at least 3 points; got 2"):
        train_pooling(NadarayaWatson(), x[:2], y[:2])
    with pytest.raises(ValueError, match="train_pooling: y_train must be finite"):
        train_pooling(NadarayaWatson(), x, torch.where(y > 0, torch.nan, y))


@pytest.mark.parametrize("kernel", ["boxcar", "constant"])
def test_kernel_without_gradient_is_explained(kernel):
    data = toy_regression(seed=0)
    with pytest.raises(
        ValueError,
        match=rf"train_pooling: the loss does not depend on the bandwidth with the {kernel} kernel.*gaussian, epanechnikov",
    ):
        train_pooling(NadarayaWatson(kernel=kernel), data.x_train, data.y_train, epochs=3)


def test_module_without_gradient_is_explained():
    class Frozen(nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = nn.Parameter(torch.ones(()))

        def forward(self, queries, keys, values, leave_one_out=False):
            return values.detach().clone(), None

    data = toy_regression(seed=0)
    with pytest.raises(ValueError, match="no gradient flows to them"):
        train_pooling(Frozen(), data.x_train, data.y_train, epochs=2)


def test_adam_takes_torchs_steps_exactly():
    generator = torch.Generator().manual_seed(0)
    ours = torch.randn(3, 2, generator=generator, requires_grad=True)
    theirs = ours.detach().clone().requires_grad_(True)
    target = torch.randn(3, 2, generator=generator)
    from attnlab.training import Adam

    mine, reference = Adam([ours], lr=0.05), torch.optim.Adam([theirs], lr=0.05)
    for _ in range(50):
        for weight, optimizer in ((ours, mine), (theirs, reference)):
            optimizer.zero_grad()
            ((weight - target) ** 3).abs().sum().backward()
            optimizer.step()
        torch.testing.assert_close(ours, theirs, rtol=1e-6, atol=1e-7)
    assert not torch.equal(ours.detach(), target)  # it moved


def test_first_training_imports_no_compiler():
    code = (
        "import sys, torch\n"
        "from attnlab import NadarayaWatson, train_pooling\n"
        "from attnlab.datasets import toy_regression\n"
        "data = toy_regression(seed=0)\n"
        "train_pooling(NadarayaWatson(), data.x_train, data.y_train, epochs=2)\n"
        "print('torch._dynamo' in sys.modules)"
    )
    result = __import__("subprocess").run(
        [__import__("sys").executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
