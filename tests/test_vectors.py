"""The vector checks at their edges: the fast path must refuse and accept exactly what the
exact checks do, including where squaring a value overflows or underflows float32."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from redvec.errors import VectorError
from redvec.schema import VectorField
from redvec.vectors import check_vector, from_bytes, query_blob, to_bytes

DIM = 8


def field(distance: str = "COSINE", datatype: str = "FLOAT32") -> VectorField:
    return VectorField("v", dims=DIM, distance=distance, datatype=datatype)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("where", [0, DIM - 1])
def test_nan_and_infinity_are_refused_anywhere(bad: float, where: int) -> None:
    vec = np.ones(DIM, dtype=np.float32)
    vec[where] = bad
    for f in (field("COSINE"), field("L2"), field("IP")):
        with pytest.raises(VectorError, match="contains NaN or infinity"):
            check_vector(vec, f)


def test_values_whose_squares_overflow_are_still_finite_vectors() -> None:
    vec = np.full(DIM, 3e30, dtype=np.float32)  # finite, but 3e30**2 is inf in float32
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and no RuntimeWarning reaches the caller
        assert check_vector(vec, field()) is vec
    with pytest.raises(VectorError, match="contains NaN or infinity"):
        check_vector([1e39] + [0.0] * (DIM - 1), field())  # beyond float32 becomes inf


def test_tiny_values_are_a_direction_but_zeros_are_not() -> None:
    tiny = np.zeros(DIM, dtype=np.float32)
    tiny[2] = 1e-30  # its square underflows to 0, but the vector has a direction
    assert check_vector(tiny, field("COSINE")) is tiny
    with pytest.raises(VectorError, match="is all zeros, which has no direction under COSINE"):
        check_vector(np.zeros(DIM), field("COSINE"))
    assert not check_vector(np.zeros(DIM), field("L2")).any()  # L2 and IP take zeros
    assert not check_vector(np.zeros(DIM), field("IP")).any()


def test_float16_overflow_and_shapes() -> None:
    with pytest.raises(VectorError, match="overflows FLOAT16"):
        check_vector([70000.0] + [1.0] * (DIM - 1), field(datatype="FLOAT16"))
    with pytest.raises(VectorError, match="has dimension 3, expected 8"):
        check_vector([1.0, 2.0, 3.0], field())
    with pytest.raises(VectorError, match="must be one-dimensional"):
        check_vector(np.ones((2, DIM)), field())
    with pytest.raises(VectorError, match="must be a list of numbers"):
        check_vector(["a"] * DIM, field())


@pytest.mark.parametrize("datatype", ["FLOAT32", "FLOAT64", "FLOAT16", "BFLOAT16"])
def test_bytes_round_trip(datatype: str) -> None:
    f = field(datatype=datatype)
    vec = check_vector(np.linspace(-2, 2, DIM), f)
    back = from_bytes(to_bytes(vec, f), f)
    assert np.allclose(back, vec, rtol=1e-2)


def query_inputs() -> list[object]:
    base = np.linspace(-1.5, 2.5, DIM).astype(np.float32)
    return [
        base,  # the fast path
        np.linspace(-1.5, 2.5, DIM * 2).astype(np.float32)[::2],  # strided
        base.astype(">f4"),  # big-endian
        base.astype(np.float64),
        base.tolist(),
        [1, 2, 3, 4, 5, 6, 7, 8],  # integers
        [1e-46] * (DIM - 1) + [1.0],  # values that round to zero in float32
        np.full(DIM, 1e38, dtype=np.float32),  # finite, its length (2.8e38) near float32's limit
        np.array([1e-45] + [0.0] * (DIM - 1), dtype=np.float32),  # one subnormal: a direction
    ]


@pytest.mark.parametrize("value", query_inputs(), ids=lambda v: type(v).__name__)
@pytest.mark.parametrize("distance", ["COSINE", "L2"])
def test_query_blob_packs_what_check_and_to_bytes_pack(value: object, distance: str) -> None:
    f = field(distance)
    assert query_blob(value, f) == to_bytes(check_vector(value, f), f)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_query_blob_refuses_what_check_vector_refuses(bad: float) -> None:
    for where in (0, DIM // 2, DIM - 1):
        vec = np.ones(DIM, dtype=np.float32)
        vec[where] = bad
        with pytest.raises(VectorError, match="query vector for field 'v' contains NaN"):
            query_blob(vec, field("L2"))
    vec = np.ones(DIM, dtype=np.float32)
    vec[[1, 2]] = [np.inf, -np.inf]  # would cancel in a sloppy sum
    with pytest.raises(VectorError, match="contains NaN or infinity"):
        query_blob(vec, field("IP"))
    for zero in (np.zeros(DIM, dtype=np.float32), -np.zeros(DIM, dtype=np.float32)):
        with pytest.raises(VectorError, match="is all zeros"):
            query_blob(zero, field("COSINE"))
        assert query_blob(zero, field("L2")) == zero.tobytes()
    with pytest.raises(VectorError, match="has dimension 9, expected 8"):
        query_blob(np.ones(DIM + 1, dtype=np.float32), field())
    with pytest.raises(VectorError, match="contains NaN or infinity"):
        query_blob([1e39] + [1.0] * (DIM - 1), field("L2"))  # beyond float32 in a list
    with pytest.raises(VectorError, match="must be a list of numbers"):
        query_blob(["a"] * DIM, field())
    with pytest.raises(VectorError, match="must be one-dimensional"):
        query_blob([[1.0] * DIM] * DIM, field())
    with pytest.raises(VectorError, match="is all zeros"):
        query_blob([1e-46] * DIM, field())  # every value rounds to zero


@pytest.mark.parametrize("distance", ["COSINE", "L2"])
def test_query_blob_agrees_with_check_vector_on_random_bit_patterns(distance: str) -> None:
    """Every float32 bit pattern: normal, subnormal, zero of either sign, inf, NaN."""
    rng = np.random.default_rng(7)
    f = field(distance)
    special = np.array(
        [0x7F800000, 0xFF800000, 0x7FC00000, 0x7F800001, 0x80000000, 0, 1], dtype=np.uint32
    )
    for trial in range(3000):
        words = rng.integers(0, 2**32, size=DIM, dtype=np.uint32)
        if trial % 3 == 0:  # mostly-zero vectors with rare specials
            words[:] = 0
            words[rng.integers(0, DIM)] = special[rng.integers(0, len(special))]
        elif trial % 3 == 1:  # ordinary magnitudes, sometimes one special value
            words = (rng.normal(size=DIM).astype(np.float32)).view(np.uint32)
            if trial % 2:
                words[rng.integers(0, DIM)] = special[rng.integers(0, len(special))]
        vec = words.view(np.float32)
        try:
            want: bytes | str = to_bytes(check_vector(vec, f, what="query vector"), f)
        except VectorError as e:
            want = str(e)
        for given in (vec, vec.tolist()):  # an array, and what a JSON body decodes to
            try:
                got: bytes | str = query_blob(given, f)
            except VectorError as e:
                got = str(e)
            assert got == want, (trial, words, type(given))


@pytest.mark.parametrize("datatype", ["FLOAT32", "BFLOAT16"])
def test_a_cosine_vector_whose_length_overflows_float32_is_refused(datatype: str) -> None:
    """[3e38, 3e38, 0, 0] was accepted and got distance 1.0 to everything."""
    f = VectorField("v", dims=4, distance="COSINE", datatype=datatype)
    big = [3e38, 3e38, 0.0, 0.0]
    for value in (big, np.asarray(big, dtype=np.float32)):
        with pytest.raises(VectorError, match="overflows float32"):
            query_blob(value, f)
        with pytest.raises(VectorError, match="overflows float32"):
            check_vector(value, f)
    # Long but within float32 (2.8e38), as measured on the server: accepted.
    assert len(query_blob([2e38, 2e38, 0.0, 0.0], f)) > 0
    assert len(query_blob([3e38, 3e38, 0.0, 0.0], VectorField("v", dims=4, distance="L2")))


def test_cosine_length_fast_check_agrees_with_the_exact_one() -> None:
    """The integer fast path passes only vectors the exact check passes; else it defers."""
    from redvec.vectors import _cosine_length_safe

    rng = np.random.default_rng(5)
    f = VectorField("v", dims=8, distance="COSINE")
    passed = 0
    for _ in range(3000):
        scale = 2.0 ** float(rng.integers(-120, 128))
        with np.errstate(over="ignore"):
            vec = (rng.normal(size=8) * scale).astype(np.float32)
        if not np.isfinite(vec).all() or not vec.any():
            continue
        bits = int.from_bytes(vec.tobytes(), "little")
        try:
            check_vector(vec, f)
            exact_ok = True
        except VectorError:
            exact_ok = False
        if _cosine_length_safe(bits, 8):
            passed += 1
            assert exact_ok, vec
    assert passed > 1000


def test_an_integer_too_large_for_any_float_is_refused_with_the_reason() -> None:
    """A vector holding a Python integer of hundreds of digits escaped as numpy's bare
    OverflowError ("int too large to convert to float"), from writes and searches alike."""
    huge = [10**400] + [1] * (DIM - 1)
    with pytest.raises(VectorError, match="has a value beyond float32"):
        check_vector(huge, field())
    with pytest.raises(VectorError, match="has a value beyond float32"):
        query_blob(huge, field("COSINE"))


def test_a_list_of_python_floats_is_read_exactly_as_float32_would_round_it() -> None:
    values = np.random.default_rng(3).normal(size=DIM) * 1e3
    listed = [float(x) for x in values]
    assert check_vector(listed, field()).tobytes() == values.astype(np.float32).tobytes()
    edge = [float(np.finfo(np.float32).max)] + [0.0] * (DIM - 1)  # the largest float32
    assert check_vector(edge, field("L2"))[0] == np.finfo(np.float32).max
