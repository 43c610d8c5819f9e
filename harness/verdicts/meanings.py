"""What each verdict means and what to do about it, in general (a cell's own hint says it for that cell).

The reference page of the documentation is made from this table and the model (harness.model.Verdict):
a verdict the model gains without a meaning here fails the tests and the docs build.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from harness.model import Verdict

# verdict → (what it means, what to do)
MEANINGS: Mapping[Verdict, tuple[str, str]] = MappingProxyType({
    Verdict.PASS: (
        "every module imported; CUDA as the cell expects it where the host gives cells a GPU",
        ""
    ),
    Verdict.DEGRADED: (
        "everything imported, but a message says function was lost that this platform could have: torchao "
        "\"Skipping import of cpp extensions\" (torch version mismatch), a compiled extension that failed to load "
        "(undefined symbol, ABI, a missing library the build expects), a backend such as triton missing on a CUDA"
        " build. The messages, and the loader's own words for a file that did not load, are the evidence. "
        "Function a CPU build of torch never had is not a loss (see how verdicts are decided)",
        "install the release built for this torch, or the torch it was built for"
    ),
    Verdict.NO_CUDA: (
        "imports fine, but CUDA is unavailable where the cell expects it: a CPU build (`torch.version.cuda` is "
        "None) or a CUDA build that sees no GPU",
        "install the CUDA build; check the runtime gives the GPU (`wheel-harness doctor`)"
    ),
    Verdict.CUDA_MISMATCH: (
        "CUDA there, but not the expected CUDA version or capability, or torch has no kernels for this GPU",
        "use a torch built for this CUDA and GPU architecture"
    ),
    Verdict.TORCH_REPLACED: (
        "the image shipped torch and the install replaced it (another version, or its CUDA build by a CPU build);"
        " both are shown. Takes precedence over what followed from it",
        "pin `torch==<the image's version>`, or install the rest with `--no-deps`"
    ),
    Verdict.CHECK_FAILED: (
        "everything imported, but a check failed (a built-in one or yours): the failure is the evidence, and any "
        "loss the imports showed stays in it. Outranks degraded",
        "the hint names the cause where it is known (torchao's skipped C++ extensions, int4 on a GPU below "
        "capability 8.0); else read the check's failure"
    ),
    Verdict.IMPORT_FAILED: (
        "an import raised. Evidence: the first module that failed, the exception, where; the hint names the "
        "distribution whose code failed and the one that lacks the module or name (\"torchtune 0.6.1 imports "
        "int4_weight_only from torchao.quantization, which torchao 0.17.0 does not provide\"), or reads `undefined"
        " symbol`, `GLIBC_x not found`, a missing `.so` (with the package that provides it), an extension built for "
        "another NumPy (see how verdicts are decided). When the code that failed belongs to a distribution no "
        "pin names, the hint names it with its version and who required it, and where its message states a "
        "version it needs of another package (\"requires base 2.0 or newer\"), which installed distribution holds "
        "that package back (\"held back by holder 0.9 (base<2)\")",
        "align the versions the hint names"
    ),
    Verdict.CRASHED: (
        "the interpreter died (a signal, an abort) during an import or inside a check (the check is named, with "
        "the frames faulthandler printed), or pip or the cell was killed (OOM)",
        "import it (or run the check) by hand in a `--keep` container"
    ),
    Verdict.NO_DISTRIBUTION: (
        "no version or wheel fits this platform and Python on this index variant (also: Requires-Python, a direct"
        " wheel for another platform, `only_binary` refusing an sdist, an index URL that is not an index). The "
        "driver asks each index what it offers for the missing project; the evidence lists the files that fit the"
        " cell's target (platform, Python, ABI) and, where none of the version asked for fits, what exists of it "
        "in one line",
        "choose a version the index offers for this target, another index variant, or another image; or correct "
        "the index URL"
    ),
    Verdict.CONFLICT: (
        "pip's resolver could not satisfy the pins; \"The conflict is caused by\" lines are the evidence",
        "loosen a pin"
    ),
    Verdict.SOURCE_BUILD_FAILED: (
        "pip had to build from source and the build failed; the lines where the build states its cause are "
        "evidence (not its last line, often a documentation URL). A build the kernel killed for memory says so, "
        "with its parallel jobs: \"the source build ran out of memory at its 8 GiB limit at 3 parallel jobs\"",
        "give the image what the hint names it lacks, install the prebuilt distribution the project names, or "
        "find a wheel for this target"
    ),
    Verdict.HASH_MISMATCH: (
        "a file is not the one the hash its requirement names (a replayed lock's wheelhouse, a requirements file "
        "with `--hash`): the evidence names the file, the hash expected and the hash found. Nothing is installed "
        "in its place",
        "find who replaced the file; restore it, or lock again if the change is meant"
    ),
    Verdict.INSTALL_FAILED: (
        "pip failed in a way none of the above explains",
        "read the log"
    ),
    Verdict.VENV_FAILED: (
        "the image could not make a venv",
        "add `python3-venv` to the image"
    ),
    Verdict.INDEX_UNREACHABLE: (
        "an index did not answer: connection refused, DNS, TLS, timeouts, 5xx (pip alone often says only \"from "
        "versions: none\": the driver checks each index itself; an error page is quoted beside its status: \"HTTP "
        "503 … : it answered an HTML page titled '503 Service Temporarily Unavailable'\"). Also an index that "
        "answered with garbage, bytes that are not text (a broken mirror, a proxy or cache serving corrupt data; "
        "pip often crashes on it with \"ERROR: Exception:\"): the evidence says what it answered and quotes pip's "
        "exception. Retried with backoff first",
        "an outage, not an incompatibility: fix the network/proxy/CA, re-run; for garbage, check what the URL "
        "serves"
    ),
    Verdict.TIMEOUT: (
        "the cell ran past its deadline (the phase is named, and the check when one was running), or a check "
        "ran past its `check_timeout`",
        "raise `timeout` (or `check_timeout`), or look for a source build"
    ),
    Verdict.ENGINE_ERROR: (
        "the Docker engine failed us, not the cell — or the cell was stopped from outside (SIGTERM/SIGKILL while "
        "a phase ran, not the kernel's OOM killer: the engine stopping, `docker stop`, the host)",
        "`wheel-harness doctor`, re-run"
    ),
    Verdict.IMAGE_UNAVAILABLE: (
        "the image is not in the engine and cannot be made here",
        "build or pull it first"
    ),
    Verdict.SKIPPED: (
        "the host cannot run this architecture at all",
        "install qemu-user-static, or run on such a host"
    ),
    Verdict.INTERRUPTED: (
        "the run was interrupted",
        "re-run"
    ),
})
