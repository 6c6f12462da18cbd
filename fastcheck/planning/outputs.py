"""The outputs a forward-mode rule's tangents are compared over.

A layer returns one array, or with ``outputs=k`` the first k elements of a
tuple (an LSTM step's ``next_h, next_c``); ``check_jvp`` compares their
tangents as one flat vector, each output raveled in C order and concatenated.
``OutputLayout`` keeps the shapes, turns a rule's result into that vector
(refusing, by name, one of the wrong shape, kind or finiteness) and a flat
position back into the output element it is (``out[2, 3]``, ``out1[0, 4]``).
"""

import numpy as np

from ..errors import GradientError
from .layout import as_numeric_array, first_nonfinite
from ..report.tangents import element_label


class OutputLayout:
    """k outputs of ``shapes`` (``several``: the layer has k > 1 outputs, or was
    told ``outputs=k``), their float ``dtypes``, flattened into ``size`` entries."""

    def __init__(self, shapes, dtypes=None, several=False):
        self.shapes = [tuple(shape) for shape in shapes]
        self.dtypes = list(dtypes) if dtypes else [np.dtype(np.float64)] * len(self.shapes)
        self.several = several
        sizes = [int(np.prod(shape, dtype=np.int64)) for shape in self.shapes]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.size = int(self.offsets[-1])

    @property
    def eps(self):
        """The machine epsilon of the coarsest output."""
        return max(float(np.finfo(d).eps) if d.kind == "f" else float(np.finfo(np.float64).eps)
                   for d in self.dtypes)

    @property
    def shape(self):
        """The output's shape, or for several a tuple of their shapes (for reports)."""
        return tuple(self.shapes) if self.several else self.shapes[0]

    def describe(self):
        """"an output of shape (4, 5)" or "2 outputs of shapes (3, 5), (3, 5)"."""
        if not self.several:
            return f"an output of shape {self.shapes[0]}"
        return (f"{len(self.shapes)} outputs of shapes "
                f"{', '.join(str(shape) for shape in self.shapes)}")

    def index(self, flat):
        """The output element at position ``flat`` of the flat vector: its index
        (with the output's number first, for several outputs)."""
        k = int(np.searchsorted(self.offsets, flat, side="right")) - 1
        shape = self.shapes[k]
        inner = np.unravel_index(int(flat - self.offsets[k]), shape) if shape else ()
        inner = tuple(int(i) for i in inner)
        return (k, *inner) if self.several else inner

    def label(self, index):
        return element_label(index, self.several)

    def flatten(self, items, what, dtypes=None):
        """The output tangents ``items`` (k array-likes) as one (size,) float64 vector;
        ``GradientError`` naming ``what`` (``jvp(tangents)[1]``) for one that is not
        numbers, has the wrong shape or is not finite. ``dtypes`` (a set) collects
        the dtypes seen, for the rounding a coarse rule carries."""
        parts = []
        for i, (item, shape) in enumerate(zip(items, self.shapes)):
            name = f"{what}[{i}]" if self.several else what
            array = as_numeric_array(item, name, error=GradientError)
            if array.shape != shape and not (shape == () and array.size == 1):
                which = f"output {i} of f" if self.several else "the output of f"
                raise GradientError(f"{name} has shape {array.shape} but {which} has shape "
                                    f"{shape}; an output tangent has its output's shape")
            bad = first_nonfinite(array)
            if bad is not None:
                raise GradientError(f"{name} is not finite at "
                                    f"{element_label((i, *bad) if self.several else bad, self.several)}")
            if dtypes is not None:
                dtypes.add(array.dtype)
            parts.append(array.astype(np.float64).ravel())
        return np.concatenate(parts) if len(parts) > 1 else parts[0]
