import csv

import numpy as np
import pytest

import demo
import testing
import vis_tSNE
from auxiliary import plots
from auxiliary.errors import InputError
from dataset.viewpoint import ViewpointDataset


def test_demo_prints_the_angles_testing_predicts_for_the_same_crop(synthetic_root, image_model_path, tmp_path, capsys):
    testing.main(["--data_dir", str(synthetic_root), "--model", str(image_model_path), "--output_dir",
                  str(tmp_path / "test"), "--workers", "0"])
    for name in ("per_class.png", "error_cdf.png"):
        assert (tmp_path / "test" / name).stat().st_size > 0
    with open(tmp_path / "test" / "predictions.csv") as f:
        rows = list(csv.DictReader(f))
    dataset = ViewpointDataset(synthetic_root, "Synthetic", "val")
    for k in (0, 17):
        row = rows[k]
        assert row["im_path"] == dataset.im_paths[k]
        box = [str(v) for v in dataset.boxes[k]]
        pose = demo.main(["--image", str(synthetic_root / row["im_path"]), "--bbox", *box, "--model",
                          str(image_model_path), "--device", "cpu"])
        expected = [float(row[f"pred_{n}"]) for n in ("azimuth", "elevation", "inplane")]
        difference = (np.array(pose) - np.array(expected) + 180) % 360 - 180
        assert np.abs(difference).max() < 1e-3
    assert "azimuth" in capsys.readouterr().out


def test_demo_with_a_teacher_needs_the_cloud_and_draws_an_overlay(synthetic_root, teacher_path, tmp_path):
    image = str(synthetic_root / "Images" / "chair_val_00000.JPEG")
    with pytest.raises(InputError, match="point cloud"):
        demo.main(["--image", image, "--model", str(teacher_path)])
    cloud = str(synthetic_root / "pointcloud" / "chair" / "01" / "compressed.ply")
    pose = demo.main(["--image", image, "--model", str(teacher_path), "--pointcloud", cloud,
                      "--overlay", str(tmp_path / "pose.png")])
    assert len(pose) == 3 and -90 <= pose[1] < 90
    assert (tmp_path / "pose.png").stat().st_size > 0


@pytest.mark.parametrize("feature, color_by", [("fused", "class"), ("image", "azimuth")])
def test_vis_tsne_writes_one_row_per_sample_and_model(synthetic_root, teacher_path, image_model_path, tmp_path,
                                                     feature, color_by):
    png = vis_tSNE.main(["--data_dir", str(synthetic_root), "--model", str(teacher_path), str(image_model_path),
                         "--feature", feature, "--color_by", color_by, "--perplexity", "5", "--workers", "0",
                         "--output_dir", str(tmp_path)])
    assert png.stat().st_size > 0
    with open(png.with_suffix(".csv")) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 * 12 * 4
    assert len({(r["model"], r["index"]) for r in rows}) == len(rows)
    assert all(np.isfinite(float(r["x"])) and np.isfinite(float(r["y"])) for r in rows)


def test_plot_command_line_overlays_runs(teacher_path, image_model_path, tmp_path):
    runs = [str(teacher_path.parent), str(image_model_path.parent)]
    assert (teacher_path.parent / "curves.png").is_file()  # written by training.py itself
    plots.main(["curves", *runs, "--labels", "teacher", "image", "--out", str(tmp_path / "curves.png")])
    assert (tmp_path / "curves.png").stat().st_size > 0
    with pytest.raises(SystemExit):
        plots.main(["curves", *runs, "--labels", "only-one", "--out", str(tmp_path / "x.png")])


def test_summary_lists_each_run_with_its_figures(tmp_path):
    import json

    from auxiliary.summary import summary_table

    for name, acc in (("a", 81.25), ("b", 40.0)):
        (tmp_path / f"{name}.json").write_text(json.dumps({"classes": {}, "mean": {"n": 8, "acc30": acc, "mederr": 9.5},
                                                            "pooled": {"n": 8, "acc30": acc + 1, "mederr": 8.0}}))
    lines = summary_table([tmp_path / "a.json", tmp_path / "b.json"], ["teacher", "student"]).splitlines()
    assert lines[1].split() == ["teacher", "81.25", "9.50", "82.25", "8.00"]
    assert lines[2].split()[:2] == ["student", "40.00"]


def test_vis_tsne_shape_feature_needs_a_teacher(synthetic_root, teacher_path, image_model_path, tmp_path):
    png = vis_tSNE.main(["--data_dir", str(synthetic_root), "--model", str(teacher_path), "--feature", "shape",
                         "--perplexity", "5", "--workers", "0", "--output_dir", str(tmp_path)])
    assert png.name == "tSNE_Synthetic_val_shape_class.png"
    with pytest.raises(InputError, match="no shape feature"):
        vis_tSNE.main(["--data_dir", str(synthetic_root), "--model", str(image_model_path), "--feature", "shape",
                       "--workers", "0", "--output_dir", str(tmp_path)])
