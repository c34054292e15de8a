"""Pose estimators: the teacher (image + point cloud) and the image-only estimator (baseline and student).

Both return a dict: ``outputs`` (the six head tensors), ``feature`` (the 200-d vector the heads read: the
fused 3D-augmented feature for the teacher, the compressed image feature for the image-only network) and
``embedding`` (the 200-d image projection: the teacher's contrastive anchor, the student's embedding).
The constructor arguments are plain values, stored in every checkpoint as ``model_args`` so that testing and
the demo rebuild the network from the file alone (:func:`build_model`).
"""
from __future__ import annotations

import torch
from torch import nn

from auxiliary.checkpoint import load_weights
from model.encoders import CylinderEncoder, ImageEncoder, MultiViewEncoder, PointNetEncoder
from model.fusion import build_fusion, mlp
from model.heads import PoseHeads

FEATURE_DIM = 200


INITS = ("torchvision", "reference")
HEADS = ("mlp", "linear", "direct")


def reference_init(module: nn.Module) -> None:
    """The reference initialisation: Kaiming-normal convs (a = 0.2), unit BatchNorm2d, Linear ~ N(0, 1e-3).

    Opt-in (``--init reference``): every Linear layer here is followed by BatchNorm or read by a softmax, and
    with Adam a weight of norm ~1e-3 takes relative steps near 1, which in our synthetic runs kept training
    near chance for several epochs where PyTorch's default initialisation (``--init torchvision``) learns.
    """
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, a=0.2)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 1e-3)
            nn.init.zeros_(m.bias)


class PoseEstimator(nn.Module):
    """Teacher: ResNet image feature + shape feature -> fusion (200-d) -> six heads; plus an image projector.

    The shape is a point cloud (``shape='PointCloud'``: PointNet to ``shape_feature_dim``; with
    ``fusion='correlation'``, :class:`CylinderEncoder`: ``shape_feature_dim`` channels in each azimuth bin's
    direction) or multi-view renders (``shape='MultiView'``: :class:`MultiViewEncoder`,
    ``view_num * view_feature_dim``; with ``fusion='correlation'``, ``tour * view_feature_dim`` channels in each
    azimuth bin's direction, ``view_tour`` being the number of elevation rings of the renders)."""

    kind = "teacher"
    feature_dim = FEATURE_DIM

    def __init__(self, img_encoder: str = "resnet50", img_feature_dim: int = 1024, shape_feature_dim: int = 1024,
                 fusion: str = "deform", num_bins=(24, 12, 24), pretrained: bool = False,
                 init: str = "torchvision", shape: str = "PointCloud", view_num: int = 12,
                 view_encoder: str = "resnet18", view_feature_dim: int = 256, view_size: int = 0,
                 view_tour: int = 2):
        super().__init__()
        self.image_encoder = ImageEncoder(img_encoder, img_feature_dim)
        correlation = fusion == "correlation"
        if shape == "PointCloud":
            self.shape_encoder = (CylinderEncoder(shape_feature_dim, num_bins[0]) if correlation
                                  else PointNetEncoder(shape_feature_dim))
        elif shape == "MultiView":
            self.shape_encoder = MultiViewEncoder(view_encoder, view_num, view_feature_dim, view_size, view_tour,
                                                  bins=num_bins[0] if correlation else None)
        else:
            raise ValueError(f"unknown shape representation {shape!r}; choose PointCloud or MultiView")
        self.shape = shape
        self.fusion = build_fusion(fusion, self.shape_encoder.feature_dim + img_feature_dim, FEATURE_DIM,
                                   shape_dim=self.shape_encoder.feature_dim, bins=num_bins[0])
        self.heads = PoseHeads(FEATURE_DIM, num_bins)
        self.projector = mlp((img_feature_dim, 800, 400, FEATURE_DIM), final_activation=False)
        _initialise(self, init)
        if pretrained:
            self.image_encoder = _pretrained_encoder(img_encoder, img_feature_dim, init)

    def forward(self, image: torch.Tensor, shape: torch.Tensor) -> dict:
        """``shape``: points (B, 3, N) or normalised views (B, V, 3, S, S), as the network was built for."""
        image_feature = self.image_encoder(image)
        shape_feature = self.shape_encoder(shape)
        fused = self.fusion(torch.cat([shape_feature.flatten(1), image_feature], dim=1))
        azimuth = None
        if isinstance(fused, tuple):  # the correlation fusion: the feature and azimuth logits that turn with the cloud
            fused, azimuth = fused
        outputs = self.heads(fused)
        if azimuth is not None:
            outputs[0] = outputs[0] + azimuth
        return {"outputs": outputs, "feature": fused, "embedding": self.projector(image_feature)}


class ImageEstimator(nn.Module):
    """Image only (``--shape None``): backbone -> 200-d feature -> six heads; 200 -> 200 -> 200 projector.

    ``head`` is the way to the feature the heads read: ``mlp`` (the reference: the backbone's last layer maps to
    ``img_feature_dim``, then 800 -> 400 -> 200 with BatchNorm and ReLU after each), ``linear`` (the backbone's
    last layer maps straight to the 200-d feature; ``img_feature_dim`` is not used) or ``direct`` (no last
    layer: the heads read the backbone's pooled feature, 512-d for resnet18, as the control's classifier does;
    ``feature_dim`` says its length). The MLP learns markedly slower per epoch (docs/experiments/learning.md).
    """

    kind = "image"

    def __init__(self, img_encoder: str = "resnet50", img_feature_dim: int = 2048, num_bins=(24, 12, 24),
                 pretrained: bool = False, init: str = "torchvision", head: str = "mlp"):
        super().__init__()
        if head not in HEADS:
            raise ValueError(f"unknown head {head!r}; choose from {', '.join(HEADS)}")
        encoder_dim = {"mlp": img_feature_dim, "linear": FEATURE_DIM, "direct": None}[head]
        self.image_encoder = ImageEncoder(img_encoder, encoder_dim)
        self.compress = mlp((img_feature_dim, 800, 400, FEATURE_DIM)) if head == "mlp" else nn.Identity()
        self.feature_dim = self.image_encoder.feature_dim if head == "direct" else FEATURE_DIM
        self.heads = PoseHeads(self.feature_dim, num_bins)
        self.projector = mlp((self.feature_dim, FEATURE_DIM, FEATURE_DIM), final_activation=False)
        _initialise(self, init)
        if pretrained:
            self.image_encoder = _pretrained_encoder(img_encoder, encoder_dim, init)

    def forward(self, image: torch.Tensor, points: torch.Tensor | None = None) -> dict:
        feature = self.compress(self.image_encoder(image))
        return {"outputs": self.heads(feature), "feature": feature, "embedding": self.projector(feature)}


def _initialise(module: nn.Module, init: str) -> None:
    if init not in INITS:
        raise ValueError(f"unknown initialisation {init!r}; choose from {', '.join(INITS)}")
    if init == "reference":
        reference_init(module)


def _pretrained_encoder(name: str, feature_dim: int, init: str) -> ImageEncoder:
    """ImageNet weights; only the new last layer is initialised by ``init``."""
    encoder = ImageEncoder(name, feature_dim, pretrained=True)
    last = encoder.backbone.fc if name.startswith("resnet") else encoder.backbone.classifier[-1]
    _initialise(last, init)
    return encoder


MODEL_KINDS = {"teacher": PoseEstimator, "image": ImageEstimator}


def fusion_of(args) -> str:
    """The teacher's fusion: ``--fusion auto`` is the correlation fusion, for point clouds and multi-view shapes
    alike (the one measured to read its shape and carry it to novel categories, docs/experiments/shape.md)."""
    fusion = getattr(args, "fusion", "auto")
    return "correlation" if fusion == "auto" else fusion


def model_args_from(args) -> dict:
    """Constructor arguments from parsed command-line flags (``--shape None`` selects the image-only network)."""
    num_bins = [int(span // args.bin_size) for span in (360, 180, 360)]
    if args.shape is None:
        return {"kind": "image", "img_encoder": args.img_encoder, "img_feature_dim": args.img_feature_dim,
                "num_bins": num_bins, "head": args.head}
    model_args = {"kind": "teacher", "img_encoder": args.img_encoder, "img_feature_dim": args.img_feature_dim,
                  "shape_feature_dim": args.shape_feature_dim, "fusion": fusion_of(args), "num_bins": num_bins}
    if args.shape == "MultiView":
        model_args.update(shape="MultiView", view_num=args.view_num, view_encoder=args.view_encoder,
                          view_feature_dim=args.view_feature_dim, view_size=args.view_size, view_tour=args.view_tour)
    return model_args


def shape_input(batch: dict):
    """A loader batch's shape tensor for the teacher (``points`` or ``views``), or None for an image-only batch."""
    return batch["points"] if "points" in batch else batch.get("views")


def shape_of(model_args: dict):
    """The shape input a network's stored arguments ask for: None (image only), PointCloud or MultiView (a
    checkpoint written before multi-view input existed holds a point-cloud teacher)."""
    return model_args.get("shape", "PointCloud") if model_args["kind"] == "teacher" else None


def build_model(model_args: dict, pretrained: bool = False, init: str = "torchvision") -> nn.Module:
    """The network from its stored constructor arguments; ``pretrained`` and ``init`` only matter for a network
    about to be trained (loaded weights replace both)."""
    model_args = dict(model_args)
    kind = model_args.pop("kind")
    if kind not in MODEL_KINDS:
        raise ValueError(f"unknown model kind {kind!r}")
    model_args["num_bins"] = tuple(model_args["num_bins"])
    return MODEL_KINDS[kind](pretrained=pretrained, init=init, **model_args)


def network_from_checkpoint(checkpoint: dict, path="checkpoint") -> nn.Module:
    """The network a loaded checkpoint holds, rebuilt from its ``model_args`` with its weights loaded strictly."""
    model = build_model(checkpoint["model_args"])
    load_weights(model, checkpoint["model"], path)
    return model
