"""Reading pickled dataset files without running code from them.

:func:`load` unpickles through an unpickler whose ``find_class`` admits only the globals that
numpy arrays, scipy sparse matrices and builtin containers are made of (the Planetoid raw
files hold nothing else). A file naming any other global (``os.system``, ``builtins.eval``,
...) is refused before that global is imported or called; a truncated or damaged file raises a
ValueError naming the file instead of pickle's bare ``UnpicklingError`` / ``EOFError``.
"""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path
from typing import Any

# (module, name) pairs a dataset pickle may reference. numpy's array reconstruction lives in
# numpy.core before numpy 2 and numpy._core after; scipy's matrices moved from scipy.sparse.csr
# to scipy.sparse._csr; Python 2 pickles name builtins "__builtin__"; protocol-2 pickles
# written by Python 3 encode bytes with _codecs.encode (as torch's weights_only loader admits).
_CONTAINERS = frozenset({"list", "dict", "tuple", "set", "frozenset"})
_ALLOWED: dict[str, frozenset[str]] = {
    "numpy": frozenset({"dtype", "ndarray"}),
    "numpy.core.multiarray": frozenset({"_reconstruct"}),
    "numpy._core.multiarray": frozenset({"_reconstruct"}),
    "numpy.core.numeric": frozenset({"_frombuffer"}),  # protocol 5 arrays
    "numpy._core.numeric": frozenset({"_frombuffer"}),
    "scipy.sparse.csr": frozenset({"csr_matrix"}),
    "scipy.sparse._csr": frozenset({"csr_matrix"}),
    "collections": frozenset({"defaultdict"}),
    "_codecs": frozenset({"encode"}),
    "builtins": _CONTAINERS,
    "__builtin__": _CONTAINERS,
}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if name not in _ALLOWED.get(module, ()):
            raise _Refused(f"{module}.{name}")
        if module == "__builtin__":
            module = "builtins"
        return super().find_class(module, name)


class _Refused(Exception):
    """A global outside :data:`_ALLOWED` (carries its dotted name)."""


def load(path: str | Path, encoding: str = "latin1") -> Any:
    """The object pickled in ``path``, built only from numpy / scipy.sparse / builtin types.

    ``encoding`` decodes Python 2 ``str`` objects (``"latin1"`` reads numpy arrays pickled by
    Python 2, as the Planetoid files are).

    Raises:
        ValueError: the file names a global outside the allowed set (nothing from it is run),
            or it is truncated or damaged; the message names ``path``.
    """
    path = Path(path)
    with open(path, "rb") as f, warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # numpy.core's rename notice
        try:
            return _RestrictedUnpickler(f, encoding=encoding).load()
        except _Refused as err:
            raise ValueError(
                f"{path}: refused to unpickle, the file references {err} (only numpy arrays, "
                "scipy sparse matrices and builtin containers are allowed)"
            ) from None
        except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, IndexError,
                KeyError, TypeError, ValueError, MemoryError, OverflowError) as err:
            raise ValueError(
                f"{path}: truncated or damaged pickle ({type(err).__name__}: {err})"
            ) from None
