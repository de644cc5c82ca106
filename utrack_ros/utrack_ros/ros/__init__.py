"""ROS 2 side of utrack_ros.

- :mod:`~utrack_ros.ros.convert`: messages <-> numpy, for rclpy and rosbags messages alike.
- :mod:`~utrack_ros.ros.typestore`: a rosbags typestore with utrack_msgs and vision_msgs.
- :mod:`~utrack_ros.ros.params`: the node's parameters (names, defaults, ranges, checks).
- :mod:`~utrack_ros.ros.bag`: rosbag2 (sqlite3 / mcap) I/O without ROS.
- :mod:`~utrack_ros.ros.node`: the rclpy node, the only module that imports rclpy.
"""
