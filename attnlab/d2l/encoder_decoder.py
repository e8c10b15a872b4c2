"""The encoder-decoder interfaces the attention chapter builds on, and the Bahdanau decoder.

An encoder turns a source sequence into a state; a decoder turns that state and the target tokens
so far into the next tokens. The book defines the interfaces (``Encoder``, ``Decoder``,
``EncoderDecoder``) and a GRU encoder before the attention chapter, then gives the decoder an
additive attention over the encoder's outputs (section 10.4, Chinese 2nd ed. / 11.4, English).

References
----------
1. I. Sutskever, O. Vinyals, Q. V. Le, "Sequence to sequence learning with neural networks",
   NeurIPS (2014).
2. D. Bahdanau, K. Cho, Y. Bengio, "Neural machine translation by jointly learning to align and
   translate", arXiv:1409.0473 (2014).
3. A. Zhang, Z. C. Lipton, M. Li, A. J. Smola, *Dive into Deep Learning*, sections 9.6-9.7
   (Chinese 2nd ed.) / 10.6-10.7 (English) and 10.4 / 11.4.
"""

from __future__ import annotations

import torch
from torch import nn

from attnlab._validation import check_positive_int, check_probability
from attnlab.d2l.scoring import AdditiveAttention

__all__ = [
    "AttentionDecoder",
    "Decoder",
    "Encoder",
    "EncoderDecoder",
    "Seq2SeqAttentionDecoder",
    "Seq2SeqEncoder",
    "init_seq2seq",
]


class Encoder(nn.Module):
    """The encoder interface: ``forward(X, *args)`` returns what the decoder starts from.

    Examples
    --------
    >>> import torch
    >>> class Embed(Encoder):
    ...     def forward(self, X, *args):
    ...         return X.float().unsqueeze(-1)
    >>> Embed()(torch.tensor([[1, 2]])).shape
    torch.Size([1, 2, 1])
    """

    def forward(self, X, *args):
        raise NotImplementedError(f"{type(self).__name__}: an Encoder must define forward(X).")


class Decoder(nn.Module):
    """The decoder interface: ``init_state(enc_all_outputs, *args)``, ``forward(X, state)``.

    ``forward`` returns the output and the state for the next call.

    Examples
    --------
    >>> import torch
    >>> class Count(Decoder):
    ...     def init_state(self, enc_all_outputs, *args):
    ...         return 0
    ...     def forward(self, X, state):
    ...         return X + state, state + 1
    >>> decoder = Count()
    >>> decoder(torch.zeros(2), decoder.init_state(None))
    (tensor([0., 0.]), 1)
    """

    def init_state(self, enc_all_outputs, *args):
        raise NotImplementedError(f"{type(self).__name__}: a Decoder must define init_state.")

    def forward(self, X, state):
        raise NotImplementedError(f"{type(self).__name__}: a Decoder must define forward.")


class AttentionDecoder(Decoder):
    """A decoder that also exposes the ``attention_weights`` of its last call.

    Examples
    --------
    :class:`Seq2SeqAttentionDecoder` and :class:`attnlab.d2l.TransformerDecoder` are two.

    >>> issubclass(Seq2SeqAttentionDecoder, AttentionDecoder)
    True
    """

    @property
    def attention_weights(self):
        raise NotImplementedError(
            f"{type(self).__name__}: an AttentionDecoder must define attention_weights."
        )


class EncoderDecoder(nn.Module):
    """An encoder and a decoder trained together; ``forward`` returns the decoder's output.

    As in the English edition, ``forward(enc_X, dec_X, *args)`` returns the output only (the
    Chinese 2nd edition returns ``(output, state)``; write ``Y_hat = net(...)`` for
    ``Y_hat, _ = net(...)``). :meth:`predict_step` decodes greedily, as the English edition's.

    Examples
    --------
    >>> import torch
    >>> net = EncoderDecoder(Seq2SeqEncoder(10, 8, 16, 2), Seq2SeqAttentionDecoder(10, 8, 16, 2))
    >>> source = torch.zeros((4, 7), dtype=torch.long)
    >>> target = torch.zeros((4, 5), dtype=torch.long)
    >>> net(source, target, torch.tensor([7, 3, 5, 1])).shape
    torch.Size([4, 5, 10])
    >>> tokens, weights = net.eval().predict_step((source, target, torch.tensor([7, 3, 5, 1])),
    ...                                           "cpu", num_steps=3, save_attention_weights=True)
    >>> tokens.shape, len(weights), weights[0][0].shape  # per step, the decoder's weights
    (torch.Size([4, 3]), 3, torch.Size([4, 1, 7]))
    """

    def __init__(self, encoder: nn.Module, decoder: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder

    def forward(self, enc_X, dec_X, *args) -> torch.Tensor:
        enc_all_outputs = self.encoder(enc_X, *args)
        dec_state = self.decoder.init_state(enc_all_outputs, *args)
        return self.decoder(dec_X, dec_state)[0]

    @torch.no_grad()
    def predict_step(self, batch, device, num_steps: int, save_attention_weights: bool = False):
        """Decode ``num_steps`` tokens greedily, each from the decoder's most likely last one.

        ``batch`` is ``(src, tgt, src_valid_len, ...)``; only the first target token of each
        sequence (the beginning-of-sequence token) is read from ``tgt``. Returns the predicted
        tokens, shape ``(batch, num_steps)``, and the decoder's ``attention_weights`` after each
        step (a list, empty unless ``save_attention_weights``).
        """
        src, tgt, src_valid_len = (item.to(device) for item in batch[:3])
        enc_all_outputs = self.encoder(src, src_valid_len)
        dec_state = self.decoder.init_state(enc_all_outputs, src_valid_len)
        outputs, attention_weights = [tgt[:, 0].unsqueeze(1)], []  # [(b, 1)]
        for _ in range(num_steps):
            Y, dec_state = self.decoder(outputs[-1], dec_state)  # (b, 1, vocab)
            outputs.append(Y.argmax(2))  # (b, 1)
            if save_attention_weights:
                attention_weights.append(self.decoder.attention_weights)
        return torch.cat(outputs[1:], 1), attention_weights


def init_seq2seq(module: nn.Module) -> None:
    """Xavier-initialise the weights of a linear layer or a GRU; leave other modules alone.

    The book's initialiser for sequence-to-sequence models, meant for ``model.apply``. Like the
    book's, it acts on modules whose type is exactly ``nn.Linear`` or ``nn.GRU`` (so lazy layers
    not yet built are skipped).

    Examples
    --------
    >>> from torch import nn
    >>> model = nn.Sequential(nn.Linear(4, 3), nn.LazyLinear(2))
    >>> _ = model.apply(init_seq2seq)  # Xavier weights for the first layer only
    >>> nn.parameter.is_lazy(model[1].weight)
    True
    """
    if type(module) is nn.Linear:
        nn.init.xavier_uniform_(module.weight)
    if type(module) is nn.GRU:
        for name, parameter in module.named_parameters(recurse=False):
            if "weight" in name:
                nn.init.xavier_uniform_(parameter)


class Seq2SeqEncoder(Encoder):
    """The book's GRU encoder: embed the tokens, run a multi-layer GRU over them.

    ``forward(X)`` takes tokens of shape ``(batch, num_steps)`` and returns the GRU's
    ``(outputs, state)``, of shapes ``(num_steps, batch, num_hiddens)`` and
    ``(num_layers, batch, num_hiddens)``. The GRU weights are Xavier-initialised as in the
    English edition. Parameter names are the Chinese 2nd edition's (``rnn.weight_ih_l0``, ...);
    a ``state_dict`` of the English edition's encoder (``rnn.rnn.weight_ih_l0``, ...) loads too.

    Examples
    --------
    >>> import torch
    >>> encoder = Seq2SeqEncoder(vocab_size=10, embed_size=8, num_hiddens=16, num_layers=2)
    >>> outputs, state = encoder(torch.zeros((4, 7), dtype=torch.long))
    >>> outputs.shape, state.shape
    (torch.Size([7, 4, 16]), torch.Size([2, 4, 16]))
    """

    def __init__(self, vocab_size, embed_size, num_hiddens, num_layers, dropout=0) -> None:
        super().__init__()
        func = "Seq2SeqEncoder"
        for name, value in (("vocab_size", vocab_size), ("embed_size", embed_size),
                            ("num_hiddens", num_hiddens), ("num_layers", num_layers)):  # fmt: skip
            check_positive_int(value, name, func)
        self.embedding = nn.Embedding(vocab_size, embed_size)
        self.rnn = nn.GRU(
            embed_size, num_hiddens, num_layers, dropout=check_probability(dropout, "dropout", func)
        )
        init_seq2seq(self.rnn)

    def forward(self, X, *args):
        embeddings = self.embedding(X.t().long())  # (b, t) -> (t, b, embed_size): time first
        outputs, state = self.rnn(embeddings)  # (t, b, h), (num_layers, b, h)
        return outputs, state

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # the English edition wraps its GRU in a module of its own: rnn.rnn.* is our rnn.*
        english = prefix + "rnn.rnn."
        for key in [key for key in state_dict if key.startswith(english)]:
            state_dict[prefix + "rnn." + key[len(english) :]] = state_dict.pop(key)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


class Seq2SeqAttentionDecoder(AttentionDecoder):
    """The Bahdanau decoder: a GRU whose input at each step includes an attention context.

    At every step the last layer's hidden state queries the encoder's outputs with additive
    attention; the context is concatenated to the embedded input token and fed to the GRU.
    ``attention_weights`` lists the weights of each step, of shape ``(batch, 1, num_steps)``.
    Both editions build it with the same arguments and parameter names.

    Examples
    --------
    >>> import torch
    >>> encoder = Seq2SeqEncoder(vocab_size=10, embed_size=8, num_hiddens=16, num_layers=2)
    >>> decoder = Seq2SeqAttentionDecoder(vocab_size=10, embed_size=8, num_hiddens=16, num_layers=2)
    >>> X = torch.zeros((4, 7), dtype=torch.long)
    >>> output, state = decoder(X, decoder.init_state(encoder(X), None))
    >>> output.shape, len(state), state[0].shape, len(state[1]), state[1][0].shape
    (torch.Size([4, 7, 10]), 3, torch.Size([4, 7, 16]), 2, torch.Size([4, 16]))
    """

    def __init__(self, vocab_size, embed_size, num_hiddens, num_layers, dropout=0) -> None:
        super().__init__()
        func = "Seq2SeqAttentionDecoder"
        for name, value in (("vocab_size", vocab_size), ("embed_size", embed_size),
                            ("num_hiddens", num_hiddens), ("num_layers", num_layers)):  # fmt: skip
            check_positive_int(value, name, func)
        dropout = check_probability(dropout, "dropout", func)
        self.attention = AdditiveAttention(num_hiddens, num_hiddens, num_hiddens, dropout)
        self.embedding = nn.Embedding(vocab_size, embed_size)
        self.rnn = nn.GRU(embed_size + num_hiddens, num_hiddens, num_layers, dropout=dropout)
        self.dense = nn.Linear(num_hiddens, vocab_size)
        # the English edition's initialisation: when it runs, only its GRU is built
        init_seq2seq(self.rnn)
        self._attention_weights: list[torch.Tensor] = []

    def init_state(self, enc_outputs, enc_valid_lens, *args):
        """``(encoder outputs batch first, encoder's last hidden state, enc_valid_lens)``."""
        outputs, hidden_state = enc_outputs
        return (outputs.permute(1, 0, 2), hidden_state, enc_valid_lens)

    def forward(self, X, state):
        enc_outputs, hidden_state, enc_valid_lens = state  # (b, t, h), (layers, b, h), (b,)
        X = self.embedding(X).permute(1, 0, 2)  # (b, steps) -> (steps, b, embed_size)
        outputs, self._attention_weights = [], []
        for x in X:
            # 1) the last layer's hidden state queries the encoder's outputs
            query = hidden_state[-1].unsqueeze(1)  # (b, 1, h)
            context = self.attention(query, enc_outputs, enc_outputs, enc_valid_lens)  # (b, 1, h)
            # 2) the context joins the embedded token as the GRU's input for this step
            x = torch.cat((context, x.unsqueeze(1)), dim=-1)  # (b, 1, h + embed_size)
            out, hidden_state = self.rnn(x.permute(1, 0, 2), hidden_state)  # (1, b, h)
            outputs.append(out)
            self._attention_weights.append(self.attention.attention_weights)  # (b, 1, t)
        # 3) scores over the target vocabulary at every step
        outputs = self.dense(torch.cat(outputs, dim=0))  # (steps, b, vocab)
        return outputs.permute(1, 0, 2), [enc_outputs, hidden_state, enc_valid_lens]

    @property
    def attention_weights(self) -> list[torch.Tensor]:
        return self._attention_weights
