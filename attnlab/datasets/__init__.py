"""Small seeded data sets for the lessons: nothing is downloaded, everything is generated.

The book's toy regression (:func:`toy_regression`), a sequence-reversal task whose attention
pattern is known (:func:`reversal_task`), and a translation task with a real alignment, dates in
words to ISO digits (:func:`translation_task`), with its :class:`Vocabulary`. Each takes a
``seed`` for a private ``torch.Generator`` and leaves the global random state alone.

References
----------
1. A. Zhang, Z. C. Lipton, M. Li, A. J. Smola, *Dive into Deep Learning*, chapter 10 (Chinese
   2nd ed.) / 11 (English): attention mechanisms.
"""

from attnlab.datasets.regression import FUNCTIONS, Regression, d2l_function, toy_regression
from attnlab.datasets.sequences import reversal_task
from attnlab.datasets.translation import (
    MONTHS,
    ORDERS,
    TARGET_FIELDS,
    Translations,
    TranslationTask,
    date_in_words,
    translation_task,
)
from attnlab.datasets.vocabulary import SPECIAL_TOKENS, Vocabulary

__all__ = [
    "FUNCTIONS",
    "MONTHS",
    "ORDERS",
    "SPECIAL_TOKENS",
    "TARGET_FIELDS",
    "Regression",
    "TranslationTask",
    "Translations",
    "Vocabulary",
    "d2l_function",
    "date_in_words",
    "reversal_task",
    "toy_regression",
    "translation_task",
]
