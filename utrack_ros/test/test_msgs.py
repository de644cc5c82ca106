"""utrack_msgs: the .msg files parse with the official rosidl parser, the package builds
them all, the typestore copy matches them, and every message round-trips through CDR."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from rosbags.typesys import get_types_from_msg

from utrack_ros.ros.typestore import UTRACK_MSGS, VISION_MSGS, get_typestore, msg_types

REPO = Path(__file__).resolve().parents[2]
MSGS_PKG = REPO / "utrack_msgs"
MSG_FILES = sorted((MSGS_PKG / "msg").glob("*.msg"))
NAMES = ["OcclusionPoint", "OcclusionPointArray", "TrackedObject", "TrackedObjectArray"]


def test_the_four_messages_exist():
    assert [p.stem for p in MSG_FILES] == NAMES


def test_cmakelists_generates_every_message_with_its_dependencies():
    text = (MSGS_PKG / "CMakeLists.txt").read_text()
    listed = re.findall(r'"msg/(\w+)\.msg"', text)
    assert sorted(listed) == NAMES
    assert "rosidl_generate_interfaces(" in text
    assert re.search(r"DEPENDENCIES\s+std_msgs", text)
    assert "ament_export_dependencies(rosidl_default_runtime)" in text


def test_package_xml_is_an_interface_package():
    root = ET.parse(MSGS_PKG / "package.xml").getroot()
    assert root.tag == "package" and root.get("format") == "3"
    assert root.findtext("name") == "utrack_msgs"
    tags = {(child.tag, (child.text or "").strip()) for child in root}
    for needed in [("buildtool_depend", "ament_cmake"),
                   ("buildtool_depend", "rosidl_default_generators"),
                   ("depend", "std_msgs"), ("exec_depend", "rosidl_default_runtime"),
                   ("member_of_group", "rosidl_interface_packages")]:
        assert needed in tags, needed
    assert root.find("export/build_type").text == "ament_cmake"


def test_every_field_is_documented():
    """Each field carries a comment or opens/belongs to a block that a comment opens."""
    for path in MSG_FILES:
        lines = path.read_text().splitlines()
        for i, line in enumerate(lines):
            if not line.strip() or line.lstrip().startswith("#") or "#" in line:
                continue
            j = i - 1
            while j >= 0 and lines[j].strip() and not lines[j].lstrip().startswith("#"):
                j -= 1  # other fields of the same block
            documented = j >= 0 and lines[j].lstrip().startswith("#")
            assert documented, f"{path.name}: undocumented line {line!r}"


@pytest.mark.parametrize("path", MSG_FILES, ids=lambda p: p.stem)
def test_typestore_copy_matches_the_msg_file(path):
    name = f"utrack_msgs/msg/{path.stem}"
    assert get_types_from_msg(path.read_text(), name) == get_types_from_msg(
        UTRACK_MSGS[name], name)


def test_rosidl_translate_accepts_the_messages(tmp_path):
    """The official ROS 2 parser (Debian python3-rosidl + rosidl-tools):

        rosidl translate --to idl -o OUT utrack_msgs utrack_msgs:msg/<Name>.msg ...
    """
    if shutil.which("rosidl") is None:
        pytest.skip("rosidl not on PATH (apt-get install python3-rosidl rosidl-tools "
                    "python3-catkin-pkg python3-empy)")
    cmd = ["rosidl", "translate", "--to", "idl", "-o", str(tmp_path), "utrack_msgs",
           *[f"{MSGS_PKG}:msg/{p.name}" for p in MSG_FILES]]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    idl = {p.stem: p.read_text() for p in (tmp_path / "msg").glob("*.idl")}
    assert sorted(idl) == NAMES
    assert "const uint8 STATE_REFOUND = 2;" in idl["TrackedObject"]
    assert "uint32 track_id;" in idl["TrackedObject"]
    assert "sequence<utrack_msgs::msg::TrackedObject> objects;" in idl["TrackedObjectArray"]
    assert "std_msgs::msg::Header header;" in idl["OcclusionPointArray"]
    # And the generated IDL parses with rosidl_parser (the generators' front end).
    parse = ("import sys; from rosidl_parser.parser import parse_idl_file; "
             "from rosidl_parser.definition import IdlLocator, Message\n"
             "for p in sys.argv[1:]:\n"
             "    f = parse_idl_file(IdlLocator(p.rsplit('/msg/', 1)[0], "
             "'msg/' + p.rsplit('/', 1)[1]))\n"
             "    [m] = f.content.get_elements_of_type(Message)\n"
             "    print(m.structure.namespaced_type.name, len(m.structure.members))")
    system_python = shutil.which("python3", path="/usr/bin") or sys.executable
    proc = subprocess.run([system_python, "-c", parse, *map(str, sorted(
        (tmp_path / "msg").glob("*.idl")))], capture_output=True, text=True, timeout=120)
    if "No module named 'rosidl_parser'" in proc.stderr:
        pytest.skip("rosidl_parser is not importable by the system python")
    assert proc.returncode == 0, proc.stderr
    members = dict(line.split() for line in proc.stdout.splitlines())
    assert members == {"OcclusionPoint": "3", "OcclusionPointArray": "2",
                       "TrackedObject": "9", "TrackedObjectArray": "2"}


@pytest.mark.parametrize("distro", ["humble", "jazzy"])
def test_cdr_roundtrip_of_all_four_messages(distro):
    store = get_typestore(distro)
    T = msg_types(store)
    header = T.Header(stamp=T.Time(sec=1_700_000_000, nanosec=42), frame_id="camera")
    obj = T.TrackedObject(track_id=4_000_000_000, state=T.TrackedObject.STATE_REFOUND,
                          score=0.75, x1=-2.5, y1=3.25, x2=100.5, y2=200.0, age=12,
                          frames_since_detection=3)
    point = T.OcclusionPoint(x=12.5, y=-1.0, score=0.5)
    messages = [
        obj,
        T.TrackedObjectArray(header=header, objects=[obj, obj]),
        point,
        T.OcclusionPointArray(header=header, points=[point]),
        T.TrackedObjectArray(header=header, objects=[]),
    ]
    for msg in messages:
        typ = msg.__msgtype__
        raw = store.serialize_cdr(msg, typ)
        back = store.deserialize_cdr(raw, typ)
        assert back == msg, typ
        # Little-endian CDR encapsulation header, as rmw uses.
        assert bytes(raw[:2]) == b"\x00\x01"
    raw = store.serialize_cdr(obj, obj.__msgtype__)
    # encapsulation 4 + track_id 4 + state 1 + pad 3 + 5 float32 20 + 2 uint32 8 = 40.
    assert len(raw) == 40
    assert (T.TrackedObject.STATE_NEW, T.TrackedObject.STATE_TRACKED,
            T.TrackedObject.STATE_REFOUND) == (0, 1, 2)


def test_type_hashes_are_stable_across_distros():
    """Humble and Jazzy stores produce the same definitions, hence the same RIHS01 hashes
    that Jazzy's rosbag2 records (a different hash means the layout changed)."""
    humble, jazzy = get_typestore("humble"), get_typestore("jazzy")
    for name in [*UTRACK_MSGS, *VISION_MSGS]:
        assert humble.hash_rihs01(name) == jazzy.hash_rihs01(name)
        assert humble.hash_rihs01(name).startswith("RIHS01_")
    msgdef, _ = jazzy.generate_msgdef("utrack_msgs/msg/TrackedObjectArray", ros_version=2)
    assert "MSG: utrack_msgs/TrackedObject" in msgdef and "MSG: std_msgs/Header" in msgdef


def test_vision_msgs_roundtrip():
    store = get_typestore()
    T = msg_types(store)
    det = T.Detection2D(
        header=T.Header(stamp=T.Time(sec=1, nanosec=2), frame_id="c"),
        results=[T.ObjectHypothesisWithPose(
            hypothesis=T.ObjectHypothesis(class_id="person", score=0.5),
            pose=T.PoseWithCovariance(
                pose=T.Pose(position=T.Point(x=0.0, y=0.0, z=0.0),
                            orientation=T.Quaternion(x=0.0, y=0.0, z=0.0, w=1.0)),
                covariance=np.arange(36, dtype=np.float64)))],
        bbox=T.BoundingBox2D(center=T.Pose2D(position=T.Point2D(x=1.5, y=2.5), theta=0.0),
                             size_x=3.0, size_y=4.0),
        id="17",
    )
    msg = T.Detection2DArray(header=det.header, detections=[det])
    back = store.deserialize_cdr(store.serialize_cdr(msg, msg.__msgtype__), msg.__msgtype__)
    assert back.detections[0].id == "17"
    assert back.detections[0].bbox.center.position.y == 2.5
    np.testing.assert_array_equal(back.detections[0].results[0].pose.covariance,
                                  np.arange(36))


def test_unknown_distro():
    with pytest.raises(ValueError, match="unknown ROS distribution 'noetic'"):
        get_typestore("noetic")
