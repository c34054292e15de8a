"""Render the multi-view shapes of a real dataset's CAD models (``--shape MultiView``).

    python -m dataset.prepare_multiview --root data/Pascal3D --cad CAD                # CAD/<cat>/NN.obj|off
    python -m dataset.prepare_multiview --root data/ObjectNet3D --cad CAD/off --view_size 64

Writes ``<root>/multiview/<cat>/<NN>/views.png`` and ``<root>/multiview/views.json`` (:mod:`dataset.multiview`):
each model in its CAD frame (the frame its annotations use: z up, front -y; centred on its bounding box and
scaled to radius 0.45 for the renders only), in its own colours where the file has them, else grey, from the
ring of ``--view_num`` views on ``--tour`` elevation rings. Needs trimesh (``requirements-prep.txt``). A model
that cannot be read is reported and skipped (``python -m dataset.check --views_dir multiview`` then lists the
rows that use it).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from auxiliary.errors import InputError
from dataset.multiview import VIEW_DEFAULTS, make_spec, render_views, views_path, write_spec, write_views
from dataset.render_cad import load_cad

GREY = np.full((3, 3), 0.7)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", required=True, help="dataset root")
    parser.add_argument("--cad", default="CAD", help="folder of <cat>/<NN>.{obj,off}, relative to the root")
    parser.add_argument("--shape_dir", default="multiview")
    for name, value in VIEW_DEFAULTS.items():
        parser.add_argument(f"--{name}", type=int, default=value)
    args = parser.parse_args(argv)
    root = Path(args.root)
    models = sorted(p for ext in ("obj", "off") for p in (root / args.cad).glob(f"*/*.{ext}") if p.stem.isdigit())
    if not models:
        print(f"error: no CAD models <cat>/<NN>.obj|off under {root / args.cad}", file=sys.stderr)
        return 2
    spec = make_spec(args.view_num, args.tour, args.view_size)
    skipped = 0
    for path in tqdm(models, desc="rendering multi-view shapes"):
        try:
            mesh = load_cad(path)
        except InputError as error:
            print(f"warning: skipped {error}", file=sys.stderr)
            skipped += 1
            continue
        write_views(views_path(root, args.shape_dir, path.parent.name, int(path.stem)), render_views(mesh, GREY, spec))
    write_spec(root / args.shape_dir, spec)
    print(f"wrote the views of {len(models) - skipped} models under {root / args.shape_dir}"
          + (f"; {skipped} skipped" if skipped else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
