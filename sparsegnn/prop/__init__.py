"""``sparsegnn.prop``: graph-augmented MLPs built on precomputed propagation.

:func:`sign_features` / :class:`SIGN` (Rossi et al.), :class:`LabelPropagation` and
:class:`CorrectAndSmooth` (Huang et al.). SGC is :class:`sparsegnn.nn.SGConv` with ``cached=True``.
"""

from .label_prop import CorrectAndSmooth, LabelPropagation, propagation_graph
from .sign import OPERATORS, SIGN, sign_features, triangle_graph

__all__ = [
    "OPERATORS",
    "SIGN",
    "CorrectAndSmooth",
    "LabelPropagation",
    "propagation_graph",
    "sign_features",
    "triangle_graph",
]
