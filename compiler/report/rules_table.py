"""Generated from docs/diagnostics.md by `make rules`; do not edit."""

RULES: dict[str, tuple[str, str]] = {
    "budget-clusters": (
        "Secrets, CEL, expectations and budgets",
        "clusters in the mesh from 80 % of `maxConnectedClusters`",
    ),
    "budget-identities": (
        "Secrets, CEL, expectations and budgets",
        "distinct pod label sets in a cluster against Cilium's identities per cluster (65,535, or 32,767 with 511 clusters)",
    ),
    "budget-object-size": (
        "Secrets, CEL, expectations and budgets",
        "a file Flux applies (an object, or a `configMapGenerator` source such as the guard's seed batch) from 80 % of Kubernetes' 1 MiB per object; judged by `render` (and `render --check`, `commit`) as it serializes, at the policy, service or cluster the file came from. An error writes nothing.",
    ),
    "budget-policy-map": (
        "Secrets, CEL, expectations and budgets",
        "allowed (peer identity, port) pairs for one service's pods against Cilium's per-endpoint policy map (16,384)",
    ),
    "cel-cost": (
        "Secrets, CEL, expectations and budgets",
        "an expression went past its cost limit (evaluation steps, or time on a very slow step)",
    ),
    "cel-eval": (
        "Secrets, CEL, expectations and budgets",
        "an expression failed while evaluating (a missing field, a wrong type)",
    ),
    "cel-syntax": (
        "Secrets, CEL, expectations and budgets",
        "a CEL expression does not parse; the position is inside the expression",
    ),
    "cel-type": (
        "Secrets, CEL, expectations and budgets",
        "a selector that does not return a bool, or a guardrail that does not",
    ),
    "cel-unsupported": (
        "Secrets, CEL, expectations and budgets",
        "a construct fleetc refuses because its cost cannot be bounded (`reduce`), or nesting past the static limits",
    ),
    "cidr-overlap": (
        "The fleet as a whole",
        "two ranges overlap where traffic would go astray: pod or node ranges of two clusters, or any two ranges of one cluster. Service ranges never leave their cluster, so two clusters may reuse one",
    ),
    "cilium-version-mcs-api": (
        "The fleet as a whole",
        "MCS-API service discovery on Cilium before 1.17",
    ),
    "cilium-version-selector-meaning": (
        "The fleet as a whole",
        'clusters on both sides of 1.19, where a peer selector without `io.cilium.k8s.policy.cluster` changed from "any cluster" to "this cluster". fleetc\'s own policies always name the cluster; policies written by hand may not',
    ),
    "cilium-version-unsupported": ("The fleet as a whole", "Cilium before 1.16"),
    "cluster-duplicate-id": ("The fleet as a whole", "two clusters with one id"),
    "cluster-duplicate-name": ("The fleet as a whole", "two clusters with one name"),
    "cluster-id-out-of-range": (
        "The fleet as a whole",
        "an id above `maxConnectedClusters` (255 unless set to 511)",
    ),
    "cluster-too-many": (
        "The fleet as a whole",
        "more clusters than `maxConnectedClusters` allows",
    ),
    "expectation-duplicate-name": ("The fleet as a whole", "two expectations with one name"),
    "expectation-endpoint-invalid": (
        "The fleet as a whole",
        "an endpoint not written `ns/service@cluster`, `ns@cluster` or `ns/key=value,...@cluster`",
    ),
    "expectation-failed": (
        "Secrets, CEL, expectations and budgets",
        "an expectation does not hold; the message names the deciding rule, a note points at it",
    ),
    "expectation-port": (
        "Secrets, CEL, expectations and budgets",
        "an expectation's port is a range or `ANY`; it must name one port and protocol",
    ),
    "flux-path-mismatch": (
        "Secrets, CEL, expectations and budgets",
        "the output directory is not where `spec.flux.path` tells the rendered Flux Kustomizations to look",
    ),
    "guard-map-budget": (
        "Secrets, CEL, expectations and budgets",
        "a fleet guard map from 80 % of its `max_entries` (only with `spec.guard.enabled`)",
    ),
    "guard-map-full": (
        "Secrets, CEL, expectations and budgets",
        "a fleet guard map past its `max_entries`",
    ),
    "guardrail-duplicate-name": ("The fleet as a whole", "two guardrails with one name"),
    "guardrail-failed": (
        "Secrets, CEL, expectations and budgets",
        "a guardrail evaluated to false; the message is the guardrail's own",
    ),
    "load-control-char": (
        "Reading the file (`load-*`, `yaml-*`)",
        "a control character in the text",
    ),
    "load-empty": (
        "Reading the file (`load-*`, `yaml-*`)",
        "the file is empty or holds only comments",
    ),
    "load-encoding": (
        "Reading the file (`load-*`, `yaml-*`)",
        "not UTF-8 (a UTF-8 byte order mark is fine)",
    ),
    "load-not-mapping": (
        "Reading the file (`load-*`, `yaml-*`)",
        "the top level is a list or a scalar, not a mapping",
    ),
    "load-scalar-too-large": (
        "Reading the file (`load-*`, `yaml-*`)",
        "one value longer than 64 KiB",
    ),
    "load-too-deep": ("Reading the file (`load-*`, `yaml-*`)", "nesting deeper than 64 levels"),
    "load-too-large": ("Reading the file (`load-*`, `yaml-*`)", "the file is larger than 32 MiB"),
    "load-too-many-nodes": (
        "Reading the file (`load-*`, `yaml-*`)",
        "more than 2,000,000 nodes once aliases are expanded (an alias bomb)",
    ),
    "mesh-endpoint-duplicate": (
        "The fleet as a whole",
        "two clusters (or one, twice) behind one host and port",
    ),
    "mesh-endpoint-invalid": (
        "The fleet as a whole",
        "a loopback, unspecified, multicast or link-local endpoint IP",
    ),
    "mesh-endpoint-nodeport-range": (
        "The fleet as a whole",
        "a NodePort apiserver on a port outside 30000-32767",
    ),
    "model-cidr": (
        "The schema (`model-*`)",
        "not a CIDR, no prefix length, an IPv4-mapped IPv6 range, or all addresses",
    ),
    "model-cidr-canonical": (
        "The schema (`model-*`)",
        "not written canonically: `FD00:0:0:0:1::/80`; the hint gives the form",
    ),
    "model-cidr-host-bits": (
        "The schema (`model-*`)",
        "host bits set: `10.1.2.3/16`; the hint gives `10.1.0.0/16`",
    ),
    "model-cluster-name": (
        "The schema (`model-*`)",
        "a cluster name longer than 32 characters, of the wrong form, or `default`",
    ),
    "model-dns1123": ("The schema (`model-*`)", "a name or namespace that is not a DNS-1123 label"),
    "model-enum": (
        "The schema (`model-*`)",
        "a value outside a fixed set, with the closest allowed value",
    ),
    "model-ip": ("The schema (`model-*`)", "not an IP address, or not written canonically"),
    "model-label-key": ("The schema (`model-*`)", "not a valid Kubernetes label key or value"),
    "model-label-value": ("The schema (`model-*`)", "not a valid Kubernetes label key or value"),
    "model-length": (
        "The schema (`model-*`)",
        "an empty list or text where one is needed, or one too long",
    ),
    "model-mesh-endpoint": (
        "The schema (`model-*`)",
        "a mesh endpoint with both `address` and `ips`, or neither",
    ),
    "model-missing": (
        "The schema (`model-*`)",
        "a required field is absent (the hint names a misspelled key beside it)",
    ),
    "model-out-of-range": (
        "The schema (`model-*`)",
        "a number below the minimum or above the maximum",
    ),
    "model-pattern": (
        "The schema (`model-*`)",
        "a version, DNS name or `namespace/name` of the wrong form",
    ),
    "model-peer-kind": (
        "The schema (`model-*`)",
        "a policy side with `service` and also clusters, namespace or selector",
    ),
    "model-port-spec": ("The schema (`model-*`)", "not `443/TCP`, `53/UDP` or `8000-8100/TCP`"),
    "model-selector-kind": (
        "The schema (`model-*`)",
        "a cluster selector with both labels and `cel`",
    ),
    "model-selector-values": (
        "The schema (`model-*`)",
        "`In`/`NotIn` without values, `Exists`/`DoesNotExist` with values",
    ),
    "model-tls-issuer": (
        "The schema (`model-*`)",
        "TLS method `certmanager` without an `issuerRef`",
    ),
    "model-type": (
        "The schema (`model-*`)",
        'a value of the wrong type: an unquoted `1.20` is a number, `"80"` a string',
    ),
    "model-unknown-field": (
        "The schema (`model-*`)",
        "a field the schema does not have, with the closest known one",
    ),
    "policy-duplicate-name": ("The fleet as a whole", "two policies with one name"),
    "policy-port-not-in-service": (
        "The fleet as a whole",
        "a port towards a service that the service does not have",
    ),
    "policy-ports-no-target": (
        "The fleet as a whole",
        "`to.ports` without a service or workloads to apply them to",
    ),
    "policy-selector-empty": ("The fleet as a whole", "a cluster selector that matches no cluster"),
    "ref-service-not-in-cluster": (
        "The fleet as a whole",
        "an expectation names a service in a cluster it does not run in",
    ),
    "ref-unknown-cluster": (
        "The fleet as a whole",
        "a cluster name that does not exist (services, policies, expectations)",
    ),
    "ref-unknown-service": (
        "The fleet as a whole",
        "a `namespace/name` that is not a declared service",
    ),
    "routing-native-cidr-missing": (
        "The fleet as a whole",
        "`routingMode: native` without `nativeRoutingCIDR`",
    ),
    "routing-native-cidr-uncovered": (
        "The fleet as a whole",
        "a pod range of the routing CIDR's family outside it",
    ),
    "routing-tunnel-protocol-ignored": (
        "The fleet as a whole",
        "`tunnelProtocol` set with native routing",
    ),
    "secret-in-fleet": (
        "Secrets, CEL, expectations and budgets",
        "a line holds what looks like a private key or token; the line is never printed, and other findings on it withhold their details",
    ),
    "service-duplicate": (
        "The fleet as a whole",
        "one `namespace/name` declared twice; declare it once with all its clusters",
    ),
    "service-duplicate-cluster": ("The fleet as a whole", "a cluster listed twice for one service"),
    "service-port-duplicate": (
        "The fleet as a whole",
        "a port name, or a port and protocol, given twice in one service",
    ),
    "yaml-alias": (
        "Reading the file (`load-*`, `yaml-*`)",
        "an alias without its anchor, or one that contains itself",
    ),
    "yaml-complex-key": (
        "Reading the file (`load-*`, `yaml-*`)",
        "a list or mapping used as a key",
    ),
    "yaml-duplicate-key": (
        "Reading the file (`load-*`, `yaml-*`)",
        "a key given twice in one mapping; the note points at the first",
    ),
    "yaml-key-type": (
        "Reading the file (`load-*`, `yaml-*`)",
        "a key that reads as a number, boolean or null; quote it",
    ),
    "yaml-merge": (
        "Reading the file (`load-*`, `yaml-*`)",
        "a merge key (`<<`) naming something other than a mapping",
    ),
    "yaml-multiple-documents": (
        "Reading the file (`load-*`, `yaml-*`)",
        "a `---` separator: fleet.yaml holds exactly one document",
    ),
    "yaml-syntax": (
        "Reading the file (`load-*`, `yaml-*`)",
        "a YAML syntax error, where the parser gave up",
    ),
    "yaml-tab": ("Reading the file (`load-*`, `yaml-*`)", "a tab in indentation"),
    "yaml-tag": (
        "Reading the file (`load-*`, `yaml-*`)",
        "a tag other than `!!str`, `!!int`, `!!float`, or a value it cannot convert",
    ),
}
