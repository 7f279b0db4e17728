"""ANN benchmark datasets: TEXMEX fvecs/ivecs, numpy ``.npy``, ann-benchmarks HDF5,
or clustered synthetic vectors, each with exact ground truth.

A dataset is a base set (what gets indexed), queries, and the true nearest neighbours
of each query. Files are checked as they are read: a truncated file or one whose
records disagree on the dimension is an error naming the file and the byte offset,
never a silently shorter benchmark.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from redvec.errors import ConfigError
from redvec.exact import exact_knn

__all__ = ["Dataset", "clustered", "load_dataset", "read_vecs"]


@dataclass
class Dataset:
    """An ANN dataset in memory: base vectors, queries, ground-truth neighbours, the metric."""

    name: str
    base: npt.NDArray[np.float32]
    queries: npt.NDArray[np.float32]
    neighbors: npt.NDArray[np.int64]  # row indices into base, nearest first
    metric: str  # L2, COSINE or IP
    ground_truth: str  # "file" or "computed"

    @property
    def dims(self) -> int:
        """The vectors' dimension."""
        return int(self.base.shape[1])


def read_vecs(path: Path, dtype: str) -> npt.NDArray[np.generic]:
    """TEXMEX ``.fvecs`` (float32) / ``.ivecs`` (int32): per record an int32 dimension
    ``d`` and ``d`` values, all little-endian."""
    try:
        raw = np.fromfile(path, dtype="<u1")
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e.strerror}") from None
    if raw.size < 4:
        raise ConfigError(f"{path}: empty or truncated (no dimension header)")
    d = int(raw[:4].view("<i4")[0])
    if d <= 0 or d > 1_000_000:
        raise ConfigError(f"{path}: first record declares dimension {d}; not an fvecs/ivecs file")
    record = 4 + 4 * d
    if raw.size % record:
        whole = raw.size // record
        raise ConfigError(
            f"{path}: truncated: {raw.size} bytes is not a whole number of {d}-d records "
            f"({record} bytes each); the last record starts at byte {whole * record}"
        )
    rows = raw.reshape(-1, record)
    dims = rows[:, :4].copy().view("<i4").ravel()
    bad = np.flatnonzero(dims != d)
    if bad.size:
        n = int(bad[0])
        raise ConfigError(
            f"{path}: record {n} (byte {n * record}) declares dimension {int(dims[n])}, "
            f"but the first record has {d}"
        )
    return rows[:, 4:].copy().view(dtype).reshape(-1, d)


def clustered(
    n: int,
    dim: int,
    seed: int = 0,
    centers: int = 64,
    spread: float = 0.35,
    center_seed: int = 0,
) -> npt.NDArray[np.float32]:
    """Unit vectors drawn around random centres: harder for HNSW than uniform noise and
    closer to real embeddings. The centres depend on ``center_seed`` only, so base
    vectors and queries drawn with different ``seed`` come from the same clusters."""
    c = np.random.default_rng([center_seed, dim, centers]).normal(size=(centers, dim))
    rng = np.random.default_rng([seed, 1])
    x = c[rng.integers(0, centers, n)] + spread * rng.normal(size=(n, dim))
    out: npt.NDArray[np.float32] = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    return out


def _hdf5(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, str]:
    try:
        import h5py
    except ImportError:
        raise ConfigError(f"{path}: reading HDF5 needs h5py (pip install h5py)") from None
    with h5py.File(path, "r") as f:
        for key in ("train", "test"):
            if key not in f:
                raise ConfigError(f"{path}: no '{key}' dataset (ann-benchmarks layout)")
        base = np.asarray(f["train"], dtype=np.float32)
        queries = np.asarray(f["test"], dtype=np.float32)
        neighbors = np.asarray(f["neighbors"], dtype=np.int64) if "neighbors" in f else None
        distance = str(f.attrs.get("distance", "euclidean"))
    metric = {"euclidean": "L2", "angular": "COSINE", "dot": "IP", "ip": "IP"}.get(distance)
    if metric is None:
        raise ConfigError(f"{path}: distance '{distance}' is not one redvec can index")
    return base, queries, neighbors, metric


def load_dataset(
    path: str | Path | None,
    *,
    k: int = 10,
    queries: int | None = None,
    metric: str | None = None,
    synthetic: tuple[int, int] = (20_000, 128),
) -> Dataset:
    """A dataset from ``path``: an ``.hdf5`` file; a folder or file prefix with TEXMEX
    ``*_base.fvecs``, ``*_query.fvecs`` and optionally ``*_groundtruth.ivecs``; or a
    folder with ``base.npy``, ``queries.npy`` and optionally ``neighbors.npy``.
    ``None``: clustered synthetic vectors. Missing ground truth is computed exactly."""
    gt: np.ndarray | None
    if path is None:
        n, dim = synthetic
        base = clustered(n, dim, seed=0)
        q = clustered(queries or 200, dim, seed=1)
        name, gt, found_metric = f"clustered-{n}x{dim}", None, "COSINE"
    else:
        p = Path(path)
        name = p.stem if p.is_file() else p.name
        if p.suffix in (".hdf5", ".h5"):
            base, q, gt, found_metric = _hdf5(p)
        else:
            folder = p if p.is_dir() else p.parent
            fvecs = sorted(folder.glob(f"{p.name + '_' if p.is_file() else ''}*base.fvecs"))
            if fvecs:
                stem = str(fvecs[0])[: -len("base.fvecs")]
                base = read_vecs(Path(stem + "base.fvecs"), "<f4").astype(np.float32)
                qpath = Path(stem + "query.fvecs")
                if not qpath.is_file():
                    raise ConfigError(f"{folder}: {fvecs[0].name} has no {qpath.name} beside it")
                q = read_vecs(qpath, "<f4").astype(np.float32)
                gpath = Path(stem + "groundtruth.ivecs")
                gt = read_vecs(gpath, "<i4").astype(np.int64) if gpath.is_file() else None
                found_metric = "L2"  # TEXMEX ground truth is Euclidean
            elif (folder / "base.npy").is_file():
                base = np.load(folder / "base.npy").astype(np.float32)
                qfile = folder / "queries.npy"
                if not qfile.is_file():
                    raise ConfigError(f"{folder}: base.npy has no queries.npy beside it")
                q = np.load(qfile).astype(np.float32)
                nfile = folder / "neighbors.npy"
                gt = np.load(nfile).astype(np.int64) if nfile.is_file() else None
                found_metric = metric or "L2"
            else:
                raise ConfigError(
                    f"{p}: no dataset found (expected *_base.fvecs + *_query.fvecs, "
                    f"base.npy + queries.npy, or an .hdf5 file)"
                )
        if base.ndim != 2 or q.ndim != 2 or base.shape[1] != q.shape[1]:
            raise ConfigError(
                f"{p}: base vectors have dimension {base.shape[-1]} but queries have {q.shape[-1]}"
            )
    if metric is not None and metric.upper() != found_metric and gt is not None:
        raise ConfigError(
            f"{name}: its ground truth is for {found_metric}; asking for {metric.upper()} "
            f"would score against the wrong neighbours"
        )
    final_metric = (metric or found_metric).upper()
    if queries is not None:
        q = q[:queries]
        gt = gt[:queries] if gt is not None else None
    source = "file"
    if gt is None:
        gt, _ = exact_knn(base, q, max(k, 100), final_metric)
        source = "computed"
    elif gt.shape[0] < q.shape[0] or gt.shape[1] < k:
        raise ConfigError(
            f"{name}: ground truth has {gt.shape[0]} rows of {gt.shape[1]} neighbours; "
            f"need {q.shape[0]} rows of at least k={k}"
        )
    elif gt.max() >= base.shape[0] or gt.min() < 0:
        raise ConfigError(
            f"{name}: ground truth names rows outside the {base.shape[0]} base vectors"
        )
    return Dataset(name, base, q, gt.astype(np.int64), final_metric, source)
