"""llm-journey's helper package: profiles, results ledger, offline assets, data and model loaders.

Reusable from-scratch components (BPE, n-gram LM, attention, GPT, ...) live in their own
modules (`shared.bpe`, `shared.gpt`, ...) and are imported explicitly.
"""
from .ledger import ExpectationFailed
from .notebook import Run, start
from .profile import active_profile, pick

__all__ = ["ExpectationFailed", "Run", "active_profile", "pick", "start"]
__version__ = "0.1.0"
