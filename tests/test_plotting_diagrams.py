"""The query-key-value diagram, tested through its artists under Agg."""

from __future__ import annotations

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.colors import to_rgba
from matplotlib.patches import FancyArrowPatch, Rectangle

from attnlab.plotting import draw_attention_cues


def patches(ax, gid, kind=None):
    return [p for p in ax.patches if p.get_gid() == gid and (kind is None or isinstance(p, kind))]


def texts(ax, gid):
    return [t.get_text() for t in ax.texts if t.get_gid() == gid]


@pytest.mark.parametrize("weights", [[1.0], [0.05, 0.10, 0.60, 0.20, 0.05], [1 / 12] * 12])
def test_one_box_per_key_value_and_weight(weights):
    ax = draw_attention_cues(weights).axes[0]
    n = len(weights)
    for gid in ("key", "value", "weight"):
        assert len(patches(ax, gid, Rectangle)) == n
    assert texts(ax, "key") == [rf"$\mathbf{{k}}_{{{i}}}$" for i in range(1, n + 1)]
    assert texts(ax, "value") == [rf"$\mathbf{{v}}_{{{i}}}$" for i in range(1, n + 1)]
    assert texts(ax, "weight") == [f"{w:.2f}" for w in weights]
    for gid in ("key-to-weight", "weight-to-value", "value-to-output"):
        assert len(patches(ax, gid, FancyArrowPatch)) == n
    assert len(patches(ax, "query", FancyArrowPatch)) == 1
    assert not ax.axison


def test_weights_are_shaded_on_the_probability_scale_and_pool_by_thickness():
    weights = [0.05, 0.10, 0.60, 0.20, 0.05]
    ax = draw_attention_cues(weights, cmap="Blues").axes[0]
    colormap = mpl.colormaps["Blues"]
    faces = [p.get_facecolor() for p in patches(ax, "weight", Rectangle)]
    np.testing.assert_allclose(faces, [colormap(w) for w in weights])
    # the keys and the values are ordered top to bottom, k_1 at the top, beside v_1
    keys = [p.get_y() for p in patches(ax, "key", Rectangle)]
    values = [p.get_y() for p in patches(ax, "value", Rectangle)]
    assert keys == sorted(keys, reverse=True) and keys == values
    widths = [p.get_linewidth() for p in patches(ax, "value-to-output")]
    assert np.argmax(widths) == 2
    np.testing.assert_allclose(
        np.argsort(widths, kind="stable"), np.argsort(weights, kind="stable")
    )
    dashed = [p.get_linestyle() for p in patches(ax, "weight-to-value")]
    assert all(style != "solid" for style in dashed)


def test_the_chapters_vocabulary_labels_every_column():
    ax = draw_attention_cues().axes[0]
    labels = texts(ax, "label")
    for expected in (
        "keys\n(nonvolitional cues)",
        "values\n(sensory inputs)",
        "query\n(volitional cue)",
        r"weights $\alpha(\mathbf{q}, \mathbf{k}_i)$",
        "attention pooling",
    ):
        assert expected in labels
    assert texts(ax, "output") == ["output"]
    assert texts(ax, "query") == [r"$\mathbf{q}$"]


def test_draws_into_a_given_axes_and_leaves_global_state_alone():
    before = dict(mpl.rcParams)
    fig, (left, right) = plt.subplots(1, 2)
    n_figures = len(plt.get_fignums())
    assert draw_attention_cues([0.5, 0.5], ax=right) is fig
    assert len(plt.get_fignums()) == n_figures
    assert not left.patches and len(patches(right, "key")) == 2
    assert dict(mpl.rcParams) == before


def test_accepts_a_tensor_and_sizes_the_figure_by_the_number_of_keys():
    weights = torch.softmax(torch.tensor([0.0, 1.0, 2.0]), -1).requires_grad_()
    small = draw_attention_cues(weights)
    assert texts(small.axes[0], "weight") == [f"{w:.2f}" for w in weights.tolist()]
    tall = draw_attention_cues([0.1] * 10)
    assert tall.get_figheight() > small.get_figheight() + 3
    assert tall.get_figwidth() == small.get_figwidth()
    assert draw_attention_cues([1.0], figsize=(4, 2)).get_size_inches().tolist() == [4, 2]
    assert to_rgba(patches(small.axes[0], "query", Rectangle)[0].get_facecolor()) == to_rgba(
        "white"
    )


def test_errors():
    func = "draw_attention_cues"
    with pytest.raises(
        ValueError,
        match=rf"{func}: weights must be non-negative and sum to 1, as attention weights do; got \[0.5, 0.6\] \(sum 1.1\)",
    ):
        draw_attention_cues([0.5, 0.6])
    with pytest.raises(
        ValueError, match=rf"{func}: weights must be non-negative .* got \[1.5, -0.5\]"
    ):
        draw_attention_cues([1.5, -0.5])
    with pytest.raises(
        ValueError, match=rf"{func}: weights must be non-negative .* got \[nan, 1.0\]"
    ):
        draw_attention_cues([float("nan"), 1.0])
    with pytest.raises(
        ValueError,
        match=rf"{func}: weights must be one query's weights, a 1-D sequence of 1 to 12 numbers \(one per key\); got shape \(2, 2\)",
    ):
        draw_attention_cues([[0.5, 0.5], [0.5, 0.5]])
    with pytest.raises(ValueError, match=r"1 to 12 numbers .* got shape \(13,\)"):
        draw_attention_cues([1 / 13] * 13)
    with pytest.raises(ValueError, match=r"got shape \(0,\)"):
        draw_attention_cues([])
    with pytest.raises(
        TypeError,
        match=rf"{func}: weights must be a sequence of numbers, one per key; got 'abc' \(str\)",
    ):
        draw_attention_cues("abc")
    with pytest.raises(TypeError, match=rf"{func}: ax must be a matplotlib Axes; got 3 \(int\)"):
        draw_attention_cues(ax=3)
