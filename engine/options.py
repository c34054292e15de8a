"""Command-line flags shared by the scripts, as parent parsers (one definition per flag)."""
from __future__ import annotations

import argparse

from dataset.classes import DATASETS, SHAPES, parse_class_list
from dataset.pointcloud import POINT_NORMS
from dataset.transforms import AUGMENTATIONS
from model.encoders import IMAGE_BACKBONES, VIEW_ENCODERS
from engine.schedule import OPTIMIZERS, SCHEDULES
from model.estimator import HEADS, INITS
from model.fusion import FUSIONS


# default of --shape in the scripts that read a trained network: the network's own shape input
FROM_CHECKPOINT = "from-checkpoint"


def none_or_str(value: str):
    """'None' on the command line means Python None (``--shape None`` selects the image-only network)."""
    return None if value in ("None", "none", "") else value


def data_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("data", "which dataset, split, shape input and crop size")
    g.add_argument("--dataset", default="Synthetic", choices=sorted(DATASETS),
                   help="dataset name; its root is data/<dataset> unless --data_dir is given")
    g.add_argument("--data_dir", default=None, help="dataset root (default: data/<dataset>)")
    g.add_argument("--table", default=None,
                   help="annotation table under the root (default: <dataset>.txt); e.g. chair_annotation.txt, one "
                        "of PoseFromShape's Pix3D subsets")
    g.add_argument("--shape", type=none_or_str, default="PointCloud", choices=[*SHAPES, None],
                   help="shape input of the network: PointCloud or MultiView (teacher), or None (image only)")
    g.add_argument("--shape_dir", default=None,
                   help="shape folder under the root (default: pointcloud for PointCloud, of "
                        "<cat>/<NN>/compressed.ply; multiview for MultiView, of <cat>/<NN>/views.png)")
    g.add_argument("--input_dim", type=int, default=224, help="side of the square network input")
    g.add_argument("--point_num", type=int, default=2500, help="points sampled from each cloud")
    g.add_argument("--point_norm", default="minmax", choices=POINT_NORMS,
                   help="cloud normalisation: minmax (the reference's scalar min-max into [0, 1]) or sphere "
                        "(centred, in the unit ball); a trained network's own is read from its checkpoint")
    g.add_argument("--bin_size", type=int, default=15, help="angle bin width in degrees")
    g.add_argument("--novel", action="store_true", help="zero-shot protocol: train without the novel classes")
    g.add_argument("--novel_classes", type=parse_class_list, default=None, metavar="A,B,C",
                   help="held-out classes of a zero-shot split, by name (implies --novel; e.g. for --dataset Custom)")
    g.add_argument("--eval_classes", type=parse_class_list, default=None, metavar="A,B,C",
                   help="evaluate on these classes only (default: the protocol's, or every class of the val split)")
    g.add_argument("--eval_base", action="store_true",
                   help="zero-shot split: evaluate on its base classes (those trained on) instead of the novel ones "
                        "(implies --novel)")
    g.add_argument("--eval_novel", action="store_true",
                   help="train on every class and evaluate on the novel classes of the zero-shot split (the "
                        "few-shot protocol with --shot K; ObjectNet3D always evaluates on them)")
    g.add_argument("--keypoint", action="store_true",
                   help="train only on untruncated, unoccluded, keypoint-annotated rows (PoseFromShape)")
    g.add_argument("--batch_size", type=int, default=16, help="samples per batch (per process under torchrun)")
    g = p.add_argument_group("runtime", "device, loading processes, seed and bad input")
    g.add_argument("--workers", type=int, default=4, help="data-loading processes")
    g.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="auto: CUDA when there is one")
    g.add_argument("--seed", type=int, default=46, help="seeds the network, the data order, augmentation and few-shot draws")
    g.add_argument("--skip_bad", action="store_true",
                   help="leave out (and log) bad annotation rows, images and point clouds instead of stopping")
    g = p.add_argument_group("speed", "GPU speed options (each is ignored, with a note, where it cannot apply)")
    g.add_argument("--amp", action="store_true",
                   help="mixed precision on CUDA (bfloat16 by default; ignored on a CPU)")
    g.add_argument("--amp_dtype", default="bf16", choices=["bf16", "fp16"],
                   help="autocast type of --amp; fp16 adds a gradient scaler")
    g.add_argument("--channels_last", action="store_true", help="NHWC images and convolution weights")
    g.add_argument("--compile", action="store_true", help="torch.compile the network for training")
    return p


def model_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("model", "the network: encoders, feature sizes, fusion, head, initialisation")
    g.add_argument("--img_encoder", default="resnet50", choices=IMAGE_BACKBONES, help="image backbone (torchvision)")
    g.add_argument("--img_feature_dim", type=int, default=1024, help="width of the image feature the fusion reads")
    g.add_argument("--shape_feature_dim", type=int, default=1024,
                   help="width of the PointNet shape feature (correlation fusion: channels per azimuth direction)")
    g.add_argument("--fusion", default="auto", choices=("auto",) + FUSIONS,
                   help="auto (the default): correlation, for point clouds and views (the fusion measured to read its "
                        "shape, docs/experiments/shape.md); "
                        "deform: the 3DAug 1x1-conv fusion; mlp: PoseFromShape's MLP; linear: one Linear layer; "
                        "residual: one Linear layer plus a zero-initialised ReLU MLP; film: the shape scales and shifts the "
                        "image feature (FiLM), then one Linear layer; correlation: azimuth logits from the image "
                        "compared with the shape turned to each bin (a cloud's directions, or each ring of views)")
    g.add_argument("--view_num", type=int, default=12,
                   help="MultiView: views per CAD model (the data's views.json must have as many)")
    g.add_argument("--view_encoder", default="resnet18", choices=VIEW_ENCODERS,
                   help="MultiView: the backbone shared by the views (small: a 4-layer CNN of PointNet's order of cost)")
    g.add_argument("--view_feature_dim", type=int, default=256,
                   help="MultiView: feature of each view; the shape feature is the views' features concatenated "
                        "(correlation fusion: spread over the azimuth bins, each ring's as its own channels)")
    g.add_argument("--view_size", type=int, default=0,
                   help="MultiView: resize the views to this size before encoding (0: as rendered)")
    g.add_argument("--view_tour", type=int, default=0,
                   help="MultiView: elevation rings of the views (0: as many as the data's views.json says)")
    g.add_argument("--head", default="linear", choices=HEADS,
                   help="image-only network: mlp (the reference's 800-400-200 MLP with BatchNorm), linear "
                        "(the backbone's last layer maps straight to the 200-d feature) or direct (the heads read "
                        "the backbone's pooled feature, as the control's classifier does)")
    g.add_argument("--pretrained", action="store_true", help="start from torchvision's ImageNet weights (downloads)")
    g.add_argument("--init", default="torchvision", choices=INITS,
                   help="initialisation of a network trained from scratch: PyTorch's defaults, or the reference's "
                        "(Kaiming convs, Linear ~ N(0, 1e-3); slow to train with Adam, see docs/differences.md)")
    return p


def train_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("optimisation", "epochs, learning rate and its schedule, losses, augmentation, few-shot")
    g.add_argument("--n_epoch", type=int, default=200, help="epochs to train")
    g.add_argument("--lr", type=float, default=1e-4, help="learning rate (Adam)")
    g.add_argument("--weight_decay", type=float, default=5e-4, help="weight decay (see --optimizer)")
    g.add_argument("--optimizer", default="adam", choices=OPTIMIZERS,
                   help="adam: weight decay as an L2 term in the gradient (the reference); adamw: decoupled")
    g.add_argument("--no_decay_norm_bias", dest="decay_norm_bias", action="store_false",
                   help="no weight decay on biases and BatchNorm weights (decayed by default, as in the reference)")
    g.add_argument("--decrease", type=int, default=100, help="epoch at which the learning rate is multiplied by 0.1")
    g.add_argument("--schedule", default="step", choices=SCHEDULES,
                   help="step: x0.1 at --decrease (the reference); cosine: cosine decay to 0 at --n_epoch")
    g.add_argument("--offset_weight", type=float, default=1.0, help="weight of the in-bin offset loss")
    g.add_argument("--offset_detach", action="store_true",
                   help="the offset regressors read the feature detached: their losses train them and not the "
                        "network beneath (the bins alone shape the feature)")
    g.add_argument("--warmup", type=int, default=0, help="epochs of linear learning-rate warm-up")
    g.add_argument("--augment", default="reference", choices=AUGMENTATIONS,
                   help="training augmentation: reference (blur, box jitter, flip, in-plane rotation, colour, "
                        "lighting), light (box jitter and flip) or none")
    g.add_argument("--random", action="store_true", help="canonical-frame randomisation of the shape and azimuth")
    g.add_argument("--random_range", type=int, default=0, choices=[0, 1, 2], help="0: +-40, 1: +-85, 2: any")
    g.add_argument("--shot", type=int, default=None, help="K training samples per class (few-shot)")
    g = p.add_argument_group("run directory and resume", "where a run writes, how it resumes, how it reports")
    g.add_argument("--output_dir", default=None, help="run directory (default: result/<shape>_<dataset>[_novel])")
    g.add_argument("--resume", default=None, help="checkpoint to resume from (default: <output_dir>/checkpoint.pth)")
    g.add_argument("--print_freq", type=int, default=50, help="batches between progress lines")
    g.add_argument("--sync_bn", action="store_true",
                   help="under torchrun: batch-norm statistics over the global batch (all processes)")
    g.add_argument("--deterministic", action="store_true",
                   help="deterministic algorithms only (bit-exact resume on the same machine; slower on a GPU)")
    return p
