"""Models: the classifiers (:mod:`.classifiers`), the masked autoencoder (:mod:`.mae`) and the
purifier's VAE (:mod:`.vae`)."""

from .classifiers import ARCHS, Classifier, build_model
from .mae import MAE, Inpainter, MAEConfig
from .vae import ConvVAE

__all__ = ["ARCHS", "Classifier", "build_model", "MAE", "Inpainter", "MAEConfig", "ConvVAE"]
