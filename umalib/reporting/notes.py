"""Plain-text notes printed under the tables: the settings behind each table."""

from __future__ import annotations

from ..budget import label
from ..config import Profile


def defense_notes(profile: Profile, n_attacked: int) -> list[str]:
    """Plain-text notes for the tables: defence and attack settings, subset sizes."""
    d, a = profile.defense, profile.attack
    return [
        f"adversarial unlearning (Eq. 6): inner UMA per forget batch, eps {label(d.adv_eps)}, "
        f"{d.adv_steps} steps of {label(d.adv_step_size)}, {d.adv_init} start, weight {d.adv_weight:g}",
        f"purifier: conv VAE, latent {d.vae_latent}, width {d.vae_width}, {d.vae_epochs} epochs, "
        f"beta {d.vae_beta:g}, trained on "
        + (f"{d.vae_train_subset} seeded" if d.vae_train_subset else "all")
        + " training images (all classes); reconstruction = posterior mean",
        f"UMA: eps {', '.join(label(e) for e in a.eps)}, step {label(a.step_size)}, {a.steps} steps, "
        f"loss {a.loss}; attacked columns over the seeded subset of {n_attacked} forget samples of "
        "notebook 02, clean columns over the whole forget set",
        "+vae rows: TA/UA/MIA of the purified model, MIA fitted on its own clean shadow outputs",
    ]
