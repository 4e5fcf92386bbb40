"""The one trainer of bioR2, shared by every domain through the :class:`Task` interface, and the
masked-LM task every token model (DNA, text) shares: :class:`MaskedTokenTask`."""

from .checkpoint import (
    CheckpointError,
    PretrainedModule,
    latest_checkpoint,
    load_model,
    load_train_state,
    load_weights,
    read_model_config,
    save_checkpoint,
    save_model,
)
from .config import TrainConfig
from .distributed import DistContext, setup_distributed
from .history import history_frame, read_log
from .mlm import MaskedTokenTask
from .sampler import ChunkShuffleSampler, IndexedDataset, ResumableDistributedSampler, chunk_sampler_factory, index_rng
from .schedule import warmup_cosine_lr
from .task import Task, TaskOutput
from .trainer import EVAL_MASK_SEED, Trainer, TrainResult

__all__ = [
    "Task",
    "TaskOutput",
    "MaskedTokenTask",
    "TrainConfig",
    "Trainer",
    "TrainResult",
    "EVAL_MASK_SEED",
    "PretrainedModule",
    "CheckpointError",
    "save_model",
    "load_model",
    "load_weights",
    "read_model_config",
    "save_checkpoint",
    "latest_checkpoint",
    "load_train_state",
    "DistContext",
    "setup_distributed",
    "ResumableDistributedSampler",
    "ChunkShuffleSampler",
    "chunk_sampler_factory",
    "IndexedDataset",
    "index_rng",
    "warmup_cosine_lr",
    "read_log",
    "history_frame",
]
