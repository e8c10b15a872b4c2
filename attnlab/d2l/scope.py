"""What the d2l layer leaves out, and the one-line errors that say so.

attnlab downloads nothing, so the book's English-French loaders (``d2l.load_data_nmt``,
``d2l.MTFraEng``, ``d2l.download``, ...) raise :class:`DataNotAvailableError`, pointing at the
built-in translation task. The book's training framework (``d2l.Trainer``, ``d2l.train_seq2seq``,
``d2l.predict_seq2seq``, ``d2l.bleu``, ...) is not part of attnlab: those names raise
:class:`OutOfScopeError`. ``d2l.Module`` is the one exception: the English chapter derives its
``MultiHeadAttention`` from it, so it is a plain ``torch.nn.Module`` whose training methods
raise. Both errors are ``NotImplementedError``\\ s.

References
----------
1. A. Zhang, Z. C. Lipton, M. Li, A. J. Smola, *Dive into Deep Learning*, sections 3.2 (English,
   the training framework) and 9.5 (Chinese 2nd ed.) / 10.5 (English, the translation data).
"""

from __future__ import annotations

from torch import nn

__all__ = ["DataNotAvailableError", "Module", "OutOfScopeError"]

OFFLINE_TASK = (
    "attnlab.datasets.translation_task(...) is a built-in, offline translation task to train "
    "on instead, as notebooks/07_bahdanau_attention.ipynb and notebooks/08_transformer.ipynb do"
)


class DataNotAvailableError(NotImplementedError):
    """The book's code asked for data that it downloads; attnlab never downloads anything."""


class OutOfScopeError(NotImplementedError):
    """The book's code asked for part of its training framework, which attnlab does not provide."""


def data_message(name: str) -> str:
    return (
        f"d2l.{name} needs the book's downloaded English-French data, and attnlab does not "
        f"download data; {OFFLINE_TASK}."
    )


def framework_message(name: str) -> str:
    return (
        f"d2l.{name} is part of the book's training framework, which attnlab.d2l does not "
        f"provide; write the training loop in plain PyTorch, as "
        f"notebooks/07_bahdanau_attention.ipynb and notebooks/08_transformer.ipynb do."
    )


def _function(name: str, error: type[NotImplementedError], message: str):
    def unavailable(*args, **kwargs):
        raise error(message)

    unavailable.__name__ = unavailable.__qualname__ = name
    unavailable.__doc__ = message
    unavailable.__module__ = "attnlab.d2l"
    return unavailable


def _class(name: str, error: type[NotImplementedError], message: str) -> type:
    def __init__(self, *args, **kwargs):
        raise error(message)

    return type(name, (), {"__init__": __init__, "__doc__": message, "__module__": "attnlab.d2l"})


DATA_FUNCTIONS = ("download", "download_extract", "extract", "load_data_nmt", "read_data_nmt")
DATA_CLASSES = ("MTFraEng",)
DATA_CONSTANTS = ("DATA_HUB", "DATA_URL")
FRAMEWORK_FUNCTIONS = ("bleu", "grad_clipping", "predict_seq2seq", "train_seq2seq")
FRAMEWORK_CLASSES = (
    "Classifier",
    "DataModule",
    "HyperParameters",
    "MaskedSoftmaxCELoss",
    "ProgressBoard",
    "Seq2Seq",
    "Trainer",
)

unavailable = {
    **{name: _function(name, DataNotAvailableError, data_message(name)) for name in DATA_FUNCTIONS},
    **{name: _class(name, DataNotAvailableError, data_message(name)) for name in DATA_CLASSES},
    **{
        name: _function(name, OutOfScopeError, framework_message(name))
        for name in FRAMEWORK_FUNCTIONS
    },
    **{name: _class(name, OutOfScopeError, framework_message(name)) for name in FRAMEWORK_CLASSES},
}
"""The book's names that raise, by name: called (or instantiated), each raises its error."""


class Module(nn.Module):
    """The English edition's ``d2l.Module`` as a base class for modules, without the framework.

    Section 11.5 of the English edition derives its ``MultiHeadAttention`` from ``d2l.Module``,
    so this is a ``torch.nn.Module`` that takes the book's constructor arguments. Its training
    methods (``training_step``, ``configure_optimizers``, ``plot``, ...) belong to the book's
    training framework and raise :class:`OutOfScopeError`.

    Examples
    --------
    >>> import torch
    >>> class Twice(Module):
    ...     def forward(self, X):
    ...         return 2 * X
    >>> Twice()(torch.ones(2))
    tensor([2., 2.])
    """

    def __init__(self, plot_train_per_epoch: int = 2, plot_valid_per_epoch: int = 1) -> None:
        super().__init__()
        self.plot_train_per_epoch = plot_train_per_epoch
        self.plot_valid_per_epoch = plot_valid_per_epoch

    def forward(self, X):
        if "net" not in self._modules:
            raise NotImplementedError(
                f"{type(self).__name__}: define forward(...), or a submodule self.net to call."
            )
        return self.net(X)

    def loss(self, y_hat, y):
        raise OutOfScopeError(framework_message("Module.loss"))

    def plot(self, key, value, train):
        raise OutOfScopeError(framework_message("Module.plot"))

    def training_step(self, batch):
        raise OutOfScopeError(framework_message("Module.training_step"))

    def validation_step(self, batch):
        raise OutOfScopeError(framework_message("Module.validation_step"))

    def configure_optimizers(self):
        raise OutOfScopeError(framework_message("Module.configure_optimizers"))

    def apply_init(self, inputs, init=None):
        raise OutOfScopeError(framework_message("Module.apply_init"))
