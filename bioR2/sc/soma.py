"""TileDB-SOMA input: cells of a SOMA Experiment (a local folder, ``s3://``, or the CELLxGENE
Census) as a :class:`~bioR2.sc.data.CellSource`, read in row chunks without loading the store.

Needs the ``tiledbsoma`` package (``pip install 'bior2[soma]'``). The Census keeps raw counts in
the ``raw`` X layer of the ``RNA`` measurement and gene symbols in ``var["feature_name"]``
(Ensembl ids in ``feature_id``): those are the defaults here.

>>> bioR2.sc.pretrain(None, "runs/census", soma="s3://.../census", obs_filter="tissue_general == 'blood'")
"""

from __future__ import annotations

import os
from typing import Any, Dict, Optional, Tuple

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .data import CellSource, unique_gene_names

__all__ = ["SomaSource", "soma_entry", "DEFAULT_SOMA_LAYER", "DEFAULT_SOMA_GENE_KEYS"]

DEFAULT_SOMA_LAYER = "raw"
DEFAULT_SOMA_GENE_KEYS = ("feature_name", "feature_id", "var_id")


def _tiledbsoma():
    try:
        import tiledbsoma
    except ImportError:
        raise ImportError("--soma needs the tiledbsoma package: pip install 'bior2[soma]' (or pip install "
                          "tiledbsoma)") from None
    return tiledbsoma


def _is_remote(uri: str) -> bool:
    return "://" in uri and not uri.startswith("file://")


class SomaSource(CellSource):
    """Cells of one measurement of a SOMA Experiment.

    Parameters
    ----------
    uri
        The Experiment's URI.
    measurement
        The measurement (``RNA`` in the Census).
    layer
        The X layer holding the values (``raw`` in the Census).
    gene_key
        The var column naming genes (default: the first of ``feature_name``, ``feature_id``,
        ``var_id`` that exists).
    obs_filter, var_filter
        SOMA value filters selecting cells and genes, e.g. ``"tissue_general == 'blood'"``.
    """

    def __init__(self, uri: str, measurement: str = "RNA", layer: Optional[str] = None,
                 gene_key: Optional[str] = None, obs_filter: Optional[str] = None,
                 var_filter: Optional[str] = None) -> None:
        soma = _tiledbsoma()
        self.uri, self.measurement = str(uri), str(measurement)
        self.x_layer = layer or DEFAULT_SOMA_LAYER
        self.obs_filter, self.var_filter = obs_filter, var_filter
        if not _is_remote(self.uri) and not os.path.exists(self.uri.replace("file://", "")):
            raise FileNotFoundError(f"{self.uri}: no such SOMA Experiment; check --soma (a local folder, s3:// or "
                                    "Census URI)")
        try:
            exp = soma.Experiment.open(self.uri)
        except Exception as exc:  # tiledbsoma raises its own DoesNotExistError / SOMAError
            raise ValueError(f"{self.uri}: not a SOMA Experiment ({type(exc).__name__}: {exc}); check --soma") from None
        with exp:
            if self.measurement not in exp.ms:
                raise ValueError(f"{self.uri}: no measurement {self.measurement!r}; its measurements are "
                                 f"{sorted(exp.ms.keys())}; fix --soma-measurement")
            ms = exp.ms[self.measurement]
            if "X" not in ms or self.x_layer not in ms.X:
                have = sorted(ms.X.keys()) if "X" in ms else []
                raise ValueError(f"{self.uri} measurement {self.measurement!r}: no X layer {self.x_layer!r}; its "
                                 f"layers are {have}; fix --layer")
            var = ms.var.read(value_filter=var_filter).concat().to_pandas()
            if gene_key is None:
                gene_key = next((k for k in DEFAULT_SOMA_GENE_KEYS if k in var.columns), None)
            if gene_key not in var.columns:
                cols = [c for c in var.columns if c != "soma_joinid"]
                raise ValueError(f"{self.uri}: var has no column {gene_key!r} (gene_key); its columns are {cols}; "
                                 "fix --gene-key")
            obs = exp.obs.read(value_filter=obs_filter, column_names=["soma_joinid"]).concat()
            self.obs_ids = np.sort(obs["soma_joinid"].to_numpy().astype(np.int64))

        self.gene_key = gene_key
        self.var_ids = var["soma_joinid"].to_numpy().astype(np.int64)
        self.var_names = unique_gene_names(var[gene_key].tolist())
        self._var_pos = pd.Index(self.var_ids)
        self.n_obs = int(self.obs_ids.size)
        filters = "".join(f" {k}={v!r}" for k, v in (("obs_filter", obs_filter), ("var_filter", var_filter)) if v)
        self.where = f"{self.uri} {self.measurement}/X[{self.x_layer!r}]{filters}"
        self.layer, self.use_raw = self.x_layer, False
        if self.n_obs == 0 or self.var_ids.size == 0:
            raise ValueError(f"{self.where}: selects no cells or no genes ({self.n_obs} x {self.var_ids.size}); "
                             "loosen --obs-filter / --var-filter")
        self._exp = None
        self._pid = None

    def _open(self):
        if self._exp is None or self._pid != os.getpid():
            self._exp = _tiledbsoma().Experiment.open(self.uri)
            self._pid = os.getpid()
        return self._exp

    def read_rows(self, indices: np.ndarray) -> sp.csr_matrix:
        indices = np.asarray(indices, dtype=np.int64)
        n_var = self.var_ids.size
        if indices.size == 0:
            return sp.csr_matrix((0, n_var), dtype=np.float32)
        joinids = self.obs_ids[indices]
        uniq, inverse = np.unique(joinids, return_inverse=True)
        X = self._open().ms[self.measurement].X[self.x_layer]
        table = X.read(coords=(uniq, self.var_ids)).tables().concat()
        rows = np.searchsorted(uniq, table["soma_dim_0"].to_numpy())
        cols = self._var_pos.get_indexer(table["soma_dim_1"].to_numpy())
        data = table["soma_data"].to_numpy().astype(np.float32)
        block = sp.csr_matrix((data, (rows, cols)), shape=(uniq.size, n_var))
        block.sum_duplicates()
        return block[inverse]

    def obs_column(self, key: str) -> pd.Series:
        obs = self._open().obs
        if key not in obs.schema.names:
            raise ValueError(f"{self.uri}: obs has no column {key!r}; its columns are {obs.schema.names}")
        table = obs.read(coords=(self.obs_ids,), column_names=["soma_joinid", key]).concat().to_pandas()
        table = table.set_index("soma_joinid").reindex(self.obs_ids)
        return pd.Series(table[key].to_numpy(), index=self.obs_names, name=key)

    @property
    def obs_names(self) -> pd.Index:
        return pd.Index(self.obs_ids.astype(str))

    def __getstate__(self) -> Dict[str, Any]:
        state = dict(self.__dict__)
        state.update(_exp=None, _pid=None)
        return state


def soma_entry(uri: str, *, measurement: str = "RNA", layer: Optional[str] = None, gene_key: Optional[str] = None,
               obs_filter: Optional[str] = None, var_filter: Optional[str] = None,
               dataset: Optional[str] = None) -> Tuple["SomaSource", str]:
    """``(source, dataset name)`` of a SOMA Experiment (opened and checked now), for a corpus entry."""
    source = SomaSource(uri, measurement, layer, gene_key, obs_filter, var_filter)
    return source, dataset or os.path.basename(str(uri).rstrip("/")) or "soma"
