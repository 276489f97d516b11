#!/usr/bin/env bash
# Install the embedded default dataset (real Fashion-MNIST) from Debian's package when apt is
# there and we are root. Never substitutes synthetic data: if nothing works, say what to do.
set -u
dir=/usr/share/datasets/fashion-mnist
if [ -f "$dir/train-images-idx3-ubyte.gz" ]; then
  echo "[data] Fashion-MNIST found in $dir"; exit 0
fi
if ls data/fashion-mnist/train-images-idx3-ubyte* >/dev/null 2>&1; then
  echo "[data] Fashion-MNIST found in data/fashion-mnist"; exit 0
fi
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "[data] installing Debian package dataset-fashion-mnist"
  if ! apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1; then
    apt-get update -q >/dev/null 2>&1 && apt-get install -y -q dataset-fashion-mnist >/dev/null
  fi
  [ -f "$dir/train-images-idx3-ubyte.gz" ] && { echo "[data] installed into $dir"; exit 0; }
fi
echo "[data] Fashion-MNIST not found. Install it with 'sudo apt-get install dataset-fashion-mnist'" >&2
echo "       or put the four idx files into data/fashion-mnist/ (see data/README.md)." >&2
echo "       umalib will also try torchvision's download into data/ when a network exists." >&2
exit 0
