"""Training targets (numpy only): CenterNet/FairMOT detection and OUTrack occlusion.

``occlusion_centers`` implements Eq. (9); ``build_targets`` renders the detection
heatmap/regression targets and the occlusion heatmap (Eq. 10) and offsets (Eq. 13);
``render_previous_heatmap`` / ``tracking_targets`` are the CenterTrack-variant (OTrack_ct)
previous-frame heatmap and tracking-offset targets.
"""

from .centernet import build_targets, draw_gaussian, gaussian_radius
from .occlusion import occlusion_centers
from .tracking import render_previous_heatmap, tracking_targets

__all__ = [
    "build_targets",
    "draw_gaussian",
    "gaussian_radius",
    "occlusion_centers",
    "render_previous_heatmap",
    "tracking_targets",
]
