"""The table `bench/run.py` prints: one line per fleet size (medians), then the targets."""

from __future__ import annotations

from typing import Any

from bench.targets import MIB, label, per_mb

COLUMNS = [
    ("fleet", 19),
    ("out MB", 7),
    ("files", 7),
    ("valid s", 7),
    ("cold s", 7),
    ("rss MiB", 7),
    ("cp s", 6),
    ("json s", 6),
    ("floor x", 7),
    ("again s", 7),
    ("1pol s", 7),
    ("1pol w", 6),
    ("diff s", 7),
    ("expl s", 7),
    ("load s", 7),
    ("q ms", 6),
    ("comp s", 7),
    ("ser s", 6),
    ("kust s", 8),
    ("s/MB", 5),
]
LEGEND = (
    "medians of every run. cold = render into a fresh dir; cp = cp -r of that tree into a"
    " fresh dir; json = C json.dumps of the distinct objects; floor x = cold / (cp + json);"
    " again = unchanged re-render; 1pol s / w = re-render after one policy changed, seconds /"
    " files written (max); expl = explain (cache hit); load/q = in-process check+resolve /"
    " one query; comp/ser = in-process compile / serialize; s/MB = (comp+ser) per output MB;"
    " kust = kubectl kustomize of every cluster dir (* extrapolated from a sample)"
)


def _med(summary: dict[str, Any] | None, scale: float = 1.0) -> str:
    return "-" if summary is None else f"{summary['median'] * scale:.2f}"


def _line(r: dict[str, Any]) -> list[str]:
    rr, ip = r["render"], r["inproc"]
    k = r.get("kustomize")
    kust = "-"
    if k and k["seconds"] is not None:
        kust = _med(k["seconds"]) + ("*" if k["sampled"] < k["dirs"] else "")
    written = rr.get("policy_change_written")
    return [
        label(r),
        f"{rr['bytes'] / 1e6:.1f}",
        str(rr["files"]),
        _med(r["validate"]["seconds"] if "validate" in r else None),
        _med(rr["cold"]),
        f"{rr['cold_rss'] / MIB:.0f}",
        _med(rr["cp"]),
        _med(ip["json"]),
        _med(r["floor"]["cold_ratio"]),
        _med(rr.get("unchanged")),
        _med(rr.get("policy_change")),
        str(max(written)) if written else "-",
        _med(r["diff"]["seconds"] if "diff" in r else None),
        _med(r["explain"]["seconds"] if "explain" in r else None),
        _med(ip.get("explain_load")),
        _med(ip.get("explain_query"), 1000),
        _med(ip["compile"]),
        _med(ip["serialize"]),
        kust,
        f"{per_mb(r):.3f}",
    ]


def table(results: dict[str, Any]) -> str:
    lines = [" ".join(f"{name:>{w}}" for name, w in COLUMNS)]
    for r in results["sizes"]:
        cells = _line(r)
        lines.append(" ".join(f"{c:>{w}}" for c, (_, w) in zip(cells, COLUMNS, strict=True)))
    lines.append(LEGEND)
    for r in results["sizes"]:
        split = ", ".join(f"{top} {n / 1e6:.1f}" for top, n in r["render"]["bytes_by_top"].items())
        lines.append(f"{label(r)} output MB by top-level entry: {split}")
    c = results.get("contoso_validate")
    if c:
        lines.append(
            f"validate contoso: median {c['seconds']['median']:.3f} s,"
            f" python -c pass median {c['python_pass']['median']:.3f} s"
        )
    lines.append("")
    lines.append(f"{'issue':>5} {'target':<48} {'value':>22} {'goal':>12}  ok")
    for t in results["targets"]:
        if not t["judged"]:
            ok = "report"
        else:
            ok = {True: "pass", False: "FAIL", None: "not measured"}[t["ok"]]
        lines.append(f"{t['issue']:>5} {t['target']:<48} {t['value']:>22} {t['goal']:>12}  {ok}")
    lines.append(
        f"commit {results['commit']}, python {results['python']}, {results['cpus']} cpus,"
        f" repeat {results['repeat']}, load {results['loadavg_before'][0]:.2f} ->"
        f" {results['loadavg_after'][0]:.2f}, wall {results['wall_s']:.0f} s"
    )
    return "\n".join(lines)
