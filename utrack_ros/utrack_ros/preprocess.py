"""Image preprocessing shared by training data, the pipeline and ONNX export.

The model sees a *letterboxed* image: the frame is resized with its aspect ratio kept so
that it fits ``(input_height, input_width)``, then padded evenly with grey. Boxes move
between frame pixels and input pixels with :class:`Letterbox`.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

#: ImageNet statistics, RGB order (the MobileNetV2 / DLA-34 initialisations expect them).
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
PAD_VALUE = 127


@dataclass(frozen=True)
class Letterbox:
    """The affine map frame pixels -> input pixels: ``x_in = x * scale + pad_x`` (integer pads)."""

    scale: float
    pad_x: float
    pad_y: float
    input_size: tuple[int, int]  # (height, width) of the model input
    frame_size: tuple[int, int]  # (height, width) of the original frame

    @classmethod
    def fit(cls, frame_size: tuple[int, int], input_size: tuple[int, int]) -> Letterbox:
        """Largest aspect-preserving scale that fits ``frame_size`` into ``input_size``."""
        fh, fw = int(frame_size[0]), int(frame_size[1])
        ih, iw = int(input_size[0]), int(input_size[1])
        if fh <= 0 or fw <= 0 or ih <= 0 or iw <= 0:
            raise ValueError(
                f"frame size {frame_size} and input size {input_size} must be positive (h, w)"
            )
        scale = min(ih / fh, iw / fw)
        new_w, new_h = round(fw * scale), round(fh * scale)
        return cls(scale, float((iw - new_w) // 2), float((ih - new_h) // 2), (ih, iw), (fh, fw))

    def apply(self, image: np.ndarray) -> np.ndarray:
        """Resize + pad an HxWxC image to the input size (uint8 in, uint8 out)."""
        ih, iw = self.input_size
        new_w = round(self.frame_size[1] * self.scale)
        new_h = round(self.frame_size[0] * self.scale)
        interp = cv2.INTER_AREA if self.scale < 1 else cv2.INTER_LINEAR
        resized = cv2.resize(image, (new_w, new_h), interpolation=interp)
        top, left = int(self.pad_y), int(self.pad_x)
        out = np.full((ih, iw, image.shape[2]), PAD_VALUE, dtype=image.dtype)
        out[top : top + new_h, left : left + new_w] = resized
        return out

    def boxes_to_input(self, boxes_xyxy: np.ndarray) -> np.ndarray:
        """Frame-pixel boxes [N, 4] -> input-pixel boxes."""
        b = np.asarray(boxes_xyxy, dtype=np.float64).reshape(-1, 4) * self.scale
        return b + np.array([self.pad_x, self.pad_y, self.pad_x, self.pad_y])

    def boxes_to_frame(self, boxes_xyxy: np.ndarray) -> np.ndarray:
        """Input-pixel boxes [N, 4] -> frame-pixel boxes."""
        b = np.asarray(boxes_xyxy, dtype=np.float64).reshape(-1, 4)
        return (b - np.array([self.pad_x, self.pad_y, self.pad_x, self.pad_y])) / self.scale

    def points_to_frame(self, points_xy: np.ndarray) -> np.ndarray:
        """Input-pixel points [N, 2] -> frame-pixel points."""
        p = np.asarray(points_xy, dtype=np.float64).reshape(-1, 2)
        return (p - np.array([self.pad_x, self.pad_y])) / self.scale


def normalize_image(image_bgr: np.ndarray) -> np.ndarray:
    """uint8 BGR HxWx3 -> float32 RGB 3xHxW, ImageNet-normalised (the model's input)."""
    if image_bgr.ndim != 3 or image_bgr.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 BGR image, got shape {image_bgr.shape}")
    rgb = image_bgr[:, :, ::-1].astype(np.float32) / 255.0
    return np.ascontiguousarray(((rgb - IMAGENET_MEAN) / IMAGENET_STD).transpose(2, 0, 1))
