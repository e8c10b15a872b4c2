"""MultiHeadAttention against torch: the weights path and the fused path, one run.

- weights path (``need_weights=True``) vs ``nn.MultiheadAttention(need_weights=True,
  average_attn_weights=False)`` with the same weights;
- fused path (``need_weights=False``) vs the same projections around a plain
  ``F.scaled_dot_product_attention`` call, and vs ``nn.MultiheadAttention(need_weights=False)``.

Self-attention at a realistic CPU size, inference (``eval()``, ``torch.no_grad()``) and a training
step (forward and backward), with and without a padding mask; attnlab and its peer timed in
alternation, each ratio the median of the paired ratios, in wall-clock and in process CPU time
(the steadier figure on a shared machine); torch's default thread count. A ratio above 1 means
attnlab is slower.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F

from attnlab import MultiHeadAttention

BATCH, N, NUM_HIDDENS, HEADS = 32, 128, 256, 8
REPEATS, WARMUP = 21, 3


def _compare(ours: Callable[[], object], peer: Callable[[], object]) -> dict[str, float]:
    """Median wall and CPU milliseconds of each, and the medians of their paired ratios.

    The two are timed alternately, so that a change of load on the machine hits both alike;
    the CPU time of the process is the steadier figure on a shared machine.
    """
    for _ in range(WARMUP):
        ours(), peer()
    times: dict[str, list[float]] = {key: [] for key in ("wall", "cpu", "peer_wall", "peer_cpu")}
    for repeat in range(REPEATS):
        pairs = ((ours, ""), (peer, "peer_"))
        for step, prefix in pairs if repeat % 2 else pairs[::-1]:
            wall, cpu = time.perf_counter(), time.process_time()
            step()
            times[prefix + "cpu"].append(time.process_time() - cpu)
            times[prefix + "wall"].append(time.perf_counter() - wall)
    result = {key: statistics.median(values) * 1e3 for key, values in times.items()}
    for kind in ("wall", "cpu"):
        ratios = [a / b for a, b in zip(times[kind], times["peer_" + kind], strict=True)]
        result[kind + "_ratio"] = statistics.median(ratios)
    return result


def _models() -> tuple[MultiHeadAttention, nn.MultiheadAttention]:
    torch.manual_seed(0)
    ours = MultiHeadAttention(NUM_HIDDENS, HEADS, bias=True)
    X = torch.zeros(1, 1, NUM_HIDDENS)
    ours(X, X, X)  # materialise the lazy layers
    theirs = nn.MultiheadAttention(NUM_HIDDENS, HEADS, bias=True, batch_first=True)
    with torch.no_grad():
        theirs.in_proj_weight.copy_(torch.cat([ours.W_q.weight, ours.W_k.weight, ours.W_v.weight]))
        theirs.in_proj_bias.copy_(torch.cat([ours.W_q.bias, ours.W_k.bias, ours.W_v.bias]))
        theirs.out_proj.weight.copy_(ours.W_o.weight)
        theirs.out_proj.bias.copy_(ours.W_o.bias)
    return ours, theirs


def _plain_sdpa(ours: MultiHeadAttention, X: torch.Tensor, mask: torch.Tensor | None):
    """The fused path with nothing around it: the same packed projection, one SDPA call."""
    batch, n, _ = X.shape
    weight = torch.cat([ours.W_q.weight, ours.W_k.weight, ours.W_v.weight])
    bias = torch.cat([ours.W_q.bias, ours.W_k.bias, ours.W_v.bias])
    q, k, v = F.linear(X, weight, bias).view(batch, n, 3, HEADS, -1).permute(2, 0, 3, 1, 4)
    heads = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # (b, h, n, s)
    return ours.W_o(heads.transpose(1, 2).reshape(batch, n, NUM_HIDDENS))


def _cases(ours, theirs, X, valid_lens):
    if valid_lens is None:
        allowed = padding = None
    else:
        allowed = (torch.arange(N) < valid_lens[:, None])[:, None, None, :]  # (b, 1, 1, k)
        padding = ~allowed[:, 0, 0]  # (b, k), torch: True = ignore
    return {
        "weights": (
            lambda: ours(X, X, X, valid_lens),
            lambda: theirs(X, X, X, key_padding_mask=padding, average_attn_weights=False),
        ),
        "fused_vs_sdpa": (
            lambda: ours(X, X, X, valid_lens, need_weights=False),
            lambda: _plain_sdpa(ours, X, allowed),
        ),
        "fused_vs_mha": (
            lambda: ours(X, X, X, valid_lens, need_weights=False),
            lambda: theirs(X, X, X, key_padding_mask=padding, need_weights=False),
        ),
    }


def _check_same_results(ours, theirs, X, valid_lens) -> None:
    with torch.no_grad():
        cases = _cases(ours.eval(), theirs.eval(), X, valid_lens)
        output, weights = cases["weights"][0]()
        expected, expected_weights = cases["weights"][1]()
        torch.testing.assert_close(output, expected, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(weights, expected_weights, atol=1e-6, rtol=1e-4)
        torch.testing.assert_close(cases["fused_vs_sdpa"][0]()[0], cases["fused_vs_sdpa"][1]())


def main() -> None:
    ours, theirs = _models()
    generator = torch.Generator().manual_seed(1)
    X = torch.randn(BATCH, N, NUM_HIDDENS, generator=generator)
    lengths = torch.randint(N // 2, N + 1, (BATCH,), generator=generator)
    print(
        f"self-attention, batch={BATCH}, n={N}, num_hiddens={NUM_HIDDENS}, heads={HEADS}, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, median of {REPEATS}"
    )
    names = {
        "weights": ("need_weights=True", "nn.MultiheadAttention need_weights=True"),
        "fused_vs_sdpa": ("need_weights=False", "same projections + plain SDPA"),
        "fused_vs_mha": ("need_weights=False", "nn.MultiheadAttention need_weights=False"),
    }
    print(
        f"{'mode':<9} {'mask':<7} {'attnlab':<18} {'peer':<40} "
        "attnlab ms (wall/CPU)   peer ms (wall/CPU)   ratio (wall/CPU)"
    )
    ours.eval()
    with torch.no_grad():  # the noise floor: the same call timed against itself
        same = _compare(lambda: _plain_sdpa(ours, X, None), lambda: _plain_sdpa(ours, X, None))
    print(
        f"noise floor (plain SDPA against itself): ratio {same['wall_ratio']:.2f} wall, "
        f"{same['cpu_ratio']:.2f} CPU"
    )
    for valid_lens in (None, lengths):
        _check_same_results(ours, theirs, X, valid_lens)
        mask_name = "none" if valid_lens is None else "padding"
        for mode in ("inference", "training"):
            training = mode == "training"
            ours.train(training), theirs.train(training)
            cases = _cases(ours, theirs, X.clone().requires_grad_(training), valid_lens)
            for key, (attnlab_call, peer_call) in cases.items():
                if training:  # forward and backward

                    def attnlab_step(call=attnlab_call):
                        call()[0].sum().backward()

                    def peer_step(call=peer_call):
                        result = call()
                        (result[0] if isinstance(result, tuple) else result).sum().backward()

                    result = _compare(attnlab_step, peer_step)
                else:
                    with torch.no_grad():
                        result = _compare(attnlab_call, peer_call)
                ours_name, peer_name = names[key]
                print(
                    f"{mode:<9} {mask_name:<7} {ours_name:<18} {peer_name:<40} "
                    f"{result['wall']:8.2f} /{result['cpu']:8.2f}   "
                    f"{result['peer_wall']:7.2f} /{result['peer_cpu']:8.2f}   "
                    f"{result['wall_ratio']:6.2f} /{result['cpu_ratio']:5.2f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
