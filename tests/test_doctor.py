"""`journey doctor`: one line per check, a non-zero exit when something required is missing."""
from shared import assets, doctor
from shared.cli import main


def test_doctor_prints_one_line_per_check_and_passes_here(capsys):
    assert main(["doctor"]) == 0
    lines = capsys.readouterr().out.splitlines()
    checks = [line for line in lines if line.startswith("[")]
    names = " ".join(checks)
    for expected in ("python", "torch", "transformers", "cpu", "gpu", "hugging face hub", "profile",
                     "asset smollm2", "disk"):
        assert expected in names, expected
    assert all(line[1:5].strip() in ("ok", "warn", "FAIL") for line in checks)


def test_a_missing_asset_fails_the_doctor_with_the_fix(monkeypatch, capsys):
    monkeypatch.setattr(assets.PackageFile, "locate", lambda self: None)
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "[FAIL] asset imdb_csv" in out and "journey assets" in out


def test_a_version_other_than_the_lock_is_a_warning_not_a_failure(monkeypatch):
    monkeypatch.setattr(doctor, "locked_versions", lambda: {"torch": "0.0.1"})
    torch_check = next(c for c in doctor.check_packages() if c.name == "torch")
    assert torch_check.status == "warn" and "0.0.1" in torch_check.detail


def test_colab_line_appears_only_in_colab(monkeypatch):
    assert doctor.check_colab("module05_pretraining") is None
    monkeypatch.setenv("COLAB_RELEASE_TAG", "release-colab")
    check = doctor.check_colab("module05_pretraining")
    assert check.status == "warn" and "T4 GPU" in check.detail  # no GPU on this machine
