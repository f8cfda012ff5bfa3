"""The float type of the towers' training matmuls (``ModelConfig.matmul_precision``).

bfloat16 keeps float32's exponent range with an 8-bit mantissa: a training
pass runs the towers in it (their sums accumulate in float32 inside the
matmul kernel, and each product is rounded once on the way out); the
weights and their updates stay float32, and so does everything outside the
towers (``models.layers.TowerStack``). Where the hardware has bfloat16
matmul units it is the cheaper way to train the same model; where it has
not, the type is emulated and slower, so ``auto`` asks the hardware.
"""

from __future__ import annotations

from typing import Iterable, Optional, Sequence, Tuple

import tensorflow as tf

AUTO, FLOAT32, BFLOAT16 = "auto", "float32", "bfloat16"
PRECISIONS: Tuple[str, ...] = (AUTO, FLOAT32, BFLOAT16)
# x86 flags of CPUs with bfloat16 dot-product instructions (Zen 4, Cooper Lake,
# Sapphire Rapids and later).
BF16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
BF16_GPU_COMPUTE_CAPABILITY = (8, 0)  # Ampere and later


def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> frozenset:
    """The CPU's feature flags (empty where /proc/cpuinfo is not readable)."""
    try:
        with open(cpuinfo) as lines:
            for line in lines:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def gpu_compute_capabilities() -> Sequence[Tuple[int, int]]:
    """Compute capability of every visible GPU."""
    details = map(
        tf.config.experimental.get_device_details,
        tf.config.list_physical_devices("GPU"),
    )
    return [tuple(d.get("compute_capability", (0, 0))) for d in details]


def has_bfloat16_matmul(
    flags: Iterable[str], gpu_capabilities: Sequence[Tuple[int, int]]
) -> bool:
    """Whether the devices that train have fast bfloat16 matmuls: every GPU
    if there are any, else the CPU."""
    if gpu_capabilities:
        return all(c >= BF16_GPU_COMPUTE_CAPABILITY for c in gpu_capabilities)
    return bool(BF16_CPU_FLAGS & set(flags))


def training_matmul_dtype(
    precision: str,
    flags: Optional[Iterable[str]] = None,
    gpu_capabilities: Optional[Sequence[Tuple[int, int]]] = None,
) -> tf.DType:
    """The dtype ``precision`` (one of ``PRECISIONS``) means on this machine."""
    if precision not in PRECISIONS:
        raise ValueError(
            f"unknown matmul precision {precision!r}; choose one of {list(PRECISIONS)}"
        )
    if precision == AUTO:
        if gpu_capabilities is None:
            gpu_capabilities = gpu_compute_capabilities()
        fast = has_bfloat16_matmul(
            cpu_flags() if flags is None else flags, gpu_capabilities
        )
        return tf.bfloat16 if fast else tf.float32
    return tf.as_dtype(precision)
