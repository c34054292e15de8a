"""Class lists and per-dataset protocol facts (which classes are novel, evaluated, or symmetric)."""
from __future__ import annotations

from dataclasses import dataclass, field

# The 20 ObjectNet3D classes held out in the zero-shot protocol (StarMap split); they are also the classes
# every ObjectNet3D evaluation reports, in the supervised setting too.
OBJECTNET3D_NOVEL = ("bed", "bookshelf", "calculator", "cellphone", "computer", "door", "filing_cabinet",
                     "guitar", "iron", "knife", "microwave", "pen", "pot", "rifle", "shoe", "slipper", "stove",
                     "toilet", "tub", "wheelchair")
PASCAL3D_CLASSES = ("aeroplane", "bicycle", "boat", "bottle", "bus", "car", "chair", "diningtable",
                    "motorbike", "sofa", "train", "tvmonitor")
PASCAL3D_NOVEL = ("bus", "motorbike")
PIX3D_CLASSES = ("tool", "misc", "bookcase", "wardrobe", "desk", "bed", "table", "sofa", "chair")
# Rotationally symmetric ObjectNet3D classes: canonical-frame randomisation (--random) is disabled for them.
BAD_CATS = ("ashtray", "basket", "bottle", "bucket", "can", "cap", "cup", "fire_extinguisher", "fish_tank",
            "flashlight", "helmet", "jar", "paintbrush", "pen", "pencil", "plate", "pot", "road_pole",
            "screwdriver", "toothbrush", "trash_bin", "trophy")
SYNTHETIC_CLASSES = ("aeroplane", "bed", "bench", "bookshelf", "car", "chair", "guitar", "lamp", "monitor",
                     "mug", "sofa", "table")
SYNTHETIC_NOVEL = ("bed", "guitar", "mug")
# the many-category set's default split (dataset.synthetic_many: 120 categories, the last 20 novel); a set
# generated with other sizes names its own in generator.json, which the loader reads
SYNTHETIC_MANY_NOVEL = tuple(f"shape{k:03d}" for k in range(100, 120))
# shape representations of the teacher (--shape); None is the image-only network
SHAPES = ("PointCloud", "MultiView")
SHAPE_DIRS = {"PointCloud": "pointcloud", "MultiView": "multiview"}


@dataclass(frozen=True)
class DatasetInfo:
    """Where a dataset's table lives and which classes each protocol trains and evaluates on."""

    name: str
    table: str
    novel: tuple = ()
    # Classes evaluated in the supervised setting; None means every class present in the val split.
    eval_classes: tuple | None = None
    # Classes evaluated when training with --novel (the held-out ones); None means eval_classes.
    novel_eval_classes: tuple | None = None
    bad_cats: tuple = field(default=BAD_CATS)
    evaluation_only: bool = False

    def evaluation_classes(self, novel: bool):
        if novel and self.novel_eval_classes is not None:
            return self.novel_eval_classes
        return self.eval_classes


DATASETS = {
    "ObjectNet3D": DatasetInfo("ObjectNet3D", "ObjectNet3D.txt", novel=OBJECTNET3D_NOVEL,
                               eval_classes=OBJECTNET3D_NOVEL),
    "Pascal3D": DatasetInfo("Pascal3D", "Pascal3D.txt", novel=PASCAL3D_NOVEL, eval_classes=PASCAL3D_CLASSES,
                            novel_eval_classes=PASCAL3D_NOVEL),
    "Pix3D": DatasetInfo("Pix3D", "Pix3D.txt", eval_classes=PIX3D_CLASSES, evaluation_only=True),
    "Synthetic": DatasetInfo("Synthetic", "Synthetic.txt", novel=SYNTHETIC_NOVEL, eval_classes=None,
                             novel_eval_classes=SYNTHETIC_NOVEL, bad_cats=()),
    "SyntheticMany": DatasetInfo("SyntheticMany", "SyntheticMany.txt", novel=SYNTHETIC_MANY_NOVEL, eval_classes=None,
                                 novel_eval_classes=SYNTHETIC_MANY_NOVEL, bad_cats=()),
    # Your own table in the same 19-column layout, any classes: trains on every class of its train split and
    # evaluates every class of its val split; --novel_classes / --eval_classes choose other splits by name.
    "Custom": DatasetInfo("Custom", "Custom.txt", eval_classes=None, bad_cats=()),
}


def parse_class_list(value: str) -> tuple:
    """``a,b,c`` on the command line -> ('a', 'b', 'c')."""
    names = tuple(name.strip() for name in value.split(",") if name.strip())
    if not names:
        raise ValueError("expected a comma-separated list of class names")
    return names


def dataset_info(name: str) -> DatasetInfo:
    try:
        return DATASETS[name]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}") from None
