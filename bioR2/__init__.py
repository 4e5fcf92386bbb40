"""bioR2: pretrain biological foundation models with R²MAE masking and use them downstream.

R²MAE draws the masking ratio per mini-batch, ``p ~ U(p_min, p_max)``, instead of fixing it.
Subpackages: ``bioR2.masking`` (the one masking core), ``bioR2.train`` (the one trainer),
``bioR2.dna``, ``bioR2.sc``, ``bioR2.vision``, ``bioR2.text`` (domains), ``bioR2.theory``.
"""

__version__ = "0.1.0"
