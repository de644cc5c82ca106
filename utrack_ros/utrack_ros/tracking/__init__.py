"""Online tracking: Kalman filter, association, OUTrack refinding (numpy only).

Two trackers share the output type :class:`Track` and the refinding: :class:`OUTracker`
(FairMOT association, the default model variant) and :class:`CenterTrackTracker`
(CenterTrack's greedy offset association, the ``centertrack`` variant, OTrack_ct).

No torch and no ROS here (ARCHITECTURE.md): the tracker runs wherever numpy, scipy,
filterpy and lap do.
"""

from utrack_ros.tracking.centertrack import CenterTrackConfig, CenterTrackTracker
from utrack_ros.tracking.kalman import KalmanFilterXYAH
from utrack_ros.tracking.refind import kernel_score, recover_box
from utrack_ros.tracking.tracker import OUTracker, Track, TrackerConfig

__all__ = [
    "CenterTrackConfig",
    "CenterTrackTracker",
    "KalmanFilterXYAH",
    "OUTracker",
    "Track",
    "TrackerConfig",
    "kernel_score",
    "recover_box",
]
