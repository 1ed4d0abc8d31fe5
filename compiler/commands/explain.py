"""`fleetc explain [FLEET] --from X --to Y --port P/PROTO`: may X reach Y, and which rule says so.

X and Y are written as in expectations (``ns/service@cluster``, ``ns@cluster``,
``ns/key=value,...@cluster``, and outside the fleet's pods ``world``, ``cidr:IP``,
``fqdn:NAME``, ``kube-apiserver@c``, ``host@c``, ``remote-node@c``); one of them is a pod.
``--http "GET /v1/items"`` asks about one request where L7 rules filter the connection. The answer comes from the reachability model; the objects listed
are the rendered policies that enforce the deciding rule in each cluster concerned.

Exit 0; 1 when the fleet has errors, or when the flow is denied and ``--exit-code`` is given;
2 for usage errors (bad X, Y or port, names the fleet does not have). A failing expectation
does not stop explain: explaining it is what explain is for.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from compiler.cli import EXIT_FINDINGS, EXIT_OK, UsageError
from compiler.commands.common import add_fleet_argument, print_diagnostics, read_fleet
from compiler.diagnostics import Diagnostics, Severity
from compiler.load import Source
from compiler.model import PortRange
from compiler.reach import Decision, Endpoint, Party
from compiler.resolve.model import ResolvedFleet

IGNORED = frozenset({"expectation-failed"})


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_fleet_argument(parser)
    parser.add_argument(
        "--from",
        dest="source",
        required=True,
        metavar="X",
        help="ns/service@cluster, ns@cluster, ns/k=v,...@cluster, world, cidr:IP, fqdn:NAME,"
        " kube-apiserver@cluster, host@cluster or remote-node@cluster",
    )
    parser.add_argument("--to", dest="destination", required=True, metavar="Y", help="as --from")
    parser.add_argument("--port", required=True, metavar="P/PROTO", help="e.g. 443/TCP")
    parser.add_argument(
        "-o",
        "--output",
        choices=("text", "json"),
        default="text",
        help="output format (default: text)",
    )
    parser.add_argument(
        "--http",
        metavar="'METHOD /path'",
        help='an HTTP request on the connection, e.g. "GET /v1/items", for L7 rules',
    )
    parser.add_argument("--exit-code", action="store_true", help="exit 1 when the flow is denied")


def _port(text: str) -> PortRange:
    try:
        port = PortRange.parse(text)
    except ValueError:
        raise UsageError(f"--port {text!r}: write a port and protocol such as 443/TCP") from None
    if port.low != port.high or port.protocol == "ANY" or not 1 <= port.low <= 65535:
        raise UsageError(f"--port {text!r}: name one port (1-65535) and TCP, UDP or SCTP")
    return port


def _request(text: str | None) -> tuple[str, str] | None:
    if text is None:
        return None
    method, _, path = text.strip().partition(" ")
    path = path.strip()
    if not method.isalpha() or not method.isupper() or not path.startswith("/") or " " in path:
        raise UsageError(f"--http {text!r}: write a method and a path such as 'GET /v1/items'")
    return method, path


def _endpoint(resolved: ResolvedFleet | None, flag: str, text: str) -> Any:
    from compiler.reach import EndpointError, UnknownEndpoint, endpoint_for
    from compiler.validate.endpoints import parse_endpoint

    try:
        written = parse_endpoint(text)
        return written if resolved is None else endpoint_for(resolved, written)
    except EndpointError as exc:
        raise UsageError(f"{flag} {text!r}: {exc.message}") from None
    except UnknownEndpoint as exc:
        hint = f" ({exc.hint})" if exc.hint else ""
        raise UsageError(f"{flag} {text!r}: {exc.message}{hint}") from None


def enforcing_objects(
    resolved: ResolvedFleet, decision: Decision, src: Party, dst: Party
) -> list[dict[str, str]]:
    """The rendered objects (path, cluster, direction) that carry the deciding rule."""
    from compiler.reach import Endpoint, in_set, peer_matches
    from compiler.render.output import object_path
    from compiler.render.policies import COMPONENT, defaults_object, rule_object

    out = []
    for rule in (decision.rule, decision.also):
        if rule is None:
            continue
        for direction in rule.directions:
            pod, other = (src, dst) if direction == "egress" else (dst, src)
            if not isinstance(pod, Endpoint) or not in_set(pod, rule.subject(direction)):
                continue
            if not peer_matches(rule.peer(direction), other, pod.cluster):
                continue
            obj = rule_object(resolved, rule, direction, cluster=pod.cluster)
            if obj is not None:
                path = object_path(pod.cluster, COMPONENT, obj)
                out.append({"path": path, "cluster": pod.cluster, "direction": direction})
    if decision.rule is not None:
        from compiler.guard.fleet import from_resolved
        from compiler.guard.render import seed_path

        if any(r.name == decision.rule.name for r in from_resolved(resolved)[1]):
            # a cluster-level deny: the fleet guard drops (or counts) it at the node too
            on = resolved.guard.enabled and resolved.guard.mode != "off"
            mode = resolved.guard.mode if on else "disabled"
            ends = [p.cluster for p in (src, dst) if isinstance(p, Endpoint)]
            for cluster in dict.fromkeys(ends):
                out.append(
                    {"path": seed_path(cluster), "cluster": cluster, "direction": f"guard-{mode}"}
                )
    elif decision.kind == "default-deny":
        cluster, namespace = str(decision.cluster), str(decision.namespace)
        obj = defaults_object(resolved, cluster, namespace)
        if obj is not None:
            path = object_path(cluster, COMPONENT, obj)
            out.append({"path": path, "cluster": cluster, "direction": str(decision.direction)})
    elif (
        decision.kind == "dns"
        and isinstance(src, Endpoint)
        and resolved.default_egress == "deny"
        and src.namespace in resolved.namespaces(src.cluster)
    ):
        obj = defaults_object(resolved, src.cluster, src.namespace)
        if obj is not None:
            path = object_path(src.cluster, COMPONENT, obj)
            out.append({"path": path, "cluster": src.cluster, "direction": "egress"})
    return out


def _rule(decision: Decision) -> dict[str, Any] | None:
    rule = decision.rule
    if rule is None:
        return None
    return {
        "name": rule.name,
        "action": rule.action,
        "file": rule.origin.file,
        "line": rule.origin.line,
    }


def run(args: argparse.Namespace) -> int:
    port = _port(args.port)
    request = _request(args.http)
    for flag, text in (("--from", args.source), ("--to", args.destination)):
        _endpoint(None, flag, text)
    data = read_fleet(args.fleet)
    from compiler.pipeline import check
    from compiler.reach import decide
    from compiler.resolve import resolve

    diags = Diagnostics()
    checked = check(data, args.fleet, diags)
    blocking = [d for d in diags.items if d.severity is Severity.ERROR and d.code not in IGNORED]
    if checked is None or blocking:
        source = (
            checked.doc.source if checked else Source(args.fleet, data.decode("utf-8", "replace"))
        )
        shown = Diagnostics([d for d in diags.items if d.code not in IGNORED])
        print_diagnostics(shown, {args.fleet: source}, args.output)
        return EXIT_FINDINGS
    resolved = resolve(checked.doc, checked.fleet, Diagnostics())
    src = _endpoint(resolved, "--from", args.source)
    dst = _endpoint(resolved, "--to", args.destination)
    if not isinstance(src, Endpoint) and not isinstance(dst, Endpoint):
        raise UsageError(
            f"{args.source} -> {args.destination}: fleet policies govern flows that start or"
            " end at a pod of the fleet; name one as ns/service@cluster or ns@cluster"
        )
    decision = decide(resolved, src, dst, port.protocol, port.low)
    objects = enforcing_objects(resolved, decision, src, dst)
    http = _l7(decision, request)
    allowed = decision.allowed and (http is None or bool(http["allowed"]))
    if args.output == "json":
        result = {
            "allowed": allowed,
            "http": http,
            "from": args.source,
            "to": args.destination,
            "port": str(port),
            "decision": {
                "kind": decision.kind,
                "reason": decision.reason,
                "rule": _rule(decision),
                "direction": decision.direction,
                "cluster": decision.cluster,
                "namespace": decision.namespace,
            },
            "objects": objects,
        }
        sys.stdout.write(json.dumps(result, indent=2, sort_keys=True) + "\n")
    else:
        sys.stdout.write(_text(args.source, args.destination, port, decision, objects, http))
    return EXIT_FINDINGS if args.exit_code and not allowed else EXIT_OK


def _l7(decision: Decision, request: tuple[str, str] | None) -> dict[str, Any] | None:
    """What the L7 rules do to this connection: None when none filter it; else the rules
    that filter it and, for a `request`, whether it passes and by which rule."""
    from compiler.reach import requests

    if not decision.allowed or not decision.l7:
        return None
    rules = [
        {"policy": p.name, "direction": direction, "http": [str(r) for r in p.http or ()]}
        for direction, policies in decision.l7
        for p in policies
    ]
    out: dict[str, Any] = {"filtered_by": rules, "request": None, "allowed": True}
    if request is not None:
        passed, by = requests(decision, *request)
        out["request"] = " ".join(request)
        out["allowed"] = passed
        out["decided_by"] = by.name if by is not None else None
    return out


def _role(obj: dict[str, str]) -> str:
    direction = obj["direction"]
    if direction.startswith("guard-"):
        return f"fleet guard seed, {direction.removeprefix('guard-')},"
    return direction


def _text(
    source: str,
    destination: str,
    port: PortRange,
    decision: Decision,
    objects: list[dict[str, str]],
    http: dict[str, Any] | None = None,
) -> str:
    allowed = decision.allowed and (http is None or http["allowed"])
    verdict = "allowed" if allowed else "denied"
    what = f" ({http['request']})" if http and http["request"] else ""
    lines = [f"{verdict}: {source} -> {destination} on {port}{what}"]
    if decision.rule is not None:
        origin = decision.rule.origin
        lines.append(f"  decided by: {decision.reason} at {origin.file}:{origin.line}")
    else:
        lines.append(f"  decided by: {decision.reason}")
    if http is not None:
        filters = "; ".join(
            f"policy {r['policy']} ({r['direction']}: {', '.join(r['http'])})"
            for r in http["filtered_by"]
        )
        if http["request"] is None:
            lines.append(
                f"  L7: the connection is allowed; its HTTP requests are filtered by {filters}"
            )
        elif http["allowed"]:
            lines.append(f"  L7: the request passes policy {http['decided_by']} ({filters})")
        else:
            lines.append(f"  L7: no rule lets the request through ({filters})")
    if objects:
        lines.append("  enforced by:")
        lines.extend(f"    {o['path']} ({_role(o)} in {o['cluster']})" for o in objects)
    else:
        lines.append("  enforced by: no policy object (nothing selects this flow)")
    return "\n".join(lines) + "\n"
