"""utrack_ros: OUTrack (unsupervised Re-ID + occlusion estimation) people tracking for ROS 2.

Module map (see docs/ARCHITECTURE.md): ``model`` (torch), ``targets`` (numpy), ``losses``
(torch), ``data`` (datasets, MOT I/O), ``tracking`` (numpy only), ``eval``, ``pipeline``
(image -> tracks), ``ros`` (message conversion; ``ros.node`` is the only rclpy import),
``cli`` (the ``utrack`` command).
"""

__version__ = "0.1.0"
