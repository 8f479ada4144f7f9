"""Profiles: one code path, two sizes.

- ``tiny``: CPU, offline, seconds. What CI and laptops run.
- ``full``: GPU + internet. The real models and datasets a task names (e.g. on Colab).

``JOURNEY_PROFILE=tiny|full`` chooses; when unset, ``full`` needs both a CUDA GPU and a
reachable Hugging Face hub (decided within ~2 s), otherwise ``tiny``.
"""
import functools
import os
import socket
from dataclasses import dataclass

PROFILES = ("tiny", "full")
HUB_HOST = "huggingface.co"


@dataclass(frozen=True)
class Profile:
    name: str    # "tiny" or "full"
    reason: str  # why this profile was chosen, printed by every notebook

    def __str__(self):
        return f"{self.name} ({self.reason})"


def hub_reachable(timeout: float = 2.0) -> bool:
    """True when a TCP connection to the hub opens within `timeout` seconds and offline mode is off."""
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False"):
        return False
    try:
        with socket.create_connection((HUB_HOST, 443), timeout=timeout):
            return True
    except OSError:
        return False


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


@functools.cache
def active_profile() -> Profile:
    requested = os.environ.get("JOURNEY_PROFILE", "").strip().lower()
    if requested:
        if requested not in PROFILES:
            raise ValueError(f"JOURNEY_PROFILE={requested!r}: use one of {', '.join(PROFILES)}")
        return Profile(requested, "set by JOURNEY_PROFILE")
    if not cuda_available():
        return Profile("tiny", "no CUDA GPU; set JOURNEY_PROFILE=full to override")
    if not hub_reachable():
        return Profile("tiny", "GPU found but the Hugging Face hub is unreachable")
    return Profile("full", "CUDA GPU and Hugging Face hub available")


def pick(tiny, full):
    """Return the value for the active profile: ``cfg = pick(tiny=dict(...), full=dict(...))``."""
    return tiny if active_profile().name == "tiny" else full


def require_hub(what: str) -> None:
    """Fail within seconds, with the reason, when the full profile cannot reach the hub."""
    if not hub_reachable():
        raise ConnectionError(
            f"{what} needs the Hugging Face hub, which is unreachable from here. "
            "Run with JOURNEY_PROFILE=tiny (offline), or connect to the internet."
        )
