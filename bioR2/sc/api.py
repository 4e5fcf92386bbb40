"""``bioR2.sc.pretrain``: the one :func:`bioR2.pretrain` with the domain filled in.

Kept apart from ``spec.py`` so that the spec (a declaration) never imports the pipeline that
runs it; ``bioR2.sc`` exports it lazily.
"""

from __future__ import annotations

from ..pipeline import domain_pretrain

__all__ = ["pretrain"]

pretrain = domain_pretrain("sc")
