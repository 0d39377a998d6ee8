"""CPU names from /proc/cpuinfo (runtimes.cpuinfo): ARM boards name their cores only by code."""

from __future__ import annotations

from pathlib import Path

import pytest

from runtimes import cpuinfo


def _arm(*parts: tuple[int, int]) -> str:
    return "".join(f"processor\t: {i}\nBogoMIPS\t: 62.50\nFeatures\t: fp asimd\nCPU implementer\t: {imp:#x}\n"
                   f"CPU architecture: 8\nCPU variant\t: 0x1\nCPU part\t: {part:#05x}\nCPU revision\t: 1\n\n"
                   for i, (imp, part) in enumerate(parts))


@pytest.mark.parametrize(("text", "name"), [
    (_arm(*[(0x41, 0xD42)] * 12), "ARM Cortex-A78AE (Jetson Orin)"),
    (_arm(*[(0x41, 0xD07)] * 4), "ARM Cortex-A57 (Jetson Nano/TX1/TX2)"),
    (_arm(*[(0x41, 0xD4F)] * 72), "ARM Neoverse-V2 (Grace)"),
    (_arm((0x41, 0xD07), (0x41, 0xD07), (0x4E, 0x003), (0x4E, 0x003)),
     "ARM Cortex-A57 (Jetson Nano/TX1/TX2) x2 + NVIDIA Denver 2 (Jetson TX2) x2"),
    (_arm((0x41, 0xD99)), "ARM part 0xd99"),
    (_arm((0x99, 0x001)), "implementer 0x99 part 0x001"),
    ("processor\t: 0\nmodel name\t: AMD EPYC 7B13\nflags\t: fpu\n\nprocessor\t: 1\nmodel name\t: AMD EPYC 7B13\n",
     "AMD EPYC 7B13"),
    ("processor\t: 0\nmodel name\t: ARMv7 Processor rev 3 (v7l)\nCPU implementer\t: 0x41\nCPU part\t: 0xd08\n"
     "\nHardware\t: BCM2835\n", "ARM Cortex-A72 (Raspberry Pi 4)"),
    ("processor\t: 0\nHardware\t: BCM2835\n", "BCM2835"),
])
def test_cpu_name_from_written_cpuinfo(text: str, name: str) -> None:
    assert cpuinfo.cpu_name(text) == name


def test_benchmark_provenance_reads_the_cpuinfo_file(tmp_path: Path, monkeypatch) -> None:
    from edge_sdk.benchmark import provenance

    path = tmp_path / "cpuinfo"
    path.write_text(_arm(*[(0x41, 0xD42)] * 6))
    monkeypatch.setattr(cpuinfo, "CPUINFO", path)
    assert provenance()["cpu"] == "ARM Cortex-A78AE (Jetson Orin)"
    monkeypatch.setattr(cpuinfo, "CPUINFO", tmp_path / "missing")
    assert provenance()["cpu"]  # no file: platform.processor() or the machine, never empty
