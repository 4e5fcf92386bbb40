"""GPN's published checkpoints, run natively: ``GPNForMaskedLM`` (ConvNet encoder) and the legacy
``ConvNetForMaskedLM`` in plain torch.

GPN (Benegas et al., ``pip install gpn``) publishes its models as Hugging Face folders:
``config.json`` (``model_type: "GPN"``, ``architectures: ["GPNForMaskedLM"]``) plus
``model.safetensors`` or ``pytorch_model.bin``, and GPN's tokenizer. :func:`load_gpn_checkpoint`
rebuilds the same network here, without ``gpn`` or ``transformers``, with the checkpoint's own
parameter names (so the weights load strictly, one to one), and :class:`GPNMaskedLM` presents it
to :class:`~bioR2.dna.scorer.VariantScorer` the way :class:`~bioR2.dna.model.DNAMaskedLM` is
presented: bioR2 token ids in, logits over bioR2's vocabulary out, ``center_logits`` computed on
the centre's sparse dilated cone only (:class:`~bioR2.dna.model.ConePlan`).

GPN's network (``gpn/model.py``, ``gpn/modules.py``, ``encoder: convnet``):

* embedding: one-hot of the token id in ``hidden_size`` dimensions (``embedding: one_hot``), or a
  learned table (``embedding: embedding``);
* each layer, pre-LayerNorm: ``x + Linear(GELU(Conv1d(LN(x))))`` with zero "same" padding, then
  ``x + Linear(GELU(Linear(LN(x))))`` (width ``intermediate_size``); kernel ``first_kernel_size``
  for layer 0 and ``rest_kernel_size`` after, dilation
  ``min(dilation_max, dilation_base ** ((i % dilation_cycle) // dilation_double_every))``,
  depthwise convolutions after layer 0 when ``depthwise``; LayerNorms have eps 1e-5 (PyTorch's
  default: GPN does not pass ``layer_norm_eps``), biases only when ``bias``;
* a final LayerNorm, then the MLM head ``Linear -> GELU -> LayerNorm`` (when
  ``mlm_head_transform``) and the decoder ``Linear`` to GPN's 7 tokens.

GPN's first published models (e.g. GPN-Brassicales) are the legacy ``model_type: "ConvNet"``
(``ConvNetForMaskedLM``, ``gpn/legacy.py``): one-hot embedding, post-LayerNorm layers
``x + LN(GELU(Conv1d(x)))`` then ``x + LN(GELU(Linear(x)))`` with biases, one ``kernel_size``,
``n_layers``, the same dilation schedule, no final LayerNorm, head
``Linear -> GELU -> LayerNorm -> Linear``. Both are read.

Tokens: GPN's tokenizer is ``[PAD] [MASK] [UNK] a c g t`` (lowercase normaliser), bioR2's
``[PAD] [MASK] A C G T N``. Inputs are mapped A C G T -> a c g t, ``[MASK]`` -> ``[MASK]``,
N -> ``[UNK]`` (GPN's tokenizer reads N, and any other letter, as ``[UNK]``), and bioR2's
``[PAD]`` -> ``[UNK]``: past a contig end GPN's ``run_vep`` pads the window with N
(``gpn.data.Genome.get_seq``), so a variant near a contig end gets GPN's own score. Logits are
put back in bioR2's order (N's logit is GPN's ``[UNK]``).

Windows: GPN's ``run_vep`` reads the reverse strand from the *same* genome window as the forward
one, reverse-complemented (for an even window the variant then sits one base left of the
centre); :attr:`GPNMaskedLM.reverse_window` = ``"same"`` asks the scorer to do the same, so
scores equal ``run_vep``'s. GPN's config does not record the training window: the default
scoring window is 512 (GPN's), ``--window`` sets another.

Not supported (a clear error names ``config.json`` and the field): other encoders (``roformer``,
``bytenet``), other architectures (``GPNForSequenceClassification``, ...), auxiliary input
features (``n_aux_features > 0``), another vocabulary, even kernel sizes, other model types
(GPN-MSA's, GPN-Star's, RoFormer ones).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Optional

import torch
import torch.nn.functional as F
from torch import nn

from ..train.checkpoint import CheckpointError
from ..utils.io import PathLike
from .model import ConePlan
from .tokenizer import VOCAB, NucleotideTokenizer

__all__ = ["GPNMaskedLM", "is_hf_checkpoint", "load_gpn_checkpoint", "GPN_VOCAB", "read_gpn_config"]

CONFIG_FILE = "config.json"
SAFETENSORS_FILE = "model.safetensors"
TORCH_FILE = "pytorch_model.bin"
TOKENIZER_FILE = "tokenizer.json"
GPN_VOCAB: Dict[str, int] = {"[PAD]": 0, "[MASK]": 1, "[UNK]": 2, "a": 3, "c": 4, "g": 5, "t": 6}
# bioR2 id -> GPN id: [PAD] (past a contig end) and N are GPN's [UNK] (its tokenizer's reading of N)
_TO_GPN = [GPN_VOCAB["[UNK]"], GPN_VOCAB["[MASK]"], GPN_VOCAB["a"], GPN_VOCAB["c"], GPN_VOCAB["g"],
           GPN_VOCAB["t"], GPN_VOCAB["[UNK]"]]
# bioR2 vocabulary position -> GPN logit index
_FROM_GPN = [GPN_VOCAB["[PAD]"], GPN_VOCAB["[MASK]"], GPN_VOCAB["a"], GPN_VOCAB["c"], GPN_VOCAB["g"],
             GPN_VOCAB["t"], GPN_VOCAB["[UNK]"]]
assert len(_TO_GPN) == len(_FROM_GPN) == len(VOCAB)
_LN_EPS = 1e-5  # nn.LayerNorm's default, which GPN's modules use


# ---------------------------------------------------------------------------- detection and config
def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path}: not valid JSON ({exc})") from None


def is_hf_checkpoint(directory: PathLike) -> bool:
    """True when ``directory``'s ``config.json`` is a Hugging Face model config (``model_type`` or
    ``architectures``, no bioR2 ``model_class``): a GPN checkpoint, or another model whose config
    :func:`read_gpn_config` refuses by name."""
    path = Path(directory) / CONFIG_FILE
    if not path.is_file():
        return False
    try:
        meta = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError, OSError):
        return False  # the bioR2 loader reports it
    return isinstance(meta, dict) and "model_class" not in meta and ("model_type" in meta or "architectures" in meta)


def _field(meta: Dict[str, Any], name: str, default: Any, where: Path, kind=int, minimum: Optional[int] = None):
    value = meta.get(name, default)
    ok = isinstance(value, kind) and not isinstance(value, bool) if kind is int else isinstance(value, kind)
    if not ok or (minimum is not None and value < minimum):
        want = {int: "a whole number", bool: "true or false"}.get(kind, kind.__name__)
        want += f" >= {minimum}" if minimum is not None else ""
        raise CheckpointError(f"{where}: field {name!r} is {value!r}; expected {want}")
    return value


def read_gpn_config(directory: PathLike) -> Dict[str, Any]:
    """The architecture of a GPN checkpoint's ``config.json``, checked: what :class:`GPNMaskedLM`
    takes. Raises :class:`~bioR2.train.checkpoint.CheckpointError` naming the file and the field
    for anything it cannot run."""
    where = Path(directory) / CONFIG_FILE
    if not where.is_file():
        raise CheckpointError(f"{where}: not found")
    meta = _read_json(where)
    if not isinstance(meta, dict):
        raise CheckpointError(f"{where}: expected a JSON object")
    model_type = meta.get("model_type")
    if model_type not in ("GPN", "ConvNet"):
        raise CheckpointError(f"{where}: field 'model_type' is {model_type!r}; bioR2 reads GPN checkpoints "
                              "(model_type 'GPN' or the legacy 'ConvNet') and its own run folders")
    head = "GPNForMaskedLM" if model_type == "GPN" else "ConvNetForMaskedLM"
    archs = meta.get("architectures")
    if archs is not None and head not in archs:
        raise CheckpointError(f"{where}: field 'architectures' is {archs}; scoring variants needs the masked-LM "
                              f"head of a {head} checkpoint")
    vocab_size = _field(meta, "vocab_size", 7, where)
    if vocab_size != len(GPN_VOCAB):
        raise CheckpointError(f"{where}: field 'vocab_size' is {vocab_size}; GPN's nucleotide tokenizer has "
                              f"{len(GPN_VOCAB)} tokens {list(GPN_VOCAB)}")
    if _field(meta, "n_aux_features", 0, where, minimum=0):
        raise CheckpointError(f"{where}: field 'n_aux_features' is {meta['n_aux_features']}; auxiliary input "
                              "features are not supported")
    if model_type == "ConvNet":
        cfg = _legacy_config(meta, where)
    else:
        cfg = _gpn_config(meta, where)
    for name in ("first_kernel_size", "rest_kernel_size"):
        if cfg[name] % 2 != 1:
            field = "kernel_size" if cfg["legacy"] else name
            raise CheckpointError(f"{where}: field {field!r} is {cfg[name]}; only odd kernel sizes are supported")
    if cfg["embedding"] == "one_hot" and cfg["hidden_size"] < vocab_size:
        raise CheckpointError(f"{where}: field 'hidden_size' is {cfg['hidden_size']}; a one-hot embedding "
                              f"needs at least vocab_size ({vocab_size})")
    return cfg


def _legacy_config(meta: Dict[str, Any], where: Path) -> Dict[str, Any]:
    """GPN's legacy ``ConvNetConfig`` (``gpn/legacy.py``): one kernel size, biases, post-LayerNorm."""
    hidden = _field(meta, "hidden_size", 512, where, minimum=1)
    kernel = _field(meta, "kernel_size", 9, where, minimum=1)
    return {
        "legacy": True, "hidden_size": hidden, "intermediate_size": hidden,
        "num_hidden_layers": _field(meta, "n_layers", 25, where, minimum=1),
        "first_kernel_size": kernel, "rest_kernel_size": kernel,
        "dilation_double_every": _field(meta, "dilation_double_every", 1, where, minimum=1),
        "dilation_max": _field(meta, "dilation_max", 32, where, minimum=1),
        "dilation_cycle": _field(meta, "dilation_cycle", 6, where, minimum=1),
        "dilation_base": _field(meta, "dilation_base", 2, where, minimum=1),
        "depthwise": False, "bias": True, "mlm_head_transform": True, "tie_word_embeddings": False,
        "embedding": "one_hot",
    }


def _gpn_config(meta: Dict[str, Any], where: Path) -> Dict[str, Any]:
    encoder = meta.get("encoder", "convnet")
    if encoder != "convnet":
        raise CheckpointError(f"{where}: field 'encoder' is {encoder!r}; only GPN's 'convnet' encoder is "
                              "supported (not 'roformer' or 'bytenet')")
    embedding = meta.get("embedding", "one_hot")
    if embedding not in ("one_hot", "embedding"):
        raise CheckpointError(f"{where}: field 'embedding' is {embedding!r}; expected 'one_hot' or 'embedding'")
    return {
        "legacy": False,
        "hidden_size": _field(meta, "hidden_size", 512, where, minimum=1),
        "intermediate_size": _field(meta, "intermediate_size", 2048, where, minimum=1),
        "num_hidden_layers": _field(meta, "num_hidden_layers", 25, where, minimum=1),
        "first_kernel_size": _field(meta, "first_kernel_size", 9, where, minimum=1),
        "rest_kernel_size": _field(meta, "rest_kernel_size", 5, where, minimum=1),
        "dilation_double_every": _field(meta, "dilation_double_every", 1, where, minimum=1),
        "dilation_max": _field(meta, "dilation_max", 9999, where, minimum=1),
        "dilation_cycle": _field(meta, "dilation_cycle", 8, where, minimum=1),
        "dilation_base": _field(meta, "dilation_base", 2, where, minimum=1),
        "depthwise": _field(meta, "depthwise", False, where, kind=bool),
        "bias": _field(meta, "bias", False, where, kind=bool),
        "mlm_head_transform": _field(meta, "mlm_head_transform", True, where, kind=bool),
        "tie_word_embeddings": _field(meta, "tie_word_embeddings", False, where, kind=bool),
        "embedding": embedding,
    }


def _check_tokenizer(directory: Path) -> None:
    """A ``tokenizer.json`` beside the model must be GPN's 7-token one (absent: GPN's is assumed,
    as ``run_vep --tokenizer_path songlab/tokenizer-dna-mlm`` does)."""
    path = directory / TOKENIZER_FILE
    if not path.is_file():
        return
    tok = _read_json(path)
    vocab = tok.get("model", {}).get("vocab") if isinstance(tok, dict) else None
    if vocab != GPN_VOCAB:
        raise CheckpointError(f"{path}: field 'model.vocab' is {vocab}; bioR2 maps GPN's tokenizer "
                              f"{GPN_VOCAB} onto its own and cannot read another vocabulary")
    norm = tok.get("normalizer") or {}
    if norm.get("type") != "Lowercase":
        raise CheckpointError(f"{path}: field 'normalizer' is {norm}; GPN's tokenizer lowercases its input "
                              "(normalizer type 'Lowercase')")


# ---------------------------------------------------------------------------- the network
class _Transpose(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.transpose(1, 2)


def _conv_at(conv: nn.Conv1d, y: torch.Tensor, taps: torch.Tensor, pad: bool) -> torch.Tensor:
    """``conv``'s output at a few positions: ``y`` ``(B, n_in, D)`` holds its input at the positions
    they read, ``taps`` ``(n_out, K)`` the row of ``y`` each output reads per kernel tap (``n_in``:
    outside the window, read as zero when ``pad``, as the convolution's zero padding does)."""
    if pad:
        y = torch.cat([y, y.new_zeros(y.shape[0], 1, y.shape[2])], dim=1)
    g = y[:, taps]  # (B, n_out, K, D)
    if conv.groups == 1:
        B, (n_out, K), D = y.shape[0], taps.shape, y.shape[2]
        w = conv.weight.permute(0, 2, 1).reshape(conv.out_channels, K * D)
        return F.linear(g.reshape(B, n_out, K * D), w, conv.bias)
    # depthwise (groups == channels), GPN's only other kind
    h = torch.einsum("bnkd,dk->bnd", g, conv.weight[:, 0])
    return h if conv.bias is None else h + conv.bias


class _ConvView:
    """What :class:`~bioR2.dna.model.ConePlan` reads of a block: its convolution as ``.conv``."""

    def __init__(self, conv: nn.Conv1d) -> None:
        self.conv = conv


class GPNConvLayer(nn.Module):
    """GPN's ``ConvLayer``: ``x + conv(x)``, then ``x + ffn(x)``, its submodules at GPN's indices."""

    def __init__(self, hidden: int, intermediate: int, kernel_size: int, dilation: int, groups: int,
                 bias: bool) -> None:
        super().__init__()
        self.radius = dilation * (kernel_size - 1) // 2
        self.conv = nn.Sequential(
            nn.LayerNorm(hidden, eps=_LN_EPS, bias=bias), _Transpose(),
            nn.Conv1d(hidden, hidden, kernel_size, dilation=dilation, padding=self.radius, groups=groups,
                      bias=bias),
            _Transpose(), nn.GELU(), nn.Linear(hidden, hidden, bias=bias))
        self.ffn = nn.Sequential(
            nn.LayerNorm(hidden, eps=_LN_EPS, bias=bias), nn.Linear(hidden, intermediate, bias=bias), nn.GELU(),
            nn.Linear(intermediate, hidden, bias=bias))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.conv(x)
        return x + self.ffn(x)

    @property
    def conv1d(self) -> nn.Conv1d:
        return self.conv[2]

    def forward_at(self, x: torch.Tensor, taps: torch.Tensor, centre_tap: int, pad: bool) -> torch.Tensor:
        """:meth:`forward` at a few positions only (see :class:`~bioR2.dna.model.ConePlan`); the zero
        padding applies to the convolution's input, ``LN(x)``."""
        h = _conv_at(self.conv1d, self.conv[0](x), taps, pad)
        x = x[:, taps[:, centre_tap]] + self.conv[5](self.conv[4](h))
        return x + self.ffn(x)


class GPNLegacyConvLayer(nn.Module):
    """GPN's legacy ``ConvLayer`` (``gpn/legacy.py``, post-LayerNorm, biases):
    ``x + LN(GELU(Conv1d(x)))``, then ``x + LN(GELU(Linear(x)))``."""

    def __init__(self, hidden: int, kernel_size: int, dilation: int) -> None:
        super().__init__()
        self.radius = dilation * (kernel_size - 1) // 2
        self.conv = nn.Sequential(
            _Transpose(), nn.Conv1d(hidden, hidden, kernel_size, dilation=dilation, padding=self.radius),
            _Transpose(), nn.GELU(), nn.LayerNorm(hidden, eps=_LN_EPS))
        self.ffn = nn.Sequential(nn.Linear(hidden, hidden), nn.GELU(), nn.LayerNorm(hidden, eps=_LN_EPS))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.conv(x)
        return x + self.ffn(x)

    @property
    def conv1d(self) -> nn.Conv1d:
        return self.conv[1]

    def forward_at(self, x: torch.Tensor, taps: torch.Tensor, centre_tap: int, pad: bool) -> torch.Tensor:
        """:meth:`forward` at a few positions only (see :class:`~bioR2.dna.model.ConePlan`)."""
        h = _conv_at(self.conv1d, x, taps, pad)
        x = x[:, taps[:, centre_tap]] + self.conv[4](self.conv[3](h))
        return x + self.ffn(x)


def gpn_dilations(cfg: Dict[str, Any]) -> List[int]:
    """GPN's ``get_dilation_schedule``."""
    base, cycle, every = cfg["dilation_base"], cfg["dilation_cycle"], cfg["dilation_double_every"]
    return [min(cfg["dilation_max"], base ** ((i % cycle) // every)) for i in range(cfg["num_hidden_layers"])]


class GPNMaskedLM(nn.Module):
    """GPN's ``GPNForMaskedLM`` (ConvNet encoder), or its legacy ``ConvNetForMaskedLM``, with
    bioR2's model interface for scoring.

    Parameter names equal the checkpoint's (``model.encoder.layer.0.conv.2.weight``, ...).
    Inputs are bioR2 token ids; logits come back over bioR2's vocabulary. ``window`` is the
    default scoring window (GPN's configs do not record one).
    """

    arch = "convnet"
    reverse_window = "same"  # GPN's run_vep: the reverse strand is the forward window, reverse-complemented

    def __init__(self, config: Dict[str, Any], window: int = 512, source: str = "") -> None:
        super().__init__()
        self.config = dict(config)
        self.source = source
        self.window = int(window)
        self.tokenizer = NucleotideTokenizer()
        self.hidden = int(config["hidden_size"])
        self.dilations = gpn_dilations(config)
        self.model = nn.Module()
        self.cls = nn.Module()
        if config.get("legacy"):
            self._build_legacy()
        else:
            self._build(config)
        self.register_buffer("to_gpn", torch.tensor(_TO_GPN), persistent=False)
        self.register_buffer("from_gpn", torch.tensor(_FROM_GPN), persistent=False)

    def _build_legacy(self) -> None:
        """``ConvNetForMaskedLM``: ``model.encoder.{i}``, no final LayerNorm, a 4-module head."""
        h = self.hidden
        self.model.encoder = nn.ModuleList(GPNLegacyConvLayer(h, self.config["first_kernel_size"], d)
                                           for d in self.dilations)
        self.model.ln_f = nn.Identity()
        self.cls.transform = nn.Identity()
        self.cls.decoder = nn.Sequential(nn.Linear(h, h), nn.GELU(), nn.LayerNorm(h, eps=_LN_EPS),
                                         nn.Linear(h, len(GPN_VOCAB)))

    def _build(self, config: Dict[str, Any]) -> None:
        """``GPNForMaskedLM``: ``model.encoder.layer.{i}``, ``model.ln_f``, ``cls.transform``, ``cls.decoder``."""
        h, bias = self.hidden, config["bias"]
        self.model.embeddings = nn.Module()
        if config["embedding"] == "embedding":
            self.model.embeddings.word_embeddings = nn.Embedding(len(GPN_VOCAB), h, padding_idx=0)
        self.model.encoder = nn.Module()
        self.model.encoder.layer = nn.ModuleList(
            GPNConvLayer(h, config["intermediate_size"],
                         config["first_kernel_size"] if i == 0 else config["rest_kernel_size"], d,
                         1 if (not config["depthwise"] or i == 0) else h, bias)
            for i, d in enumerate(self.dilations))
        self.model.ln_f = nn.LayerNorm(h, eps=_LN_EPS, bias=bias)
        self.cls.transform = (
            nn.Sequential(nn.Linear(h, h, bias=bias), nn.GELU(), nn.LayerNorm(h, eps=_LN_EPS, bias=bias))
            if config["mlm_head_transform"] else nn.Identity())
        self.cls.decoder = nn.Linear(h, len(GPN_VOCAB), bias=bias)

    @property
    def blocks(self) -> nn.ModuleList:
        return self.model.encoder if self.config.get("legacy") else self.model.encoder.layer

    @property
    def receptive_radius(self) -> int:
        """Bases seen on each side of a position."""
        return sum(b.radius for b in self.blocks)

    def get_config(self) -> Dict[str, Any]:
        return dict(self.config, window=self.window)

    def embed(self, input_ids: torch.Tensor) -> torch.Tensor:
        ids = self.to_gpn[input_ids.long()]
        if self.config["embedding"] == "embedding":
            return self.model.embeddings.word_embeddings(ids)
        return F.one_hot(ids, num_classes=self.hidden).to(next(self.parameters()).dtype)

    def encode(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Final hidden states ``(B, L, hidden)`` (after GPN's final LayerNorm) of bioR2 token ids."""
        x = self.embed(input_ids)
        for block in self.blocks:
            x = block(x)
        return self.model.ln_f(x)

    def mlm_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Logits over bioR2's vocabulary of hidden states ``(..., hidden)``."""
        return self.cls.decoder(self.cls.transform(hidden)).index_select(-1, self.from_gpn)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, L, 7)`` over bioR2's vocabulary at every position."""
        return self.mlm_logits(self.encode(input_ids))

    def cone_plan(self, length: int, center: int) -> ConePlan:
        """The (cached) :class:`~bioR2.dna.model.ConePlan` of a window length and centre."""
        plans = self.__dict__.setdefault("_cone_plans", {})
        key = (int(length), int(center))
        if key not in plans:
            plans[key] = ConePlan([_ConvView(b.conv1d) for b in self.blocks], length, center)
        return plans[key]

    def center_hidden(self, input_ids: torch.Tensor, center: int) -> torch.Tensor:
        """Final hidden state ``(B, hidden)`` at ``center``; each layer computes only the positions
        the centre reads through the dilations (the sparse cone of :class:`~bioR2.dna.model.ConePlan`)."""
        L = input_ids.shape[1]
        if not 0 <= center < L:
            raise ValueError(f"center {center} is outside the window of length {L}")
        plan = self.cone_plan(L, center)
        inputs, taps, _ = plan.on(input_ids.device)
        x = self.embed(input_ids[:, inputs])
        for block, t, ct, pad in zip(self.blocks, taps, plan.centre_tap, plan.pads):
            x = block.forward_at(x, t, ct, pad)
        return self.model.ln_f(x[:, 0])

    def center_logits(self, input_ids: torch.Tensor, center: int) -> torch.Tensor:
        """Logits ``(B, 7)`` at ``center``: equal to ``forward(input_ids)[:, center]``."""
        return self.mlm_logits(self.center_hidden(input_ids, center))


# ---------------------------------------------------------------------------- loading
def _read_weights(directory: Path) -> tuple:
    st, pt = directory / SAFETENSORS_FILE, directory / TORCH_FILE
    if st.is_file():
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return st, load_file(str(st), device="cpu")
        except (SafetensorError, OSError, ValueError) as exc:
            raise CheckpointError(f"{st}: unreadable, truncated or corrupt safetensors file ({exc})") from None
    if pt.is_file():
        try:
            state = torch.load(pt, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises many kinds for a broken zip/pickle stream
            raise CheckpointError(f"{pt}: unreadable, truncated or corrupt weights file "
                                  f"({type(exc).__name__}: {exc})") from None
        if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise CheckpointError(f"{pt}: not a state dict of tensors")
        return pt, state
    sharded = sorted(p.name for p in directory.glob("*.index.json"))
    extra = f" (sharded checkpoints such as {sharded[0]} are not supported)" if sharded else ""
    raise CheckpointError(f"{directory}: no {SAFETENSORS_FILE} or {TORCH_FILE} beside {CONFIG_FILE}{extra}; "
                          "a Hub id fetches only *.safetensors weights: for a repo with pytorch_model.bin, "
                          "download it (`hf download ORG/NAME --local-dir DIR`) and pass --model DIR")


def load_gpn_checkpoint(directory: PathLike, window: int = 512) -> GPNMaskedLM:
    """A :class:`GPNMaskedLM` from a GPN Hugging Face folder (``config.json`` + weights, GPN's
    tokenizer), in eval mode. Errors name the file and the field or the parameters at fault."""
    directory = Path(directory)
    cfg = read_gpn_config(directory)
    _check_tokenizer(directory)
    path, state = _read_weights(directory)
    model = GPNMaskedLM(cfg, window=window, source=str(directory))
    if cfg["tie_word_embeddings"] and cfg["embedding"] == "embedding" and "cls.decoder.weight" not in state:
        key = "model.embeddings.word_embeddings.weight"
        if key in state:
            state = dict(state, **{"cls.decoder.weight": state[key]})
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            f"{path}: its weights do not match the GPN network {directory / CONFIG_FILE} describes: "
            f"missing {missing[:6]}{' ...' if len(missing) > 6 else ''} ({len(missing)}), unexpected "
            f"{unexpected[:6]}{' ...' if len(unexpected) > 6 else ''} ({len(unexpected)})")
    wrong = [f"{k} {tuple(state[k].shape)} (config: {tuple(v.shape)})" for k, v in expected.items()
             if tuple(state[k].shape) != tuple(v.shape)]
    if wrong:
        raise CheckpointError(f"{path}: tensor shapes disagree with {directory / CONFIG_FILE}: {wrong[:4]}")
    bad = [k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise CheckpointError(f"{path}: non-finite values (NaN or inf) in {bad[:4]}; the file is corrupt")
    model.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
    return model.eval()

