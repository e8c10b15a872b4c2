"""attnlab.d2l, section 10.4 (Chinese 2nd ed.) / 11.4 (English): the encoder-decoder interfaces,
the GRU encoder and the Bahdanau attention decoder.

Oracles: the shapes the book prints, a decoder written from the section's equations in the test
(over ``d2l.AdditiveAttention``, as the English cell writes it), whole-sequence against
token-by-token decoding, and state dicts with the book's key names of both editions.
"""

import pytest
import torch
from torch import nn

from attnlab import d2l

VOCAB, EMBED, HIDDENS, LAYERS = 10, 8, 16, 2

# the book's parameters of Seq2SeqEncoder(10, 8, 16, 2): the Chinese edition's GRU is `rnn`,
# the English edition wraps it in a module of its own, `rnn.rnn`
ENCODER_SHAPES = {"embedding.weight": (10, 8), "weight_ih_l0": (48, 8), "weight_hh_l0": (48, 16),
                  "bias_ih_l0": (48,), "bias_hh_l0": (48,), "weight_ih_l1": (48, 16),
                  "weight_hh_l1": (48, 16), "bias_ih_l1": (48,), "bias_hh_l1": (48,)}  # fmt: skip
# the book's parameters of the decoder Seq2SeqAttentionDecoder(10, 8, 16, 2), both editions
DECODER_SHAPES = {"attention.W_k.weight": (16, 16), "attention.W_q.weight": (16, 16),
                  "attention.w_v.weight": (1, 16), "embedding.weight": (10, 8),
                  "rnn.weight_ih_l0": (48, 24), "rnn.weight_hh_l0": (48, 16),
                  "rnn.bias_ih_l0": (48,), "rnn.bias_hh_l0": (48,), "rnn.weight_ih_l1": (48, 16),
                  "rnn.weight_hh_l1": (48, 16), "rnn.bias_ih_l1": (48,), "rnn.bias_hh_l1": (48,),
                  "dense.weight": (10, 16), "dense.bias": (10,)}  # fmt: skip


@pytest.fixture
def seeded():
    with torch.random.fork_rng():
        torch.manual_seed(0)
        yield


def _state(shapes, seed=0, prefix=""):
    generator = torch.Generator().manual_seed(seed)
    return {
        prefix + key: torch.randn(shape, generator=generator) / 4 for key, shape in shapes.items()
    }


def _encoder_state(edition, seed=0):
    gru = "rnn.rnn." if edition == "English" else "rnn."
    return {
        (key if key.startswith("embedding") else gru + key): value
        for key, value in _state(ENCODER_SHAPES, seed).items()
    }


# --- the book's calls -----------------------------------------------------------------------------


def test_chinese_decoder_call_prints_the_books_shapes(seeded):
    encoder = d2l.Seq2SeqEncoder(vocab_size=10, embed_size=8, num_hiddens=16, num_layers=2)
    encoder.eval()
    decoder = d2l.Seq2SeqAttentionDecoder(vocab_size=10, embed_size=8, num_hiddens=16,
                                          num_layers=2)  # fmt: skip
    decoder.eval()
    X = d2l.zeros((4, 7), dtype=torch.long)
    state = decoder.init_state(encoder(X), None)
    output, state = decoder(X, state)
    shapes = (output.shape, len(state), state[0].shape, len(state[1]), state[1][0].shape)
    assert shapes == (torch.Size([4, 7, 10]), 3, torch.Size([4, 7, 16]), 2, torch.Size([4, 16]))
    assert len(decoder.attention_weights) == 7 and decoder.attention_weights[0].shape == (4, 1, 7)


class _EnglishCellDecoder(d2l.AttentionDecoder):
    """Section 11.4's decoder, written from its equations: the context of the last hidden state
    joins each embedded token at the GRU's input."""

    def __init__(self, vocab_size, embed_size, num_hiddens, num_layers, dropout=0):
        super().__init__()
        self.attention = d2l.AdditiveAttention(num_hiddens, dropout)
        self.embedding = nn.Embedding(vocab_size, embed_size)
        self.rnn = nn.GRU(embed_size + num_hiddens, num_hiddens, num_layers, dropout=dropout)
        self.dense = nn.LazyLinear(vocab_size)
        self.apply(d2l.init_seq2seq)

    def init_state(self, enc_outputs, enc_valid_lens):
        outputs, hidden_state = enc_outputs
        return (outputs.permute(1, 0, 2), hidden_state, enc_valid_lens)

    def forward(self, X, state):
        enc_outputs, hidden_state, enc_valid_lens = state
        outputs, self._weights = [], []
        for x in self.embedding(X).permute(1, 0, 2):
            query = torch.unsqueeze(hidden_state[-1], dim=1)
            context = self.attention(query, enc_outputs, enc_outputs, enc_valid_lens)
            x = torch.cat((context, torch.unsqueeze(x, dim=1)), dim=-1)
            out, hidden_state = self.rnn(x.permute(1, 0, 2), hidden_state)
            outputs.append(out)
            self._weights.append(self.attention.attention_weights)
        outputs = self.dense(torch.cat(outputs, dim=0))
        return outputs.permute(1, 0, 2), [enc_outputs, hidden_state, enc_valid_lens]

    @property
    def attention_weights(self):
        return self._weights


def test_english_cell_decoder_checks_its_shapes_and_equals_d2l_decoder(seeded):
    batch_size, num_steps = 4, 7
    encoder = d2l.Seq2SeqEncoder(VOCAB, EMBED, HIDDENS, LAYERS)
    decoder = _EnglishCellDecoder(VOCAB, EMBED, HIDDENS, LAYERS)
    X = d2l.zeros((batch_size, num_steps), dtype=torch.long)
    state = decoder.init_state(encoder(X), None)
    output, state = decoder(X, state)
    d2l.check_shape(output, (batch_size, num_steps, VOCAB))
    d2l.check_shape(state[0], (batch_size, num_steps, HIDDENS))
    d2l.check_shape(state[1][0], (batch_size, HIDDENS))
    # the same parameters in d2l's decoder give the same numbers, masks and weights included
    ours = d2l.Seq2SeqAttentionDecoder(VOCAB, EMBED, HIDDENS, LAYERS)
    ours.load_state_dict(decoder.state_dict(), strict=True)
    tokens = torch.randint(0, VOCAB, (batch_size, num_steps))
    valid_lens = torch.tensor([7, 3, 5, 1])
    expected, _ = decoder(tokens, decoder.init_state(encoder(tokens), valid_lens))
    output, _ = ours(tokens, ours.init_state(encoder(tokens), valid_lens))
    torch.testing.assert_close(output, expected)
    for mine, theirs in zip(ours.attention_weights, decoder.attention_weights, strict=True):
        torch.testing.assert_close(mine, theirs)


def test_decoding_token_by_token_equals_decoding_the_whole_sequence():
    with torch.random.fork_rng():
        torch.manual_seed(1)
        encoder = d2l.Seq2SeqEncoder(VOCAB, EMBED, HIDDENS, LAYERS, dropout=0.1).eval()
        decoder = d2l.Seq2SeqAttentionDecoder(VOCAB, EMBED, HIDDENS, LAYERS, 0.1).eval()
    generator = torch.Generator().manual_seed(2)
    source = torch.randint(0, VOCAB, (3, 6), generator=generator)
    target = torch.randint(0, VOCAB, (3, 5), generator=generator)
    valid_lens = torch.tensor([6, 2, 4])
    whole, _ = decoder(target, decoder.init_state(encoder(source), valid_lens))
    weights = torch.cat(decoder.attention_weights, dim=1)  # (b, steps, t)
    state, steps = decoder.init_state(encoder(source), valid_lens), []
    for t in range(5):
        output, state = decoder(target[:, t : t + 1], state)
        steps.append(output)
    torch.testing.assert_close(torch.cat(steps, dim=1), whole)
    # each step attends only to the valid source positions, with weights summing to 1
    assert bool((weights[1, :, 2:] == 0).all()) and bool((weights[2, :, 4:] == 0).all())
    torch.testing.assert_close(weights.sum(-1), torch.ones(3, 5))


# --- state dicts ---------------------------------------------------------------------------------


def test_encoder_loads_either_editions_state_dict_and_saves_the_chinese_names():
    source = torch.randint(0, VOCAB, (4, 7), generator=torch.Generator().manual_seed(0))
    outputs = []
    for edition in ("English", "Chinese"):
        encoder = d2l.Seq2SeqEncoder(VOCAB, EMBED, HIDDENS, LAYERS)
        encoder.load_state_dict(_encoder_state(edition), strict=True)
        outputs.append(encoder.eval()(source))
    assert torch.equal(outputs[0][0], outputs[1][0]) and torch.equal(outputs[0][1], outputs[1][1])
    assert list(encoder.state_dict()) == list(_encoder_state("Chinese"))
    assert outputs[0][0].shape == (7, 4, 16) and outputs[0][1].shape == (2, 4, 16)


def test_encoder_inside_a_model_loads_english_keys_under_its_prefix():
    model = d2l.EncoderDecoder(d2l.Seq2SeqEncoder(VOCAB, EMBED, HIDDENS, LAYERS),
                               d2l.Seq2SeqAttentionDecoder(VOCAB, EMBED, HIDDENS, LAYERS))  # fmt: skip
    state = {"encoder." + key: value for key, value in _encoder_state("English").items()}
    state.update(_state(DECODER_SHAPES, seed=1, prefix="decoder."))
    model.load_state_dict(state, strict=True)
    torch.testing.assert_close(
        model.encoder.rnn.weight_hh_l1, state["encoder.rnn.rnn.weight_hh_l1"]
    )


def test_encoder_draws_the_english_editions_parameters_from_a_seed(seeded):
    encoder = d2l.Seq2SeqEncoder(VOCAB, EMBED, HIDDENS, LAYERS)
    # the English edition's encoder after torch.manual_seed(0): normal embeddings, Xavier GRU
    torch.testing.assert_close(encoder.embedding.weight[0, :2].detach(),
                               torch.tensor([-1.1258, -1.1524]), atol=1e-4, rtol=0)  # fmt: skip
    torch.testing.assert_close(encoder.rnn.weight_ih_l0[0, :3].detach(),
                               torch.tensor([0.2126, -0.1731, 0.0625]), atol=1e-4, rtol=0)  # fmt: skip


def test_decoder_has_the_books_parameters():
    decoder = d2l.Seq2SeqAttentionDecoder(VOCAB, EMBED, HIDDENS, LAYERS)
    assert {
        key: tuple(value.shape) for key, value in decoder.state_dict().items()
    } == DECODER_SHAPES
    decoder.load_state_dict(_state(DECODER_SHAPES), strict=True)


# --- the interfaces, the initialiser and greedy decoding -------------------------------------------


def test_encoder_decoder_returns_the_decoders_output_and_predicts_greedily():
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = d2l.EncoderDecoder(d2l.Seq2SeqEncoder(VOCAB, EMBED, HIDDENS, LAYERS),
                                   d2l.Seq2SeqAttentionDecoder(VOCAB, EMBED, HIDDENS, LAYERS))  # fmt: skip
    model.eval()
    generator = torch.Generator().manual_seed(3)
    source = torch.randint(0, VOCAB, (2, 5), generator=generator)
    target = torch.randint(0, VOCAB, (2, 4), generator=generator)
    valid_lens = torch.tensor([5, 3])
    output = model(source, target, valid_lens)
    assert isinstance(output, torch.Tensor) and output.shape == (2, 4, VOCAB)
    predictions, weights = model.predict_step(
        (source, target, valid_lens, valid_lens), "cpu", 4, True
    )
    # greedy: each predicted token is the argmax after feeding the previous prediction
    state = model.decoder.init_state(model.encoder(source, valid_lens), valid_lens)
    token, expected = target[:, :1], []
    for _ in range(4):
        scores, state = model.decoder(token, state)
        token = scores.argmax(2)
        expected.append(token)
    assert torch.equal(predictions, torch.cat(expected, dim=1)) and predictions.shape == (2, 4)
    assert len(weights) == 4 and weights[0][0].shape == (2, 1, 5)
    assert model.predict_step((source, target, valid_lens), "cpu", 2)[1] == []


def test_init_seq2seq_initialises_exactly_linear_layers_and_grus():
    linear, gru, lazy = nn.Linear(4, 3), nn.GRU(3, 5), nn.LazyLinear(2)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        d2l.init_seq2seq(linear)
        d2l.init_seq2seq(gru)
        d2l.init_seq2seq(lazy)  # not built yet: left alone, as the book's exact type check does
        torch.manual_seed(0)
        expected_linear = nn.init.xavier_uniform_(torch.empty(3, 4))
        expected_ih = nn.init.xavier_uniform_(torch.empty(15, 3))
    torch.testing.assert_close(linear.weight.detach(), expected_linear)
    torch.testing.assert_close(gru.weight_ih_l0.detach(), expected_ih)
    assert nn.parameter.is_lazy(lazy.weight)


def test_the_interfaces_say_what_is_missing():
    class Half(d2l.AttentionDecoder):
        pass

    with pytest.raises(NotImplementedError, match=r"Half: a Decoder must define init_state"):
        Half().init_state(None)
    with pytest.raises(NotImplementedError, match=r"Half: a Decoder must define forward"):
        Half()(torch.ones(1), None)
    with pytest.raises(NotImplementedError, match=r"Half: an AttentionDecoder must define "
                       r"attention_weights"):  # fmt: skip
        Half().attention_weights
    with pytest.raises(NotImplementedError, match=r"Encoder: an Encoder must define forward"):
        d2l.Encoder()(torch.ones(1))


def test_construction_errors():
    with pytest.raises(ValueError, match=r"Seq2SeqEncoder: num_layers must be a positive integer; "
                       r"got 0"):  # fmt: skip
        d2l.Seq2SeqEncoder(10, 8, 16, 0)
    with pytest.raises(ValueError, match=r"Seq2SeqAttentionDecoder: dropout must be in \[0, 1\)"):
        d2l.Seq2SeqAttentionDecoder(10, 8, 16, 2, dropout=2)
    with pytest.raises(ValueError, match=r"Seq2SeqAttentionDecoder: vocab_size must be a positive"):
        d2l.Seq2SeqAttentionDecoder(0, 8, 16, 2)
