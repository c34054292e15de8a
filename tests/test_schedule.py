import pytest
import torch

from engine.options import train_parser
from engine.schedule import lr_factor, make_optimizer, make_scheduler
from dataset.transforms import Augmentation
from model.estimator import build_model

IMAGE_NET = {"kind": "image", "img_encoder": "resnet18", "img_feature_dim": 32, "num_bins": [24, 12, 24]}


def test_step_schedule_decays_at_the_decrease_epoch_not_before():
    factors = [lr_factor(step, 10, 5, "step", decrease=2) for step in range(50)]
    assert factors[:20] == [1.0] * 20 and factors[20:] == [0.1] * 30


def test_warmup_is_linear_per_batch_then_cosine_reaches_zero():
    steps, epochs = 10, 6
    factors = [lr_factor(step, steps, epochs, "cosine", warmup=1) for step in range(steps * epochs)]
    assert factors[:10] == pytest.approx([(k + 1) / 10 for k in range(10)])
    assert lr_factor(10 + 25, steps, epochs, "cosine", warmup=1) == pytest.approx(0.5)  # half-way after warm-up
    assert factors[-1] < 0.01 and all(a >= b for a, b in zip(factors[10:], factors[11:]))
    with pytest.raises(ValueError, match="unknown schedule"):
        lr_factor(0, 1, 1, "linear")


def test_scheduler_sets_the_optimizer_learning_rate_every_batch():
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.Adam([parameter], lr=1.0)
    scheduler = make_scheduler(optimizer, steps_per_epoch=4, n_epoch=3, schedule="step", decrease=1, warmup=1)
    seen = []
    for _ in range(12):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert seen == pytest.approx([0.25, 0.5, 0.75, 1.0] + [0.1] * 8)


def test_augmentation_presets():
    assert Augmentation.preset("reference") == Augmentation()
    light = Augmentation.preset("light")
    assert light.flip == 0.5 and light.jitter and light.rotate == 0 and light.color == 0 and light.lighting == 0
    assert Augmentation.preset("none") == Augmentation.none()
    with pytest.raises(ValueError, match="unknown augmentation"):
        Augmentation.preset("strong")


def test_initialisations_differ_only_where_the_reference_says():
    torch.manual_seed(0)
    default = build_model(IMAGE_NET)
    reference = build_model(IMAGE_NET, init="reference")
    assert reference.heads.classify[0].weight.std().item() == pytest.approx(1e-3, rel=0.2)
    assert default.heads.classify[0].weight.std().item() > 0.03
    assert torch.all(reference.compress[0].bias == 0)
    with pytest.raises(ValueError, match="unknown initialisation"):
        build_model(IMAGE_NET, init="xavier")


@pytest.mark.parametrize("name, decay_norm_bias, weight, bias", [
    ("adamw", True, 0.95, 0.95),   # decoupled: p <- p (1 - lr wd), whatever the gradient
    ("adamw", False, 0.95, 1.0),   # the bias (one-dimensional) is not decayed
    ("adam", True, 0.9, 0.9),      # L2 in the gradient: Adam's first step moves by lr whatever wd is
    ("adam", False, 0.9, 1.0),
])
def test_optimizer_weight_decay_at_known_values(name, decay_norm_bias, weight, bias):
    layer = torch.nn.Linear(2, 2)
    torch.nn.init.ones_(layer.weight), torch.nn.init.ones_(layer.bias)
    optimizer = make_optimizer(layer.parameters(), name, lr=0.1, weight_decay=0.5, decay_norm_bias=decay_norm_bias)
    for p in layer.parameters():
        p.grad = torch.zeros_like(p)  # only the weight decay moves the parameters
    optimizer.step()
    assert layer.weight.detach() == pytest.approx(torch.full((2, 2), weight), abs=1e-6)
    assert layer.bias.detach() == pytest.approx(torch.full((2,), bias), abs=1e-6)


def test_optimizer_flags():
    args = train_parser().parse_args(["--optimizer", "adamw", "--no_decay_norm_bias"])
    assert (args.optimizer, args.decay_norm_bias) == ("adamw", False)
    args = train_parser().parse_args([])
    assert (args.optimizer, args.decay_norm_bias) == ("adam", True)  # the reference's
    with pytest.raises(ValueError, match="unknown optimizer"):
        make_optimizer([torch.nn.Parameter(torch.zeros(1))], "sgd")
