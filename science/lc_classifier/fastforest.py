"""Compiled inference for the forests of the hierarchical classifier.

scikit-learn's ``predict_proba`` walks a forest one tree at a time (a Python call, an
(n, k) temporary and a locked add per tree, 64-byte nodes, signed-index arithmetic).
``PackedForests`` packs the trees of several forests into flat arrays and one numba
kernel walks every tree of every forest (about 2,000 here) for all rows. Each step is
branchless (``node = x <= threshold ? node + 1 : right``; scikit-learn's depth-first
builder puts the left child right after its parent); a leaf loops to itself (threshold
NaN), so the walk ends when the node stops changing.

The result is bit-identical to scikit-learn's ``predict_proba`` (tested): the double
thresholds are rounded *down* to float32, which keeps ``x <= t`` exact for float32 x; the
leaf vectors are the trees' own class fractions, summed per row in tree order and divided
by the number of trees. Inputs must not contain NaN (the forest fills missing values
with -999 before predicting).
"""
from __future__ import annotations

import numpy as np
from numba import njit

# steps taken before testing for a leaf (the shallowest leaves are deeper than this)
FIXED_STEPS = 4


def _floor_f32(t: np.ndarray) -> np.ndarray:
    """Largest float32 <= t, so that ``x <= t`` equals ``x <= floor_f32(t)`` for float32 x."""
    t32 = t.astype(np.float32)
    over = t32.astype(np.float64) > t
    t32[over] = np.nextafter(t32[over], np.float32(-np.inf))
    return t32


class PackedForests:
    """Trees of scikit-learn forest classifiers in flat arrays; ``predict_proba(X)``
    returns one (n, n_classes) matrix per forest, equal to its ``predict_proba``."""

    def __init__(self, forests):
        feature, threshold, right, leaf_off, values = [], [], [], [], []
        roots, tree_col, tree_k = [], [], []
        self.widths, self.n_trees = [], []
        n_nodes = n_values = col = 0
        for forest in forests:
            k = int(forest.n_classes_)
            for est in forest.estimators_:
                t = est.tree_
                if t.n_outputs != 1 or int(est.n_classes_) != k:
                    raise ValueError("only single-output trees with the forest's classes")
                left = t.children_left
                inner = left >= 0
                ids = np.arange(t.node_count)
                if not np.array_equal(left[inner], ids[inner] + 1):
                    raise ValueError("left child is not the next node")
                leaves = ids[~inner]
                feature.append(np.where(inner, t.feature, 0).astype(np.uint32))
                thr = _floor_f32(t.threshold)
                thr[~inner] = np.nan
                threshold.append(thr)
                right.append((np.where(inner, t.children_right, ids) + n_nodes).astype(np.uint32))
                off = np.zeros(t.node_count, np.uint32)
                off[leaves] = n_values + np.arange(len(leaves)) * k
                leaf_off.append(off)
                values.append(np.asarray(t.value[leaves, 0, :k], np.float64).ravel())
                roots.append(n_nodes)
                tree_col.append(col)
                tree_k.append(k)
                n_nodes += t.node_count
                n_values += len(leaves) * k
            self.widths.append(k)
            self.n_trees.append(len(forest.estimators_))
            col += k
        if n_nodes >= 2**32 or n_values >= 2**32:
            raise ValueError("forests too large to pack")
        self.feature = np.concatenate(feature)
        self.threshold = np.concatenate(threshold)
        self.right = np.concatenate(right)
        self.leaf_off = np.concatenate(leaf_off)
        self.values = np.concatenate(values)
        self.roots = np.asarray(roots, np.uint64)
        self.tree_col = np.asarray(tree_col, np.int64)
        self.tree_k = np.asarray(tree_k, np.int64)
        self.n_columns = col
        self.min_features = int(self.feature.max(initial=0)) + 1

    # --- flat-array persistence (np.savez / np.load(allow_pickle=False)) ---------------
    ARRAYS = ("feature", "threshold", "right", "leaf_off", "values", "roots", "tree_col", "tree_k",
              "widths", "n_trees")
    DTYPES = {"feature": np.uint32, "threshold": np.float32, "right": np.uint32, "leaf_off": np.uint32,
              "values": np.float64, "roots": np.uint64, "tree_col": np.int64, "tree_k": np.int64,
              "widths": np.int64, "n_trees": np.int64}

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Every array the kernel needs, plain numeric dtypes only."""
        out = {name: np.asarray(getattr(self, name)) for name in self.ARRAYS}
        return {name: a.astype(self.DTYPES[name], copy=False) for name, a in out.items()}

    @classmethod
    def from_arrays(cls, arrays) -> "PackedForests":
        """The packed forests back from ``to_arrays()`` (checked for consistency, so a
        malformed file fails here rather than indexing out of bounds in the kernel)."""
        self = cls.__new__(cls)
        for name in cls.ARRAYS:
            a = np.asarray(arrays[name])
            if a.dtype != cls.DTYPES[name] or a.ndim != 1:
                raise ValueError(f"packed forest array {name}: {a.dtype}{a.shape}, expected 1-d "
                                 f"{np.dtype(cls.DTYPES[name])}")
            setattr(self, name, np.ascontiguousarray(a))
        n_nodes, n_values = len(self.feature), len(self.values)
        if not (len(self.threshold) == len(self.right) == len(self.leaf_off) == n_nodes):
            raise ValueError("packed forest node arrays differ in length")
        if len(self.roots) != len(self.tree_col) or len(self.roots) != len(self.tree_k) or \
                len(self.widths) != len(self.n_trees) or int(self.n_trees.sum()) != len(self.roots):
            raise ValueError("packed forest tree arrays are inconsistent")
        leaf = np.isnan(self.threshold)
        ids = np.arange(n_nodes)
        tree_of = np.searchsorted(self.roots.astype(np.int64), ids, side="right") - 1
        if n_nodes and ((tree_of < 0).any() or self.right.max() >= n_nodes
                        or self.roots.max() >= n_nodes or (~leaf & (ids + 1 >= n_nodes)).any()
                        or (self.leaf_off[leaf].astype(np.int64) + self.tree_k[tree_of[leaf]]).max(initial=0)
                        > n_values or (self.tree_col + self.tree_k).max(initial=0) > self.widths.sum()):
            raise ValueError("packed forest indices out of bounds")
        self.widths = [int(k) for k in self.widths]
        self.n_trees = [int(t) for t in self.n_trees]
        self.n_columns = int(sum(self.widths))
        self.min_features = int(self.feature.max(initial=0)) + 1
        return self

    def predict_proba(self, X: np.ndarray) -> list[np.ndarray]:
        X = np.ascontiguousarray(X, dtype=np.float32)
        if X.ndim != 2 or X.shape[1] < self.min_features:
            raise ValueError("X has too few feature columns")
        if np.isnan(X).any():
            raise ValueError("NaN in the input: fill missing values first")
        out = np.zeros((len(X), self.n_columns), np.float64)
        if len(X):
            _accumulate(X.ravel(), X.shape[1], self.feature, self.threshold, self.right,
                        self.leaf_off, self.values, self.roots, self.tree_col, self.tree_k,
                        out, FIXED_STEPS)
        parts, col = [], 0
        for k, n_trees in zip(self.widths, self.n_trees):
            parts.append(out[:, col:col + k] / n_trees)
            col += k
        return parts


@njit(inline="always")
def _step(X1, base, node, feature, threshold, right):
    # unsigned arithmetic throughout: no negative-index wraparound code
    x = X1[base + np.uint64(feature[node])]
    r = np.uint64(right[node])
    go_left = np.uint64(0) - np.uint64(x <= threshold[node])
    return r ^ (((node + np.uint64(1)) ^ r) & go_left)


@njit(nogil=True, cache=True)
def _accumulate(X1, n_features, feature, threshold, right, leaf_off, values, roots, tree_col,
                tree_k, out, fixed_steps):
    n = out.shape[0]
    nf = np.uint64(n_features)
    for t in range(roots.shape[0]):
        root = roots[t]
        col = tree_col[t]
        k = tree_k[t]
        for i in range(n):
            base = np.uint64(i) * nf
            node = root
            for _ in range(fixed_steps):
                node = _step(X1, base, node, feature, threshold, right)
            while True:
                nxt = _step(X1, base, node, feature, threshold, right)
                if nxt == node:
                    break
                node = nxt
            off = np.uint64(leaf_off[node])
            for c in range(k):
                out[i, col + c] += values[off + np.uint64(c)]
