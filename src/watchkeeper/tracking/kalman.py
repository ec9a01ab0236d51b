"""A constant-velocity Kalman filter on box centre and size, one frame per step.

State: (cx, cy, w, h, vx, vy, vw, vh), pixels and pixels per frame. Noise scales with the box
size, as in SORT/ByteTrack, so small far-away boxes and large close ones are treated alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Vector = npt.NDArray[np.float64]

# Standard deviations relative to box size (the values SORT-family trackers use for video at
# 25-30 fps): position noise 1/20 of the size, velocity noise 1/160 of the size per frame.
POSITION_STD = 1.0 / 20.0
VELOCITY_STD = 1.0 / 160.0
MIN_SIZE_PX = 1.0

_F = np.eye(8)
_F[:4, 4:] = np.eye(4)
_H = np.eye(4, 8)


@dataclass(slots=True)
class BoxKalman:
    """Mutable filter state for one track (internal to the tracker)."""

    mean: Vector
    covariance: Vector

    @classmethod
    def start(cls, cxcywh: npt.ArrayLike) -> BoxKalman:
        """A filter at the measured box with zero velocity and wide velocity uncertainty."""
        z = np.asarray(cxcywh, dtype=np.float64).reshape(4)
        mean = np.concatenate([z, np.zeros(4)])
        size = np.array([z[2], z[3], z[2], z[3]])
        std = np.concatenate([2 * POSITION_STD * size, 10 * VELOCITY_STD * size])
        return cls(mean, np.diag(std**2))

    def _size(self) -> Vector:
        w, h = max(self.mean[2], MIN_SIZE_PX), max(self.mean[3], MIN_SIZE_PX)
        return np.array([w, h, w, h])

    def predict(self) -> None:
        """Advance one frame."""
        size = self._size()
        q = np.diag(np.concatenate([POSITION_STD * size, VELOCITY_STD * size]) ** 2)
        self.mean = _F @ self.mean
        self.covariance = _F @ self.covariance @ _F.T + q
        self.mean[2] = max(self.mean[2], MIN_SIZE_PX)
        self.mean[3] = max(self.mean[3], MIN_SIZE_PX)

    def update(self, cxcywh: npt.ArrayLike) -> None:
        """Correct the state with a measured box."""
        z = np.asarray(cxcywh, dtype=np.float64).reshape(4)
        r = np.diag((POSITION_STD * self._size()) ** 2)
        s = _H @ self.covariance @ _H.T + r
        gain = np.linalg.solve(s, _H @ self.covariance).T
        self.mean = self.mean + gain @ (z - _H @ self.mean)
        self.covariance = (np.eye(8) - gain @ _H) @ self.covariance
        self.mean[2] = max(self.mean[2], MIN_SIZE_PX)
        self.mean[3] = max(self.mean[3], MIN_SIZE_PX)

    def stop_resizing(self) -> None:
        """Zero the size velocity: a lost box should drift, not grow or shrink without end."""
        self.mean[6:8] = 0.0

    @property
    def cxcywh(self) -> Vector:
        return np.asarray(self.mean[:4], dtype=np.float64)
