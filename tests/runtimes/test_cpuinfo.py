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


@pytest.mark.parametrize(("flags", "vector", "dot"), [
    ("flags\t: fpu sse2 avx avx2 fma", "AVX2", "none"),  # Zen 3 (EPYC Milan): AVX2 only
    ("flags\t: avx2 avx512f avx512bw avx512_vnni", "AVX-512", "AVX-512 VNNI"),  # Zen 4, Cascade Lake and later
    ("flags\t: avx2 avx_vnni", "AVX2", "AVX-VNNI"),  # Alder Lake
    ("flags\t: avx2 avx512f avx512_vnni amx_int8 amx_tile", "AVX-512", "AMX-INT8, AVX-512 VNNI"),
    ("Features\t: fp asimd evtstrm aes crc32 atomics fphp asimdhp asimdrdm", "NEON", "none"),  # Cortex-A57
    ("Features\t: fp asimd asimddp sve sve2 i8mm bf16", "SVE2", "Armv8.6 I8MM (SMMLA), Armv8.2 dot product "
     "(SDOT/UDOT)"),  # Neoverse-V2
    ("processor\t: 0\n", None, None),  # no flags line
])
def test_int8_support_from_written_cpuinfo(flags: str, vector: str | None, dot: str | None) -> None:
    assert cpuinfo.int8_support(f"processor\t: 0\n{flags}\n\n") == {"vector": vector, "int8_dot": dot}


def test_doctor_advises_on_a_cpu_without_int8_dot_product(tmp_path: Path, monkeypatch) -> None:
    from edge_sdk.doctor import diagnose

    path = tmp_path / "cpuinfo"
    monkeypatch.setattr(cpuinfo, "CPUINFO", path)
    path.write_text("processor\t: 0\nmodel name\t: AMD EPYC 7B13\nflags\t: fpu avx2\n")
    assert any("no INT8 dot-product instructions (AVX2 only" in tip for tip in diagnose()["advice"])
    path.write_text("processor\t: 0\nmodel name\t: AMD EPYC 9B14\nflags\t: fpu avx2 avx512f avx512_vnni\n")
    r = diagnose()
    assert r["cpu_int8"] == {"vector": "AVX-512", "int8_dot": "AVX-512 VNNI"}
    assert not any("INT8 dot-product" in tip for tip in r["advice"])
