from harness import redact
from harness.model import IndexVariant


def test_urls_lose_their_credentials_everywhere_in_text():
    idx = IndexVariant(name="x", index_url="https://bot:t%40ken99@wheels.example.org/simple",
                       extra_index_urls=("https://only-user@other.example/simple",))
    known = redact.secrets(idx)
    assert set(known) == {"t@ken99", "t%40ken99", "only-user"}  # a lone user part is a token
    log = ("Looking in indexes: https://bot:****@wheels.example.org/simple\n"
           "ERROR: 401 for https://bot:t%40ken99@wheels.example.org/simple/torch/ (token t@ken99)")
    out = redact.text(log, known)
    assert "t%40ken99" not in out and "t@ken99" not in out
    assert "https://***@wheels.example.org/simple/torch/" in out
    assert redact.url(idx.index_url) == "https://***@wheels.example.org/simple"
    assert redact.data({"a": [log, 3]}, known)["a"][0] == out
