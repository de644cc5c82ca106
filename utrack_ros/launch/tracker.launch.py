"""Launch the utrack_ros people tracker on a camera topic (optionally with RViz).

    ros2 launch utrack_ros tracker.launch.py image_topic:=/camera/color/image_raw
    ros2 launch utrack_ros tracker.launch.py image_topic:=/cam/image_raw device:=cpu \\
        namespace:=front use_rviz:=true

Arguments left empty (weights, device) keep the value of the parameter file.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

PACKAGE = "utrack_ros"
NODE_NAME = "utrack_tracker"


def _tracker(context, *args, **kwargs):
    """The tracker node; only the launch arguments that were set override the YAML."""
    get = lambda name: LaunchConfiguration(name).perform(context)  # noqa: E731
    overrides = {"use_sim_time": get("use_sim_time").lower() in ("true", "1", "yes")}
    for name in ("weights", "device"):
        if get(name):
            overrides[name] = get(name)
    image_topic = get("image_topic").rstrip("/")
    return [
        Node(
            package=PACKAGE,
            executable="tracker_node",
            name=NODE_NAME,
            namespace=get("namespace"),
            parameters=[get("params_file"), overrides],
            # The node subscribes to the relative "image_raw" (or "image_raw/compressed"
            # with use_compressed); point both at the camera.
            remappings=[
                ("image_raw", image_topic),
                ("image_raw/compressed", image_topic + "/compressed"),
            ],
            arguments=["--ros-args", "--log-level", f"{NODE_NAME}:={get('log_level')}"],
            output="screen",
            emulate_tty=True,
        )
    ]


def generate_launch_description():
    share = get_package_share_directory(PACKAGE)
    return LaunchDescription([
        DeclareLaunchArgument(
            "image_topic", default_value="/camera/image_raw",
            description="camera image topic (sensor_msgs/Image; '<topic>/compressed' is "
            "used when the parameter use_compressed is true)"),
        DeclareLaunchArgument(
            "weights", default_value="",
            description="checkpoint .pt; empty = the params file's (default: shipped model)"),
        DeclareLaunchArgument(
            "device", default_value="",
            description="cpu, cuda or cuda:N; empty = the params file's (cuda, CPU fallback)"),
        DeclareLaunchArgument(
            "namespace", default_value="",
            description="namespace of the node (topics become /<namespace>/utrack_tracker/...)"),
        DeclareLaunchArgument(
            "params_file", default_value=os.path.join(share, "config", "tracker.yaml"),
            description="parameter YAML with a 'utrack_tracker:' section"),
        DeclareLaunchArgument(
            "use_rviz", default_value="false",
            description="start RViz showing ~/debug_image"),
        DeclareLaunchArgument(
            "rviz_config", default_value=os.path.join(share, "config", "utrack.rviz"),
            description="RViz configuration"),
        DeclareLaunchArgument(
            "use_sim_time", default_value="false",
            description="use /clock (e.g. with `ros2 bag play --clock`)"),
        DeclareLaunchArgument(
            "log_level", default_value="info", description="node log level"),
        OpaqueFunction(function=_tracker),
        Node(
            package="rviz2",
            executable="rviz2",
            name="utrack_rviz",
            arguments=["-d", LaunchConfiguration("rviz_config")],
            parameters=[{"use_sim_time": LaunchConfiguration("use_sim_time")}],
            condition=IfCondition(LaunchConfiguration("use_rviz")),
            output="log",
        ),
    ])
