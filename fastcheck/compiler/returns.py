"""What generated trampolines call at run time: reduce a cost's value to a scalar."""

from numba.core import types
from numba.core.errors import TypingError
from numba.extending import overload

RETURN_RULE = ("the cost must return a number, a 0-d or (1, 1) array, or a tuple whose "
               "first element is one of those")


def to_cost(value):
    """The cost as a scalar: the first element of a tuple, the one element of an array.

    The Python reference of the compiled overload below; ``float(to_cost(v))``
    is what the compiled cost returns for ``v``.
    """
    if isinstance(value, tuple):
        return to_cost(value[0])
    if hasattr(value, "shape"):
        if value.size != 1:
            raise ValueError(f"{RETURN_RULE}; got an array of shape {value.shape}")
        return value.item()
    return value


@overload(to_cost, jit_options={"fastmath": False})
def _to_cost(value):
    if isinstance(value, types.BaseTuple) and len(value) > 0:
        return lambda value: to_cost(value[0])
    if isinstance(value, types.Array):
        def reduce_array(value):
            if value.size != 1:
                raise ValueError("the cost returned an array of more than one element; "
                                 "it must return a 0-d or (1, 1) array")
            return value.item()
        return reduce_array
    if isinstance(value, (types.Number, types.Boolean)):
        return lambda value: value
    raise TypingError(f"{RETURN_RULE}; it returns {value}")
