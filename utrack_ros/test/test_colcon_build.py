"""The ament_python package builds with colcon and installs what ROS users need.

Runs where colcon is installed (``pip install colcon-common-extensions``; no ROS needed for
the ament_python package). The ament_cmake ``utrack_msgs`` needs a ROS install to build.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_colcon_builds_and_installs_launch_config_entry_points(tmp_path):
    beside_python = Path(sys.executable).parent / "colcon"  # a venv's bin/ may not be on PATH
    colcon = str(beside_python) if beside_python.is_file() else shutil.which("colcon")
    if colcon is None:
        pytest.skip("colcon not installed (pip install colcon-common-extensions)")
    ignore = shutil.ignore_patterns("*.egg-info", "__pycache__", "build", "install", "log")
    for package in ("utrack_ros", "utrack_msgs"):
        shutil.copytree(REPO / package, tmp_path / "src" / package, ignore=ignore)
    proc = subprocess.run(
        [colcon, "build", "--packages-ignore", "utrack_msgs", "--event-handlers",
         "console_direct-"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    prefix = tmp_path / "install" / "utrack_ros"
    assert (prefix / "lib" / "utrack_ros" / "tracker_node").is_file()  # ros2 run target
    share = prefix / "share" / "utrack_ros"
    assert (share / "package.xml").is_file()
    assert (share / "launch" / "tracker.launch.py").is_file()
    assert (share / "launch" / "bag_replay.launch.py").is_file()
    assert (share / "config" / "tracker.yaml").is_file()
    assert (share / "config" / "utrack.rviz").is_file()
    index = prefix / "share" / "ament_index" / "resource_index" / "packages" / "utrack_ros"
    assert index.is_file()
    site = list(prefix.glob("lib/python3*/site-packages/utrack_ros"))
    assert site, "python package not installed"
    assert (site[0] / "samples" / "PETS09-S2L1" / "vtest.avi").is_file()
    assert (site[0] / "samples" / "PETS09-S2L1" / "gt" / "gt.txt").is_file()
    assert (site[0] / "weights" / "outrack_mobilenetv2_pets09.pt").is_file()  # default model
