"""Files shipped inside the package: the default weights and the PETS09-S2L1 sample."""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent

#: The shipped default model (mobilenetv2, trained on PETS09-S2L1's first half).
DEFAULT_WEIGHTS = PACKAGE_DIR / "weights" / "outrack_mobilenetv2_pets09.pt"

#: The shipped sample sequence: PETS09-S2L1 as a video + MOT15 ground truth.
SAMPLE_SEQUENCE = PACKAGE_DIR / "samples" / "PETS09-S2L1"


def default_weights_path() -> Path:
    """Path of the shipped default checkpoint; a clear error when it is missing."""
    if not DEFAULT_WEIGHTS.is_file():
        raise FileNotFoundError(
            f"the default weights {DEFAULT_WEIGHTS} are missing from this install; "
            "reinstall utrack_ros or pass a checkpoint path explicitly"
        )
    return DEFAULT_WEIGHTS


def sample_sequence_path() -> Path:
    """Path of the shipped PETS09-S2L1 sample (seqinfo.ini, vtest.avi, gt/gt.txt)."""
    return SAMPLE_SEQUENCE
