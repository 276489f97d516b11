"""Defences against UMA (paper Section 5.3 and Appendix A.2).

- :func:`adversarial_unlearning` / :class:`UMAHook`: Eq. 6, unlearning with an inner UMA attack
  on every forget batch (:mod:`.adversarial_unlearning`).
- :class:`ConvVAE`, :func:`train_vae`, :class:`Purified`, :func:`attack_unaware`,
  :func:`attack_aware`: test-time VAE purification and its two threat models (:mod:`.purifier`).
"""

from .adversarial_unlearning import UMAHook, adversarial_unlearning
from ..config import THREAT_MODELS
from ..models.vae import ConvVAE
from .purifier import Purified, PurifiedAttack, attack_aware, attack_unaware, train_vae

__all__ = ["UMAHook", "adversarial_unlearning", "ConvVAE", "train_vae", "Purified",
           "PurifiedAttack", "attack_unaware", "attack_aware", "THREAT_MODELS"]
