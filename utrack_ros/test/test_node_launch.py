"""The ROS 2 node end to end (launch_testing): images in, tracks out, reset, bad frames.

Runs only where ROS 2 is installed and the workspace is built and sourced
(``colcon build --packages-select utrack_msgs utrack_ros && source install/setup.bash``):

    colcon test --packages-select utrack_ros   # or: launch_test test/test_node_launch.py

Skipped elsewhere (this file's imports need rclpy, launch_testing and utrack_msgs).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
import unittest
from pathlib import Path

import pytest

rclpy = pytest.importorskip("rclpy")
pytest.importorskip("launch_testing")
pytest.importorskip("launch_ros")
pytest.importorskip("utrack_msgs")

import launch  # noqa: E402
import launch_testing.actions  # noqa: E402
import launch_testing.asserts  # noqa: E402
import launch_testing.markers  # noqa: E402
import numpy as np  # noqa: E402
from launch_ros.actions import Node  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402

from utrack_msgs.msg import OcclusionPointArray, TrackedObjectArray  # noqa: E402
from utrack_ros.data.mot import MOTSequence  # noqa: E402
from utrack_ros.resources import sample_sequence_path  # noqa: E402

NAMESPACE = "utrack_test"
PREFIX = f"/{NAMESPACE}/utrack_tracker"
PACKAGE = Path(__file__).resolve().parents[1]


@pytest.mark.launch_test
@launch_testing.markers.keep_alive
def generate_test_description():
    tracker = Node(
        package="utrack_ros",
        executable="tracker_node",
        name="utrack_tracker",
        namespace=NAMESPACE,
        parameters=[str(PACKAGE / "config" / "tracker.yaml"),
                    {"device": "cpu", "input_height": 320, "input_width": 416,
                     "log_period_s": 1.0}],
        remappings=[("image_raw", "/test_camera/image")],
        output="screen",
    )
    return (launch.LaunchDescription([tracker, launch_testing.actions.ReadyToTest()]),
            {"tracker": tracker})


def image_msg(frame: np.ndarray, stamp_ns: int, encoding: str = "bgr8") -> Image:
    msg = Image()
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp_ns, 1_000_000_000)
    msg.header.frame_id = "test_cam"
    msg.height, msg.width = frame.shape[:2]
    msg.encoding = encoding
    msg.step = frame.shape[1] * (frame.shape[2] if frame.ndim == 3 else 1) * frame.itemsize
    msg.data = frame.tobytes()
    return msg


class TestTrackerNode(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        rclpy.init()
        seq = MOTSequence(sample_sequence_path())
        cls.frames = [seq.frame(i) for i in range(1, 6)]
        seq.close()

    @classmethod
    def tearDownClass(cls):
        rclpy.shutdown()

    def setUp(self):
        self.node = rclpy.create_node("utrack_test_client")
        self.tracks: list[TrackedObjectArray] = []
        self.occlusions: list[OcclusionPointArray] = []
        self.debug: list[Image] = []
        qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self.node.create_subscription(TrackedObjectArray, f"{PREFIX}/tracks",
                                      self.tracks.append, qos)
        self.node.create_subscription(OcclusionPointArray, f"{PREFIX}/occlusions",
                                      self.occlusions.append, qos)
        self.node.create_subscription(Image, f"{PREFIX}/debug_image", self.debug.append, qos)
        self.pub = self.node.create_publisher(Image, "/test_camera/image", qos)

    def tearDown(self):
        self.node.destroy_node()

    def spin_until(self, condition, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            rclpy.spin_once(self.node, timeout_sec=0.1)
            if condition():
                return True
        return False

    def publish_frames(self, count: int, start_ns: int, timeout: float = 120.0) -> set[int]:
        """Publish ``count`` frames (waiting for each result); return their stamps."""
        stamps = set()
        for i in range(count):
            stamp = start_ns + i * 142_857_143
            stamps.add(stamp)
            before = len(self.tracks)
            # The model may still be loading: re-send until the node answers.
            deadline = time.monotonic() + timeout
            while len(self.tracks) == before and time.monotonic() < deadline:
                self.pub.publish(image_msg(self.frames[i % len(self.frames)], stamp))
                self.spin_until(lambda b=before: len(self.tracks) > b, 2.0)
            self.assertGreater(len(self.tracks), before, "no ~/tracks after an image")
        return stamps

    def test_tracks_occlusions_and_debug_image_follow_the_input(self, proc_output):
        stamps = self.publish_frames(4, 1_700_000_000_000_000_000)
        self.assertTrue(self.spin_until(lambda: self.occlusions and self.debug, 10.0))
        for msg in self.tracks:
            stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
            self.assertIn(stamp, stamps)
            self.assertEqual(msg.header.frame_id, "test_cam")
            ids = [o.track_id for o in msg.objects]
            self.assertEqual(ids, sorted(ids))
            self.assertTrue(all(o.x2 >= o.x1 and o.y2 >= o.y1 for o in msg.objects))
        self.assertEqual(self.occlusions[-1].header.frame_id, "test_cam")
        debug = self.debug[-1]
        self.assertEqual((debug.encoding, debug.width, debug.height), ("bgr8", 768, 576))
        proc_output.assertWaitFor("tracking people on /test_camera/image", timeout=30)

    def test_reset_service(self):
        client = self.node.create_client(Trigger, f"{PREFIX}/reset")
        self.assertTrue(client.wait_for_service(timeout_sec=60.0))
        future = client.call_async(Trigger.Request())
        self.assertTrue(self.spin_until(future.done, 30.0))
        self.assertTrue(future.result().success)
        self.publish_frames(1, 1_700_000_100_000_000_000)
        for obj in self.tracks[-1].objects:  # ids start again at 1 after a reset
            self.assertEqual(obj.state, obj.STATE_NEW)

    def test_a_bad_frame_is_logged_and_the_node_keeps_running(self, proc_output):
        bad = image_msg(np.zeros((4, 4), np.uint16), 1_700_000_200_000_000_000, "mono16")
        self.pub.publish(bad)
        proc_output.assertWaitFor("8-bit colour or mono", timeout=60)
        self.publish_frames(1, 1_700_000_300_000_000_000)


@launch_testing.post_shutdown_test()
class TestTrackerShutdown(unittest.TestCase):
    def test_exit_code(self, proc_info):
        launch_testing.asserts.assertExitCodes(proc_info)


def test_invalid_parameters_exit_with_a_clear_message():
    proc = subprocess.run(
        [sys.executable, "-m", "utrack_ros.ros.node", "--ros-args",
         "-p", "device:=tpu", "-p", "qos_reliability:=sometimes"],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "device must be cpu, cuda or cuda:N" in proc.stderr + proc.stdout


def _load_launch(name: str):
    spec = importlib.util.spec_from_file_location(name, PACKAGE / "launch" / name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.generate_launch_description()


@pytest.mark.parametrize("name, required", [
    ("tracker.launch.py", {"image_topic", "weights", "device", "namespace", "params_file",
                           "use_rviz", "use_sim_time"}),
    ("bag_replay.launch.py", {"bag", "rate", "image_topic", "output_bag", "use_rviz"}),
])
def test_launch_files_declare_their_arguments(name, required):
    pytest.importorskip("ament_index_python")
    from ament_index_python.packages import PackageNotFoundError

    try:
        description = _load_launch(name)
    except PackageNotFoundError:
        pytest.skip("utrack_ros is not installed in the sourced workspace")
    declared = {a.name for a in description.get_launch_arguments()}
    assert required <= declared
