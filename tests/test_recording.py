"""record_attention: torch's own nn.MultiheadAttention(need_weights=True,
average_attn_weights=False), called layer by layer, is the oracle; outputs and the model must be
left exactly as they were."""

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from attnlab import (
    DotProductAttention,
    MultiHeadAttention,
    Recording,
    record_attention,
    stack_heads,
)

D_MODEL, HEADS, N = 16, 4, 6


def _encoder(batch_first=True, seed=0):
    torch.manual_seed(seed)
    layer = nn.TransformerEncoderLayer(D_MODEL, HEADS, 32, dropout=0.0, batch_first=batch_first)
    # torch only packs padded batches into nested tensors when batch_first
    return nn.TransformerEncoder(layer, num_layers=3, enable_nested_tensor=batch_first)


def _inputs(batch=3, n=N, seed=1):
    return torch.randn(batch, n, D_MODEL, generator=torch.Generator().manual_seed(seed))


PADDING = torch.tensor([[False] * N, [False] * 4 + [True] * 2, [False] * 2 + [True] * 4])
CAUSAL = nn.Transformer.generate_square_subsequent_mask(N)


def _snapshot(model):
    """Everything a recorder could leave behind: attributes (by identity) and hooks."""
    state = {}
    for name, module in model.named_modules():
        attributes = {key: id(value) for key, value in vars(module).items()}
        hooks = {
            key: dict(value)
            for key, value in vars(module).items()
            if key.startswith(("_forward", "_backward", "_state_dict", "_load_state_dict"))
        }
        state[name] = (attributes, hooks, type(module).forward)
    return state


def _oracle_encoder_weights(encoder, X, mask=None, padding=None):
    """Call each layer's nn.MultiheadAttention directly, feeding the layers one by one."""
    weights = []
    for layer in encoder.layers:
        _, w = layer.self_attn(
            X, X, X, attn_mask=mask, key_padding_mask=padding, average_attn_weights=False
        )
        weights.append(w.detach())
        X = layer(X, src_mask=mask, src_key_padding_mask=padding)
    return weights


@pytest.mark.filterwarnings("ignore:The PyTorch API of nested tensors:UserWarning")
@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("masks", [{}, {"mask": CAUSAL}, {"src_key_padding_mask": PADDING}])
def test_encoder_weights_equal_torch_per_head_weights(training, masks):
    encoder = _encoder().train(training)
    X = _inputs()
    expected_output = encoder(X, **masks)
    before = _snapshot(encoder)
    with record_attention(encoder) as recording:
        output = encoder(X, **masks)
    torch.testing.assert_close(output, expected_output)
    assert _snapshot(encoder) == before
    assert len(recording) == 3
    assert recording.names == [f"layers.{i}.self_attn" for i in range(3)]
    expected = _oracle_encoder_weights(
        encoder, X, masks.get("mask"), masks.get("src_key_padding_mask")
    )
    for got, want in zip(recording.weights, expected, strict=True):
        assert got.shape == (3, HEADS, N, N) and not got.requires_grad
        torch.testing.assert_close(got, want)


def test_encoder_fast_path_is_bypassed_only_while_recording(monkeypatch):
    calls = []
    fused = torch._transformer_encoder_layer_fwd

    def counting(*args, **kwargs):
        calls.append(1)
        return fused(*args, **kwargs)

    monkeypatch.setattr(torch, "_transformer_encoder_layer_fwd", counting)
    encoder = _encoder().eval()
    X = _inputs()
    with torch.no_grad():
        expected = encoder(X)
        assert len(calls) == 3  # inference normally takes torch's fused kernel
        with record_attention(encoder) as recording:
            output = encoder(X)
        assert len(calls) == 3 and len(recording) == 3
        torch.testing.assert_close(output, expected)
        encoder(X)
        assert len(calls) == 6  # and takes it again afterwards
    with torch.no_grad():
        expected_weights = _oracle_encoder_weights(encoder, X)
    for got, want in zip(recording.weights, expected_weights, strict=True):
        torch.testing.assert_close(got, want)


@pytest.mark.filterwarnings("ignore:The PyTorch API of nested tensors:UserWarning")
def test_nested_fast_path_with_padding_keeps_outputs_and_zeroes_missing_positions():
    encoder = _encoder().eval()
    X = _inputs()
    padding = PADDING.clone()
    padding[0, -1] = True  # every sequence padded: the nested batch is shorter than N
    with torch.no_grad():
        expected = encoder(X, src_key_padding_mask=padding)
        assert torch.equal(expected[2, 2:], torch.zeros(4, D_MODEL))  # torch's nested path
        with record_attention(encoder) as recording:
            output = encoder(X, src_key_padding_mask=padding)
        torch.testing.assert_close(output, expected)
        oracle = _oracle_encoder_weights(encoder, X, padding=padding)
    for got, want in zip(recording.weights, oracle, strict=True):
        assert got.shape == (3, HEADS, N, N)
        real = ~padding[:, None, :, None]  # (b, 1, q, 1): queries that exist
        torch.testing.assert_close(got, torch.where(real, want, 0.0))
        assert not bool(got[~real.expand_as(got)].any())


def test_sequence_first_encoder_and_unbatched_call():
    encoder = _encoder(batch_first=False).eval()
    X = _inputs().transpose(0, 1)  # (n, b, d)
    with record_attention(encoder) as recording:
        encoder(X)
    first = encoder.layers[0].self_attn
    _, want = first(X, X, X, average_attn_weights=False)
    torch.testing.assert_close(recording.weights[0], want.detach())
    with record_attention(first) as recording:
        first(X[:, 0], X[:, 0], X[:, 0])
    assert recording.names == ["MultiheadAttention"]
    assert recording.weights[0].shape == (1, HEADS, N, N)


def test_fully_masked_row_is_zero_in_the_recording_and_output_stays_finite():
    torch.manual_seed(0)
    attention = nn.MultiheadAttention(D_MODEL, HEADS, batch_first=True)
    X = _inputs()
    mask = torch.zeros(N, N, dtype=torch.bool)
    mask[2] = True  # torch: True = may NOT attend; query 2 sees nothing
    expected, _ = attention(X, X, X, attn_mask=mask, need_weights=False)
    assert not torch.isnan(expected).any()
    with record_attention(attention) as recording:
        output, none = attention(X, X, X, attn_mask=mask, need_weights=False)
    assert none is None
    torch.testing.assert_close(output, expected)  # asking torch for weights would give NaN here
    weights = recording.weights[0]
    assert torch.equal(weights[:, :, 2], torch.zeros(3, HEADS, N))
    _, want = attention(X, X, X, attn_mask=mask, average_attn_weights=False)
    torch.testing.assert_close(weights, torch.nan_to_num(want.detach(), nan=0.0))


def test_callers_asking_for_averaged_weights_get_them_unchanged():
    torch.manual_seed(0)
    attention = nn.MultiheadAttention(D_MODEL, HEADS, batch_first=True, dropout=0.5)
    X = _inputs()
    torch.manual_seed(3)
    expected, expected_weights = attention(X, X, X)
    with record_attention(attention) as recording:
        torch.manual_seed(3)
        output, weights = attention(X, X, X)  # same random draws: recording uses none
    torch.testing.assert_close(output, expected)
    torch.testing.assert_close(weights, expected_weights)
    assert weights.shape == (3, N, N)
    _, pattern = attention.eval()(X, X, X, average_attn_weights=False)
    torch.testing.assert_close(recording.weights[0], pattern.detach())  # before dropout


def _decoder_oracle(decoder, target, memory, target_mask, memory_padding):
    """The post-norm decoder layer written out from its parts."""
    weights, X = [], target
    for layer in decoder.layers:
        attended, w_self = layer.self_attn(
            X, X, X, attn_mask=target_mask, average_attn_weights=False
        )
        X = layer.norm1(X + attended)
        crossed, w_cross = layer.multihead_attn(
            X, memory, memory, key_padding_mask=memory_padding, average_attn_weights=False
        )
        X = layer.norm2(X + crossed)
        X = layer.norm3(X + layer.linear2(F.relu(layer.linear1(X))))
        weights += [w_self.detach(), w_cross.detach()]
    return X, weights


@pytest.mark.parametrize("training", [False, True])
def test_decoder_self_and_cross_attention(training):
    torch.manual_seed(0)
    layer = nn.TransformerDecoderLayer(D_MODEL, HEADS, 32, dropout=0.0, batch_first=True)
    decoder = nn.TransformerDecoder(layer, num_layers=2).train(training)
    target, memory = _inputs(n=5, seed=2), _inputs(n=N, seed=3)
    target_mask = nn.Transformer.generate_square_subsequent_mask(5)
    kwargs = {"tgt_mask": target_mask, "memory_key_padding_mask": PADDING}
    expected = decoder(target, memory, **kwargs)
    before = _snapshot(decoder)
    with record_attention(decoder) as recording:
        output = decoder(target, memory, **kwargs)
    assert _snapshot(decoder) == before
    torch.testing.assert_close(output, expected)
    oracle_output, oracle_weights = _decoder_oracle(decoder, target, memory, target_mask, PADDING)
    torch.testing.assert_close(output, oracle_output)
    assert recording.names == [
        "layers.0.self_attn",
        "layers.0.multihead_attn",
        "layers.1.self_attn",
        "layers.1.multihead_attn",
    ]
    for got, want in zip(recording.weights, oracle_weights, strict=True):
        torch.testing.assert_close(got, want)
    assert stack_heads(recording, 1, contains="multihead_attn").shape == (2, HEADS, 5, N)
    assert stack_heads(recording, 1, contains="self_attn").shape == (2, HEADS, 5, 5)


def test_full_transformer_records_every_attention_call():
    torch.manual_seed(0)
    model = nn.Transformer(
        D_MODEL,
        HEADS,
        num_encoder_layers=2,
        num_decoder_layers=1,
        dim_feedforward=32,
        dropout=0.0,
        batch_first=True,
    ).eval()
    source, target = _inputs(), _inputs(n=4, seed=5)
    with torch.no_grad():
        expected = model(source, target)
        with record_attention(model) as recording:
            output = model(source, target)
    torch.testing.assert_close(output, expected)
    assert [name.rsplit(".", 1)[-1] for name in recording.names] == [
        "self_attn",
        "self_attn",
        "self_attn",
        "multihead_attn",
    ]
    assert recording.names[0] == "encoder.layers.0.self_attn"


def test_model_is_restored_after_an_exception():
    encoder = _encoder().eval()
    before = _snapshot(encoder)
    with pytest.raises(RuntimeError, match="stop"), record_attention(encoder) as recording:
        encoder(_inputs())
        raise RuntimeError("stop")
    assert _snapshot(encoder) == before and len(recording) == 3
    with pytest.raises(Exception), record_attention(encoder):  # noqa: B017
        encoder(torch.zeros(2, 3, D_MODEL + 1))  # fails inside torch
    assert _snapshot(encoder) == before
    assert not torch.nn.modules.module._global_forward_hooks


class _TwoAttentions(nn.Module):
    def __init__(self):
        super().__init__()
        self.multihead = MultiHeadAttention(8, 2)
        self.single = DotProductAttention()

    def forward(self, X, need_weights):
        X = self.multihead(X, X, X, torch.tensor([3, 5]), need_weights=need_weights)[0]
        return self.single(X, X, X)[0]


@pytest.mark.parametrize("need_weights", [True, False])
def test_attnlab_modules_are_recorded(need_weights):
    torch.manual_seed(0)
    model = _TwoAttentions().eval()
    X = torch.randn(2, 5, 8)
    expected = model(X, need_weights)
    with record_attention(model) as recording:
        output = model(X, need_weights)
    torch.testing.assert_close(output, expected)
    assert recording.names == ["multihead", "single"]
    assert recording.weights[0].shape == (2, 2, 5, 5)
    assert recording.weights[1].shape == (2, 1, 5, 5)
    _, want = model.multihead(X, X, X, torch.tensor([3, 5]))
    torch.testing.assert_close(recording.weights[0], want.detach())
    assert torch.equal(recording.weights[0][0, :, :, 3:], torch.zeros(2, 5, 2))


def test_stack_heads_and_its_errors():
    weights = [torch.rand(2, 4, 3, 5), torch.rand(2, 4, 3, 5)]
    stacked = stack_heads(weights, example=1)
    assert stacked.shape == (2, 4, 3, 5)
    assert torch.equal(stacked[1], weights[1][1])
    assert torch.equal(stack_heads(weights[0], example=-1)[0], weights[0][1])
    recording = Recording(weights=weights, names=["a.self_attn", "b.cross"])
    assert torch.equal(stack_heads(recording, contains="cross")[0], weights[1][0])
    with pytest.raises(ValueError, match=r"example must be an integer in \[0, 2\); got 2"):
        stack_heads(weights, example=2)
    with pytest.raises(ValueError, match=r"same \(heads, n_queries, n_keys\).*b: \(2, 4, 3, 6\)"):
        stack_heads(Recording([weights[0], torch.rand(2, 4, 3, 6)], ["a", "b"]))
    with pytest.raises(ValueError, match="no weights to stack.*containing 'zzz'"):
        stack_heads(recording, contains="zzz")
    with pytest.raises(
        ValueError, match=r"shape \(batch, heads, n_queries, n_keys\); got \(3, 5\)"
    ):
        stack_heads([torch.rand(3, 5)])
    with pytest.raises(TypeError, match="contains needs a Recording"):
        stack_heads(weights, contains="a")


def test_record_attention_needs_a_module():
    with pytest.raises(TypeError, match=r"model must be a torch.nn.Module; got function"):
        with record_attention(lambda X: X):
            pass
