"""Image pipeline: load, crop the box (jittered in training), flip / rotate with the labels, resize-pad, colour.

The geometric part runs per sample in the loader and yields uint8 crops; the photometric part (colour jitter,
normalisation, lighting) is drawn per sample there too but applied to the whole batch on the training device
(:func:`normalize_batch`), which keeps the loader light.

Training follows the PoseFromShape recipe, in this order: Gaussian blur (p 0.3, radius 3, only for boxes larger
than the input on both sides), box jitter (each side moves by up to 10 % of the box size), horizontal flip
(p 0.5; azimuth a -> -a, in-plane theta -> -theta), in-plane rotation (p 0.5; r ~ N(0, 30^2) clipped to
+-60 deg, counter-clockwise; theta -> theta + r), resize-pad, colour jitter (brightness/contrast/saturation 0.5,
random order), ImageNet normalisation, then AlexNet-style PCA lighting noise (std 0.1) added after
normalisation. Evaluation crops the exact box and resize-pads. Every random draw comes from the generator
passed in, so an item is a pure function of its seed.
"""
from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
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


def load_image(path, box=None, input_dim: int | None = None) -> Image.Image:
    """Decode an image file as RGB (one read of the whole file); a missing or undecodable file raises an error
    that names it. See :func:`load_view` for the reduced-size decode."""
    return load_view(path, box, input_dim)[0]


def load_view(path, box=None, input_dim: int | None = None) -> tuple[Image.Image, float]:
    """(RGB image, scale): with ``box`` and ``input_dim``, a JPEG whose box is at least twice the network input
    (with room for the box jitter) is decoded at 1/2, 1/4 or 1/8 size by libjpeg's DCT scaling (PIL's
    ``draft``), several times faster for large photos; ``scale`` is the size of the decoded image over the
    file's, by which the caller multiplies its box."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except (FileNotFoundError, IsADirectoryError):
        raise FileNotFoundError(f"image {path} does not exist") from None
    try:
        with Image.open(io.BytesIO(data)) as image:
            width = image.size[0]
            inside = box is not None and box[0] < image.size[0] and box[1] < image.size[1] and min(box[2:]) > 0
            if inside and input_dim and image.format == "JPEG":
                reduction = max(box[2] - box[0], box[3] - box[1]) / (1.25 * input_dim)
                if reduction >= 2:
                    image.draft("RGB", (int(image.size[0] / reduction), int(image.size[1] / reduction)))
            rgb = image.convert("RGB")
            return rgb, rgb.size[0] / width
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        raise ImageError(f"image {path} cannot be decoded (truncated or not an image): {error}") from None


def clip_box(box, width: int, height: int, path=None) -> tuple[int, int, int, int]:
    """Round a (left, upper, right, lower) box to pixels and clip it to the image; it must keep an area."""
    left, upper, right, lower = (int(v) for v in box)
    clipped = (max(0, left), max(0, upper), min(width, right), min(height, lower))
    if clipped[2] - clipped[0] < 1 or clipped[3] - clipped[1] < 1:
        raise ImageError(f"box {tuple(float(v) for v in box)} lies outside image {path or ''} of size "
                         f"{width}x{height}")
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


def resize_pad_tensor(image: Image.Image, size: int) -> torch.Tensor:
    """:func:`resize_pad` as a uint8 tensor (3, size, size), resized with torch's antialiased bilinear uint8
    kernel (within one grey level of PIL's, and several times faster when a small crop is enlarged)."""
    w, h = image.size
    scale = size / max(w, h)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    # HWC bytes seen as a (1, 3, H, W) tensor in channels-last layout: the fast path of the uint8 kernel
    pixels = torch.from_numpy(np.array(image, dtype=np.uint8, copy=True)).permute(2, 0, 1)[None]
    resized = F.interpolate(pixels, size=(new_h, new_w), mode="bilinear", antialias=True, align_corners=False)
    canvas = torch.zeros((3, size, size), dtype=torch.uint8)
    top, left = (size - new_h + 1) // 2, (size - new_w + 1) // 2
    canvas[:, top:top + new_h, left:left + new_w] = resized[0]
    return canvas


GRAY_WEIGHTS = (0.2989, 0.587, 0.114)  # torchvision's rgb_to_grayscale
PHOTOMETRIC_SIZE = 9  # brightness, contrast, saturation factors; their order (3 op codes); lighting alpha (3)


def photometric_params(rng: np.random.Generator, aug: "Augmentation") -> np.ndarray:
    """Draw one sample's colour jitter and lighting: float32 (9,) = (brightness, contrast, saturation factors,
    the order of the three ops as codes 0/1/2, PCA lighting alpha). The identity is (1, 1, 1, 0, 1, 2, 0, 0, 0)."""
    params = np.array([1, 1, 1, 0, 1, 2, 0, 0, 0], dtype=np.float32)
    if aug.color:
        order = rng.permutation(3)
        params[3:6] = order
        for k in order:
            params[k] = rng.uniform(max(0.0, 1 - aug.color), 1 + aug.color)
    if aug.lighting:
        params[6:9] = rng.normal(0.0, aug.lighting, 3)
    return params


def _grayscale(x: torch.Tensor) -> torch.Tensor:
    r, g, b = x.unbind(dim=-3)
    return (GRAY_WEIGHTS[0] * r + GRAY_WEIGHTS[1] * g + GRAY_WEIGHTS[2] * b).unsqueeze(-3)


def normalize_batch(images: torch.Tensor, photometric: torch.Tensor | None = None) -> torch.Tensor:
    """uint8 crops (B, 3, H, W) -> float, colour-jittered, ImageNet-normalised and lit network inputs.

    This is the end of the image pipeline, run on the batch where the network runs (a GPU takes it for free,
    and the loader workers ship uint8, a quarter of the bytes). ``photometric`` (B, 9) from
    :func:`photometric_params`; each of the three jitter ops is torchvision's blend
    ``clamp(f x + (1 - f) t)`` with target ``t`` = 0 (brightness), the mean grey level (contrast) or the grey
    image (saturation), applied in the sample's own order. Without ``photometric``: conversion and
    normalisation only (evaluation).
    """
    x = images.float().div_(255.0) if images.dtype == torch.uint8 else images.float()
    if photometric is not None:
        p = photometric.to(x.device, torch.float32)
        view = (-1, 1, 1, 1)
        for position in range(3):
            op = p[:, 3 + position].round().long()
            factor = p.gather(1, op[:, None]).view(view)
            gray = _grayscale(x)
            target = torch.where((op == 2).view(view), gray, gray.mean(dim=(-3, -2, -1), keepdim=True))
            target = torch.where((op == 0).view(view), torch.zeros_like(target), target)
            x = (factor * x + (1 - factor) * target).clamp_(0, 1)
    mean, std, eigval, eigvec = _constants(x.device)
    x = (x - mean) / std
    if photometric is not None:
        shift = (p[:, 6:9] * eigval) @ eigvec.T
        x = x + shift[:, :, None, None]
    return x


_CONSTANTS: dict = {}


def _constants(device: torch.device):
    """ImageNet statistics and the lighting basis on ``device``, copied there once (a copy per batch would make
    the host wait for the GPU)."""
    if device not in _CONSTANTS:
        _CONSTANTS[device] = (torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1),
                              torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1),
                              LIGHTING_EIGVAL.to(device), LIGHTING_EIGVEC.to(device))
    return _CONSTANTS[device]


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
              path=None) -> tuple[torch.Tensor, bool, float, np.ndarray]:
    """One image view -> (uint8 tensor (3, D, D), flipped?, in-plane rotation added in degrees, photometric
    parameters for :func:`normalize_batch`).

    The geometric steps (box, blur, flip, rotation, resize-pad) run here, in the loader; the photometric ones
    are only drawn here and applied to the whole batch by :func:`normalize_batch`. The caller applies the label
    changes: flipped -> (a, e, theta) becomes (-a, e, -theta); then theta += rotation.
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
    tensor = resize_pad_tensor(crop, input_dim)
    return tensor, flipped, rotation, photometric_params(rng, aug)
