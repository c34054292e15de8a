"""Image pipeline: load, crop the box (jittered in training), flip / rotate with the labels, resize-pad, colour.

Training follows the PoseFromShape recipe, in this order: Gaussian blur (p 0.3, radius 3, only for boxes larger
than the input on both sides), box jitter (each side moves by up to 10 % of the box size), horizontal flip
(p 0.5; azimuth a -> -a, in-plane theta -> -theta), in-plane rotation (p 0.5; r ~ N(0, 30^2) clipped to
+-60 deg, counter-clockwise; theta -> theta + r), resize-pad, colour jitter (brightness/contrast/saturation 0.5,
random order), ImageNet normalisation, then AlexNet-style PCA lighting noise (std 0.1) added after
normalisation. Evaluation crops the exact box and resize-pads. Every random draw comes from the generator
passed in, so an item is a pure function of its seed.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torchvision.transforms.v2.functional as TF
from PIL import Image, ImageFilter, UnidentifiedImageError

from auxiliary.errors import InputError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
LIGHTING_EIGVAL = torch.tensor([0.2175, 0.0188, 0.0045])
LIGHTING_EIGVEC = torch.tensor([[-0.5675, 0.7192, 0.4009],
                                [-0.5808, -0.0045, -0.8140],
                                [-0.5836, -0.6948, 0.4203]])


class ImageError(InputError):
    """An image that cannot be used, with its path."""


def load_image(path) -> Image.Image:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image {path} does not exist")
    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        raise ImageError(f"image {path} cannot be decoded (truncated or not an image): {error}") from None


def clip_box(box, width: int, height: int, path=None) -> tuple[int, int, int, int]:
    """Round a (left, upper, right, lower) box to pixels and clip it to the image; it must keep an area."""
    left, upper, right, lower = (int(v) for v in box)
    clipped = (max(0, left), max(0, upper), min(width, right), min(height, lower))
    if clipped[2] - clipped[0] < 1 or clipped[3] - clipped[1] < 1:
        raise ImageError(f"box {tuple(box)} lies outside image {path or ''} of size {width}x{height}")
    return clipped


def jitter_box(box, width: int, height: int, rng: np.random.Generator) -> tuple[int, int, int, int]:
    """Move each side of the box by up to 10 % of its size, inside the image."""
    x, y = box[0], box[1]
    w, h = box[2] - box[0], box[3] - box[1]
    left = max(0, x + int(rng.uniform(-0.1, 0.1) * w))
    upper = max(0, y + int(rng.uniform(-0.1, 0.1) * h))
    right = min(width, x + int(rng.uniform(0.9, 1.1) * w))
    lower = min(height, y + int(rng.uniform(0.9, 1.1) * h))
    if right - left < 1 or lower - upper < 1:
        return tuple(box)
    return left, upper, right, lower


def resize_pad(image: Image.Image, size: int) -> Image.Image:
    """Resize so the longer side is ``size`` (aspect kept), then pad with black to size x size, centred."""
    w, h = image.size
    scale = size / max(w, h)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    image = image.resize((new_w, new_h), Image.Resampling.BILINEAR)
    if (new_w, new_h) == (size, size):
        return image
    canvas = Image.new("RGB", (size, size))
    canvas.paste(image, ((size - new_w + 1) // 2, (size - new_h + 1) // 2))
    return canvas


def to_normalized_tensor(image) -> torch.Tensor:
    if isinstance(image, Image.Image):
        image = TF.pil_to_tensor(image)
    tensor = image.float() / 255.0 if image.dtype == torch.uint8 else image
    return TF.normalize(tensor, IMAGENET_MEAN, IMAGENET_STD)


def color_jitter(tensor: torch.Tensor, rng: np.random.Generator, strength: float = 0.5) -> torch.Tensor:
    """Brightness, contrast and saturation factors in [1 - s, 1 + s], applied in a random order."""
    ops = (TF.adjust_brightness, TF.adjust_contrast, TF.adjust_saturation)
    for k in rng.permutation(3):
        tensor = ops[k](tensor, float(rng.uniform(max(0.0, 1 - strength), 1 + strength)))
    return tensor


def lighting(tensor: torch.Tensor, rng: np.random.Generator, std: float = 0.1) -> torch.Tensor:
    alpha = torch.from_numpy(rng.normal(0.0, std, 3).astype(np.float32))
    return tensor + (LIGHTING_EIGVEC @ (alpha * LIGHTING_EIGVAL))[:, None, None]


@dataclass
class Augmentation:
    """Which training augmentations are on; ``Augmentation.none()`` is the evaluation pipeline."""

    jitter: bool = True
    blur: float = 0.3
    flip: float = 0.5
    rotate: float = 0.5
    rotate_std: float = 30.0
    rotate_max: float = 60.0
    color: float = 0.5
    lighting: float = 0.1

    @classmethod
    def none(cls) -> "Augmentation":
        return cls(jitter=False, blur=0.0, flip=0.0, rotate=0.0, color=0.0, lighting=0.0)

    @classmethod
    def light(cls) -> "Augmentation":
        """Box jitter and flips only: for short runs on data whose in-plane rotations are small."""
        return cls(blur=0.0, rotate=0.0, color=0.0, lighting=0.0)

    @classmethod
    def preset(cls, name: str) -> "Augmentation":
        presets = {"reference": cls, "light": cls.light, "none": cls.none}
        if name not in presets:
            raise ValueError(f"unknown augmentation {name!r}; choose from {', '.join(presets)}")
        return presets[name]()


AUGMENTATIONS = ("reference", "light", "none")


def crop_view(image: Image.Image, box, input_dim: int, rng: np.random.Generator, aug: Augmentation,
              path=None) -> tuple[torch.Tensor, bool, float]:
    """One image view -> (normalised tensor (3, D, D), flipped?, in-plane rotation added in degrees).

    The caller applies the label changes: flipped -> (a, e, theta) becomes (-a, e, -theta); then theta += rotation.
    """
    width, height = image.size
    box = clip_box(box, width, height, path)
    if aug.jitter:
        box = jitter_box(box, width, height, rng)
    crop = image.crop(box)
    if aug.blur and min(crop.size) > input_dim and rng.random() < aug.blur:
        crop = crop.filter(ImageFilter.GaussianBlur(radius=3))
    flipped = bool(aug.flip and rng.random() < aug.flip)
    if flipped:
        crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    rotation = 0.0
    if aug.rotate and rng.random() < aug.rotate:
        rotation = float(np.clip(rng.normal(0.0, aug.rotate_std), -aug.rotate_max, aug.rotate_max))
        crop = crop.rotate(rotation, resample=Image.Resampling.BILINEAR)
    tensor = TF.pil_to_tensor(resize_pad(crop, input_dim)).float() / 255.0
    if aug.color:
        tensor = color_jitter(tensor, rng, aug.color).clamp_(0, 1)
    tensor = to_normalized_tensor(tensor)
    if aug.lighting:
        tensor = lighting(tensor, rng, aug.lighting)
    return tensor, flipped, rotation
