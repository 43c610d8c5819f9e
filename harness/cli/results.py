"""`table`, `report`, `diff` and `merge`: what the store holds, published, compared and joined."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.cli.args import default_matrix, load_all, results_dir
from harness.errors import HarnessError, ReportError
from harness.files import write_text_atomic
from harness.reports import diff, drift, html, publish, site, table
from harness.results import merge, store


def cmd_table(args: argparse.Namespace) -> int:
    records: list[dict] = []
    for m in load_all(args.matrices or [default_matrix()]):
        results = publish.matrix_tables(m, results_dir(args, m), args.doc)
        print(table.summary_line(results))
        records += results
    publish.write_junit(args.junit, records)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """One page per matrix: those named (their cells' records), or with none named every matrix folder
    under --results that holds records (a merged results root in CI)."""
    if args.site:
        return write_site(args)
    if args.matrices:
        sources = []
        for m in load_all(args.matrices):
            ids = {c.id for c in m.cells}
            directory = results_dir(args, m)
            sources.append((m.name, directory, [r for r in store.load_results(directory) if r.get("cell_id") in ids],
                            f"run the matrix first: wheel-harness run {m.source}"))
    else:
        folders = store.matrix_folders(Path(args.results))
        if not folders:
            raise ReportError(f"{args.results}: no matrix folder with stored results",
                              hint="run a matrix first, or name one: wheel-harness report matrices/smoke.toml")
        sources = [(d.name, d, store.load_results(d), "") for d in folders]
    if args.output and len(sources) > 1:
        raise HarnessError(f"--output names one file, but there are {len(sources)} matrices",
                           hint="leave out --output (each report goes to RESULTS/<matrix>/report.html), "
                                "or name one matrix")
    for name, directory, records, hint in sources:
        if not records:
            raise ReportError(f"{directory}: no stored results for the cells of {name}", hint=hint)
        matrix_name = str(records[0].get("matrix") or name)
        out = Path(args.output) if args.output else directory / "report.html"
        write_text_atomic(out, html.render(matrix_name, records, store.load_timeline(directory),
                                           drift=drift.over_runs(store.ledger_runs(directory),
                                                                 store.load_history(directory) + records)))
        print(f"Wrote {out} ({len(records)} cells, {len(store.history_runs(directory))} earlier run(s) stored)")
    return 0


def write_site(args: argparse.Namespace) -> int:
    if args.matrices or args.output:
        raise HarnessError("--site writes a page for every matrix under --results",
                           hint="leave out the matrix files and --output")
    names = site.build(Path(args.results), args.site)
    if not names:
        raise ReportError(f"{args.results}: no matrix folder with stored results", hint="run a matrix first")
    print(f"Wrote the site {args.site}: {len(names)} matrix page(s) ({', '.join(names)}) and index.html")
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    """Exit 1 on a regression, and on the drift --fail-on names (drift: any; replaced: a replaced file)."""
    old, new = store.read_results(args.old), store.read_results(args.new)
    ledgers = (store.read_ledgers(args.old, old), store.read_ledgers(args.new, new))
    found = diff.compare(old, new, min_seconds=args.min_seconds, min_ratio=args.min_ratio, ledgers=ledgers)
    text = diff.render_markdown(found, str(args.old), str(args.new))
    print(text, end="")
    if args.output:
        write_text_atomic(Path(args.output), text)
    return 0 if found.gate(args.fail_on) else 1


def cmd_merge(args: argparse.Namespace) -> int:
    """Results from several machines or shards as one result set, published as a run's are: each
    matrix's tables (the declared ones too for a matrix named with --matrix), JUnit, the job summary."""
    matrices = {m.name: m for m in load_all(args.matrix)}
    records = merge.merge(args.sources)
    folders = merge.write(records, Path(args.results))
    for name, folder in folders.items():
        if name in matrices:
            mine = publish.matrix_tables(matrices[name], folder, args.doc)
        else:
            mine = store.load_results(folder)
            publish.tables(name, folder, mine, args.doc)
        hosts = sorted({r["merged"]["host"] for r in mine if isinstance(r.get("merged"), dict)})
        print(f"{name}: {table.summary_line(mine)}; from {len(args.sources)} source(s), {len(hosts)} machine(s): "
              + ", ".join(hosts))
        publish.job_summary(name, mine)
    unknown = sorted(set(matrices) - set(folders))
    if unknown:
        raise HarnessError(f"--matrix names {', '.join(unknown)}, but the merged results hold no such matrix",
                           hint="the merged matrices are: " + (", ".join(sorted(folders)) or "none"))
    publish.write_junit(args.junit, records)
    return 0
