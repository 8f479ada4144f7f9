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


def test_tiny_t5_recipe_follows_its_config(monkeypatch):
    from shared.train import tiny_t5

    before = tiny_t5.recipe()
    monkeypatch.setattr(tiny_t5.TinyT5Config, "__init__", _with_wider_model(tiny_t5.TinyT5Config.__init__))
    assert tiny_t5.recipe() != before
    assert assets.DERIVED["t5_tiny"].recipe is tiny_t5.recipe  # registered with the asset layer


def _with_wider_model(init):
    def wider(self, *args, **kwargs):
        init(self, *args, **kwargs)
        self.d_model *= 2
    return wider
