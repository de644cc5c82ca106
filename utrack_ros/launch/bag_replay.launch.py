"""Replay a bag into the tracker, optionally recording its output (and showing RViz).

    utrack mot2bag sample /tmp/pets_bag                       # or any camera bag
    ros2 launch utrack_ros bag_replay.launch.py bag:=/tmp/pets_bag output_bag:=/tmp/pets_out
    utrack bag-eval /tmp/pets_out --tracks-topic /utrack_tracker/tracks

The bag is played with --clock and the node uses sim time, so stamps, the frame-age check
and RViz all follow the bag. Playback starts after `play_delay` seconds (model loading);
on a CPU, lower `rate` until the node's log reports no dropped frames.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import (
    DeclareLaunchArgument,
    ExecuteProcess,
    IncludeLaunchDescription,
    OpaqueFunction,
    TimerAction,
)
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration

PACKAGE = "utrack_ros"
NODE_NAME = "utrack_tracker"


def _bag_processes(context, *args, **kwargs):
    get = lambda name: LaunchConfiguration(name).perform(context)  # noqa: E731
    play = ["ros2", "bag", "play", get("bag"), "--clock", "--rate", get("rate")]
    if get("loop").lower() in ("true", "1", "yes"):
        play.append("--loop")
    actions = [TimerAction(period=float(get("play_delay")),
                           actions=[ExecuteProcess(cmd=play, output="screen")])]
    output = get("output_bag")
    if output:
        ns = get("namespace").strip("/")
        prefix = f"/{ns}/{NODE_NAME}" if ns else f"/{NODE_NAME}"
        topics = [f"{prefix}/tracks", f"{prefix}/occlusions"]
        if get("record_images").lower() in ("true", "1", "yes"):
            topics.append(get("image_topic"))
        topics += [t for t in get("record_extra").split() if t]
        actions.append(ExecuteProcess(
            cmd=["ros2", "bag", "record", "-o", output, "-s", get("storage"),
                 "--use-sim-time", *topics],
            output="screen"))
    return actions


def generate_launch_description():
    share = get_package_share_directory(PACKAGE)
    return LaunchDescription([
        DeclareLaunchArgument("bag", description="input bag (directory or file) to play"),
        DeclareLaunchArgument("rate", default_value="1.0", description="playback rate"),
        DeclareLaunchArgument("loop", default_value="false", description="loop playback"),
        DeclareLaunchArgument("play_delay", default_value="5.0",
                              description="seconds to wait for the model before playing"),
        DeclareLaunchArgument("image_topic", default_value="/camera/image_raw",
                              description="image topic in the bag"),
        DeclareLaunchArgument("output_bag", default_value="",
                              description="record the tracker output here ('' = no)"),
        DeclareLaunchArgument("storage", default_value="sqlite3",
                              description="storage of the recorded bag: sqlite3 or mcap"),
        DeclareLaunchArgument("record_images", default_value="true",
                              description="also record the image topic (bag-eval numbers "
                              "frames by the images)"),
        DeclareLaunchArgument("record_extra", default_value="/utrack/ground_truth",
                              description="space-separated extra topics to record (the "
                              "ground truth written by utrack mot2bag)"),
        DeclareLaunchArgument("weights", default_value="", description="checkpoint .pt"),
        DeclareLaunchArgument("device", default_value="", description="cpu, cuda, cuda:N"),
        DeclareLaunchArgument("namespace", default_value="", description="node namespace"),
        DeclareLaunchArgument(
            "params_file", default_value=os.path.join(share, "config", "tracker.yaml"),
            description="parameter YAML with a 'utrack_tracker:' section"),
        DeclareLaunchArgument("use_rviz", default_value="true", description="start RViz"),
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(os.path.join(share, "launch", "tracker.launch.py")),
            launch_arguments={
                "image_topic": LaunchConfiguration("image_topic"),
                "weights": LaunchConfiguration("weights"),
                "device": LaunchConfiguration("device"),
                "namespace": LaunchConfiguration("namespace"),
                "params_file": LaunchConfiguration("params_file"),
                "use_rviz": LaunchConfiguration("use_rviz"),
                "use_sim_time": "true",
            }.items(),
        ),
        OpaqueFunction(function=_bag_processes),
    ])
