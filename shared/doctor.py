"""`journey doctor`: is this machine ready for the course? One line per check, so a bug report can
paste the output; the exit code is non-zero when something required is missing.

    journey doctor                       # everything
    journey doctor --module module05_pretraining   # also: that module's full profile on this GPU
"""
import importlib.metadata
import os
import platform
import shutil
import sys
from dataclasses import dataclass

from .paths import cache_dir, repo_root

KEY_PACKAGES = ("torch", "transformers", "tokenizers", "datasets", "accelerate", "peft", "trl", "numpy",
                "scikit-learn", "jupyter", "nbclient")
MIN_FREE_GB = 5.0  # the cache holds converted models and datasets: about 2 GB after `journey assets`


@dataclass
class Check:
    name: str
    status: str      # "ok", "warn" (works, but worth knowing) or "FAIL" (required and missing)
    detail: str

    def __str__(self):
        return f"[{self.status:<4}] {self.name:<30} {self.detail}"


def locked_versions() -> dict[str, str]:
    """name -> version pinned in constraints.txt (empty outside a checkout)."""
    root = repo_root()
    if root is None or not (root / "constraints.txt").exists():
        return {}
    pins = {}
    for line in (root / "constraints.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==")
            pins[name.strip().lower().replace("_", "-")] = version.strip()
    return pins


def check_python() -> Check:
    version = platform.python_version()
    ok = sys.version_info >= (3, 11)
    return Check("python", "ok" if ok else "FAIL", version + ("" if ok else ": the course needs Python 3.11 or newer"))


def check_packages() -> list[Check]:
    pins = locked_versions()
    checks = []
    for name in KEY_PACKAGES:
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            checks.append(Check(name, "FAIL", "not installed: pip install -c constraints.txt -e \".[test]\""))
            continue
        locked = pins.get(name)
        if locked is None or installed.split("+")[0] == locked:
            checks.append(Check(name, "ok", installed + (" (as locked)" if locked else "")))
        else:
            checks.append(Check(name, "warn", f"{installed}, the lock says {locked}: results may differ slightly"))
    return checks


def check_cpu() -> Check:
    import torch

    return Check("cpu", "ok", f"{os.cpu_count()} cores, torch uses {torch.get_num_threads()} threads "
                              f"({platform.machine()}, {platform.system()})")


def check_gpu() -> Check:
    import torch

    if not torch.cuda.is_available():
        return Check("gpu", "ok", "none: the tiny profile runs on the CPU; the full profile needs a CUDA GPU")
    props = torch.cuda.get_device_properties(0)
    bf16 = "bf16 yes" if torch.cuda.is_bf16_supported() else "bf16 no (use fp16 + loss scaling)"
    return Check("gpu", "ok", f"{props.name}, {props.total_memory / 2**30:.1f} GiB, "
                              f"compute {props.major}.{props.minor}, fp16 yes, {bf16}")


def check_hub() -> Check:
    from .profile import hub_reachable

    if hub_reachable():
        return Check("hugging face hub", "ok", "reachable")
    return Check("hugging face hub", "ok", "unreachable (or HF_HUB_OFFLINE=1): fine for the tiny profile")


def check_profile() -> Check:
    from .profile import active_profile

    return Check("profile", "ok", str(active_profile()))


def check_assets() -> list[Check]:
    """Every registered asset (the caller imports the modules that register them first)."""
    from .assets import ASSETS, check_all

    checks = []
    for name, status in check_all().items():
        if status.startswith("ok"):
            checks.append(Check(f"asset {name}", "ok", status.removeprefix("ok: ")))
        else:
            checks.append(Check(f"asset {name}", "FAIL", f"missing: run `{ASSETS[name].hint}`"))
    return checks


def check_disk() -> Check:
    free_gb = shutil.disk_usage(cache_dir()).free / 2**30
    status = "ok" if free_gb >= MIN_FREE_GB else "warn"
    return Check("disk", status, f"{free_gb:,.1f} GB free in {cache_dir()}" +
                 ("" if status == "ok" else f": the cache needs about {MIN_FREE_GB:.0f} GB"))


def check_colab(module: str | None) -> Check | None:
    """In Colab: whether the runtime has a GPU, and roughly how long the module's full profile takes."""
    if "google.colab" not in sys.modules and "COLAB_RELEASE_TAG" not in os.environ:
        return None
    import torch

    if not torch.cuda.is_available():
        return Check("colab", "warn", "no GPU: Runtime > Change runtime type > T4 GPU for the full profile")
    estimate = module_full_minutes(module) if module else None
    when = f"; {module}'s full profile: about {estimate:.0f} min on a T4" if estimate else ""
    return Check("colab", "ok", f"GPU runtime{when}")


def module_full_minutes(module: str) -> float | None:
    """The summed full-profile estimates (T4 minutes) of a module's notebooks, from curriculum.json."""
    from .curriculum import tasks

    minutes = [t.full_t4_minutes for t in tasks() if t.module == module and t.full_t4_minutes]
    return sum(minutes) if minutes else None


def run_checks(module: str | None = None) -> list[Check]:
    checks = [check_python(), *check_packages(), check_cpu(), check_gpu(), check_hub(), check_profile(),
              *check_assets(), check_disk()]
    colab = check_colab(module)
    return checks + ([colab] if colab else [])


def main(module: str | None = None) -> int:
    checks = run_checks(module)
    for check in checks:
        print(check)
    failed = [c.name for c in checks if c.status == "FAIL"]
    print(f"\n{len(checks)} checks: " + (f"{len(failed)} failed ({', '.join(failed)})" if failed else "all required ones pass"))
    return 1 if failed else 0
