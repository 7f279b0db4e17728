"""Reading ANN datasets, and the clear errors for broken ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from redvec.bench.datasets import clustered, load_dataset, read_vecs
from redvec.errors import ConfigError
from redvec.exact import exact_knn

from ..conftest import SHARED_DATA


def write_vecs(path: Path, rows: np.ndarray, dtype: str) -> None:
    with path.open("wb") as f:
        for row in rows:
            np.int32(len(row)).astype("<i4").tofile(f)
            np.asarray(row, dtype=dtype).tofile(f)


@pytest.fixture()
def texmex(tmp_path: Path) -> Path:
    base = clustered(500, 8, seed=1)
    queries = clustered(20, 8, seed=2)
    truth, _ = exact_knn(base, queries, 50, "L2")
    write_vecs(tmp_path / "toy_base.fvecs", base, "<f4")
    write_vecs(tmp_path / "toy_query.fvecs", queries, "<f4")
    write_vecs(tmp_path / "toy_groundtruth.ivecs", truth, "<i4")
    return tmp_path


def test_fvecs_ivecs_round_trip(texmex: Path) -> None:
    data = load_dataset(texmex, k=10)
    assert data.base.shape == (500, 8) and data.queries.shape == (20, 8)
    assert data.metric == "L2" and data.ground_truth == "file"
    np.testing.assert_array_equal(data.base, clustered(500, 8, seed=1))


def test_missing_ground_truth_is_computed(texmex: Path) -> None:
    expected = load_dataset(texmex, k=10).neighbors[:, :10]
    (texmex / "toy_groundtruth.ivecs").unlink()
    data = load_dataset(texmex, k=10)
    assert data.ground_truth == "computed"
    np.testing.assert_array_equal(data.neighbors[:, :10], expected)


def test_truncated_file_is_named(texmex: Path) -> None:
    path = texmex / "toy_base.fvecs"
    path.write_bytes(path.read_bytes()[:-7])
    with pytest.raises(ConfigError, match=r"toy_base.fvecs: truncated: .* 8-d records"):
        load_dataset(texmex)


def test_records_with_another_dimension_are_named(tmp_path: Path) -> None:
    path = tmp_path / "mixed.fvecs"
    with path.open("wb") as f:
        for d in (4, 4, 6):
            np.int32(d).tofile(f)
            np.zeros(4, dtype="<f4").tofile(f)  # same byte length, wrong header
    with pytest.raises(ConfigError, match=r"record 2 .* dimension 6, but the first record has 4"):
        read_vecs(path, "<f4")


def test_queries_of_another_dimension(texmex: Path) -> None:
    write_vecs(texmex / "toy_query.fvecs", clustered(20, 9, seed=2), "<f4")
    with pytest.raises(ConfigError, match="base vectors have dimension 8 but queries have 9"):
        load_dataset(texmex)


def test_ground_truth_too_short(texmex: Path) -> None:
    with pytest.raises(
        ConfigError,
        match="ground truth has 20 rows of 50 neighbours; need 20 rows of at least k=60",
    ):
        load_dataset(texmex, k=60)


def test_no_dataset_there(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no dataset found"):
        load_dataset(tmp_path)


def test_npy_folder(tmp_path: Path) -> None:
    np.save(tmp_path / "base.npy", clustered(300, 16))
    np.save(tmp_path / "queries.npy", clustered(10, 16, seed=5))
    data = load_dataset(tmp_path, k=5, metric="COSINE")
    assert data.metric == "COSINE" and data.ground_truth == "computed"
    assert data.neighbors.shape[0] == 10


def test_hdf5(tmp_path: Path) -> None:
    h5py = pytest.importorskip("h5py")
    base, queries = clustered(300, 16), clustered(10, 16, seed=5)
    truth, _ = exact_knn(base, queries, 20, "COSINE")
    with h5py.File(tmp_path / "toy-16-angular.hdf5", "w") as f:
        f["train"], f["test"], f["neighbors"] = base, queries, truth
        f.attrs["distance"] = "angular"
    data = load_dataset(tmp_path / "toy-16-angular.hdf5", k=10)
    assert data.metric == "COSINE" and data.ground_truth == "file"
    with pytest.raises(ConfigError, match="ground truth is for COSINE; asking for L2"):
        load_dataset(tmp_path / "toy-16-angular.hdf5", metric="L2")


@pytest.mark.skipif(
    not (SHARED_DATA / "ann").is_dir(), reason="the ANN set is not at ../shared/data/ann"
)
def test_the_shared_siftsmall_set() -> None:
    data = load_dataset(SHARED_DATA / "ann", k=10)
    assert data.base.shape == (10_000, 128) and data.queries.shape == (100, 128)
    mine, _ = exact_knn(data.base, data.queries[:10], 10, "L2")
    np.testing.assert_array_equal(mine, data.neighbors[:10, :10])  # the file's truth is exact L2
