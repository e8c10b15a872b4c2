"""Record the attention weights of any PyTorch model, one tensor per attention call.

PyTorch's transformer layers never keep their attention weights: ``nn.TransformerEncoderLayer``
and ``nn.TransformerDecoderLayer`` call ``nn.MultiheadAttention`` with ``need_weights=False``,
and in inference the encoder runs a fused kernel that has no weights at all. ``record_attention``
watches every attention module of a model with forward hooks and recomputes the per-head
weights of each call from that call's own inputs, so the model computes what it always does.

References
----------
1. A. Vaswani et al., "Attention is all you need", NeurIPS (2017), section 3.2.2.
2. A. Zhang, Z. C. Lipton, M. Li, A. J. Smola, *Dive into Deep Learning*, sections 10.5-10.7
   (Chinese 2nd edition) / 11.5-11.7 (English).
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial

import torch
from torch import nn
from torch.nn import functional as F

from attnlab.modules import KeepsWeights
from attnlab.multihead import MultiHeadAttention

__all__ = ["Recording", "record_attention", "stack_heads"]

_TORCH_MHA_SIGNATURE = inspect.signature(nn.MultiheadAttention.forward)


@dataclass
class Recording:
    """The attention weights seen inside a ``record_attention`` block, in call order.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from attnlab import record_attention
    >>> layer = nn.TransformerEncoderLayer(d_model=8, nhead=2, batch_first=True)
    >>> encoder = nn.TransformerEncoder(layer, num_layers=2).eval()
    >>> with record_attention(encoder) as recording:
    ...     _ = encoder(torch.randn(3, 5, 8))
    >>> len(recording), recording.names
    (2, ['layers.0.self_attn', 'layers.1.self_attn'])
    >>> recording.weights[0].shape
    torch.Size([3, 2, 5, 5])
    """

    weights: list[torch.Tensor] = field(default_factory=list)
    """One detached ``(batch, heads, n_queries, n_keys)`` tensor per attention call."""
    names: list[str] = field(default_factory=list)
    """The qualified name of the module behind each entry, e.g. ``"layers.0.self_attn"``."""

    def __len__(self) -> int:
        return len(self.weights)

    def _add(self, name: str, weights: torch.Tensor) -> None:
        weights = weights.detach()
        # a query with no admissible key: torch's softmax gives NaN, attnlab's convention is 0
        self.weights.append(torch.where(torch.isnan(weights), 0.0, weights))
        self.names.append(name)


def _torch_weights(module: nn.MultiheadAttention, query, key, value, padding, mask, is_causal):
    """Per-head weights of ``nn.MultiheadAttention``, computed as its own slow path does."""
    if module.batch_first and query.dim() == 3:
        query, key, value = (x.transpose(0, 1) for x in (query, key, value))  # (n, b, d)
    separate = not module._qkv_same_embed_dim
    _, weights = F.multi_head_attention_forward(
        query,
        key,
        value,
        module.embed_dim,
        module.num_heads,
        module.in_proj_weight,
        module.in_proj_bias,
        module.bias_k,
        module.bias_v,
        module.add_zero_attn,
        0.0,  # no dropout: record the pattern the model attends with, not a random draw of it
        module.out_proj.weight,
        module.out_proj.bias,
        training=False,
        key_padding_mask=padding,
        need_weights=True,
        attn_mask=mask,
        use_separate_proj_weight=separate,
        q_proj_weight=module.q_proj_weight if separate else None,
        k_proj_weight=module.k_proj_weight if separate else None,
        v_proj_weight=module.v_proj_weight if separate else None,
        average_attn_weights=False,
        is_causal=is_causal,
    )
    return weights if query.dim() == 3 else weights[None]  # (b, h, q, k)


def _unnest(query: torch.Tensor, n_positions: int | None):
    """Pad the nested batch of the encoder's fast path back to ``(b, n, d)`` plus its mask."""
    lengths = torch.tensor([len(item) for item in query.unbind()], device=query.device)  # (b,)
    n = max(int(lengths.max()), n_positions or 0)
    padded = query.to_padded_tensor(0.0, (len(lengths), n, query.size(-1)))  # (b, n, d)
    padding = torch.arange(n, device=query.device) >= lengths[:, None]  # (b, n), True = pad
    return padded, padding


def _record_torch(recording, name, state, module, args, kwargs, output) -> None:
    call = _TORCH_MHA_SIGNATURE.bind(module, *args, **kwargs)
    call.apply_defaults()
    arguments = call.arguments
    query, key, value = arguments["query"], arguments["key"], arguments["value"]
    padding, mask = arguments["key_padding_mask"], arguments["attn_mask"]
    with torch.no_grad():
        if query.is_nested:
            # The encoder's fast path packs a padded batch into a nested tensor; such a call is
            # self-attention without masks. Positions that do not exist get zero rows.
            query, padding = _unnest(query, state.get("n_positions"))
            weights = _torch_weights(module, query, query, query, padding, None, False)
            weights = weights.masked_fill(padding[:, None, :, None], 0.0)  # (b, h, q, k)
        else:
            weights = _torch_weights(
                module, query, key, value, padding, mask, arguments["is_causal"]
            )
    recording._add(name, weights)


def _record_attnlab(recording, name, module, args, kwargs, output) -> None:
    weights = module.attention_weights
    if weights is None:  # need_weights=False: recompute the weights of this very call
        recompute = getattr(module, "recompute_weights", None)
        if recompute is None:
            return
        with torch.no_grad():
            weights = recompute(*args, **kwargs)
    if not isinstance(module, MultiHeadAttention):  # one head: add the head axis
        weights = weights[None, None] if weights.ndim == 2 else weights.unsqueeze(-3)
    recording._add(name, weights)


def _remember_positions(state, module, args, kwargs) -> None:
    src = args[0] if args else kwargs.get("src")
    state["n_positions"] = src.size(1) if isinstance(src, torch.Tensor) and src.dim() == 3 else None


@contextmanager
def record_attention(model: nn.Module) -> Iterator[Recording]:
    """Record the per-head attention weights of every attention call inside ``model``.

    Watches every ``torch.nn.MultiheadAttention`` (including those inside
    ``nn.TransformerEncoder``/``nn.TransformerDecoder`` layers and ``nn.Transformer``) and every
    attnlab attention module. For each call, the weights are recomputed from the call's own
    inputs and masks with torch's reference formula, ``need_weights=True,
    average_attn_weights=False``, so the model's outputs are computed exactly as without
    recording (``need_weights=True`` in the call itself would turn a fully masked row's finite
    output into NaN). The weights are taken before dropout. attnlab's modules are recorded from
    the ``.attention_weights`` they keep (after dropout, in training), or recomputed, before
    dropout, when called with ``need_weights=False``.

    While recording, ``nn.TransformerEncoderLayer`` takes its Python path instead of its fused
    inference kernel (torch skips that kernel when hooks are attached), so outputs equal the
    unrecorded ones up to floating-point rounding. When the encoder packs a padded batch into a
    nested tensor (inference with ``src_key_padding_mask``), padded positions do not exist for
    torch: their rows of weights are zero. Rows with no admissible key are zeros, not NaN.
    On exit, even after an exception, every hook is removed and the model is as it was.

    Parameters
    ----------
    model : torch.nn.Module

    Yields
    ------
    Recording
        ``.weights``: one detached tensor of shape ``(batch, heads, n_queries, n_keys)`` per
        call, in the order the calls finish (unbatched calls get ``batch = 1``, attnlab's
        single-head modules ``heads = 1``); ``.names``: the module behind each entry.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> layer = nn.TransformerEncoderLayer(d_model=8, nhead=2, batch_first=True)
    >>> encoder = nn.TransformerEncoder(layer, num_layers=3).eval()
    >>> with record_attention(encoder) as recording:
    ...     output = encoder(torch.randn(4, 5, 8))
    >>> len(recording), recording.weights[0].shape, recording.names[0]
    (3, torch.Size([4, 2, 5, 5]), 'layers.0.self_attn')
    >>> stack_heads(recording, example=0).shape  # (layers, heads, n_queries, n_keys)
    torch.Size([3, 2, 5, 5])
    """
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"record_attention: model must be a torch.nn.Module; got {type(model).__name__}."
        )
    recording = Recording()
    state: dict[str, int | None] = {}
    handles = []
    try:
        for name, module in model.named_modules():
            shown = name or type(module).__name__
            if isinstance(module, nn.MultiheadAttention):
                hook = partial(_record_torch, recording, shown, state)
                handles.append(module.register_forward_hook(hook, with_kwargs=True))
            elif isinstance(module, KeepsWeights):
                hook = partial(_record_attnlab, recording, shown)
                handles.append(module.register_forward_hook(hook, with_kwargs=True))
            if isinstance(module, nn.TransformerEncoder):
                hook = partial(_remember_positions, state)
                handles.append(module.register_forward_pre_hook(hook, with_kwargs=True))
        yield recording
    finally:
        for handle in reversed(handles):
            handle.remove()


def stack_heads(
    recording: Recording | Sequence[torch.Tensor] | torch.Tensor,
    example: int = 0,
    *,
    contains: str | None = None,
) -> torch.Tensor:
    """Stack one example's weights from every call into ``(layers, heads, n_queries, n_keys)``.

    The result is the 4-D input of :func:`attnlab.show_heatmaps`: one row of panels per layer
    (attention call), one column per head.

    Parameters
    ----------
    recording : Recording, sequence of tensors or tensor
        Weights of shape ``(batch, heads, n_queries, n_keys)`` each.
    example : int, default 0
        Which item of the batch to show.
    contains : str, optional
        Keep only the calls whose module name contains this text (a ``Recording`` only), e.g.
        ``"self_attn"`` or ``"multihead_attn"`` to separate a decoder's two kinds of attention.

    Returns
    -------
    torch.Tensor of shape (layers, heads, n_queries, n_keys)

    Examples
    --------
    >>> import torch
    >>> stack_heads([torch.ones(2, 4, 3, 5), torch.zeros(2, 4, 3, 5)], example=1).shape
    torch.Size([2, 4, 3, 5])
    """
    func = "stack_heads"
    if isinstance(recording, Recording):
        pairs = list(zip(recording.names, recording.weights, strict=True))
        if contains is not None:
            pairs = [(name, weights) for name, weights in pairs if contains in name]
        names, tensors = [name for name, _ in pairs], [weights for _, weights in pairs]
    else:
        if contains is not None:
            raise TypeError(
                f"{func}: contains needs a Recording with names; got {type(recording).__name__}."
            )
        tensors = [recording] if isinstance(recording, torch.Tensor) else list(recording)
        names = [f"call {i}" for i in range(len(tensors))]
    if not tensors:
        raise ValueError(
            f"{func}: no weights to stack; got an empty recording"
            + (f" after keeping names containing {contains!r}." if contains is not None else ".")
        )
    for tensor in tensors:
        if not isinstance(tensor, torch.Tensor) or tensor.ndim != 4:
            got = tuple(tensor.shape) if isinstance(tensor, torch.Tensor) else type(tensor).__name__
            raise ValueError(
                f"{func}: every entry must have shape (batch, heads, n_queries, n_keys); got {got}."
            )
    batch = min(tensor.shape[0] for tensor in tensors)
    if isinstance(example, bool) or not isinstance(example, int) or not -batch <= example < batch:
        raise ValueError(f"{func}: example must be an integer in [0, {batch}); got {example!r}.")
    shapes = {tuple(tensor.shape[1:]) for tensor in tensors}
    if len(shapes) > 1:
        listed = ", ".join(
            f"{name}: {tuple(t.shape)}" for name, t in zip(names, tensors, strict=True)
        )
        raise ValueError(
            f"{func}: every call must have the same (heads, n_queries, n_keys) to be stacked; "
            f"got {listed}. Pass contains='self_attn' (or another part of the names) to keep "
            "one kind of attention."
        )
    return torch.stack([tensor[example].detach() for tensor in tensors])  # (layers, h, q, k)
