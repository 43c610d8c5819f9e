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


def test_tuples_are_masked_like_lists_and_keep_their_type():
    """A result's phases are a tuple of dicts: a credential in a phase's error is masked too."""
    idx = IndexVariant(name="x", index_url="https://bot:s3cr3t@wheels.example.org/simple")
    phases = ({"phase": "install", "error": "GET https://bot:s3cr3t@wheels.example.org/simple/torch/ failed"},
              ["s3cr3t again", ("nested s3cr3t",)], 7, None)
    out = redact.data(phases, redact.secrets(idx))
    assert out == ({"phase": "install", "error": "GET https://***@wheels.example.org/simple/torch/ failed"},
                   ["*** again", ("nested ***",)], 7, None)
    assert type(out) is tuple and type(out[1]) is list and type(out[1][1]) is tuple


def test_a_raw_at_sign_in_the_userinfo_leaves_nothing_of_it():
    assert redact.url("https://me@corp:tok3n@wheels.example.org/simple") == "https://***@wheels.example.org/simple"
    assert redact.url("https://wheels.example.org/simple") == "https://wheels.example.org/simple"
    assert redact.url("https://tok3n@wheels.example.org/simple") == "https://***@wheels.example.org/simple"


def test_a_secret_that_contains_another_is_masked_whole():
    """The longest secret first: masking a shorter one inside it first would leave the rest readable."""
    idx = IndexVariant(name="x", index_url="https://abc@one.example/simple",
                       extra_index_urls=("https://bot:abcdef@two.example/simple",))
    known = redact.secrets(idx)
    assert known[0] == "abcdef" and set(known) == {"abc", "abcdef"}
    assert redact.text("token abcdef and abc", known) == "token *** and ***"


def test_secrets_of_three_characters_or_more_are_masked_standing_alone():
    assert redact.text("said t0k here", ["t0k"]) == "said *** here"
    assert redact.text("said ab here", ["ab"]) == "said ab here"  # two letters would mask half of every word
    assert redact.secrets(IndexVariant(name="x")) == []


def test_the_longest_secret_is_masked_first_whatever_its_letters():
    """Longest first, not in reverse alphabetical order: "tok" sorts after "atok9" and lies inside it."""
    idx = IndexVariant(name="x", index_url="https://tok@one.example/simple",
                       extra_index_urls=("https://bot:atok9@two.example/simple",))
    known = redact.secrets(idx)
    assert known == ["atok9", "tok"]
    assert redact.text("401 with atok9, then tok", known) == "401 with ***, then ***"
