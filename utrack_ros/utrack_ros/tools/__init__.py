"""Sub-commands of the ``utrack`` command line (see :mod:`utrack_ros.cli`)."""
