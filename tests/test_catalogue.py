"""The grid catalogue as data: catalogue.yaml holds every study's grids at every profile, each validates, and a
mistake in a catalogue file is an error naming the file and the key."""
from __future__ import annotations

import pytest
import yaml

from ftax.store.errors import InvalidConfigError
from ftax.study.catalogue import CATALOGUE_FILE, RUNS, STUDIES, load_catalogue, profile_grids
from ftax.sweep.grids import pow2
from ftax.sweep.profiles import PROFILES


def test_the_yaml_holds_every_studys_grids_at_every_profile_and_each_validates():
    catalogue = load_catalogue(CATALOGUE_FILE)  # validates every grid
    assert tuple(catalogue.studies) == STUDIES and tuple(catalogue.runs) == RUNS
    for study in STUDIES:
        assert set(catalogue.studies[study]) == set(PROFILES)
        for profile in PROFILES:
            assert catalogue.studies[study][profile], (study, profile)
            assert profile_grids(profile, study)[:len(catalogue.studies[study][profile])] == \
                list(catalogue.studies[study][profile])
    assert all(catalogue.runs[run] for run in RUNS)


def test_short_forms_are_written_out():
    """pow2 ranges, $lists and a width x depth mapping expand as the file's header says."""
    quick = {g.name: g for g in profile_grids("quick", "model-design")}
    assert quick["width-depth"].overrides[:2] == ((("depth", 2), ("width", 128)), (("depth", 4), ("width", 128)))
    assert len(quick["width-depth"].overrides) == 9
    assert quick["efficient"].models == ("bert-base", "distilbert", "squeezebert", "mobilebert")
    assert profile_grids("quick", "framework-bound")[0].batch_sizes == pow2(1, 64)
    paradigms = profile_grids("quick", "paradigms")[0]
    assert "aot-inductor" not in paradigms.backends and "eager" in paradigms.backends


def _write(tmp_path, grid: dict) -> str:
    """A catalogue file whose one study holds `grid` at every profile."""
    path = tmp_path / "catalogue.yaml"
    path.write_text(yaml.safe_dump({"studies": {"one": {p: [grid] for p in PROFILES}},
                                    "runs": {"run": [{"name": "r", "models": ["bert-tiny"]}]}}))
    return str(path)


@pytest.mark.parametrize("grid, key", [
    ({"name": "g", "models": ["bert-tiny"], "batchsizes": [1]}, "batchsizes"),
    ({"name": "g", "models": ["bert-tiny"], "batch_sizes": ["one"]}, "batch_sizes"),
    ({"name": "g", "models": ["bert-tiny"], "batch_sizes": {"pow2": [1]}}, "batch_sizes"),
    ({"name": "g", "models": ["$nowhere"]}, "models"),
    ({"name": "g", "models": ["bert-tiny"], "decompose": "yes"}, "decompose"),
    ({"name": "g", "models": ["bert-tiny"], "device": "cpu"}, "device"),
])
def test_a_bad_key_or_value_names_the_file_and_the_key(tmp_path, grid, key):
    path = _write(tmp_path, grid)
    with pytest.raises(InvalidConfigError) as err:
        load_catalogue(path, validate=False)
    assert path in str(err.value) and key in str(err.value) and "studies.one.smoke[0]" in str(err.value)


def test_a_value_the_grid_refuses_names_the_file_and_the_entry(tmp_path):
    path = _write(tmp_path, {"name": "g", "models": ["no-such-model"]})
    catalogue = load_catalogue(path, validate=False)  # keys and types are fine; the model is checked on use
    assert catalogue.studies["one"]["quick"][0].models == ("no-such-model",)
    with pytest.raises(InvalidConfigError, match=r"studies\.one\.smoke\[0\] \(g\): unknown model 'no-such-model'") \
            as err:
        load_catalogue(path)
    assert path in str(err.value)


def test_a_study_missing_a_profile_or_an_unknown_top_key_is_refused(tmp_path):
    path = tmp_path / "catalogue.yaml"
    path.write_text(yaml.safe_dump({"studies": {"one": {"smoke": [{"name": "g", "models": ["bert-tiny"]}]}},
                                    "runs": {}}))
    with pytest.raises(InvalidConfigError, match=r"studies\.one must list the grids of each profile"):
        load_catalogue(path, validate=False)
    grid = [{"name": "g", "models": ["bert-tiny"]}]
    path.write_text(yaml.safe_dump({"studies": {"one": {p: grid for p in PROFILES}}, "runs": {"one": grid}}))
    with pytest.raises(InvalidConfigError, match=r"\['one'\] named both a study and a run"):
        load_catalogue(path, validate=False)
    path.write_text(yaml.safe_dump({"studies": {}, "extra": 1}))
    with pytest.raises(InvalidConfigError, match=r"unknown key\(s\) \['extra'\]") as err:
        load_catalogue(path, validate=False)
    assert str(path) in str(err.value)
