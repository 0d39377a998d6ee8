"""The CPU's name, for benchmark provenance and ``edge-sdk doctor``, on x86 and on ARM boards.

x86 kernels write a ``model name`` line into ``/proc/cpuinfo``; arm64 kernels do not: they give each
core's ``CPU implementer`` and ``CPU part`` codes (the MIDR register fields), which :data:`ARM_PARTS`
turns into a core name, e.g. ``0x41``/``0xd42`` -> ``ARM Cortex-A78AE (Jetson Orin)``. A board mixing
cores (big.LITTLE, Jetson TX2) is named with a count per core type: ``ARM Cortex-A57 x4 + NVIDIA Denver 2 x2``.
An unknown code is kept as hex (``ARM part 0xd99``) rather than guessed.
"""

from __future__ import annotations

import platform
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")

ARM_IMPLEMENTERS = {
    0x41: "ARM", 0x42: "Broadcom", 0x43: "Cavium", 0x48: "HiSilicon", 0x4E: "NVIDIA", 0x51: "Qualcomm",
    0x61: "Apple", 0xC0: "Ampere",
}

# (implementer, part) -> core name; where the core identifies a well-known board, the board is named too
ARM_PARTS: dict[tuple[int, int], str] = {
    (0x41, 0xD03): "Cortex-A53",
    (0x41, 0xD04): "Cortex-A35",
    (0x41, 0xD05): "Cortex-A55",
    (0x41, 0xD07): "Cortex-A57 (Jetson Nano/TX1/TX2)",
    (0x41, 0xD08): "Cortex-A72 (Raspberry Pi 4)",
    (0x41, 0xD09): "Cortex-A73",
    (0x41, 0xD0A): "Cortex-A75",
    (0x41, 0xD0B): "Cortex-A76 (Raspberry Pi 5)",
    (0x41, 0xD0C): "Neoverse-N1",
    (0x41, 0xD0D): "Cortex-A77",
    (0x41, 0xD40): "Neoverse-V1",
    (0x41, 0xD41): "Cortex-A78",
    (0x41, 0xD42): "Cortex-A78AE (Jetson Orin)",
    (0x41, 0xD44): "Cortex-X1",
    (0x41, 0xD46): "Cortex-A510",
    (0x41, 0xD47): "Cortex-A710",
    (0x41, 0xD48): "Cortex-X2",
    (0x41, 0xD49): "Neoverse-N2",
    (0x41, 0xD4B): "Cortex-A78C",
    (0x41, 0xD4F): "Neoverse-V2 (Grace)",
    (0x41, 0xD80): "Cortex-A520",
    (0x41, 0xD81): "Cortex-A720",
    (0x41, 0xD84): "Neoverse-V3",
    (0x4E, 0x003): "Denver 2 (Jetson TX2)",
    (0x4E, 0x004): "Carmel (Jetson Xavier)",
    (0xC0, 0xAC3): "Ampere-1",
    (0xC0, 0xAC4): "Ampere-1a",
}


def _int(text: str) -> int | None:
    try:
        return int(text.strip(), 0)
    except ValueError:
        return None


def arm_cores(cpuinfo: str) -> list[str]:
    """One name per ``CPU part`` entry (one per core) of an arm64 ``/proc/cpuinfo``; [] for other formats."""
    names: list[str] = []
    implementer: int | None = None
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key == "cpu implementer":
            implementer = _int(value)
        elif key == "cpu part" and implementer is not None:
            part = _int(value)
            if part is None:
                continue
            vendor = ARM_IMPLEMENTERS.get(implementer, f"implementer {implementer:#x}")
            names.append(f"{vendor} {ARM_PARTS.get((implementer, part), f'part {part:#05x}')}")
    return names


def cpu_name(cpuinfo: str | None = None) -> str:
    """A readable CPU name from ``cpuinfo`` (the text of ``/proc/cpuinfo``, read when None).

    ARM core codes are preferred to a ``model name`` line (which 32-bit ARM kernels fill with
    ``ARMv7 Processor rev 3 (v7l)``); without either, ``Hardware`` (Raspberry Pi's SoC), then
    :func:`platform.processor`, then the machine (``aarch64``).
    """
    if cpuinfo is None:
        try:
            cpuinfo = CPUINFO.read_text(errors="replace")
        except OSError:
            cpuinfo = ""
    cores = arm_cores(cpuinfo)
    if cores:
        counts: dict[str, int] = {}
        for name in cores:
            counts[name] = counts.get(name, 0) + 1
        if len(counts) == 1:
            return cores[0]
        return " + ".join(f"{name} x{n}" for name, n in counts.items())
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        if sep and value.strip():
            fields.setdefault(key.strip().lower(), value.strip())
    for key in ("model name", "hardware", "cpu model"):
        if key in fields:
            return fields[key]
    return platform.processor() or platform.machine()


# /proc/cpuinfo flag (x86 "flags", arm64 "Features") -> the INT8 dot-product instructions it names, best first.
# These are what make INT8 inference faster than FP32 on a CPU: without them (x86 with AVX2 only, ARMv8.0 cores
# such as the Cortex-A57 of a Jetson Nano) an INT8 multiply-accumulate takes about as many instructions as a
# float one, and INT8 models run at about FP32 speed (BENCHMARKS.md, "INT8 on this CPU").
INT8_DOT_PRODUCT: dict[str, str] = {
    "amx_int8": "AMX-INT8",
    "avx512_vnni": "AVX-512 VNNI",
    "avx_vnni": "AVX-VNNI",
    "i8mm": "Armv8.6 I8MM (SMMLA)",
    "asimddp": "Armv8.2 dot product (SDOT/UDOT)",
}
VECTOR_WIDTH: dict[str, str] = {"avx512f": "AVX-512", "avx2": "AVX2", "sve2": "SVE2", "sve": "SVE", "asimd": "NEON"}


def cpu_flags(cpuinfo: str | None = None) -> set[str]:
    """The first core's ``flags`` (x86) or ``Features`` (arm64) from ``cpuinfo`` (``/proc/cpuinfo`` when None)."""
    if cpuinfo is None:
        try:
            cpuinfo = CPUINFO.read_text(errors="replace")
        except OSError:
            return set()
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() in ("flags", "features"):
            return set(value.split())
    return set()


def int8_support(cpuinfo: str | None = None) -> dict[str, str | None]:
    """``{"vector": widest SIMD, "int8_dot": INT8 dot-product instructions or None}``, both from the flags
    (None where the flags are not readable: not Linux, or a kernel that does not list them)."""
    flags = cpu_flags(cpuinfo)
    if not flags:
        return {"vector": None, "int8_dot": None}
    vector = next((name for flag, name in VECTOR_WIDTH.items() if flag in flags), None)
    dots = [name for flag, name in INT8_DOT_PRODUCT.items() if flag in flags]
    return {"vector": vector, "int8_dot": ", ".join(dots) if dots else "none"}
