"""Constant-velocity Kalman filter on ``(cx, cy, a, h)`` boxes (FairMOT / ByteTrack model).

State ``x = (cx, cy, a, h, vx, vy, va, vh)``: box centre, aspect ratio ``a = w / h``,
height, and their velocities. Measurements are ``(cx, cy, a, h)``. Noise follows the
DeepSORT / FairMOT / ByteTrack filter: standard deviations proportional to the box height
with weights ``std_weight_position = 1/20`` and ``std_weight_velocity = 1/160``.

Time step. ``dt`` is measured in **nominal frame steps**: ``dt = 1`` is one frame at the
tracker's nominal ``frame_rate``; a frame that arrives after ``(t - t_prev)`` seconds has
``dt = (t - t_prev) * frame_rate``. The transition matrix ``F(dt)`` moves the position by
``dt`` times the velocity, and the process noise ``Q`` (the per-frame covariance of the
model above) is scaled linearly with ``dt`` (white noise accumulates linearly with time),
so ``dt = 1`` reproduces the reference filter exactly.

Single-track ``predict`` / ``update`` use :mod:`filterpy.kalman` (``update`` in Joseph
form). :meth:`KalmanFilterXYAH.multi_predict`, :meth:`KalmanFilterXYAH.multi_update` and
:meth:`KalmanFilterXYAH.gating_distance` are the same equations vectorised over tracks
(tested equal to filterpy's); the tracker calls those once per frame and association stage
instead of looping over tracks in Python.
"""

from __future__ import annotations

import numpy as np
from filterpy.kalman import predict as kf_predict
from filterpy.kalman import update as kf_update

#: 0.95 quantile of the chi-square distribution with N degrees of freedom (N = 1..9),
#: the Mahalanobis gating thresholds of DeepSORT / FairMOT.
CHI2INV95 = {
    1: 3.8415,
    2: 5.9915,
    3: 7.8147,
    4: 9.4877,
    5: 11.070,
    6: 12.592,
    7: 14.067,
    8: 15.507,
    9: 16.919,
}

_NDIM = 4
_MEASUREMENT_MATRIX = np.eye(_NDIM, 2 * _NDIM)


def xyxy_to_xyah(boxes_xyxy: np.ndarray) -> np.ndarray:
    """``[..., 4]`` ``(x1, y1, x2, y2)`` -> ``(cx, cy, w / h, h)``."""
    b = np.asarray(boxes_xyxy, dtype=np.float64)
    w = b[..., 2] - b[..., 0]
    h = b[..., 3] - b[..., 1]
    return np.stack([(b[..., 0] + b[..., 2]) / 2, (b[..., 1] + b[..., 3]) / 2, w / h, h], -1)


def xyah_to_xyxy(xyah: np.ndarray) -> np.ndarray:
    """``[..., >=4]`` ``(cx, cy, a, h, ...)`` -> ``(x1, y1, x2, y2)``."""
    m = np.asarray(xyah, dtype=np.float64)
    w = m[..., 2] * m[..., 3]
    h = m[..., 3]
    return np.stack(
        [m[..., 0] - w / 2, m[..., 1] - h / 2, m[..., 0] + w / 2, m[..., 1] + h / 2], -1
    )


class KalmanFilterXYAH:
    """The FairMOT / ByteTrack box filter, with a real time step.

    Args:
        std_weight_position: position noise std as a fraction of the box height (1/20).
        std_weight_velocity: velocity noise std as a fraction of the box height (1/160).
    """

    ndim = _NDIM

    def __init__(
        self, std_weight_position: float = 1.0 / 20, std_weight_velocity: float = 1.0 / 160
    ) -> None:
        self.std_weight_position = float(std_weight_position)
        self.std_weight_velocity = float(std_weight_velocity)
        self._H = _MEASUREMENT_MATRIX

    # -- model matrices -----------------------------------------------------------------

    @staticmethod
    def transition(dt: float = 1.0) -> np.ndarray:
        """``F(dt)``: constant velocity over ``dt`` nominal frame steps."""
        F = np.eye(2 * _NDIM)
        F[:_NDIM, _NDIM:] = dt * np.eye(_NDIM)
        return F

    def process_noise(self, height: float | np.ndarray, dt: float = 1.0) -> np.ndarray:
        """``Q`` for boxes of the given height(s): ``[8, 8]`` or ``[N, 8, 8]``.

        Per nominal step the std is ``(wp h, wp h, 1e-2, wp h, wv h, wv h, 1e-5, wv h)``;
        the variance is multiplied by ``dt``.
        """
        h = np.asarray(height, dtype=np.float64)
        wp, wv = self.std_weight_position, self.std_weight_velocity
        ones = np.ones_like(h)
        std = np.stack(
            [wp * h, wp * h, 1e-2 * ones, wp * h, wv * h, wv * h, 1e-5 * ones, wv * h], -1
        )
        var = np.square(std) * dt
        if var.ndim == 1:
            return np.diag(var)
        Q = np.zeros(var.shape + (var.shape[-1],))
        idx = np.arange(var.shape[-1])
        Q[..., idx, idx] = var
        return Q

    def measurement_noise(self, height: float | np.ndarray) -> np.ndarray:
        """``R`` for boxes of the given height(s): std ``(wp h, wp h, 1e-1, wp h)``."""
        h = np.asarray(height, dtype=np.float64)
        wp = self.std_weight_position
        std = np.stack([wp * h, wp * h, 1e-1 * np.ones_like(h), wp * h], -1)
        var = np.square(std)
        if var.ndim == 1:
            return np.diag(var)
        R = np.zeros(var.shape + (var.shape[-1],))
        idx = np.arange(var.shape[-1])
        R[..., idx, idx] = var
        return R

    # -- filter -------------------------------------------------------------------------

    def initiate(self, measurement: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Track from one ``(cx, cy, a, h)`` measurement: zero velocity, wide covariance."""
        z = np.asarray(measurement, dtype=np.float64).reshape(_NDIM)
        mean = np.concatenate([z, np.zeros(_NDIM)])
        h = z[3]
        wp, wv = self.std_weight_position, self.std_weight_velocity
        std = [
            2 * wp * h,
            2 * wp * h,
            1e-2,
            2 * wp * h,
            10 * wv * h,
            10 * wv * h,
            1e-5,
            10 * wv * h,
        ]
        return mean, np.diag(np.square(std))

    def predict(
        self, mean: np.ndarray, covariance: np.ndarray, dt: float = 1.0
    ) -> tuple[np.ndarray, np.ndarray]:
        """One track ahead by ``dt`` nominal steps (filterpy ``predict``)."""
        Q = self.process_noise(mean[3], dt)
        x, P = kf_predict(mean, covariance, F=self.transition(dt), Q=Q)
        return np.asarray(x, dtype=np.float64), np.asarray(P, dtype=np.float64)

    def multi_predict(
        self, means: np.ndarray, covariances: np.ndarray, dt: float = 1.0
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`predict` for ``[N, 8]`` means and ``[N, 8, 8]`` covariances at once."""
        means = np.asarray(means, dtype=np.float64)
        covariances = np.asarray(covariances, dtype=np.float64)
        if len(means) == 0:
            return means.reshape(0, 2 * _NDIM), covariances.reshape(0, 2 * _NDIM, 2 * _NDIM)
        F = self.transition(dt)
        Q = self.process_noise(means[:, 3], dt)
        new_means = means @ F.T
        new_covs = np.einsum("ij,njk,lk->nil", F, covariances, F) + Q
        return new_means, new_covs

    def project(self, mean: np.ndarray, covariance: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Measurement-space mean and covariance (``H x``, ``H P H^T + R``); batched too."""
        mean = np.asarray(mean, dtype=np.float64)
        covariance = np.asarray(covariance, dtype=np.float64)
        R = self.measurement_noise(mean[..., 3])
        return mean[..., :_NDIM], covariance[..., :_NDIM, :_NDIM] + R

    def update(
        self, mean: np.ndarray, covariance: np.ndarray, measurement: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Correct one track with a ``(cx, cy, a, h)`` measurement (filterpy ``update``)."""
        z = np.asarray(measurement, dtype=np.float64).reshape(_NDIM)
        R = self.measurement_noise(mean[3])
        x, P = kf_update(mean, covariance, z, R, H=self._H)
        return np.asarray(x, dtype=np.float64).reshape(2 * _NDIM), np.asarray(P, dtype=np.float64)

    def multi_update(
        self, means: np.ndarray, covariances: np.ndarray, measurements: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`update` for ``[N, 8]`` means, ``[N, 8, 8]`` covariances and ``[N, 4]``
        measurements at once (the same Joseph-form equations as filterpy's ``update``)."""
        x = np.asarray(means, dtype=np.float64).reshape(-1, 2 * _NDIM)
        P = np.asarray(covariances, dtype=np.float64).reshape(-1, 2 * _NDIM, 2 * _NDIM)
        z = np.asarray(measurements, dtype=np.float64).reshape(-1, _NDIM)
        if len(x) == 0:
            return x.copy(), P.copy()
        R = self.measurement_noise(x[:, 3])  # [N, 4, 4]
        S = P[:, :_NDIM, :_NDIM] + R
        K = P[:, :, :_NDIM] @ np.linalg.inv(S)  # [N, 8, 4]
        new_x = x + np.einsum("nij,nj->ni", K, z - x[:, :_NDIM])
        I_KH = np.broadcast_to(np.eye(2 * _NDIM), P.shape).copy()
        I_KH[:, :, :_NDIM] -= K
        new_P = I_KH @ P @ I_KH.transpose(0, 2, 1) + K @ R @ K.transpose(0, 2, 1)
        return new_x, new_P

    def gating_distance(
        self,
        means: np.ndarray,
        covariances: np.ndarray,
        measurements: np.ndarray,
        only_position: bool = False,
    ) -> np.ndarray:
        """Squared Mahalanobis distances ``[N, M]`` of M measurements to N predicted tracks.

        ``means [N, 8]`` / ``covariances [N, 8, 8]`` (a single track ``[8]`` / ``[8, 8]``
        gives ``[M]``). With ``only_position`` only ``(cx, cy)`` is compared (2 dof gate).
        """
        single = np.ndim(means) == 1
        means = np.atleast_2d(np.asarray(means, dtype=np.float64))
        covariances = np.asarray(covariances, dtype=np.float64).reshape(-1, 2 * _NDIM, 2 * _NDIM)
        z = np.asarray(measurements, dtype=np.float64).reshape(-1, _NDIM)
        n, m = len(means), len(z)
        if n == 0 or m == 0:
            out = np.zeros((n, m))
            return out[0] if single else out
        mu, S = self.project(means, covariances)  # [N, 4], [N, 4, 4]
        if only_position:
            mu, S, z = mu[:, :2], S[:, :2, :2], z[:, :2]
        L = np.linalg.cholesky(S)  # [N, d, d]
        L_inv = np.linalg.inv(L)
        d = z[None, :, :] - mu[:, None, :]  # [N, M, d]
        y = np.einsum("nij,nmj->nmi", L_inv, d)
        out = np.sum(y * y, axis=-1)
        return out[0] if single else out
