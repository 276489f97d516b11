"""umalib: unlearn models, verify the unlearning with the Unlearning Mapping Attack (UMA).

See README.md for the notebooks that reproduce the paper
"Verifying Robust Unlearning: Probing Residual Knowledge in Unlearned Models".
"""

__version__ = "0.1.0"
