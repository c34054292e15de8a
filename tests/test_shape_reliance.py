import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

import shape_reliance  # noqa: E402
from auxiliary.errors import InputError  # noqa: E402

KEYS = ["car/01", "car/01", "car/02", "mug/01", "mug/03", "bed/01", "bed/01"]
CATS = np.array(["car", "car", "car", "mug", "mug", "bed", "bed"])


def test_swaps_give_another_instance_of_the_class_or_another_class():
    rng = np.random.default_rng(0)
    assert shape_reliance.swapped_keys(KEYS, CATS, "own", rng) == (KEYS, len(KEYS))
    same, kept = shape_reliance.swapped_keys(KEYS, CATS, "same class", rng)
    assert kept == 2  # bed has one instance: its two samples keep their cloud
    for key, new, cat in zip(KEYS, same, CATS):
        assert new.split("/")[0] == cat and (new != key or cat == "bed")
    other, kept = shape_reliance.swapped_keys(KEYS, CATS, "other class", rng)
    assert kept == 0 and all(new.split("/")[0] != cat for new, cat in zip(other, CATS))


def test_a_teacher_is_scored_with_each_swap_and_an_image_network_refused(synthetic_root, teacher_path,
                                                                         image_model_path, tmp_path):
    common = ["--dataset", "Synthetic", "--data_dir", str(synthetic_root), "--workers", "0"]
    rows = shape_reliance.main(common + ["--model", str(teacher_path), "--output", str(tmp_path / "r.json")])
    assert list(rows) == [*shape_reliance.SWAPS, "turned"] and (tmp_path / "r.json").is_file()
    assert all(0 <= row["acc30"] <= 100 and 0 <= row["mederr"] <= 180 for row in rows.values())
    assert rows["other class"]["kept"] == 0
    # with its own clouds it is scored exactly as testing.py scores it
    import testing
    table = testing.main(common + ["--model", str(teacher_path), "--output_dir", str(tmp_path / "test")])["table"]
    assert rows["own"]["acc30"] == table["mean"]["acc30"] and rows["own"]["mederr"] == table["mean"]["mederr"]
    # a turn of 0 scores as the own row; a half turn moves every azimuth label, so the errors change
    unturned = shape_reliance.main(common + ["--model", str(teacher_path), "--turn", "0"])
    assert unturned["turned"]["acc30"] == unturned["own"]["acc30"]
    assert unturned["turned"]["mederr"] == unturned["own"]["mederr"]
    half_turned = shape_reliance.main(common + ["--model", str(teacher_path), "--turn", "180"])
    assert half_turned["turned"]["mederr"] != half_turned["own"]["mederr"]
    with pytest.raises(InputError, match="image-only network"):
        shape_reliance.main(common + ["--model", str(image_model_path)])
