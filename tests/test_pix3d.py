"""PoseFromShape's Pix3D evaluation files, read as published (12 columns, in-plane in radians, cropped images)."""
import json
import math

import numpy as np
import pytest
from PIL import Image

import testing
from dataset import check
from auxiliary.rotation import label_to_rotation, viewpoint_to_rotation
from dataset.annotations import pix3d_raw_angles
from dataset.viewpoint import ViewpointDataset

# The layout of PoseFromShape's data/Pix3D/bed_annotation.txt (its first rows, plus two that its filter drops)
EXCERPT = """resized_crop_source,model_source,truncated,occluded,slightly_occluded,image_path,cat_id,example_id,model_name,azimuth,elevation,inplane_rotation
ikea,ikea,False,False,False,resized_crop/bed/0001.png,bed,IKEA_MALM_2,model,321.38930969090546,11.814685929916141,-0.0785171651444316
ikea,ikea,False,False,False,resized_crop/bed/0008.png,bed,IKEA_HEMNES_3,model,358.94956252974436,19.002836903537727,0.03476286695326794
internet,ikea,False,False,False,resized_crop/bed/0220.png,bed,IKEA_FJELLSE_1,model,43.51561712055026,30.004735291531286,-0.7196316045560146
internet,ikea,False,False,True,resized_crop/bed/0230.png,bed,IKEA_FJELLSE_1,model,12.0,10.0,0.1
internet,ikea,True,False,False,resized_crop/bed/0231.png,bed,IKEA_FJELLSE_1,model,200.0,10.0,0.1
"""
KEPT = [(321.38930969090546, 11.814685929916141, -0.0785171651444316),
        (358.94956252974436, 19.002836903537727, 0.03476286695326794),
        (43.51561712055026, 30.004735291531286, -0.7196316045560146)]


@pytest.fixture
def pix3d_root(tmp_path):
    root = tmp_path / "Pix3D"
    rng = np.random.default_rng(0)
    for k, line in enumerate(EXCERPT.splitlines()[1:]):
        path = root / line.split(",")[5]
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (40 + k, 50, 3), dtype=np.uint8)).save(path)
    (root / "bed_annotation.txt").write_text(EXCERPT)
    return root


def pfs_labels(azimuth, elevation, inplane_rad):
    """PoseFromShape's Pix3D evaluation labels: no 360 - a flip, elevation + 90, degrees(in-plane) + 180."""
    return np.array([azimuth % 360, elevation + 90, (math.degrees(inplane_rad) + 180) % 360])


def test_the_published_layout_is_read_with_its_filter_and_whole_image_boxes(pix3d_root):
    dataset = ViewpointDataset(pix3d_root, "Pix3D", "val", table="bed_annotation.txt")
    assert len(dataset) == 3 and dataset.class_names == ["bed"]  # slightly occluded and truncated rows dropped
    assert list(dataset.im_paths) == ["resized_crop/bed/0001.png", "resized_crop/bed/0008.png",
                                      "resized_crop/bed/0220.png"]
    np.testing.assert_array_equal(dataset.boxes, [[0, 0, 50, 40], [0, 0, 50, 41], [0, 0, 50, 42]])
    np.testing.assert_allclose(dataset.labels(), [pfs_labels(*row) for row in KEPT], atol=1e-9)
    item = dataset[0]
    assert item["image"].shape == (3, 224, 224)


@pytest.mark.parametrize("row", KEPT)
def test_the_rotation_of_a_row_is_the_same_both_ways(row):
    """Our raw angles through R = Rz(theta) Rx(e - 90) Rz(-a) give PoseFromShape's labels' rotation."""
    ours = viewpoint_to_rotation(*pix3d_raw_angles(*row))
    theirs = label_to_rotation(pfs_labels(*row)[None])[0]
    np.testing.assert_allclose(ours, theirs, atol=1e-9)
    assert -180 <= pix3d_raw_angles(*row)[2] < 180
    assert pix3d_raw_angles(*row)[2] == pytest.approx(math.degrees(row[2]))  # radians -> degrees


def test_a_missing_image_names_the_file_and_line(pix3d_root):
    (pix3d_root / "resized_crop" / "bed" / "0008.png").unlink()
    with pytest.raises(ValueError, match=r"bed_annotation.txt, line 3: image .*0008.png does not exist"):
        ViewpointDataset(pix3d_root, "Pix3D", "val", table="bed_annotation.txt")


def test_testing_reads_the_subset_as_published(pix3d_root, image_model_path, tmp_path):
    testing.main(["--dataset", "Pix3D", "--data_dir", str(pix3d_root), "--table", "bed_annotation.txt",
                  "--shape", "None", "--workers", "0", "--model", str(image_model_path),
                  "--output_dir", str(tmp_path / "out")])
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert list(results["classes"]) == ["bed"] and results["classes"]["bed"]["n"] == 3


def test_the_dataset_check_reads_the_published_file_and_reports_a_missing_image(pix3d_root, capsys):
    flags = ["--dataset", "Pix3D", "--data_dir", str(pix3d_root), "--table", "bed_annotation.txt",
             "--shape_dir", "None", "--workers", "0"]
    assert check.main(flags) == 0
    assert "no problems found" in capsys.readouterr().out
    (pix3d_root / "resized_crop" / "bed" / "0008.png").unlink()
    assert check.main(flags) == 1
    out = capsys.readouterr().out
    assert "bed_annotation.txt, line 3" in out and "0008.png does not exist" in out and "1 problem(s)" in out
