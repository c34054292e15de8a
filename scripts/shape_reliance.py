"""How much does a teacher read its point cloud? Score it with the right clouds and with swapped ones.

    python scripts/shape_reliance.py --dataset Synthetic --model result/teacher/model_best.pth
    python scripts/shape_reliance.py --dataset Synthetic --data_dir data/SyntheticHeldout --model ... --output r.json

Evaluates a teacher checkpoint on the val split four times, changing only the cloud each sample is given:

* ``own``: the sample's own cloud (what testing.py does);
* ``same class``: the cloud of another instance of the same class (samples of a class with one instance keep
  their own and are counted in ``kept``);
* ``other class``: the cloud of an instance of another class.

If the figures barely move, the teacher predicts the pose from the image alone and the cloud is dead weight;
if they collapse with another class's cloud, the teacher uses the cloud (to know what it is looking at, or
where the object's frame is). The swaps are drawn with ``--seed``.

A fourth row, ``turned``, gives each sample its own cloud turned about the vertical axis by ``--turn`` degrees
(default 30) and turns its azimuth label with it, as canonical-frame randomisation (``--random``) does in
training: a teacher that reads the frame from its cloud keeps its accuracy, one that ignores the cloud is then
wrong by the turn. Prints the table and writes it as JSON with ``--output``. A multi-view teacher
(``--shape MultiView``) gets its renders swapped the same way, and its turn is rounded to a multiple of the
ring's azimuth step (the views exist at those azimuths only).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import testing  # noqa: E402
from auxiliary.angles import ViewpointCodec  # noqa: E402
from auxiliary.checkpoint import load_checkpoint  # noqa: E402
from auxiliary.errors import InputError  # noqa: E402
from auxiliary.files import atomic_write_text  # noqa: E402
from engine.cli import run_cli  # noqa: E402
from dataset.multiview import ring_step
from engine.data import check_views, make_dataset, make_loader  # noqa: E402
from engine.loop import evaluate  # noqa: E402
from engine.setup import resolve_device  # noqa: E402
from model.estimator import network_from_checkpoint  # noqa: E402

SWAPS = ("own", "same class", "other class")


def swapped_keys(keys: list[str], cats, swap: str, rng: np.random.Generator) -> tuple[list[str], int]:
    """For each sample, the cloud it is given under ``swap``, and how many samples kept their own cloud."""
    if swap == "own":
        return list(keys), len(keys)
    by_cat: dict[str, list[str]] = {}
    for key, cat in zip(keys, cats):
        by_cat.setdefault(cat, [])
        if key not in by_cat[cat]:
            by_cat[cat].append(key)
    out, kept = [], 0
    for key, cat in zip(keys, cats):
        if swap == "same class":
            choices = [k for k in by_cat[cat] if k != key]
        else:
            choices = [k for c, ks in by_cat.items() if c != cat for k in ks]
        if choices:
            out.append(choices[rng.integers(len(choices))])
        else:
            out.append(key)
            kept += 1
    return out, kept


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     parents=[testing.get_args_parser(add_help=False)])
    parser.add_argument("--output", default=None, help="write the table here as JSON")
    parser.add_argument("--turn", type=float, default=30.0,
                        help="degrees the clouds and azimuth labels turn by in the last row")
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    checkpoint = load_checkpoint(args.model)
    if checkpoint["model_args"]["kind"] != "teacher":
        raise InputError(f"{args.model} is an image-only network: it reads no shape")
    testing.resolve_settings(args, checkpoint)
    model = network_from_checkpoint(checkpoint, args.model).to(device)
    dataset = make_dataset(args, "val", args.shape)
    check_views(checkpoint["model_args"], dataset)
    if dataset.view_spec is not None:  # views exist at the ring's azimuths only: turn by a multiple of its step
        step = ring_step(dataset.view_spec)
        args.turn = step * max(1, round(args.turn / step))
    own, rng = list(dataset.cloud_keys), np.random.default_rng(args.seed)
    def score(kept: int) -> dict:
        loader = make_loader(dataset, args.batch_size, args.workers, False, device)  # workers see the new keys
        table = evaluate(model, loader, ViewpointCodec(args.bin_size), device)["table"]["mean"]
        return {"acc30": table["acc30"], "mederr": table["mederr"], "kept": kept}

    rows = {}
    for swap in SWAPS:
        dataset.cloud_keys, kept = swapped_keys(own, dataset.cats, swap, rng)
        rows[swap] = score(kept)
    dataset.cloud_keys, dataset.frame_turn = own, args.turn
    rows["turned"] = score(int((~dataset.randomizable).sum()))
    dataset.frame_turn = 0.0
    print(f"{args.model} on the val split of {args.dataset} ({len(dataset)} samples; turned: clouds and azimuth "
          f"labels by {args.turn:g} degrees, except the {rows['turned']['kept']} of rotationally symmetric classes)")
    print(f"{'cloud given':<14}{'Acc30':>8}{'MedErr':>9}{'kept':>7}")
    for swap, row in rows.items():
        print(f"{swap:<14}{row['acc30']:8.2f}{row['mederr']:9.2f}{row['kept']:7d}")
    if args.output:
        atomic_write_text(Path(args.output), json.dumps({"model": str(args.model), "swaps": rows}, indent=2) + "\n")
    return rows


if __name__ == "__main__":
    run_cli(main)
