"""The book's toy regression: its recipe, determinism, and no global random state."""

import pytest
import torch

from attnlab import datasets


def test_matches_the_books_recipe():
    data = datasets.toy_regression(seed=3)
    assert data.x_train.shape == (50,)
    assert ((data.x_train >= 0) & (data.x_train < 5)).all()
    assert torch.equal(data.x_train, data.x_train.sort().values)
    torch.testing.assert_close(data.x_test, torch.arange(0, 5, 0.1))
    torch.testing.assert_close(data.y_test, 2 * torch.sin(data.x_test) + data.x_test**0.8)
    noise = data.y_train - (2 * torch.sin(data.x_train) + data.x_train**0.8)
    assert 0.3 < noise.std().item() < 0.7


def test_seeded_without_touching_global_state():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    first = datasets.toy_regression(seed=7)
    after = torch.rand(1)
    assert torch.equal(before, after)
    assert torch.equal(first.y_train, datasets.toy_regression(seed=7).y_train)
    assert not torch.equal(first.y_train, datasets.toy_regression(seed=8).y_train)


@pytest.mark.parametrize("name", list(datasets.FUNCTIONS))
def test_named_functions(name):
    data = datasets.toy_regression(20, function=name, noise=0.0, seed=0)
    torch.testing.assert_close(data.y_train, datasets.FUNCTIONS[name](data.x_train))


def test_errors():
    with pytest.raises(
        ValueError, match="toy_regression: n_train must be a positive integer; got 0"
    ):
        datasets.toy_regression(0)
    with pytest.raises(ValueError, match="toy_regression: function must be one of 'd2l'"):
        datasets.toy_regression(function="cubic")
    with pytest.raises(ValueError, match="toy_regression: noise must be >= 0"):
        datasets.toy_regression(noise=-1.0)
