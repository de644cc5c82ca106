"""Online tracking: Kalman filter, association, OUTrack refinding (numpy only).

No torch and no ROS here (ARCHITECTURE.md): the tracker runs wherever numpy, scipy,
filterpy and lap do.
"""

from utrack_ros.tracking.kalman import KalmanFilterXYAH
from utrack_ros.tracking.refind import kernel_score, recover_box
from utrack_ros.tracking.tracker import OUTracker, Track, TrackerConfig

__all__ = [
    "KalmanFilterXYAH",
    "OUTracker",
    "Track",
    "TrackerConfig",
    "kernel_score",
    "recover_box",
]
