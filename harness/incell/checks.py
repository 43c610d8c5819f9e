"""Checks that exercise what a cell installed: the built-in ones (run by the probe, in its interpreter,
after the imports) and the runner of the user's own (run by the driver, each in its own process).

Standard library only, Python 3.8+; the built-in checks import what the cell installed (torch,
torchao, torchtune) when they run, never at import. A check is one record per device (built-ins) or
per script or pytest test (the user's); a built-in check is made of parts, each passed, failed or
not applicable (with the reason), so one part that fails does not hide the others.

Outcomes: passed, failed, not-applicable (it cannot apply here: a note, not a failure), timeout, crashed.
"""

import os
import re
import signal
import subprocess
import sys
import threading
import time
import traceback

# The built-in checks: name → the distribution each exercises. DEFAULT runs when a package set names
# none; torch.compile is slow (it compiles), so it runs only when asked for.
BUILTIN = {"torch": "torch", "torch.compile": "torch", "torchao": "torchao", "torchtune": "torchtune"}
DEFAULT = ("torch", "torchao", "torchtune")

PASSED, FAILED, NOT_APPLICABLE, TIMEOUT, CRASHED = "passed", "failed", "not-applicable", "timeout", "crashed"

# Relative error (Frobenius norm of the difference over that of the reference) each part accepts. The
# reference is float64 on the CPU. Wrong kernels give errors near 1 or NaN; these bounds leave room for
# rounding (TF32 on CUDA for fp32, 8 and 11 bits of mantissa for bf16 and fp16) and for quantization.
TOLERANCE = {
    "float32": 5e-3,
    "float16": 1e-2,
    "bfloat16": 3e-2,
    "conv2d": 5e-3,
    "int8 weight-only": 0.05,  # per-channel int8 weights against the float model's output
    "int4 weight-only": 0.3,  # int4 weights in groups of 32
    "torch.compile": 1e-5,
}
INT4_MIN_CAPABILITY = (8, 0)  # tinygemm's int4 kernels (torch's _weight_int4pack_mm) need Ampere or newer
FRAMES = 4  # of a failure's traceback, the last this many frames are kept
KEEP_LINES = 60  # of a user check's output, the first and the last this many lines are kept
LINE_CHARS = 2000


class NotApplicable(Exception):
    """A part that cannot apply on this device or with this release; its message says why."""


class CheckFailure(AssertionError):
    """A part whose result is wrong (its message says how), with a hint where the cause is known."""

    def __init__(self, message, hint=None):
        AssertionError.__init__(self, message)
        self.hint = hint


class CheckTimeout(BaseException):
    """Raised into a check when its time is up (a BaseException: a check's `except Exception` keeps out)."""


# --- errors, as a record keeps them -----------------------------------------------------------------


def error_of(exc):
    """The JSON shape of a check's failure: the exception's last line and the last frames."""
    last = "".join(traceback.format_exception_only(type(exc), exc)).strip().splitlines()
    qualified = "%s.%s" % (type(exc).__module__, type(exc).__qualname__)
    if last and last[-1].startswith(qualified):  # the checks' own exceptions, by their plain name
        last[-1] = type(exc).__name__ + last[-1][len(qualified):]
    frames = ['File "%s", line %s, in %s' % (f.filename, f.lineno, f.name)
              for f in traceback.extract_tb(exc.__traceback__)][-FRAMES:]
    out = {"type": type(exc).__name__, "message": _cut(str(exc)), "last_line": _cut(last[-1] if last else ""),
           "frames": frames}
    if getattr(exc, "hint", None):
        out["hint"] = exc.hint
    return out


def _cut(text, limit=LINE_CHARS):
    text = str(text)
    return text if len(text) <= limit else text[:limit] + " [... %d characters left out]" % (len(text) - limit)


EXCEPTION_LINE = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Failure|Warning))(?::\s?(.*))?$")
FRAME_LINE = re.compile(r'^\s*File "([^"]+)", line (\d+), in (.+)$')


def error_from_output(lines):
    """The last traceback a process printed (its exception line and last frames), or None."""
    start = None
    for i, line in enumerate(lines):
        if line.startswith("Traceback (most recent call last):"):
            start = i
    if start is None:
        return None
    frames, last = [], None
    for line in lines[start + 1:]:
        frame = FRAME_LINE.match(line)
        if frame:
            frames.append('File "%s", line %s, in %s' % frame.groups())
        elif line and not line.startswith(" ") and EXCEPTION_LINE.match(line.strip()):
            last = line.strip()
            break
    if last is None:
        return None
    kind = EXCEPTION_LINE.match(last)
    return {"type": kind.group(1).rsplit(".", 1)[-1], "message": (kind.group(2) or "").strip(), "last_line": last,
            "frames": frames[-FRAMES:]}


# --- requirements, markers and versions (for the nvidia-* wheels torch declares) ------------------------

_MARKER_TOKEN = re.compile(r"\s*(\(|\)|===|==|!=|<=|>=|~=|<|>|not\s+in\b|in\b|and\b|or\b|"
                           r"'[^']*'|\"[^\"]*\"|[A-Za-z_][A-Za-z0-9_.]*)")


def marker_environment(extras=()):
    import platform

    version = ".".join(platform.python_version_tuple()[:2])
    return {"platform_system": platform.system(), "platform_machine": platform.machine(),
            "sys_platform": sys.platform, "os_name": os.name, "python_version": version,
            "python_full_version": platform.python_version(),
            "implementation_name": sys.implementation.name, "platform_python_implementation":
            platform.python_implementation(), "extra": tuple(extras)}


def marker_holds(marker, environment):
    """Whether a PEP 508 environment marker holds (`extra` holds for any of environment["extra"]);
    None when the marker cannot be read."""
    tokens, pos = [], 0
    marker = marker.strip()
    while pos < len(marker):
        m = _MARKER_TOKEN.match(marker, pos)
        if not m:
            return None
        tokens.append(re.sub(r"\s+", " ", m.group(1)))
        pos = m.end()
        while pos < len(marker) and marker[pos].isspace():
            pos += 1
    try:
        value, rest = _marker_or(tokens, environment)
    except (IndexError, ValueError):
        return None
    return value if not rest else None


def _marker_or(tokens, env):
    value, tokens = _marker_and(tokens, env)
    while tokens and tokens[0] == "or":
        other, tokens = _marker_and(tokens[1:], env)
        value = value or other
    return value, tokens


def _marker_and(tokens, env):
    value, tokens = _marker_atom(tokens, env)
    while tokens and tokens[0] == "and":
        other, tokens = _marker_atom(tokens[1:], env)
        value = value and other
    return value, tokens


def _marker_value(token, env):
    if token[:1] in ("'", '"'):
        return token[1:-1], False
    if token not in env:
        raise ValueError(token)
    return env[token], token in ("python_version", "python_full_version")


def _marker_atom(tokens, env):
    if tokens[0] == "(":
        value, rest = _marker_or(tokens[1:], env)
        if not rest or rest[0] != ")":
            raise ValueError("unbalanced")
        return value, rest[1:]
    left, op, right = tokens[0], tokens[1], tokens[2]
    a, a_version = _marker_value(left, env)
    b, b_version = _marker_value(right, env)
    if isinstance(a, tuple) or isinstance(b, tuple):  # extra == 'x': holds for any extra asked
        extras, other = (a, b) if isinstance(a, tuple) else (b, a)
        wanted = re.sub(r"[-_.]+", "-", other).lower()
        found = any(re.sub(r"[-_.]+", "-", e).lower() == wanted for e in extras)
        return (found if op == "==" else not found), tokens[3:]
    if op in ("in", "not in"):
        return ((a in b) == (op == "in")), tokens[3:]
    if a_version or b_version:
        return version_compare(a, op, b), tokens[3:]
    return {"==": a == b, "!=": a != b, "===": a == b}.get(op, False), tokens[3:]


def release(version):
    """The numeric release of a version ("13.0.88" → (13, 0, 88)); a local or pre-release part is cut."""
    main = re.split(r"[+]", str(version).strip())[0]
    parts = []
    for piece in main.split("."):
        digits = re.match(r"\d+", piece)
        if not digits:
            break
        parts.append(int(digits.group(0)))
        if digits.group(0) != piece:
            break
    return tuple(parts)


def _padded(a, b):
    width = max(len(a), len(b))
    return a + (0,) * (width - len(a)), b + (0,) * (width - len(b))


def version_compare(have, op, want):
    """`have op want` for one PEP 440 clause, on numeric releases (== and != take a trailing .*)."""
    if want.endswith(".*") and op in ("==", "!="):
        prefix = release(want[:-2])
        same = release(have)[: len(prefix)] == prefix
        return same if op == "==" else not same
    a, b = _padded(release(have), release(want))
    if op in ("==", "==="):
        return a == b
    if op == "~=":
        stem = release(want)[:-1]
        return a >= b and release(have)[: len(stem)] == stem
    return {"!=": a != b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}.get(op, False)


_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?\s*\(?([^;()]*)\)?\s*(?:;(.*))?$")


def parse_requirement(text):
    """(name, extras, [(op, version)], marker or None) of a Requires-Dist line; None when unreadable."""
    m = _REQUIREMENT.match(text)
    if not m:
        return None
    clauses = []
    for clause in (c.strip() for c in m.group(3).split(",") if c.strip()):
        op = re.match(r"(===|==|!=|<=|>=|~=|<|>)\s*(.+)$", clause)
        if not op:
            return None
        clauses.append((op.group(1), op.group(2).strip()))
    extras = tuple(e.strip() for e in (m.group(2) or "").split(",") if e.strip())
    return m.group(1), extras, clauses, (m.group(4) or "").strip() or None


def canonical(name):
    return re.sub(r"[-_.]+", "-", name).lower()


CUDA_WHEELS = re.compile(r"^(nvidia-|cuda-toolkit$)")


def cuda_wheel_mismatches(requires, installed, environment, requires_of):
    """What torch declares of NVIDIA's CUDA wheels (nvidia-*, and cuda-toolkit with its extras, which
    brings nvidia-* wheels of its own) against what is installed: ([(requirement, installed version)]
    that match, [lines for those that do not]). `installed` maps a canonical name to its version,
    `requires_of(name)` gives an installed distribution's Requires-Dist lines."""
    matched, wrong = [], []
    todo = [(line, environment) for line in requires]
    seen = set()
    while todo:
        line, env = todo.pop(0)
        parsed = parse_requirement(line)
        if parsed is None:
            continue
        name, extras, clauses, marker = parsed
        if not CUDA_WHEELS.match(canonical(name)) or line in seen:
            continue
        seen.add(line)
        if marker and marker_holds(marker, env) is False:
            continue
        have = installed.get(canonical(name))
        wanted = ",".join(op + v for op, v in clauses) or "any version"
        if have is None:
            wrong.append("%s %s is declared and not installed" % (name, wanted))
            continue
        if all(version_compare(have, op, v) for op, v in clauses):
            matched.append(("%s%s" % (name, wanted if clauses else ""), have))
        else:
            wrong.append("%s %s is installed where %s is declared" % (name, have, wanted))
        if extras:  # cuda-toolkit[cublas,…]: the nvidia-* wheels those extras bring
            nested = dict(environment, extra=extras)
            todo.extend((r, nested) for r in requires_of(name))
    return list(dict.fromkeys(matched)), list(dict.fromkeys(wrong))


def cudnn_compatible(runtime, built):
    """torch's own rule (torch.backends.cudnn): the same major version, and from cuDNN 7 on a runtime
    minor version at least the one torch was built with (before 7: the same minor)."""
    if runtime[0] != built[0]:
        return False
    if runtime[0] < 7:
        return runtime[1] == built[1]
    return runtime[1] >= built[1]


# --- the parts of a built-in check ------------------------------------------------------------------


def run_part(parts, name, fn):
    """Run one part; record it, passed, failed or not applicable. A CheckTimeout goes through."""
    began = time.perf_counter()
    entry = {"part": name}
    try:
        detail = fn()
        entry["outcome"] = PASSED
        if detail:
            entry["detail"] = detail
    except NotApplicable as exc:
        entry["outcome"] = NOT_APPLICABLE
        entry["reason"] = str(exc)
    except Exception as exc:  # the part failed: the check goes on with the next one
        entry["outcome"] = FAILED
        entry["error"] = error_of(exc)
    entry["seconds"] = round(time.perf_counter() - began, 6)
    parts.append(entry)
    return entry


def outcome_of(parts):
    """failed when any part failed; passed when any passed; not-applicable when none could apply."""
    outcomes = [p["outcome"] for p in parts]
    if FAILED in outcomes:
        return FAILED
    return PASSED if PASSED in outcomes else NOT_APPLICABLE


def relative_error(torch, got, want):
    got = got.detach().to("cpu", torch.float64)
    want = want.detach().to("cpu", torch.float64)
    if not bool(torch.isfinite(got).all()):
        return float("nan")
    scale = float(want.norm()) or 1.0
    return float((got - want).norm()) / scale


def close_enough(error, tolerance, what):
    if not error <= tolerance:  # NaN fails too
        raise CheckFailure("%s is off by %.3g relative to the reference (tolerance %g)" % (what, error, tolerance))
    return {"relative_error": float("%.3g" % error), "tolerance": tolerance}


def synchronize(torch, device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


UNSUPPORTED_DTYPE = re.compile(r"not implemented for '(Half|BFloat16)'|does not support (half|bfloat16)", re.I)


def matmul(torch, device, dtype_name):
    """A 64×64 matmul in `dtype_name` on `device` against float64 on the CPU."""
    dtype = getattr(torch, dtype_name)
    if device.startswith("cuda") and dtype_name == "bfloat16" and not torch.cuda.is_bf16_supported():
        raise NotApplicable("bf16 needs CUDA capability 8.0 or newer (this GPU: %s)" % capability_text(torch, device))
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(64, 64, generator=generator, dtype=torch.float64)
    b = torch.randn(64, 64, generator=generator, dtype=torch.float64)
    try:
        got = a.to(device=device, dtype=dtype) @ b.to(device=device, dtype=dtype)
        synchronize(torch, device)
    except RuntimeError as exc:
        if UNSUPPORTED_DTYPE.search(str(exc)) and not device.startswith("cuda"):
            raise NotApplicable("this torch has no %s matmul on the CPU (%s)" % (dtype_name, exc)) from None
        raise
    return close_enough(relative_error(torch, got, a @ b), TOLERANCE[dtype_name], "matmul in %s" % dtype_name)


def capability_text(torch, device):
    index = int(device.partition(":")[2] or 0)
    return "%d.%d" % tuple(torch.cuda.get_device_capability(index))


def conv2d_cudnn(torch, device):
    """A small conv2d on the GPU through cuDNN against float64 on the CPU."""
    cudnn = torch.backends.cudnn
    if not cudnn.is_available():
        raise NotApplicable("this torch was built without cuDNN")
    if not cudnn.enabled:
        raise NotApplicable("cuDNN is disabled (torch.backends.cudnn.enabled is False)")
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(2, 3, 16, 16, generator=generator, dtype=torch.float64)
    w = torch.randn(4, 3, 3, 3, generator=generator, dtype=torch.float64)
    want = torch.nn.functional.conv2d(x, w, padding=1)
    got = torch.nn.functional.conv2d(x.to(device, torch.float32), w.to(device, torch.float32), padding=1)
    synchronize(torch, device)
    detail = close_enough(relative_error(torch, got, want), TOLERANCE["conv2d"], "conv2d through cuDNN")
    detail["cudnn"] = cudnn.version()
    return detail


def cudnn_version(torch):
    """cuDNN at run time against the version torch was built with, by torch's own rule."""
    binding = getattr(torch._C, "_cudnn", None)
    if binding is None or not torch.backends.cudnn.is_available():
        raise NotApplicable("this torch was built without cuDNN")
    built, runtime = tuple(binding.getCompileVersion()), tuple(binding.getRuntimeVersion())
    shown = {"runtime": ".".join(map(str, runtime)), "built_with": ".".join(map(str, built))}
    if not cudnn_compatible(runtime, built):
        raise CheckFailure("cuDNN %(runtime)s is loaded, torch was built with cuDNN %(built_with)s" % shown,
                           hint="install the cuDNN torch was built with (its nvidia-cudnn wheel), or take it out "
                                "of LD_LIBRARY_PATH where another one comes first")
    torch.backends.cudnn.version()  # torch's own check raises here when it disagrees
    return shown


def cuda_wheels(torch):
    """The nvidia-* CUDA wheels torch declares against those installed (a CUDA build of torch only)."""
    from importlib import metadata

    if not torch.version.cuda:
        raise NotApplicable("torch %s is a CPU build: it declares no CUDA wheels" % torch.__version__)
    requires = metadata.requires("torch") or []
    installed = {}
    for dist in metadata.distributions():
        try:
            installed.setdefault(canonical(dist.metadata["Name"]), dist.version)
        except Exception:  # a broken dist-info must not hide the others
            continue

    def requires_of(name):
        try:
            return metadata.requires(name) or []
        except Exception:
            return []

    matched, wrong = cuda_wheel_mismatches(requires, installed, marker_environment(), requires_of)
    if wrong:
        raise CheckFailure("; ".join(wrong), hint="reinstall torch with its own CUDA wheels (an install with "
                                                  "--no-deps, or a later package, changed them)")
    if not matched:
        raise NotApplicable("torch %s declares no nvidia-* wheels: CUDA comes from the system" % torch.__version__)
    return {"wheels": ["%s (%s)" % pair for pair in matched]}


def check_torch(torch, device):
    parts = []
    for dtype in ("float32", "float16", "bfloat16"):
        run_part(parts, "matmul " + {"float32": "fp32", "float16": "fp16", "bfloat16": "bf16"}[dtype],
                 lambda d=dtype: matmul(torch, device, d))
    if device.startswith("cuda"):
        run_part(parts, "conv2d cuDNN", lambda: conv2d_cudnn(torch, device))
        run_part(parts, "cuDNN version", lambda: cudnn_version(torch))
    elif torch.version.cuda:  # metadata alone: it needs no GPU, so it is checked once, with the CPU
        run_part(parts, "CUDA wheels", lambda: cuda_wheels(torch))
    if not device.startswith("cuda") and "cuda:0" not in devices(torch):
        run_part(parts, "GPU parts", lambda: no_gpu(torch))
    return {"parts": parts}


def no_gpu(torch):
    """Why the GPU parts of the torch check (matmuls and conv2d on the GPU, cuDNN) did not run here."""
    if not torch.version.cuda:
        raise NotApplicable("torch %s is a CPU build: the matmuls and conv2d on a GPU and cuDNN's version "
                            "have no GPU to run on" % torch.__version__)
    raise NotApplicable("torch %s is a CUDA %s build that sees no GPU here: the matmuls and conv2d on a GPU and "
                        "cuDNN's version did not run" % (torch.__version__, torch.version.cuda))


COMPILER_MISSING = re.compile(r"InvalidCxxCompiler|No working C compiler|CppCompileError|[cg]\+\+.*not found", re.I)
TRITON_MISSING = re.compile(r"Cannot find a working triton|No module named '?triton|triton.*not (?:found|installed)",
                            re.I)


def check_torch_compile(torch, device):
    def compiled():
        torch._dynamo.reset()
        fn = torch.compile(lambda x: torch.sin(x) * 2 + x)
        x = torch.linspace(-3, 3, 64, device=device)
        try:
            got = fn(x)
            synchronize(torch, device)
        except Exception as exc:
            said = "%s %s" % (type(exc).__name__, exc)
            if COMPILER_MISSING.search(said):
                raise CheckFailure("torch.compile found no working C++ compiler: %s" % str(exc).splitlines()[0],
                                   hint="torch.compile needs a C++ compiler in the image (g++) for the CPU") from None
            if TRITON_MISSING.search(said):
                raise CheckFailure("torch.compile found no triton: %s" % str(exc).splitlines()[0],
                                   hint="torch.compile needs triton on CUDA: install the triton release torch "
                                        "declares") from None
            raise
        return close_enough(relative_error(torch, got, torch.sin(x) * 2 + x), TOLERANCE["torch.compile"],
                            "torch.compile of sin(x) * 2 + x")

    parts = []
    run_part(parts, "torch.compile", compiled)
    return {"parts": parts}


# --- torchao: the API of the installed release ------------------------------------------------------


def int8_api(quantization, quant_api):
    """The weight-only int8 API this torchao release has, newest first: (how it is written, apply)."""
    quantize_ = getattr(quantization, "quantize_", None) or getattr(quant_api, "quantize_", None)
    config = getattr(quantization, "Int8WeightOnlyConfig", None)
    if quantize_ and config:
        return "quantize_(model, Int8WeightOnlyConfig())", lambda m: quantize_(m, config())
    factory = getattr(quantization, "int8_weight_only", None) or getattr(quant_api, "int8_weight_only", None)
    if quantize_ and factory:
        return "quantize_(model, int8_weight_only())", lambda m: quantize_(m, factory())
    quantize = getattr(quantization, "quantize", None) or getattr(quant_api, "quantize", None)
    if quantize and factory:
        return "quantize(model, int8_weight_only())", lambda m: quantize(m, factory())
    for old in ("change_linear_weights_to_int8_woqtensors", "apply_weight_only_int8_quant"):
        fn = getattr(quant_api, old, None)
        if fn:
            return "%s(model)" % old, fn
    return None, None


def int4_api(quantization, quant_api):
    """The weight-only int4 API for tinygemm's layout this release has: (how it is written, apply)."""
    quantize_ = getattr(quantization, "quantize_", None) or getattr(quant_api, "quantize_", None)
    config = getattr(quantization, "Int4WeightOnlyConfig", None)
    if quantize_ and config:
        fields = getattr(config, "__dataclass_fields__", {})
        if "int4_packing_format" in fields:  # version 2 configs: tinygemm is the tile-packed format
            formats = type(config().int4_packing_format)
            tiled = getattr(formats, "TILE_PACKED_TO_4D", None)
            if tiled is not None:
                return ("quantize_(model, Int4WeightOnlyConfig(group_size=32, int4_packing_format="
                        "\"tile_packed_to_4d\"))",
                        lambda m: quantize_(m, config(group_size=32, int4_packing_format=tiled)))
        if "version" in fields:
            return ("quantize_(model, Int4WeightOnlyConfig(group_size=32, version=1))",
                    lambda m: quantize_(m, config(group_size=32, version=1)))
        return "quantize_(model, Int4WeightOnlyConfig(group_size=32))", lambda m: quantize_(m, config(group_size=32))
    factory = getattr(quantization, "int4_weight_only", None) or getattr(quant_api, "int4_weight_only", None)
    if quantize_ and factory:
        return "quantize_(model, int4_weight_only(group_size=32))", lambda m: quantize_(m, factory(group_size=32))
    quantize = getattr(quantization, "quantize", None) or getattr(quant_api, "quantize", None)
    if quantize and factory:
        return "quantize(model, int4_weight_only(group_size=32))", lambda m: quantize(m, factory(group_size=32))
    return None, None


def int4_not_applicable(device, capability, api):
    """Why int4 weight-only cannot run here, or None: it is checked on CUDA, with tinygemm's kernels."""
    if not device.startswith("cuda"):
        return "int4 weight-only is checked on CUDA only: its kernels (tinygemm) are CUDA's, not the CPU's"
    if capability is not None and tuple(capability) < INT4_MIN_CAPABILITY:
        return ("int4 weight-only needs CUDA capability %d.%d or newer (tinygemm); this GPU has %d.%d"
                % (INT4_MIN_CAPABILITY + tuple(capability)))
    if api is None:
        return "this torchao release has no int4 weight-only API the check knows"
    return None


def quantized_forward(torch, device, apply, size, dtype, tolerance, what):
    """Quantize a one-layer model with `apply`, run it, compare with the float output."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(size, size)).to(device=device, dtype=dtype).eval()
    x = torch.randn(8, size, device=device, dtype=dtype)
    with torch.no_grad():
        want = model(x)
        out = apply(model)
        model = out if isinstance(out, torch.nn.Module) else model  # old APIs return it, new ones change it
        got = model(x)
        synchronize(torch, device)
    kind = type(model[0].weight).__name__
    if kind == "Parameter" and type(model[0].weight.data).__name__ == "Tensor":
        raise CheckFailure("%s left the weight a plain float tensor: nothing was quantized" % what)
    detail = close_enough(relative_error(torch, got, want), tolerance, "the %s model's output" % what)
    detail["weight"] = kind
    return detail


def check_torchao(torch, device):
    import torchao
    import torchao.quantization as quantization

    try:
        from torchao.quantization import quant_api
    except ImportError:
        quant_api = None
    parts = []
    int8_written, int8 = int8_api(quantization, quant_api)
    int4_written, int4 = int4_api(quantization, quant_api)
    version = getattr(torchao, "__version__", "?")
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32

    def run_int8():
        if int8 is None:
            raise CheckFailure("torchao %s has none of the weight-only int8 APIs this check knows "
                               "(Int8WeightOnlyConfig, int8_weight_only, change_linear_weights_to_int8_woqtensors)"
                               % version)
        detail = quantized_forward(torch, device, int8, 64, dtype, TOLERANCE["int8 weight-only"], "int8 weight-only")
        detail["api"] = int8_written
        return detail

    def run_int4():
        capability = None
        if device.startswith("cuda"):
            index = int(device.partition(":")[2] or 0)
            capability = tuple(torch.cuda.get_device_capability(index))
        why = int4_not_applicable(device, capability, int4)
        if why:
            raise NotApplicable(why)
        detail = quantized_forward(torch, device, int4, 256, torch.bfloat16, TOLERANCE["int4 weight-only"],
                                   "int4 weight-only")
        detail["api"] = int4_written
        return detail

    run_part(parts, "int8 weight-only", run_int8)
    run_part(parts, "int4 weight-only", run_int4)
    return {"parts": parts, "api": int8_written}


# --- torchtune: a tiny decoder from its component builders, nothing downloaded ----------------------

TINY = {"vocab_size": 128, "num_layers": 2, "num_heads": 4, "num_kv_heads": 4, "embed_dim": 64, "max_seq_len": 32}


def lora_builder():
    """The LoRA decoder builder this torchtune release has: (its name, the builder)."""
    from importlib import import_module

    for module, name in (("torchtune.models.llama2", "lora_llama2"), ("torchtune.models.llama3", "lora_llama3")):
        try:
            builder = getattr(import_module(module), name, None)
        except ImportError:
            builder = None
        if builder is not None:
            return "%s.%s" % (module, name), builder
    return None, None


def check_torchtune(torch, device):
    from torchtune.modules import peft

    written, builder = lora_builder()
    parts = []
    state = {}

    def build_and_forward():
        if builder is None:
            raise CheckFailure("this torchtune release has neither lora_llama2 nor lora_llama3")
        torch.manual_seed(0)
        model = builder(lora_attn_modules=["q_proj", "v_proj"], lora_rank=4, lora_alpha=8, **TINY).to(device)
        tokens = torch.randint(0, TINY["vocab_size"], (2, 16), device=device)
        logits = model(tokens)
        synchronize(torch, device)
        if tuple(logits.shape) != (2, 16, TINY["vocab_size"]):
            raise CheckFailure("the decoder's logits have shape %s, not (2, 16, %d)"
                               % (tuple(logits.shape), TINY["vocab_size"]))
        if not bool(torch.isfinite(logits).all()):
            raise CheckFailure("the decoder's logits are not finite")
        state.update(model=model, tokens=tokens, logits=logits)
        return {"builder": written, "parameters": sum(p.numel() for p in model.parameters())}

    def lora_step():
        if "model" not in state:
            raise NotApplicable("the forward pass failed: no model to train")
        model, tokens, logits = state["model"], state["tokens"], state["logits"]
        adapters = peft.get_adapter_params(model)
        peft.set_trainable_params(model, adapters)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, TINY["vocab_size"]), tokens.reshape(-1))
        loss.backward()
        optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
        optimizer.step()
        synchronize(torch, device)
        missing = [n for n, p in adapters.items() if p.grad is None or not bool(torch.isfinite(p.grad).all())]
        if not adapters or missing:
            raise CheckFailure("LoRA adapters without a finite gradient: %s" % (", ".join(missing) or "no adapters"))
        frozen = [n for n, p in model.named_parameters() if n not in adapters and p.grad is not None]
        if frozen:
            raise CheckFailure("base weights got gradients although only the adapters train: %s" % frozen[0])
        return {"adapters": len(adapters), "loss": float("%.4g" % loss.item())}

    run_part(parts, "decoder forward", build_and_forward)
    run_part(parts, "LoRA backward step", lora_step)
    return {"parts": parts, "builder": written}


CHECKS = {"torch": check_torch, "torch.compile": check_torch_compile, "torchao": check_torchao,
          "torchtune": check_torchtune}


def devices(torch):
    """The devices the built-in checks run on: the CPU always, the first GPU when torch sees one."""
    found = ["cpu"]
    try:
        if torch is not None and torch.cuda.is_available() and torch.cuda.device_count() > 0:
            found.append("cuda:0")
    except Exception:  # a broken CUDA setup: the torch step records it; the checks run on the CPU
        pass
    return found


def run_builtin(name, device):
    """One built-in check on one device: {"parts", "outcome", …}; raises what escapes the check itself."""
    import torch

    result = CHECKS[name](torch, device)
    result["outcome"] = outcome_of(result["parts"])
    failed = [p for p in result["parts"] if p["outcome"] == FAILED]
    if failed:
        result["error"] = dict(failed[0]["error"], part=failed[0]["part"])
    elif result["outcome"] == NOT_APPLICABLE:
        result["reason"] = "; ".join(p.get("reason", "") for p in result["parts"])
    return result


class alarm:
    """Raise CheckTimeout into the main thread after `seconds` (SIGALRM; where there is none, no limit).
    A check stuck inside a C call is not interrupted: the cell's own deadline stops it."""

    def __init__(self, seconds):
        self.seconds = seconds
        self.old = None

    def _fire(self, signum, frame):
        raise CheckTimeout("ran past its %g s timeout" % self.seconds)

    def __enter__(self):
        if hasattr(signal, "setitimer") and self.seconds and self.seconds > 0:
            self.old = signal.signal(signal.SIGALRM, self._fire)
            signal.setitimer(signal.ITIMER_REAL, self.seconds)
        return self

    def __exit__(self, *exc):
        if self.old is not None:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self.old)
        return False


# --- the user's own checks: a script or a pytest file, each its own process -------------------------

PYTEST_FILE = re.compile(r"(^|/)(test_[^/]*|[^/]*_test)\.py$")


def kind_of(entry):
    """"pytest" for a pytest node id (path::name) or a file named test_*.py or *_test.py; else "script"."""
    return "pytest" if "::" in entry or PYTEST_FILE.search(entry.split("::")[0]) else "script"


class _Lines:
    """The first and last KEEP_LINES lines of a child's output (it is passed on to the log whole)."""

    def __init__(self):
        self.head, self.tail, self.dropped = [], [], 0

    def add(self, line):
        line = _cut(line.rstrip("\n"))
        if len(self.head) < KEEP_LINES:
            self.head.append(line)
            return
        self.tail.append(line)
        if len(self.tail) > KEEP_LINES:
            self.tail.pop(0)
            self.dropped += 1

    def lines(self):
        gap = ["[%d lines of output left out here]" % self.dropped] if self.dropped else []
        return self.head + gap + self.tail

    def all_kept(self):
        return self.head + self.tail


def signal_name(returncode):
    try:
        return signal.Signals(-returncode).name
    except ValueError:
        return "SIG%d" % -returncode


def run_child(argv, cwd, env, timeout, out=None):
    """Run a child in its own session, its output passed on to `out` and kept in part; kill its whole
    group at `timeout`. (returncode or None, timed_out, kept lines, seconds)."""
    out = out or sys.stdout
    kept = _Lines()
    out.flush()
    began = time.perf_counter()
    try:
        child = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 start_new_session=True)
    except OSError as exc:
        kept.add("%s: %s" % (type(exc).__name__, exc))
        return None, False, kept, 0.0

    def pump():
        for raw in iter(child.stdout.readline, b""):
            line = raw.decode("utf-8", "replace")
            out.write(line)
            kept.add(line)
        out.flush()

    reader = threading.Thread(target=pump)
    reader.daemon = True
    reader.start()
    timed_out = False
    try:
        child.wait(timeout=max(timeout, 0.1))
    except subprocess.TimeoutExpired:
        timed_out = True
        try:
            os.killpg(child.pid, signal.SIGKILL)
        except OSError:
            child.kill()
        child.wait()
    reader.join(10)
    return child.returncode, timed_out, kept, round(time.perf_counter() - began, 6)


def _record(name, kind, outcome, seconds, **more):
    record = {"check": name, "kind": kind, "device": None, "outcome": outcome, "seconds": seconds}
    record.update((k, v) for k, v in more.items() if v is not None)
    return record


def _ended(name, kind, returncode, timed_out, kept, seconds, timeout):
    """The record of a child that did not pass: timed out, killed by a signal, or exited non-zero."""
    lines = kept.all_kept()
    if timed_out:
        return _record(name, kind, TIMEOUT, seconds, output=kept.lines(), timeout=timeout,
                       error={"type": "Timeout", "message": "", "last_line": "ran past its %g s timeout" % timeout,
                              "frames": []})
    if returncode is not None and returncode < 0:
        how = signal_name(returncode)
        found = error_from_output(lines) or {}
        fatal = next((line for line in lines if line.startswith("Fatal Python error")), None)
        return _record(name, kind, CRASHED, seconds, returncode=returncode, signal=how, output=kept.lines(),
                       error={"type": how, "message": fatal or "", "last_line": "killed by %s" % how
                              + (" (%s)" % fatal if fatal else ""),
                              "frames": fault_frames(lines) or found.get("frames") or []})
    error = error_from_output(lines)
    if error is None:
        last = next((line for line in reversed(lines) if line.strip()), "")
        error = {"type": "exit", "message": last, "frames": [],
                 "last_line": "exited %s" % returncode + (": %s" % last if last else "")}
    return _record(name, kind, FAILED, seconds, returncode=returncode, output=kept.lines(), error=error)


FAULT_FRAME = re.compile(r'^\s*File "([^"]+)", line (\d+) in (.+)$')  # faulthandler's frames: no comma


def fault_frames(lines):
    """The frames faulthandler printed when the process died, innermost last as in a traceback (it prints
    them innermost first)."""
    frames = []
    for line in lines:
        m = FAULT_FRAME.match(line)
        if m:
            frames.append('File "%s", line %s, in %s' % m.groups())
    return list(reversed(frames[:FRAMES]))


def as_shown(records, path, shown):
    """The records with the check file's place in the cell replaced by the name the user knows it by
    (in frames: `File "/…/user-checks/0/quantize.py"` → `checks/quantize.py`)."""
    base = os.path.basename(path)
    for record in records:
        error = record.get("error") or {}
        frames = error.get("frames") or ()
        error["frames"] = [f.replace(path, shown) if path in f else
                           (shown + f[len(base):] if f.startswith(base + ":") else f) for f in frames]
    return records


def run_script(python, name, path, env, timeout):
    """A user's script, as they would run it (`python script.py` in its folder): exit 0 passes."""
    env = dict(env, PYTHONFAULTHANDLER="1")  # a crash prints where it happened
    returncode, timed_out, kept, seconds = run_child([python, os.path.basename(path)], os.path.dirname(path) or ".",
                                                     env, timeout)
    if returncode == 0 and not timed_out:
        return [_record(name, "script", PASSED, seconds, returncode=0, output=kept.lines())]
    return as_shown([_ended(name, "script", returncode, timed_out, kept, seconds, timeout)], path, name)


def run_pytest(python, name, path, node, env, timeout, junit):
    """A pytest file or node id, run with the cell's interpreter: one record per test (JUnit XML)."""
    env = dict(env, PYTHONFAULTHANDLER="1")
    folder = os.path.dirname(path) or "."
    target = os.path.basename(path) + ("::" + node if node else "")
    argv = [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", folder, "--junitxml", junit,
            "-o", "junit_family=xunit2", target]
    if os.path.exists(junit):
        os.remove(junit)
    returncode, timed_out, kept, seconds = run_child(argv, folder, env, timeout)
    shown = name.split("::")[0]
    tests = junit_tests(junit, shown, os.path.splitext(os.path.basename(path))[0]) \
        if os.path.exists(junit) and not timed_out else []
    if tests:
        return as_shown(tests, path, shown)
    if returncode == 5:  # pytest's "no tests collected"
        return [_record(name, "pytest", FAILED, seconds, returncode=5, output=kept.lines(),
                        error={"type": "NoTests", "message": "", "frames": [],
                               "last_line": "pytest collected no tests"})]
    if returncode == 0 and not timed_out:
        return [_record(name, "pytest", PASSED, seconds, returncode=0, output=kept.lines())]
    return as_shown([_ended(name, "pytest", returncode, timed_out, kept, seconds, timeout)], path, shown)


def junit_tests(path, shown, module):
    """One record per <testcase> of pytest's JUnit XML, named `shown::[Class::]test`."""
    import xml.etree.ElementTree as ET

    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError):
        return []
    records = []
    for case in root.iter("testcase"):
        parts = (case.get("classname") or "").split(".")
        rest = parts[parts.index(module) + 1:] if module in parts else []  # a test class, when there is one
        name = "::".join([shown] + rest + [case.get("name") or "?"])
        seconds = float(case.get("time") or 0.0)
        failure = next((e for e in case if e.tag in ("failure", "error")), None)
        skipped = next((e for e in case if e.tag == "skipped"), None)
        if failure is not None:
            records.append(_record(name, "pytest", FAILED, seconds, error=_junit_error(failure),
                                   output=_junit_output(case)))
        elif skipped is not None:
            records.append(_record(name, "pytest", NOT_APPLICABLE, seconds,
                                   reason=_cut(skipped.get("message") or "skipped")))
        else:
            records.append(_record(name, "pytest", PASSED, seconds))
    return records


PYTEST_WHERE = re.compile(r"^(\S+\.py):(\d+): (\w+)$")


def _junit_error(element):
    """A pytest failure as a record keeps it: its message, and where pytest says it happened."""
    message = element.get("message") or ""
    text = (element.text or "").splitlines()
    frames = ["%s:%s" % m.group(1, 2) for m in (PYTEST_WHERE.match(t.strip()) for t in text) if m][-FRAMES:]
    first = message.splitlines()[0] if message else (text[-1] if text else element.tag)
    kind = PYTEST_WHERE.match(text[-1].strip()).group(3) if text and PYTEST_WHERE.match(text[-1].strip()) else \
        element.get("type") or element.tag
    first_line = first if first.startswith(kind) else "%s: %s" % (kind, first)
    explained = [t[1:].strip() for t in text if t.startswith("E ") and t[1:].strip() != first_line]
    return {"type": kind, "message": _cut(message), "frames": frames,
            "last_line": _cut(first_line),
            "explained": explained[:FRAMES]}


def _junit_output(case):
    out = []
    for tag in ("system-out", "system-err"):
        element = case.find(tag)
        if element is not None and element.text:
            out += element.text.splitlines()
    return out[-KEEP_LINES:]


# --- PEP 723 inline script metadata ------------------------------------------------------------------

PEP723 = re.compile(r"(?m)^# /// (?P<type>[a-zA-Z0-9-]+)$\s(?P<content>(^#(| .*)$\s)+)^# ///$")


def script_metadata(text):
    """The TOML text of a script's `# /// script` block (PEP 723), or None; ValueError for two blocks."""
    blocks = [m for m in PEP723.finditer(text) if m.group("type") == "script"]
    if len(blocks) > 1:
        raise ValueError("more than one '# /// script' block")
    if not blocks:
        return None
    return "".join(line[2:] if line.startswith("# ") else line[1:]
                   for line in blocks[0].group("content").splitlines(keepends=True))

