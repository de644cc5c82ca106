"""ament_python package for utrack_ros; also a plain pip package (no ROS needed).

    pip install -e 'utrack_ros[test]'     # training, offline tracking, eval, bag tools, tests
    colcon build --packages-select utrack_ros utrack_msgs   # on a ROS 2 machine
"""

from glob import glob

from setuptools import find_packages, setup

package_name = "utrack_ros"

setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(exclude=["test", "test.*"]),
    package_data={
        package_name: [
            "weights/*.pt",
            "weights/*.md",
            "samples/*/seqinfo.ini",
            "samples/*/*.avi",
            "samples/*/gt/gt.txt",
            "samples/*/SOURCES.md",
            "configs/*.yaml",
        ]
    },
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + package_name]),
        ("share/" + package_name, ["package.xml"]),
        ("share/" + package_name + "/launch", glob("launch/*.launch.py")),
        ("share/" + package_name + "/config", glob("config/*.yaml") + glob("config/*.rviz")),
    ],
    python_requires=">=3.10",
    install_requires=[
        "numpy>=1.24",
        "scipy>=1.10",
        "opencv-python-headless>=4.8",
        "torch>=2.1",
        "filterpy>=1.4.5",
        "lap>=0.5.12",
        "PyYAML>=6.0",
        "tqdm>=4.60",
        "rosbags>=0.10",
        "trackeval>=1.3",
        "motmetrics>=1.4",
    ],
    extras_require={
        # ONNX export and its check against PyTorch.
        "onnx": ["onnx>=1.15", "onnxruntime>=1.17"],
        "test": [
            "pytest>=7",
            "ruff>=0.5",
            "onnx>=1.15",
            "onnxruntime>=1.17",
            "colcon-common-extensions>=0.3",
        ],
    },
    zip_safe=True,
    maintainer="utrack_ros developers",
    maintainer_email="utrack-ros@users.noreply.github.com",
    description="OUTrack people tracking for ROS 2: joint detector with unsupervised Re-ID "
    "and occlusion-centre refinding.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "utrack = utrack_ros.cli:main",
            "tracker_node = utrack_ros.ros.node:main",
        ],
    },
)
