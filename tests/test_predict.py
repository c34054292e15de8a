"""predict.py: a folder of images or a CSV of boxes -> a predictions CSV with top-3 hypotheses per angle."""
import csv
import shutil

import numpy as np
import pytest
import torch

import demo
import predict
from auxiliary.angles import ViewpointCodec
from auxiliary.errors import InputError


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_a_folder_of_images_gets_one_row_each_agreeing_with_the_demo(synthetic_root, image_model_path, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in sorted((synthetic_root / "Images").iterdir())[:5]:
        shutil.copy(name, folder / (name.stem + ".jpg"))
    (folder / "notes.txt").write_text("not an image")
    out = tmp_path / "pred.csv"
    predict.main(["--model", str(image_model_path), "--images", str(folder), "--output", str(out),
                  "--workers", "0", "--batch_size", "2", "--overlay_dir", str(tmp_path / "overlays")])
    rows = read_csv(out)
    assert len(rows) == 5 and len(list((tmp_path / "overlays").glob("*.png"))) == 5
    model, checkpoint = demo.load_network(image_model_path, torch.device("cpu"))
    first = rows[0]
    image = demo.load_image(first["image"])
    expected = demo.predict_pose(model, checkpoint, image, (0, 0, *image.size), torch.device("cpu"))
    got = [float(first[k]) for k in ("azimuth", "elevation", "inplane")]
    np.testing.assert_allclose(got, expected, atol=1e-3)
    np.testing.assert_allclose(got, [float(first[f"{k}_1"]) for k in ("azimuth", "elevation", "inplane")], atol=1e-3)
    for row in rows:
        for angle in ("azimuth", "elevation", "inplane"):
            p = [float(row[f"{angle}_{k}_p"]) for k in (1, 2, 3)]
            assert p == sorted(p, reverse=True) and 0 < sum(p) <= 1 + 1e-6


def test_bad_rows_and_unreadable_images_are_reported_and_the_rest_predicted(synthetic_root, image_model_path,
                                                                           tmp_path, capsys):
    images = sorted((synthetic_root / "Images").iterdir())[:2]
    for image in images:
        shutil.copy(image, tmp_path / image.name)
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    (tmp_path / "boxes.csv").write_text(
        "image,left,upper,right,lower\n"
        f"{images[0].name},10,10,60,60\n"
        f"{images[1].name},,,,\n"
        f"{images[0].name},ten,10,60,60\n"
        "broken.jpg,0,0,20,20\n"
        "missing.jpg,0,0,20,20\n")
    rows, problems = predict.main(["--model", str(image_model_path), "--images", str(tmp_path / "boxes.csv"),
                                   "--output", str(tmp_path / "out.csv"), "--workers", "0"])
    assert len(rows) == 2 and len(problems) == 3
    err = capsys.readouterr().err
    assert "boxes.csv, line 4: the box ten,10,60,60 is not four numbers" in err
    assert "boxes.csv, line 5:" in err and "broken.jpg cannot be decoded" in err
    assert "boxes.csv, line 6:" in err and "missing.jpg does not exist" in err
    written = read_csv(tmp_path / "out.csv")
    assert [float(written[0][k]) for k in ("left", "upper", "right", "lower")] == [10, 10, 60, 60]
    assert float(written[1]["right"]) == 64  # an empty box is the whole (64-pixel) image


def test_a_wrong_header_is_one_clear_error(image_model_path, tmp_path):
    (tmp_path / "boxes.csv").write_text("file,x1,y1,x2,y2\na.jpg,0,0,1,1\n")
    with pytest.raises(InputError, match="header must be image,left,upper,right,lower"):
        predict.main(["--model", str(image_model_path), "--images", str(tmp_path / "boxes.csv")])


def test_hypotheses_decode_the_top_bins_with_their_offsets():
    codec = ViewpointCodec()
    outputs = [torch.zeros(1, n) for n in codec.num_bins] * 2
    outputs[0] = torch.full((1, 24), -9.0)
    outputs[0][0, 3], outputs[0][0, 15] = 5.0, 4.0  # azimuth label bins 3 and 15 (raw 307.5 and 127.5)
    angles, probs = predict.hypotheses(outputs, codec)
    assert angles[0, 0, 0] == pytest.approx(360 - 52.5) and angles[0, 1, 0] == pytest.approx(360 - 232.5)
    assert probs[0, 0, 0] > probs[0, 1, 0] > probs[0, 2, 0]
