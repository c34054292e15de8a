"""Plot learned representations: features of one or more checkpoints on a split, PCA then t-SNE.

    python vis_tSNE.py --dataset Synthetic --model result/teacher_cpu/model_best.pth \
        result/student_crd_cpu/best_student.pt --feature fused --color_by class --output_dir vis_feat

``--feature``: ``image`` (the image encoder's output), ``shape`` (a teacher's shape feature: PointNet's, or the views' concatenated), ``fused`` (the 200-d feature the heads read: the fused
image + shape feature of a teacher, the compressed image feature of an image-only network), ``embedding`` (the
200-d projection: the teacher's image projection, the student's embedding) or ``head`` (the six head outputs,
concatenated). Points are coloured by class or by azimuth / elevation bin (``--bin`` degrees). Writes
``tSNE_<dataset>_<split>_<feature>_<color_by>.png`` (one panel per checkpoint) and a CSV with the 2-D
coordinates, one row per sample and checkpoint.
"""
from __future__ import annotations

import argparse
import csv
import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402
from sklearn.manifold import TSNE  # noqa: E402
from torch.utils.data import DataLoader, Subset  # noqa: E402
from tqdm import tqdm  # noqa: E402

from auxiliary.checkpoint import load_checkpoint  # noqa: E402
from auxiliary.files import atomic_write_text  # noqa: E402
from engine.loop import to_device  # noqa: E402
from auxiliary.errors import InputError  # noqa: E402
from engine.options import data_parser  # noqa: E402
from auxiliary.plots import save_figure  # noqa: E402
from engine.cli import run_cli  # noqa: E402
from engine.setup import print_header, resolve_device  # noqa: E402
from engine.data import make_dataset  # noqa: E402
from model.estimator import network_from_checkpoint, shape_input, shape_of  # noqa: E402

FEATURES = ("image", "shape", "fused", "embedding", "head")
COLOR_BY = ("class", "azimuth", "elevation")
KEYS = {"fused": "feature", "embedding": "embedding"}


EPILOG = """the teacher and a student side by side, their 200-d features coloured by azimuth:
  python vis_tSNE.py --dataset ObjectNet3D --model result/PointCloud_ObjectNet3D/model_best.pth \\
      save_models/best_student.pt --labels teacher student --feature fused --color_by azimuth"""


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="PCA and t-SNE of learned representations", parents=[data_parser()],
                                     add_help=add_help, formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=EPILOG)
    g = parser.add_argument_group("figure", "which networks and features, coloured by what")
    g.add_argument("--model", nargs="+", required=True, help="checkpoints (teacher and/or image-only)")
    g.add_argument("--labels", nargs="+", default=None, help="panel titles, one per checkpoint")
    g.add_argument("--split", default="val", choices=["train", "val"], help="the split whose samples are drawn")
    g.add_argument("--feature", default="fused", choices=FEATURES,
                   help="image, shape (teacher), fused (the 200-d feature the heads read), embedding, head")
    g.add_argument("--color_by", default="class", choices=COLOR_BY, help="colour of each point")
    g.add_argument("--bin", type=float, default=30.0, help="bin width (degrees) when colouring by an angle")
    g.add_argument("--max_samples", type=int, default=2000, help="random subset of the split (seeded)")
    g.add_argument("--pca_dim", type=int, default=50, help="PCA components before t-SNE")
    g.add_argument("--perplexity", type=float, default=30.0, help="t-SNE perplexity")
    g.add_argument("--output_dir", default="vis_feat", help="where the figures and CSVs go")
    parser.set_defaults(shape=None, input_dim=None, point_num=None, point_norm=None, seed=0)
    return parser


@torch.no_grad()
def extract(model, loader, feature: str, device) -> np.ndarray:
    """(N, D) features of every sample of ``loader``, in order."""
    model.eval()
    chunks = []
    for batch in tqdm(loader, desc=f"extracting {feature} features", leave=False):
        batch = to_device(batch, device)
        if feature == "image":
            value = model.image_encoder(batch["image"])
        elif feature == "shape":
            value = model.shape_encoder(shape_input(batch)).flatten(1)  # a correlation teacher's map -> a vector
        else:
            out = model(batch["image"], shape_input(batch))
            value = torch.cat(out["outputs"], dim=1) if feature == "head" else out[KEYS[feature]]
        chunks.append(value.float().cpu())
    return torch.cat(chunks).numpy()


def embed_2d(features: np.ndarray, pca_dim: int, perplexity: float, seed: int) -> np.ndarray:
    """PCA to ``pca_dim`` (at most the data's rank) then 2-D t-SNE."""
    n, d = features.shape
    if n < 5:
        raise InputError(f"t-SNE needs at least 5 samples, got {n}")
    reduced = PCA(n_components=min(pca_dim, n, d), random_state=seed).fit_transform(features)
    perplexity = min(perplexity, (n - 1) / 3)
    return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(reduced)


def colours(dataset, indices, color_by: str, bin_size: float):
    """Per-sample colour values and a legend title."""
    if color_by == "class":
        names = sorted(set(dataset.cats[indices].tolist()))
        return np.array([names.index(c) for c in dataset.cats[indices]]), names
    column = 0 if color_by == "azimuth" else 1
    values = np.mod(dataset.raw_angles[indices, 0], 360) if column == 0 else dataset.raw_angles[indices, 1]
    return np.floor(values / bin_size) * bin_size, None


def main(argv=None):
    args = get_args_parser().parse_args(argv)
    print_header("vis_tSNE.py", args)
    if args.labels and len(args.labels) != len(args.model):
        raise InputError("give one --labels entry per --model")
    device = resolve_device(args.device)
    output_dir = Path(args.output_dir)
    panels, rows = [], []
    for k, path in enumerate(args.model):
        checkpoint = load_checkpoint(path)
        model_args, trained = checkpoint["model_args"], checkpoint.get("data_args", {})
        if args.feature == "shape" and model_args["kind"] != "teacher":
            raise InputError(f"{path} is an image-only network: it has no shape feature")
        model = network_from_checkpoint(checkpoint, path).to(device)
        shape = shape_of(model_args)
        settings = argparse.Namespace(**{**vars(args), "input_dim": args.input_dim or trained.get("input_dim", 224),
                                         "point_num": args.point_num or trained.get("point_num", 2500),
                                         "point_norm": args.point_norm or trained.get("point_norm", "minmax"),
                                         "shape_dir": args.shape_dir or trained.get("shape_dir")})
        dataset = make_dataset(settings, args.split, shape)
        rng = np.random.default_rng(args.seed)
        indices = np.arange(len(dataset))
        if len(indices) > args.max_samples:
            indices = np.sort(rng.choice(indices, args.max_samples, replace=False))
        loader = DataLoader(Subset(dataset, indices.tolist()), batch_size=args.batch_size, num_workers=args.workers)
        features = extract(model, loader, args.feature, device)
        xy = embed_2d(features, args.pca_dim, args.perplexity, args.seed)
        label = args.labels[k] if args.labels else f"{Path(path).parent.name}/{Path(path).name}"
        panels.append((label, xy, *colours(dataset, indices, args.color_by, args.bin)))
        angles = dataset.raw_angles[indices]
        rows += [[label, int(i), dataset.im_paths[i], dataset.cats[i], f"{a % 360:.2f}", f"{e:.2f}", f"{x:.4f}",
                  f"{y:.4f}"] for i, (a, e, _), (x, y) in zip(indices, angles, xy)]

    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 5.5), squeeze=False)
    for ax, (label, xy, values, names) in zip(axes[0], panels):
        if names is not None:
            cmap = plt.get_cmap("tab20", max(len(names), 1))
            for c, name in enumerate(names):
                mask = values == c
                ax.scatter(xy[mask, 0], xy[mask, 1], s=6, color=cmap(c), label=name)
            ax.legend(fontsize=7, markerscale=2, loc="best")
        else:
            points = ax.scatter(xy[:, 0], xy[:, 1], s=6, c=values,
                                cmap="twilight" if args.color_by == "azimuth" else "viridis")
            fig.colorbar(points, ax=ax, label=f"{args.color_by} bin (degrees)")
        ax.set_title(f"{label}\n{args.feature} features, {args.dataset} {args.split}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    stem = f"tSNE_{args.dataset}_{args.split}_{args.feature}_{args.color_by}"
    png = save_figure(fig, output_dir / f"{stem}.png")
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["model", "index", "im_path", "cat", "azimuth", "elevation", "x", "y"])
    writer.writerows(rows)
    atomic_write_text(output_dir / f"{stem}.csv", buffer.getvalue())
    print(f"wrote {png} and {output_dir / f'{stem}.csv'}")
    return png


if __name__ == "__main__":
    run_cli(main)
