"""The in-cell driver's summary of pip's install report (shape as pip >= 22.2 writes it)."""

from harness import cell

REPORT = {
    "version": "1",
    "pip_version": "23.0.1",
    "install": [
        {"download_info": {"url": "https://user:s3cret@wheels.example.org/torch-2.5.0-cp310-cp310-linux_aarch64.whl",
                           "archive_info": {"hashes": {"sha256": "ab"}}},
         "is_direct": False, "requested": True, "metadata": {"name": "torch", "version": "2.5.0"}},
        {"download_info": {"url": "https://files.example.org/p/sentencepiece-0.2.0.tar.gz#sha256=cd",
                           "archive_info": {}},
         "is_direct": False, "requested": False, "metadata": {"name": "sentencepiece", "version": "0.2.0"}},
        {"download_info": {"url": "file:///src/mypkg", "dir_info": {}},
         "is_direct": True, "requested": True, "metadata": {"name": "mypkg", "version": "0.1"}},
    ],
}


def test_report_summary_tells_wheel_from_source_build_and_hides_credentials():
    torch, spm, local = cell.summarize_report(REPORT)
    assert torch == {"name": "torch", "version": "2.5.0", "requested": True, "direct": False, "source": "wheel",
                     "file": "torch-2.5.0-cp310-cp310-linux_aarch64.whl", "tags": "cp310-cp310-linux_aarch64",
                     "url": "https://***@wheels.example.org/torch-2.5.0-cp310-cp310-linux_aarch64.whl"}
    assert (spm["source"], spm["file"], spm["tags"]) == ("source", "sentencepiece-0.2.0.tar.gz", None)
    assert (local["source"], local["direct"]) == ("directory", True)
    assert "s3cret" not in repr(cell.summarize_report(REPORT))


def test_url_without_credentials_is_unchanged():
    assert cell.without_credentials("https://pypi.example/simple") == "https://pypi.example/simple"


def test_torch_state_reads_real_version_files_without_importing_torch(tmp_path):
    import json
    import os
    import subprocess
    import sys

    for name, cuda_line, cuda in (("cpu", "cuda: Optional[str] = None", None),
                                  ("cu130", "cuda: Optional[str] = '13.0'", "13.0")):
        site = tmp_path / name / "torch"
        site.mkdir(parents=True)
        (site / "__init__.py").write_text("raise SystemExit('the guard must not import torch')\n")
        (site / "version.py").write_text("from typing import Optional\n\n__version__ = '2.13.0+cpu'\ndebug = False\n"
                                         f"{cuda_line}\nhip: Optional[str] = None\n")
        env = {**os.environ, "PYTHONPATH": str(site.parent)}
        out = subprocess.run([sys.executable, "-c", cell.TORCH_STATE], env=env, capture_output=True, text=True)
        state = json.loads(out.stdout)
        assert state == {"present": True, "location": str(site), "version": "2.13.0+cpu", "cuda": cuda}
