"""attnlab.d2l, section 10.7 (Chinese 2nd ed.) / 11.7 (English): the transformer's blocks and
stacks under both editions' constructors and names.

Oracles: the shapes the book prints, each block composed by hand from attnlab's own
``MultiHeadAttention`` and ``nn.functional.layer_norm``, the decoder's parallel (causal) pass
against its token-by-token pass (where the d2l layer fixes two slips of the book's decoder), and
state dicts with the book's key names and shapes.
"""

import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

import attnlab
from attnlab import d2l

# the book's parameters of one encoder block of the Chinese TransformerEncoder(200, 24, 24, 24,
# 24, [100, 24], 24, 48, 8, 2, 0.5) (the English TransformerEncoder(200, 24, 48, 8, 2, 0.5) has
# the same, with layer norms over (24,) instead of (100, 24))
BLOCK_SHAPES = {"attention.W_q.weight": (24, 24), "attention.W_k.weight": (24, 24),
                "attention.W_v.weight": (24, 24), "attention.W_o.weight": (24, 24),
                "addnorm1.ln.weight": (100, 24), "addnorm1.ln.bias": (100, 24),
                "ffn.dense1.weight": (48, 24), "ffn.dense1.bias": (48,),
                "ffn.dense2.weight": (24, 48), "ffn.dense2.bias": (24,),
                "addnorm2.ln.weight": (100, 24), "addnorm2.ln.bias": (100, 24)}  # fmt: skip


@pytest.fixture
def seeded():
    with torch.random.fork_rng():
        torch.manual_seed(0)
        yield


def _encoder_shapes(norm_shape):
    shapes = {"embedding.weight": (200, 24)}
    for block in ("block0", "block1"):
        for key, shape in BLOCK_SHAPES.items():
            shapes[f"blks.{block}.{key}"] = norm_shape if key.startswith("addnorm") else shape
    return shapes


# --- the book's calls -----------------------------------------------------------------------------


# what the book's PositionWiseFFN prints for ones after torch.manual_seed(0), either edition
BOOK_FFN_ROW = torch.tensor([0.4592, 0.1008, 0.2557, -0.4390, 0.3631, -0.5486, -0.5084, -0.2696])


@pytest.mark.parametrize("args", [(4, 4, 8), (4, 8)])
def test_position_wise_ffn_prints_the_books_numbers_from_a_seed(seeded, args):
    ffn = d2l.PositionWiseFFN(*args)
    ffn.eval()
    rows = ffn(d2l.ones((2, 3, 4)))[0].detach()
    torch.testing.assert_close(rows, BOOK_FFN_ROW.expand(3, 8), atol=1e-4, rtol=0)


def test_chinese_calls_print_the_books_shapes(seeded):
    ffn = d2l.PositionWiseFFN(4, 4, 8)
    ffn.eval()
    rows = ffn(d2l.ones((2, 3, 4)))[0]
    assert rows.shape == (3, 8) and torch.equal(rows[0], rows[2])  # same input, same output
    add_norm = d2l.AddNorm([3, 4], 0.5)
    add_norm.eval()
    assert add_norm(d2l.ones((2, 3, 4)), d2l.ones((2, 3, 4))).shape == (2, 3, 4)
    X, valid_lens = d2l.ones((2, 100, 24)), d2l.tensor([3, 2])
    encoder_blk = d2l.EncoderBlock(24, 24, 24, 24, [100, 24], 24, 48, 8, 0.5)
    encoder_blk.eval()
    assert encoder_blk(X, valid_lens).shape == (2, 100, 24)
    encoder = d2l.TransformerEncoder(200, 24, 24, 24, 24, [100, 24], 24, 48, 8, 2, 0.5)
    encoder.eval()
    assert encoder(d2l.ones((2, 100), dtype=torch.long), valid_lens).shape == (2, 100, 24)
    assert [w.shape for w in encoder.attention_weights] == [(16, 100, 100)] * 2
    decoder_blk = d2l.DecoderBlock(24, 24, 24, 24, [100, 24], 24, 48, 8, 0.5, 0)
    decoder_blk.eval()
    state = [encoder_blk(X, valid_lens), valid_lens, [None]]
    assert decoder_blk(X, state)[0].shape == (2, 100, 24)
    decoder = d2l.TransformerDecoder(200, 24, 24, 24, 24, [24], 24, 48, 8, 2, 0.5)
    assert decoder.num_layers == decoder.num_blks == 2 and decoder.edition == "Chinese"


def test_english_calls_check_their_shapes(seeded):
    ffn = d2l.PositionWiseFFN(4, 8)
    ffn.eval()
    assert ffn(d2l.ones((2, 3, 4)))[0].shape == (3, 8)
    add_norm, shape = d2l.AddNorm(4, 0.5), (2, 3, 4)
    d2l.check_shape(add_norm(d2l.ones(shape), d2l.ones(shape)), shape)
    X, valid_lens = d2l.ones((2, 100, 24)), d2l.tensor([3, 2])
    encoder_blk = d2l.TransformerEncoderBlock(24, 48, 8, 0.5)
    encoder_blk.eval()
    d2l.check_shape(encoder_blk(X, valid_lens), X.shape)
    encoder = d2l.TransformerEncoder(200, 24, 48, 8, 2, 0.5)
    d2l.check_shape(encoder(d2l.ones((2, 100), dtype=torch.long), valid_lens), (2, 100, 24))
    decoder_blk = d2l.TransformerDecoderBlock(24, 48, 8, 0.5, 0)  # training mode, as in the book
    state = [encoder_blk(X, valid_lens), valid_lens, [None]]
    d2l.check_shape(decoder_blk(X, state)[0], X.shape)
    assert state[2][0].shape == X.shape  # the block cached its input


# --- oracles --------------------------------------------------------------------------------------


def _core_attention(book_attention):
    core = attnlab.MultiHeadAttention(book_attention.num_hiddens, book_attention.num_heads)
    core.load_state_dict(book_attention.state_dict())
    return core.eval()


def _layer_norm(add_norm, X):
    return F.layer_norm(X, add_norm.ln.normalized_shape, add_norm.ln.weight, add_norm.ln.bias)


def _ffn(ffn, X):
    return F.linear(F.relu(F.linear(X, ffn.dense1.weight, ffn.dense1.bias)),
                    ffn.dense2.weight, ffn.dense2.bias)  # fmt: skip


@pytest.mark.parametrize("chinese", [False, True])
def test_encoder_block_is_attention_and_ffn_each_with_add_and_norm(chinese):
    with torch.random.fork_rng():
        torch.manual_seed(0)
        block = (d2l.EncoderBlock(12, 12, 12, 12, [12], 12, 20, 4, 0.5) if chinese
                 else d2l.TransformerEncoderBlock(12, 20, 4, 0.5))  # fmt: skip
        X = torch.randn(3, 5, 12)
        output = block.eval()(X, torch.tensor([5, 2, 1]))
    attended, _ = _core_attention(block.attention)(X, X, X, torch.tensor([5, 2, 1]))
    Y = _layer_norm(block.addnorm1, attended + X)
    torch.testing.assert_close(output, _layer_norm(block.addnorm2, _ffn(block.ffn, Y) + Y))


def test_decoder_block_is_causal_self_attention_cross_attention_and_ffn():
    with torch.random.fork_rng():
        torch.manual_seed(0)
        block = d2l.TransformerDecoderBlock(12, 20, 4, 0.0, 0)
        X, memory = torch.randn(2, 4, 12), torch.randn(2, 6, 12)
    lengths = torch.tensor([6, 3])
    output, _ = block.train()(X, [memory, lengths, [None]])
    causal = torch.ones(4, 4, dtype=torch.bool).tril()  # True = may attend
    self_attended, _ = _core_attention(block.attention1)(X, X, X, mask=causal)
    Y = _layer_norm(block.addnorm1, self_attended + X)
    cross, _ = _core_attention(block.attention2)(Y, memory, memory, lengths)
    Z = _layer_norm(block.addnorm2, cross + Y)
    torch.testing.assert_close(output, _layer_norm(block.addnorm3, _ffn(block.ffn, Z) + Z))


@pytest.mark.parametrize("chinese", [False, True])
def test_decoding_token_by_token_equals_the_causal_parallel_pass(chinese):
    with torch.random.fork_rng():
        torch.manual_seed(0)
        if chinese:
            encoder = d2l.TransformerEncoder(30, 16, 16, 16, 16, [16], 16, 32, 4, 2, 0.0)
            decoder = d2l.TransformerDecoder(30, 16, 16, 16, 16, [16], 16, 32, 4, 2, 0.0)
        else:
            encoder = d2l.TransformerEncoder(30, 16, 32, 4, 2, 0.0)
            decoder = d2l.TransformerDecoder(30, 16, 32, 4, 2, 0.0)
        source, target = torch.randint(0, 30, (3, 7)), torch.randint(0, 30, (3, 5))
    valid_lens = torch.tensor([7, 4, 2])
    encoded = encoder.eval()(source, valid_lens)
    # training mode (dropout 0): all target positions at once, each seeing only its past
    parallel, _ = decoder.train()(target, decoder.init_state(encoded, valid_lens))
    self_weights = decoder.attention_weights[0][1]  # (b * heads, 5, 5)
    assert bool((self_weights.triu(1) == 0).all())
    decoder.eval()
    state, steps = decoder.init_state(encoded, valid_lens), []
    for t in range(5):
        output, state = decoder(target[:, t : t + 1], state)
        steps.append(output)
    torch.testing.assert_close(torch.cat(steps, dim=1), parallel)
    cross = decoder.attention_weights[1][0]  # the last step's cross-attention, (b * heads, 1, 7)
    assert cross.shape == (12, 1, 7) and bool((cross[8:, :, 2:] == 0).all())


def test_evaluation_of_a_whole_target_is_causal_too():
    # the book's blocks drop the causal mask in evaluation mode, so a whole target (a validation
    # loss) would see its future; here evaluation equals the training pass without dropout
    with torch.random.fork_rng():
        torch.manual_seed(0)
        decoder = d2l.TransformerDecoder(30, 16, 32, 4, 2, 0.0)
        memory, target = torch.randn(2, 6, 16), torch.randint(0, 30, (2, 5))
    lengths = torch.tensor([6, 3])
    trained, _ = decoder.train()(target, decoder.init_state(memory, lengths))
    evaluated, _ = decoder.eval()(target, decoder.init_state(memory, lengths))
    torch.testing.assert_close(evaluated, trained)
    first, _ = decoder(target[:, :2], decoder.init_state(memory, lengths))
    torch.testing.assert_close(first, trained[:, :2])  # later tokens change nothing before them


def test_decoding_past_the_positional_tables_end_is_an_error():
    decoder = d2l.TransformerDecoder(30, 16, 32, 4, 1, 0.0).eval()
    state = decoder.init_state(torch.randn(1, 2, 16), None)
    state[2][0] = torch.zeros(1, 999, 16)  # 999 tokens decoded already
    with pytest.raises(ValueError, match=r"TransformerDecoder: positions 999 to 1000 exceed the "
                       r"positional encoding's max_len=1000; got 2 tokens after 999"):  # fmt: skip
        decoder(torch.zeros(1, 2, dtype=torch.long), state)


@pytest.mark.parametrize("stack", ["encoder", "decoder"])
def test_embeddings_are_scaled_by_the_square_root_of_num_hiddens(stack):
    if stack == "encoder":
        model = d2l.TransformerEncoder(10, 16, 32, 4, 1, 0.0)
    else:
        model = d2l.TransformerDecoder(10, 16, 32, 4, 1, 0.0)
    with torch.no_grad():
        model.embedding.weight.fill_(1.0)
    captured = {}
    model.blks.block0.register_forward_pre_hook(lambda module, args: captured.update(X=args[0]))
    tokens = torch.zeros(1, 3, dtype=torch.long)
    if stack == "encoder":
        model(tokens)
    else:
        model(tokens, model.init_state(torch.zeros(1, 2, 16), None))
    expected = math.sqrt(16) + model.pos_encoding.P[0, :3]
    torch.testing.assert_close(captured["X"][0], expected)


def test_attnlab_record_attention_reads_the_d2l_layers_weights():
    encoder = d2l.TransformerEncoder(30, 16, 32, 4, 2, 0.0).eval()
    tokens = torch.randint(0, 30, (3, 5), generator=torch.Generator().manual_seed(0))
    with attnlab.record_attention(encoder) as recording:
        encoder(tokens, torch.tensor([5, 2, 1]))
    assert recording.names == ["blks.block0.attention", "blks.block1.attention"]
    for recorded, book in zip(recording.weights, encoder.attention_weights, strict=True):
        torch.testing.assert_close(recorded, book.reshape(3, 4, 5, 5))  # (b, heads, q, k)


# --- state dicts ----------------------------------------------------------------------------------


@pytest.mark.parametrize("chinese", [False, True])
def test_encoder_loads_the_books_state_dict(chinese):
    shapes = _encoder_shapes((100, 24) if chinese else (24,))
    generator = torch.Generator().manual_seed(0)
    book = {key: torch.randn(shape, generator=generator) for key, shape in shapes.items()}
    encoder = (d2l.TransformerEncoder(200, 24, 24, 24, 24, [100, 24], 24, 48, 8, 2, 0.5)
               if chinese else d2l.TransformerEncoder(200, 24, 48, 8, 2, 0.5))  # fmt: skip
    encoder.load_state_dict(book, strict=True)
    assert {key: tuple(value.shape) for key, value in encoder.state_dict().items()} == shapes
    torch.testing.assert_close(
        encoder.blks.block1.ffn.dense2.bias, book["blks.block1.ffn.dense2.bias"]
    )


def test_decoder_has_the_books_parameter_names():
    decoder = d2l.TransformerDecoder(30, 24, 48, 8, 2, 0.5)
    keys = list(decoder.state_dict())
    block = [key.removeprefix("blks.block0.") for key in keys if key.startswith("blks.block0.")]
    assert [key.split(".")[0] for key in block][::2] == [
        "attention1", "attention1", "addnorm1", "attention2", "attention2", "addnorm2", "ffn", "ffn",
        "addnorm3",
    ]  # fmt: skip
    assert keys[0] == "embedding.weight" and keys[-2:] == ["dense.weight", "dense.bias"]


# --- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cls", "args", "english"),
    [
        (d2l.PositionWiseFFN, (4,), r"PositionWiseFFN\(ffn_num_hiddens, ffn_num_outputs\)"),
        (d2l.AddNorm, (4,), r"AddNorm\(norm_shape, dropout\)"),
        (d2l.TransformerEncoderBlock, (24, 48, 8), r"TransformerEncoderBlock\(num_hiddens, "
         r"ffn_num_hiddens, num_heads, dropout, use_bias=False\)"),
        (d2l.TransformerEncoder, (200, 24, 48, 8, 2), r"TransformerEncoder\(vocab_size, "
         r"num_hiddens, ffn_num_hiddens, num_heads, num_blks, dropout, use_bias=False\)"),
        (d2l.TransformerDecoderBlock, (24, 48, 8, 0.5), r"TransformerDecoderBlock\(num_hiddens, "
         r"ffn_num_hiddens, num_heads, dropout, i\)"),
        (d2l.TransformerDecoder, (200, 24, 48, 8, 2), r"TransformerDecoder\(vocab_size, "
         r"num_hiddens, ffn_num_hiddens, num_heads, num_blks, dropout\)"),
    ],
)  # fmt: skip
def test_a_call_of_neither_edition_shows_both_signatures(cls, args, english):
    with pytest.raises(TypeError, match=english + r" \(English edition\) or .*\(Chinese edition\)"):
        cls(*args)


def test_size_errors_name_the_argument():
    with pytest.raises(ValueError, match=r"PositionWiseFFN: ffn_num_input must be a positive"):
        d2l.PositionWiseFFN(0, 4, 8)
    with pytest.raises(
        ValueError, match=r"TransformerEncoder: num_blks must be a positive integer"
    ):
        d2l.TransformerEncoder(200, 24, 48, 8, 0, 0.5)
    with pytest.raises(ValueError, match=r"TransformerDecoder: vocab_size must be a positive"):
        d2l.TransformerDecoder(0, 24, 48, 8, 2, 0.5)
    with pytest.raises(ValueError, match=r"AddNorm: dropout must be in \[0, 1\)"):
        d2l.AddNorm(4, -0.1)
    assert isinstance(d2l.TransformerEncoder(5, 8, 8, 2, 1, 0.0).blks.block0.attention, nn.Module)
