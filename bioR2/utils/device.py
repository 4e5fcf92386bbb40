"""The one default device of every command and function that runs a model.

``"auto"``: CUDA (``cuda:<local rank>``) when there is one, else the CPU
(:func:`bioR2.train.distributed.resolve_device`). Standard library only: the CLI's help reads it.
"""

DEFAULT_DEVICE = "auto"
DEVICE_HELP = "auto (CUDA when available) | cpu | cuda | cuda:N"

__all__ = ["DEFAULT_DEVICE", "DEVICE_HELP"]
