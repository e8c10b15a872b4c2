"""The attnlab command, end to end: `attnlab demo` and `attnlab heatmap` in subprocesses and in-process."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import attnlab
import attnlab.cli
import attnlab.plotting
from attnlab._loading import load_weights
from attnlab.cli import main
from attnlab.datasets import toy_regression

METHODS = ("average pooling", "NW, h = 1 (book)", "NW, leave-one-out h", "NW, learned h")
FIGURES = ("fits.png", "kernels.png", "bandwidth.png", "loss.png")


def run(*args, cwd):
    """Run ``python -m attnlab`` in a fresh process, as a user would."""
    env = {**os.environ, "PYTHONWARNINGS": "error::RuntimeWarning"}
    return subprocess.run(
        [sys.executable, "-m", "attnlab", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


def one_line_error(stderr, command):
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith(f"attnlab {command}: error: ")
    assert "Traceback" not in stderr
    return lines[0]


# --- attnlab demo ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def default_demo(tmp_path_factory):
    """The default demo, run once, from a folder of its own (so the default output is used)."""
    cwd = tmp_path_factory.mktemp("demo")
    result = run("demo", cwd=cwd)
    return cwd, result


def table_rows(stdout):
    rows = {}
    for name in METHODS:
        line = next(line for line in stdout.splitlines() if line.startswith(name))
        rows[name] = line[len(name) :].split()
    return rows


@pytest.mark.slow
def test_default_demo_writes_figures_metrics_and_weights(default_demo):
    cwd, result = default_demo
    assert result.returncode == 0, result.stderr
    folder = cwd / "attnlab-demo"
    for name in FIGURES:
        assert (folder / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    metrics = json.loads((folder / "metrics.json").read_text())
    assert list(metrics["test_mse"]) == list(METHODS)
    settings = metrics["settings"]
    assert (settings["seed"], settings["n_train"], settings["epochs"]) == (0, 50, 200)
    assert settings["attnlab_version"] == attnlab.__version__
    with np.load(folder / "weights.npz") as weights:
        assert sorted(weights.files) == sorted(
            ["average_pooling", "nw_book", "nw_loo", "nw_learned"]
        )
        for key in weights.files:
            assert weights[key].shape == (50, 50)
            np.testing.assert_allclose(weights[key].sum(-1), 1.0, rtol=1e-5)
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_default_demo_table_matches_metrics_and_hand_computation(default_demo):
    cwd, result = default_demo
    metrics = json.loads((cwd / "attnlab-demo" / "metrics.json").read_text())
    rows = table_rows(result.stdout)
    for name in METHODS:
        h, mse = rows[name][0], rows[name][1]
        assert float(mse) == pytest.approx(metrics["test_mse"][name], abs=5e-5)
        bandwidth = metrics["bandwidth"][name]
        assert h == "-" if bandwidth is None else float(h) == pytest.approx(bandwidth, abs=5e-4)
    # average pooling predicts the mean training target everywhere: its MSE, by hand
    data = toy_regression(50, seed=0)
    y_train, y_test = data.y_train.double().numpy(), data.y_test.double().numpy()
    by_hand = np.mean((y_train.mean() - y_test) ** 2)
    assert metrics["test_mse"]["average pooling"] == pytest.approx(by_hand, rel=1e-5)
    assert metrics["bandwidth"]["NW, h = 1 (book)"] == 1.0
    assert metrics["final_training_loss"] > 0


@pytest.mark.slow
def test_default_demo_attention_beats_average_pooling(default_demo):
    cwd, _ = default_demo
    mse = json.loads((cwd / "attnlab-demo" / "metrics.json").read_text())["test_mse"]
    assert mse["NW, learned h"] < mse["average pooling"]
    assert mse["NW, leave-one-out h"] < mse["average pooling"]


@pytest.mark.slow
def test_default_output_is_never_reused(default_demo, monkeypatch, capsys):
    cwd, _ = default_demo
    before = (cwd / "attnlab-demo" / "metrics.json").read_bytes()
    monkeypatch.chdir(cwd)
    assert main(["demo", "--epochs", "2", "--quiet"]) == 0
    assert capsys.readouterr() == ("", "")
    assert (cwd / "attnlab-demo" / "metrics.json").read_bytes() == before
    settings = json.loads((cwd / "attnlab-demo-2" / "metrics.json").read_text())["settings"]
    assert settings["epochs"] == 2


@pytest.mark.slow
def test_same_seed_identical_metrics_other_seed_different(tmp_path):
    args = ["demo", "--seed", "3", "--epochs", "20", "--quiet", "--out"]
    result = run(*args, "a", cwd=tmp_path)  # in a fresh process ...
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert main([*args, str(tmp_path / "b")]) == 0  # ... and in this one
    first = (tmp_path / "a" / "metrics.json").read_bytes()
    assert first == (tmp_path / "b" / "metrics.json").read_bytes()
    assert main([*args[:2], "4", *args[3:], str(tmp_path / "c")]) == 0
    other = json.loads((tmp_path / "c" / "metrics.json").read_text())
    assert other["test_mse"] != json.loads(first)["test_mse"]
    assert other["settings"]["seed"] == 4


def test_non_empty_output_needs_force(tmp_path, capsys):
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "notes.txt").write_text("my notes")
    (folder / "metrics.json").write_text("my metrics")
    args = ["demo", "--epochs", "2", "--quiet", "--out", str(folder)]
    assert main(args) == 2
    message = one_line_error(capsys.readouterr().err, "demo")
    assert re.search(r"already holds files.*--force", message)
    assert sorted(path.name for path in folder.iterdir()) == ["metrics.json", "notes.txt"]
    assert (folder / "metrics.json").read_text() == "my metrics"

    assert main([*args, "--force"]) == 0
    assert (folder / "notes.txt").read_text() == "my notes"
    assert json.loads((folder / "metrics.json").read_text())["settings"]["epochs"] == 2
    assert all((folder / name).exists() for name in FIGURES)


def test_empty_output_folder_is_used(tmp_path):
    assert main(["demo", "--epochs", "1", "--quiet", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "metrics.json").exists()


def test_output_that_is_a_file_is_refused(tmp_path, capsys):
    target = tmp_path / "file.txt"
    target.write_text("keep")
    assert main(["demo", "--epochs", "1", "--out", str(target), "--force"]) == 2
    assert "is not a folder" in one_line_error(capsys.readouterr().err, "demo")
    assert target.read_text() == "keep"


def test_unwritable_output_is_a_runtime_failure(tmp_path, capsys):
    (tmp_path / "file.txt").write_text("")
    assert (
        main(["demo", "--epochs", "1", "--quiet", "--out", str(tmp_path / "file.txt" / "sub")]) == 1
    )
    one_line_error(capsys.readouterr().err, "demo")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["demo", "--n-train", "2"], r"--n-train: expected an integer from 3 to 1000; got 2"),
        (["demo", "--epochs", "0"], r"--epochs: expected an integer >= 1; got 0"),
        (["demo", "--seed", "x"], r"--seed: expected an integer; got 'x'"),
        (["demo", "--bogus"], r"unrecognized arguments: --bogus"),
        (["nonsense"], r"invalid choice: 'nonsense'"),
        ([], r"the following arguments are required: COMMAND"),
        (["heatmap", "weights.npy"], r"the following arguments are required: --out"),
        (
            ["heatmap", "w.npy", "--out", "w.png", "--figsize", "4", "-1"],
            r"--figsize: expected a positive",
        ),
        (
            ["heatmap", "w.npy", "--out", "w.png", "--dpi", "5"],
            r"--dpi: expected an integer from 10",
        ),
    ],
)
def test_bad_arguments_exit_2(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert re.search(message, err), err
    assert err.splitlines()[0].startswith("usage: attnlab")


def test_help_and_version(capsys):
    for args in (["--help"], ["demo", "--help"], ["heatmap", "--help"]):
        assert main(args) == 0
        out = capsys.readouterr().out
        assert out.startswith(f"usage: attnlab {' '.join(args[:-1])}".rstrip())
        assert "exit codes:" in out
    for args in (["demo", "--help"], ["heatmap", "--help"]):
        main(args)
        assert "examples:" in capsys.readouterr().out
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"attnlab {attnlab.__version__}"


@pytest.mark.slow
def test_console_script_draws_the_demo_weights(default_demo):
    """The installed `attnlab` command, run as the demo's own output suggests."""
    cwd, result = default_demo
    hint = "attnlab heatmap attnlab-demo/weights.npz --key nw_learned --out w.png"
    assert hint in result.stdout
    script = Path(sys.executable).with_name("attnlab")
    if not script.exists():
        pytest.skip("the attnlab console script is not installed next to this interpreter")
    args = hint.split()[1:]
    drawn = subprocess.run([script, *args], cwd=cwd, capture_output=True, text=True, timeout=300)
    assert drawn.returncode == 0, drawn.stderr
    assert (cwd / "w.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_called_from_python_main_leaves_matplotlib_alone(tmp_path):
    """Only the program picks the Agg backend; a caller keeps its backend and rcParams."""
    np.save(tmp_path / "w.npy", np.eye(4))
    code = (
        "import matplotlib; matplotlib.use('svg'); before = dict(matplotlib.rcParams)\n"
        "from attnlab.cli import main\n"
        "assert main(['heatmap', 'w.npy', '--out', 'w.png']) == 0\n"
        "assert dict(matplotlib.rcParams) == before\n"
        "print(matplotlib.get_backend())"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "svg"
    assert (tmp_path / "w.png").exists()


# --- attnlab heatmap ---------------------------------------------------------------------------


class CodeOnUnpickle:
    """An object whose unpickling creates a marker file: what a malicious file would do."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture
def drawn(monkeypatch):
    """Record the arrays that the command hands to the real show_heatmaps."""
    calls = []
    real = attnlab.plotting.show_heatmaps

    def recording(matrices, *args, **kwargs):
        calls.append((np.array(matrices), kwargs))
        return real(matrices, *args, **kwargs)

    monkeypatch.setattr(attnlab.plotting, "show_heatmaps", recording)
    return calls


def save_safetensors(path, tensors):
    safetensors_torch = pytest.importorskip("safetensors.torch")
    safetensors_torch.save_file(tensors, path)


@pytest.mark.parametrize(
    ("extension", "magic"), [(".png", b"\x89PNG"), (".svg", b"<?xml"), (".pdf", b"%PDF")]
)
def test_heatmap_format_follows_extension(tmp_path, extension, magic):
    np.save(tmp_path / "w.npy", np.random.default_rng(0).random((2, 3, 4, 5)))
    out = tmp_path / f"w{extension}"
    assert main(["heatmap", str(tmp_path / "w.npy"), "--out", str(out)]) == 0
    assert out.read_bytes()[: len(magic)] == magic


def test_heatmap_reads_every_format(tmp_path, drawn):
    weights = torch.softmax(torch.randn(2, 3, 4, 5, generator=torch.Generator().manual_seed(0)), -1)
    np.savez(tmp_path / "one.npz", only=weights[0, 0].numpy())
    np.savez(tmp_path / "two.npz", first=weights[0].numpy(), second=weights.numpy())
    torch.save(weights, tmp_path / "tensor.pt")
    torch.save({"layer0": weights[0], "step": 3}, tmp_path / "dict.pth")
    torch.save(tuple(weights[:, None]), tmp_path / "layers.pt")  # (1, 3, 4, 5) per layer
    torch.save(weights.to(torch.bfloat16), tmp_path / "half.pt")
    save_safetensors(tmp_path / "w.safetensors", {"attn": weights.contiguous()})
    cases = [
        (["one.npz"], weights[0, 0]),
        (["two.npz", "--key", "second"], weights),
        (["tensor.pt"], weights),
        (["dict.pth", "--key", "layer0"], weights[0]),
        (["layers.pt"], weights),
        (["half.pt"], weights.to(torch.bfloat16).float()),
        (["w.safetensors"], weights),
    ]
    for args, expected in cases:
        file, *rest = args
        assert main(["heatmap", str(tmp_path / file), *rest, "--out", str(tmp_path / "o.png")]) == 0
        np.testing.assert_allclose(drawn[-1][0], expected.numpy(), rtol=1e-6, err_msg=file)


def test_heatmap_passes_labels_titles_and_cmap(tmp_path, drawn):
    np.save(tmp_path / "w.npy", np.ones((1, 2, 3, 3)) / 3)
    args = ["--xlabel", "Keys (tokens)", "--ylabel", "Q", "--titles", "head 1", "head 2"]
    assert (
        main(
            [
                "heatmap",
                str(tmp_path / "w.npy"),
                "--out",
                str(tmp_path / "w.png"),
                *args,
                "--cmap",
                "viridis",
            ]
        )
        == 0
    )
    kwargs = drawn[-1][1]
    assert kwargs["xlabel"] == "Keys (tokens)" and kwargs["ylabel"] == "Q"
    assert kwargs["titles"] == ["head 1", "head 2"] and kwargs["cmap"] == "viridis"
    # 2.5 inches per panel as in the book (plus room for labels and the colour bar) ...
    assert kwargs["figsize"] == (2.5 * 2 + 1.0, 2.5 + 0.5)
    # ... shrunk for a big grid, so that 12 x 12 heads stay 20 inches across
    np.save(tmp_path / "big.npy", np.ones((12, 12, 3, 3)) / 3)
    assert main(["heatmap", str(tmp_path / "big.npy"), "--out", str(tmp_path / "big.png")]) == 0
    assert drawn[-1][1]["figsize"] == pytest.approx((20 / 12 * 12 + 1.0, 20 / 12 * 12 + 0.5))
    out = str(tmp_path / "w.png")
    assert main(["heatmap", str(tmp_path / "w.npy"), "--out", out, "--figsize", "4", "3"]) == 0
    assert drawn[-1][1]["figsize"] == (4.0, 3.0)


def bad_files(tmp_path):
    """Every kind of file the command must refuse: (file, extra args, message pattern)."""
    np.save(tmp_path / "vector.npy", np.ones(4))
    np.save(tmp_path / "five.npy", np.ones((2, 2, 2, 3, 3)))
    np.save(tmp_path / "text.npy", np.array([["a", "b"], ["c", "d"]]))
    np.save(tmp_path / "complex.npy", np.ones((2, 2), dtype=complex))
    np.save(tmp_path / "nan.npy", np.array([[0.5, np.nan], [0.5, 0.5]]))
    np.save(tmp_path / "inf.npy", np.array([[0.5, np.inf], [0.5, 0.5]]))
    np.save(tmp_path / "empty.npy", np.ones((0, 3)))
    np.savez(tmp_path / "two.npz", a=np.eye(2), b=np.eye(3))
    torch.save({"a": torch.eye(2), "b": torch.eye(3)}, tmp_path / "dict.pt")
    torch.save({"step": 3}, tmp_path / "no_tensors.pt")
    torch.save([torch.eye(2), torch.eye(3)], tmp_path / "ragged.pt")
    torch.save(torch.eye(3), tmp_path / "plain.pt")
    (tmp_path / "garbage.pt").write_bytes(b"not a torch file")
    (tmp_path / "garbage.npz").write_bytes(b"PK\x03\x04 not really a zip")
    (tmp_path / "garbage.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}")
    (tmp_path / "weights.txt").write_text("0.5 0.5")
    (tmp_path / "folder.npy").mkdir()
    return [
        ("missing.npy", [], r"missing\.npy: no such file"),
        ("folder.npy", [], r"folder\.npy: not a file"),
        ("weights.txt", [], r"unknown file type '\.txt'; expected one of \.npy, \.npz, \.pt"),
        ("vector.npy", [], r"must have 2 to 4 axes.*got shape \(4,\)"),
        ("five.npy", [], r"must have 2 to 4 axes.*got shape \(2, 2, 2, 3, 3\)"),
        ("text.npy", [], r"weights must be numeric; got dtype <U1"),
        ("complex.npy", [], r"weights must be real numbers; got dtype complex128"),
        ("nan.npy", [], r"must be finite; got 1 NaN or infinite value"),
        ("inf.npy", [], r"must be finite; got 1 NaN or infinite value"),
        ("empty.npy", [], r"weights are empty"),
        ("vector.npy", ["--key", "x"], r"--key is for files that hold several arrays"),
        ("two.npz", [], r"holds 2 arrays; choose one with --key \(one of 'a', 'b'\)"),
        ("two.npz", ["--key", "c"], r"no array named 'c'; it holds 'a', 'b'"),
        ("dict.pt", [], r"holds 2 arrays; choose one with --key"),
        ("dict.pt", ["--key", "c"], r"no array named 'c'"),
        ("plain.pt", ["--key", "c"], r"--key is for a saved dictionary of tensors"),
        ("no_tensors.pt", [], r"the dictionary it holds has no tensors"),
        ("ragged.pt", [], r"cannot stack the tensors.*shapes differ"),
        ("garbage.pt", [], r"not a file written by torch\.save"),
        ("garbage.npz", [], r"not a readable \.npz file"),
        ("garbage.safetensors", [], r"not a readable \.safetensors file"),
    ]


def test_heatmap_refuses_every_bad_file(tmp_path, capsys):
    for file, extra, pattern in bad_files(tmp_path):
        out = tmp_path / "out.png"
        assert main(["heatmap", str(tmp_path / file), *extra, "--out", str(out)]) == 2, file
        message = one_line_error(capsys.readouterr().err, "heatmap")
        assert re.search(pattern, message), (file, message)
        assert not out.exists()


@pytest.mark.parametrize(
    ("args", "pattern"),
    [
        (
            ["--out", "w.jpeg2"],
            r"--out w\.jpeg2: the extension picks the image format; use one of .*\.png.*\.svg",
        ),
        (["--out", "w"], r"the extension picks the image format"),
        (["--out", "w.png", "--cmap", "nope"], r"--cmap 'nope' is not a matplotlib colour map"),
        (["--out", "w.png", "--titles", "a", "b", "c"], r"titles"),
    ],
)
def test_heatmap_refuses_bad_options(tmp_path, capsys, args, pattern):
    np.save(tmp_path / "w.npy", np.eye(3))
    assert main(["heatmap", str(tmp_path / "w.npy"), *args]) == 2
    assert re.search(pattern, one_line_error(capsys.readouterr().err, "heatmap"))


def test_heatmap_unwritable_image_is_a_runtime_failure(tmp_path, capsys):
    np.save(tmp_path / "w.npy", np.eye(3))
    assert main(["heatmap", str(tmp_path / "w.npy"), "--out", str(tmp_path / "no" / "w.png")]) == 1
    one_line_error(capsys.readouterr().err, "heatmap")


def make_pickles(folder, marker):
    """A .npy, a .npz, a .pt and a pickle renamed .npy, each of which runs code when unpickled."""
    np.save(
        folder / "evil.npy", np.array([CodeOnUnpickle(marker)], dtype=object), allow_pickle=True
    )
    np.savez(folder / "evil.npz", w=np.array([CodeOnUnpickle(marker)], dtype=object))
    torch.save({"w": CodeOnUnpickle(marker)}, folder / "evil.pt")
    with (folder / "renamed.npy").open("wb") as file:
        __import__("pickle").dump(CodeOnUnpickle(marker), file)


def test_crafted_pickles_would_run_code_if_unpickled(tmp_path):
    """Control: the crafted files really do run code under an unsafe load."""
    marker = tmp_path / "marker"
    make_pickles(tmp_path, marker)
    np.load(tmp_path / "evil.npy", allow_pickle=True)
    assert marker.exists()
    marker.unlink()
    torch.load(tmp_path / "evil.pt", weights_only=False)
    assert marker.exists()


def test_heatmap_never_unpickles(tmp_path, capsys):
    marker = tmp_path / "marker"
    make_pickles(tmp_path, marker)
    expected = {
        "evil.npy": r"evil\.npy has an array of Python objects and could only be read by unpickling",
        "evil.npz": r"array 'w' holds Python objects, which only unpickling could read",
        "evil.pt": r"evil\.pt holds Python objects \(it refers to [\w.]*open\), not only tensors",
        "renamed.npy": r"renamed\.npy has no NumPy array header and could only be read by unpickling",
    }
    for file, pattern in expected.items():
        if file == "evil.pt":  # in a fresh process, as a user would run it
            result = run("heatmap", file, "--out", "out.png", cwd=tmp_path)
            code, stderr = result.returncode, result.stderr
        else:
            code = main(["heatmap", str(tmp_path / file), "--out", str(tmp_path / "out.png")])
            stderr = capsys.readouterr().err
        assert code == 2
        message = one_line_error(stderr, "heatmap")
        assert re.search(pattern, message), message
        assert "attnlab never unpickles, because unpickling can run arbitrary code" in message
        assert not marker.exists(), f"{file} ran code"
        assert not (tmp_path / "out.png").exists()


@settings(max_examples=25, deadline=None)
@given(
    weights=hnp.arrays(
        dtype=st.sampled_from([np.float16, np.float32, np.float64, np.int64, np.bool_]),
        shape=hnp.array_shapes(min_dims=2, max_dims=4, min_side=1, max_side=4),
        elements={"allow_nan": False, "allow_infinity": False},
    ),
    extension=st.sampled_from([".npy", ".npz", ".pt", ".safetensors"]),
)
def test_loaded_weights_round_trip(tmp_path_factory, weights, extension):
    """Whatever numeric 2-D to 4-D array is saved, exactly those values come back as floats."""
    path = tmp_path_factory.mktemp("saved") / f"weights{extension}"
    if extension == ".npy":
        np.save(path, weights)
    elif extension == ".npz":
        np.savez(path, only=weights)
    elif extension == ".pt":
        torch.save(torch.from_numpy(weights), path)
    else:
        save_safetensors(path, {"only": torch.from_numpy(np.ascontiguousarray(weights))})
    loaded = load_weights(path)
    assert loaded.dtype.kind == "f"
    assert loaded.shape == weights.shape
    np.testing.assert_array_equal(loaded, weights.astype(loaded.dtype))
