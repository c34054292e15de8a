"""--dataset Custom: a table of your own classes, with zero-shot and evaluation splits chosen by name."""
import json
import shutil

import pytest

import testing
import training
from auxiliary.errors import InputError
from dataset import check
from dataset.viewpoint import ViewpointDataset
from conftest import TINY_TEACHER, without_flags


@pytest.fixture(scope="module")
def custom_root(synthetic_root, tmp_path_factory):
    """The tiny synthetic set renamed into a Custom table (the worked example of docs/data.md)."""
    root = tmp_path_factory.mktemp("own") / "Custom"
    shutil.copytree(synthetic_root, root)
    (root / "Synthetic.txt").rename(root / "Custom.txt")
    return root


def test_every_class_is_trained_and_evaluated(custom_root, synthetic_root):
    train = ViewpointDataset(custom_root, "Custom", "train")
    val = ViewpointDataset(custom_root, "Custom", "val")
    assert val.class_names == ViewpointDataset(synthetic_root, "Synthetic", "val").class_names
    assert set(train.class_names) == set(val.class_names) and len(val.class_names) == 12


def test_novel_classes_by_name_choose_the_zero_shot_split(custom_root):
    novel = ("guitar", "mug")
    train = ViewpointDataset(custom_root, "Custom", "train", novel_classes=novel)
    val = ViewpointDataset(custom_root, "Custom", "val", novel_classes=novel)
    assert not set(novel) & set(train.class_names) and len(train.class_names) == 10
    assert val.class_names == list(novel)
    only = ViewpointDataset(custom_root, "Custom", "val", eval_classes=("car",))
    assert only.class_names == ["car"]


@pytest.mark.parametrize("kwargs, flag", [({"novel_classes": ("guitar", "teapot")}, "--novel_classes: teapot"),
                                          ({"eval_classes": ("Car",)}, "--eval_classes: Car")])
def test_a_class_missing_from_the_table_is_an_error_listing_its_classes(custom_root, kwargs, flag):
    with pytest.raises(InputError, match=flag) as error:
        ViewpointDataset(custom_root, "Custom", "val", **kwargs)
    assert "aeroplane, bed, bench" in str(error.value) and "Custom.txt" in str(error.value)


def test_novel_without_names_is_an_error(custom_root):
    with pytest.raises(InputError, match="no novel classes: name them with --novel_classes"):
        ViewpointDataset(custom_root, "Custom", "train", novel=True)


def test_train_test_and_check_a_custom_table_with_flags_only(custom_root, tmp_path):
    flags = without_flags(TINY_TEACHER, "--dataset") + ["--dataset", "Custom", "--data_dir", str(custom_root)]
    out = training.main(flags + ["--shape", "None", "--novel_classes", "guitar,mug", "--n_epoch", "1",
                                 "--output_dir", str(tmp_path / "run")])
    best = json.loads((out / "results_best.json").read_text())
    assert sorted(best["classes"]) == ["guitar", "mug"]
    testing.main(["--dataset", "Custom", "--data_dir", str(custom_root), "--workers", "0", "--shape", "None",
                  "--model", str(out / "model_best.pth"), "--eval_classes", "car,chair",
                  "--output_dir", str(tmp_path / "test")])
    results = json.loads((tmp_path / "test" / "results.json").read_text())
    assert sorted(results["classes"]) == ["car", "chair"]
    assert check.main(["--dataset", "Custom", "--data_dir", str(custom_root), "--workers", "0",
                       "--point_num", "100"]) == 0
