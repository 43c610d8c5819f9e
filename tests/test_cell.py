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
