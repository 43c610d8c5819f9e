"""The application the smoke matrix's build recipes ship: it needs the torch -> torchao -> torchtune
chain and says which versions it got. The recipes copy it in after their dependency layers (Original:
before them), so an edit here is the source change their cached builds are measured after."""

from importlib import metadata

CHAIN = ("torch", "torchao", "torchtune")


def versions() -> dict:
    return {name: metadata.version(name) for name in CHAIN}


if __name__ == "__main__":
    print(versions())
