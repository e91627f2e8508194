"""``sparsegnn.distill``: knowledge distillation from a frozen teacher to a cheap student.

- :class:`DistillLoss` (``base.py``): the one base class; what a loss is given
  (:class:`DistillBatch`: both models' :class:`Outputs` on the batch's rows, the graph, the CE).
- One file per loss, with the papers' defaults: :class:`LogitKD` (``kd.py``, Hinton et al.),
  :class:`GLNN` (``glnn.py``, Zhang et al.), :class:`LSP` (``lsp.py``, Yang et al.),
  :class:`GSP` and :class:`GCRD` (``gsp.py``, ``gcrd.py``, Joshi et al.); the kernels LSP and
  GSP share in ``kernels.py``.
- :class:`TeacherCache` (``cache.py``): the teacher's outputs, computed once, in batches.
- :class:`Distillation`, :func:`distill`, :func:`fit_distilled` (``method.py``): a method of
  the one training loop, and the recipe-driven run of a student.
- :func:`load_teacher` (``teacher.py``): a teacher from a checkpoint of the training loop.
- :func:`choose_on_validation`, :func:`grid_points`, :data:`KD_GRID` (``tune.py``): a loss's
  settings chosen on validation accuracy.
"""

from .base import DistillBatch, DistillLoss, Outputs
from .cache import TeacherCache
from .gcrd import GCRD
from .glnn import GLNN
from .gsp import GSP
from .kd import LogitKD
from .kernels import KERNELS
from .lsp import LSP
from .method import LOSSES, Distillation, build_losses, distill, fit_distilled, parse_losses
from .teacher import load_teacher
from .tune import KD_GRID, GridChoice, choose_on_validation, grid_points

__all__ = [
    "GCRD",
    "GLNN",
    "GSP",
    "KD_GRID",
    "KERNELS",
    "LOSSES",
    "LSP",
    "DistillBatch",
    "DistillLoss",
    "Distillation",
    "GridChoice",
    "LogitKD",
    "Outputs",
    "TeacherCache",
    "build_losses",
    "choose_on_validation",
    "distill",
    "fit_distilled",
    "grid_points",
    "load_teacher",
    "parse_losses",
]
