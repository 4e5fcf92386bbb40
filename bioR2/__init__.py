"""bioR2: pretrain biological foundation models with R²MAE masking and use them downstream.

R²MAE draws the masking ratio per mini-batch, ``p ~ U(p_min, p_max)``, instead of fixing it.
Subpackages: ``bioR2.masking`` (the one masking core), ``bioR2.train`` (the one trainer),
``bioR2.dna``, ``bioR2.sc``, ``bioR2.vision``, ``bioR2.text`` (domains, each declared by a
``spec.py``), ``bioR2.theory``. ``bioR2.pretrain(domain, data, out, ...)`` trains any domain.
"""

from typing import TYPE_CHECKING

from .utils.lazy import lazy_exports

__version__ = "0.1.0"

__getattr__, __dir__ = lazy_exports(__name__, {
    "pipeline": ("pretrain", "PretrainResult", "resolve_run_config"),
    "domain": ("get_domain", "DomainSpec"),
    "hub": ("load_model",),
})

if TYPE_CHECKING:
    from .domain import DomainSpec, get_domain
    from .hub import load_model
    from .pipeline import PretrainResult, pretrain, resolve_run_config

__all__ = ["pretrain", "PretrainResult", "resolve_run_config", "load_model", "get_domain", "DomainSpec", "__version__"]
