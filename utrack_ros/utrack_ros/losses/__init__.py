"""OUTrack training losses (torch).

``focal_loss`` (Eq. 11-12), ``reg_l1_loss`` (FairMOT L1, Eq. 13 style),
``occlusion_loss`` (Eq. 14), ``unsupervised_reid_loss`` (Eq. 1-7),
``SupervisedIdentityLoss`` and ``UncertaintyWeighting`` (FairMOT baselines) and
``OUTrackLoss``, the combined training objective (Eq. 8 for the Re-ID term), and
``CenterTrackLoss``, the objective of the CenterTrack-style variant (OTrack_ct).
"""

from .centertrack import CenterTrackLoss
from .combined import OUTrackLoss
from .focal import focal_loss, occlusion_loss, occlusion_loss_terms, reg_l1_loss
from .reid import assignment_matrix, unsupervised_reid_loss
from .supervised import SupervisedIdentityLoss, UncertaintyWeighting

__all__ = [
    "CenterTrackLoss",
    "OUTrackLoss",
    "SupervisedIdentityLoss",
    "UncertaintyWeighting",
    "assignment_matrix",
    "focal_loss",
    "occlusion_loss",
    "occlusion_loss_terms",
    "reg_l1_loss",
    "unsupervised_reid_loss",
]
