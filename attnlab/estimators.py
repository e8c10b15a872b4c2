"""Nadaraya-Watson regression as a scikit-learn estimator.

A toy regression is an attention pooling whose keys are the training inputs and whose values are
the training targets. The estimator wraps :func:`attnlab.nadaraya_watson` for ``fit``/``predict``
pipelines (``GridSearchCV``, ``Pipeline``, ``clone``) and exposes the weights; with
``bandwidth="loo"`` it picks ``h`` by :func:`attnlab.select_bandwidth`. This is the one module
that imports scikit-learn.

References
----------
1. E. A. Nadaraya, "On estimating regression", Theory Probab. Appl. 9 (1964).
2. G. S. Watson, "Smooth regression analysis", Sankhya A 26 (1964).
3. scikit-learn developers, "Developing scikit-learn estimators", scikit-learn developer guide.
4. A. Zhang, Z. C. Lipton, M. Li, A. J. Smola, *Dive into Deep Learning*, section 10.2
   (Chinese 2nd edition) / 11.2 (English).
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from attnlab._validation import check_bandwidth, describe
from attnlab.bandwidth import BandwidthCurve, select_bandwidth
from attnlab.kernels import get_kernel
from attnlab.pooling import nadaraya_watson

__all__ = ["NadarayaWatsonRegressor"]

# re-exported: select_bandwidth and BandwidthCurve lived here before attnlab.bandwidth
_ = (BandwidthCurve, select_bandwidth)


def _check_numeric_targets(y, func: str) -> None:
    """Refuse targets that are not numbers (scikit-learn lets strings through to predict)."""
    try:
        array = np.asarray(y)
    except (TypeError, ValueError, RuntimeError):
        return  # let validate_data report it
    numeric = array.dtype.kind not in "USV"  # strings, bytes, records
    if array.dtype.kind == "O":
        try:
            array.astype(np.float64)
        except (TypeError, ValueError):
            numeric = False
    if not numeric:
        example = array.flat[0] if array.size else None
        raise ValueError(
            f"{func}: y must hold numbers (the values that are pooled); got y of dtype "
            f"{array.dtype}, e.g. {example!r}. Encode labels as numbers first."
        )


class NadarayaWatsonRegressor(RegressorMixin, BaseEstimator):
    """Nadaraya-Watson kernel regression: predict by attention pooling over the training set.

    ``predict`` pools the training targets with weights ``softmax(log K(||x - x_i|| / h))``
    (:func:`attnlab.nadaraya_watson`), in chunks of queries so memory stays bounded;
    :meth:`attention_weights` returns those weights. Computation runs in float64.

    Parameters
    ----------
    kernel : str, Kernel or callable, default "gaussian"
        One of :data:`attnlab.kernels.names`, an attnlab ``Kernel`` or a callable ``K(u)``.
    bandwidth : float, array-like of shape (n_features,) or "loo", default 1.0
        The bandwidth ``h`` (statsmodels' ``bw``), one per feature if an array; ``"loo"`` picks
        it at fit time by leave-one-out cross-validation (:func:`select_bandwidth`).

    Attributes
    ----------
    bandwidth_ : float or ndarray of shape (n_features,)
        The bandwidth used.
    bandwidth_curve_ : BandwidthCurve or None
        Leave-one-out errors on the search grid when ``bandwidth="loo"``.
    X_train_ : ndarray of shape (n_samples, n_features)
    y_train_ : ndarray of shape (n_samples,) or (n_samples, n_outputs)
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> X = np.arange(5.0)[:, None]
    >>> model = NadarayaWatsonRegressor(bandwidth=0.5).fit(X, 2 * X[:, 0])
    >>> model.predict([[2.0]])
    array([4.])
    >>> model.attention_weights([[2.0]]).round(3)
    array([[0.   , 0.106, 0.787, 0.106, 0.   ]])
    >>> NadarayaWatsonRegressor(bandwidth="loo").fit(X, 2 * X[:, 0]).bandwidth_ > 0
    True
    """

    def __init__(self, *, kernel="gaussian", bandwidth=1.0):
        self.kernel = kernel
        self.bandwidth = bandwidth

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def fit(self, X, y):
        """Store the training set (the keys and values) and fix the bandwidth; returns self."""
        func = type(self).__name__
        _check_numeric_targets(y, func)
        X, y = validate_data(self, X, y, dtype=np.float64, y_numeric=True, multi_output=True)
        get_kernel(self.kernel, func)
        self.bandwidth_curve_ = None
        if self.bandwidth is None or isinstance(self.bandwidth, bool | np.bool_):
            raise TypeError(
                f"{func}: bandwidth must be a positive number, an array of them (one per "
                f"feature) or 'loo'; got {describe(self.bandwidth)}."
            )
        if isinstance(self.bandwidth, str):
            if self.bandwidth != "loo":
                raise ValueError(
                    f"{func}: bandwidth must be a positive number, an array of them (one per "
                    f"feature) or 'loo'; got {self.bandwidth!r}."
                )
            bandwidth, self.bandwidth_curve_ = select_bandwidth(
                X, y, kernel=self.kernel, return_curve=True
            )
        else:
            try:
                bandwidth = np.asarray(self.bandwidth, dtype=np.float64)  # float64, not float32
            except (TypeError, ValueError):
                raise TypeError(
                    f"{func}: bandwidth must be a positive number, an array of them (one per "
                    f"feature) or 'loo'; got {describe(self.bandwidth)}."
                ) from None
            bandwidth = check_bandwidth(bandwidth, func, n_features=X.shape[1]).numpy()
        self.bandwidth_ = float(bandwidth) if np.ndim(bandwidth) == 0 else np.asarray(bandwidth)
        self.X_train_, self.y_train_ = X, y
        return self

    def _pool(self, X, need_weights: bool):
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            output, weights = nadaraya_watson(
                torch.from_numpy(np.array(X)),  # a writable copy: torch rejects read-only memory
                torch.from_numpy(np.array(self.X_train_)),
                torch.from_numpy(np.array(self.y_train_)),
                kernel=self.kernel,
                bandwidth=torch.as_tensor(self.bandwidth_, dtype=torch.float64),
                need_weights=need_weights,
            )
        for warning in caught:
            if warning.category is UserWarning and str(warning.message).startswith(
                "nadaraya_watson:"
            ):
                n_empty = int(torch.isnan(output).reshape(len(X), -1).any(dim=1).sum())
                warnings.warn(
                    f"{type(self).__name__}: {n_empty} of {len(X)} samples have no training "
                    f"point inside the kernel's window (bandwidth={self.bandwidth_}); their "
                    "prediction is NaN. Use a wider bandwidth or the gaussian kernel.",
                    UserWarning,
                    stacklevel=3,
                )
            else:
                warnings.warn_explicit(
                    warning.message, warning.category, warning.filename, warning.lineno
                )
        return output.numpy(), weights

    def predict(self, X):
        """Pool the training targets for each row of X: shape (n,) or (n, n_outputs)."""
        return self._pool(X, need_weights=False)[0]

    def attention_weights(self, X):
        """The weights each row of X gives each training point, shape (n_queries, n_train)."""
        return self._pool(X, need_weights=True)[1].numpy()
