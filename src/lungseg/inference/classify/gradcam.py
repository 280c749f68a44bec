"""Grad-CAM (Selvaraju et al., ICCV 2017): where a classifier looked for the class it scored.

The activations A of the model's ``cam_layer`` (its last convolutional stage) are weighed per channel by
the spatial mean of the class logit's gradient, summed over channels and rectified:
``relu(sum_k mean(dy_c/dA_k) * A_k)``, then upsampled to the input grid and divided by its maximum.
"""

from __future__ import annotations

import numpy as np
import torch


def grad_cam(model: torch.nn.Module, image: np.ndarray, class_index: int) -> np.ndarray:
    """(S, S) float32 model input in [0, 1] -> (S, S) float32 heat map in [0, 1] for ``class_index``
    (all zeros when nothing in the last stage raised that class's logit)."""
    layer = getattr(model, "cam_layer", None)
    if layer is None:
        raise ValueError(f"{type(model).__name__} has no cam_layer (Grad-CAM needs a classifier's last stage)")
    if image.ndim != 2:
        raise ValueError(f"image must be (S, S), got shape {image.shape}")
    captured: dict[str, torch.Tensor] = {}
    hook = layer.register_forward_hook(lambda module, inputs, output: captured.__setitem__("a", output))
    model.eval()
    try:
        with torch.enable_grad():
            device = next(model.parameters()).device
            logits = model(torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))[None, None].to(device))
            if not 0 <= class_index < logits.shape[1]:
                raise ValueError(f"class_index must be in 0..{logits.shape[1] - 1}, got {class_index}")
            activations = captured["a"]
            gradients = torch.autograd.grad(logits[0, class_index], activations)[0]
    finally:
        hook.remove()
    weights = gradients.mean(dim=(2, 3), keepdim=True)
    cam = torch.relu((weights * activations).sum(dim=1, keepdim=True)).detach()
    cam = torch.nn.functional.interpolate(cam, size=image.shape, mode="bilinear", align_corners=False)[0, 0]
    peak = float(cam.max())
    return (cam / peak).cpu().numpy().astype(np.float32) if peak > 0 else np.zeros(image.shape, np.float32)
