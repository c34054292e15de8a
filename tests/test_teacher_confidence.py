import json
import math
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

import teacher_confidence  # noqa: E402
from auxiliary.angles import ViewpointCodec  # noqa: E402


class FixedLogits(torch.nn.Module):
    """Logits that put ``margin`` on the true bin of each head (0: uniform)."""

    def __init__(self, codec, margin):
        super().__init__()
        self.codec, self.margin = codec, margin

    def forward(self, image, shape=None):
        bins = self.codec.encode(self.labels)[0]
        outputs = [self.margin * torch.nn.functional.one_hot(bins[:, i], n).float()
                   for i, n in enumerate(self.codec.num_bins)]
        return {"outputs": outputs + [torch.zeros_like(o) for o in outputs]}


def loader_and_model(margin):
    codec = ViewpointCodec(15)
    labels = torch.tensor([[10.0, 100.0, 200.0], [350.0, 5.0, 90.0], [181.0, 170.0, 0.0]])
    model = FixedLogits(codec, margin)
    model.labels = labels
    return [{"image": torch.zeros(3, 3, 8, 8), "label": labels}], model, codec


def test_uniform_logits_have_full_entropy_and_peaked_ones_none():
    loader, model, codec = loader_and_model(0.0)
    rows = teacher_confidence.confidence(model, loader, codec, "cpu")
    assert rows["azimuth"]["entropy"] == pytest.approx(1.0) and rows["azimuth"]["top_prob"] == pytest.approx(1 / 24)
    assert rows["elevation"]["top_prob"] == pytest.approx(1 / 12)
    loader, model, codec = loader_and_model(50.0)
    rows = teacher_confidence.confidence(model, loader, codec, "cpu")
    for head in teacher_confidence.HEADS:
        assert rows[head]["entropy"] < 1e-6 and rows[head]["top_prob"] == pytest.approx(1.0)
        assert rows[head]["top_bin_acc"] == 1.0
    # a higher temperature flattens the same logits
    hot = teacher_confidence.confidence(model, loader, codec, "cpu", kd_T=100.0)
    assert 0.5 < hot["azimuth"]["entropy"] < 1.0 and math.isfinite(hot["azimuth"]["top_prob"])


def test_the_script_reads_a_teacher_and_an_image_only_network(synthetic_root, teacher_path, image_model_path,
                                                              tmp_path):
    common = ["--dataset", "Synthetic", "--data_dir", str(synthetic_root), "--workers", "0"]
    for path in (teacher_path, image_model_path):
        rows = teacher_confidence.main(common + ["--model", str(path), "--split", "train",
                                                 "--output", str(tmp_path / "c.json")])
        assert set(rows) == set(teacher_confidence.HEADS)
        assert all(0.0 <= row["entropy"] <= 1.0 and 0.0 < row["top_prob"] <= 1.0 for row in rows.values())
        assert json.loads((tmp_path / "c.json").read_text())["heads"] == rows
