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
        "a file Flux applies (an object, or a `configMapGenerator` source such as the guard's seed batch) from 80 % of Kubernetes' 1 MiB per object; judged by `render` (and `render --check`, `commit`) as it serializes, at the policy, service or cluster the file came from (`spec.clusters` for the guard's fleet-wide seeds, which grow with the clusters' ranges). An error writes nothing.",
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
        "an expression failed while evaluating (a missing field, a wrong type). For a cluster field or label that some cluster lacks, the error points at it and the hint writes the guard: `has(cluster.labels.env) && cluster.labels.env == 'prod'` (or `'k' in cluster.labels && ...` for an index)",
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
        'a cluster where a peer selector without `io.cilium.k8s.policy.cluster` means something else than on the fleet\'s version: "any cluster" before 1.19 (fleetc keeps 1.18\'s `policyDefaultLocalCluster: false`; 1.16 and 1.17 have no such option), "this cluster" from 1.19, unless `spec.cilium.policyDefaultLocalCluster` sets it for every cluster on 1.18 or later. fleetc\'s own policies always name the cluster; policies written by hand may not',
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
        "an endpoint not written in one of its forms (`ns/service@cluster`, `ns@cluster`, `ns/key=value,...@cluster`, `world`, `cidr:IP`, `fqdn:NAME`, `kube-apiserver@cluster`, `host@cluster`, `remote-node@cluster`), or a `cidr:` address inside a cluster's pod or node range",
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
    "model-annotation-key": (
        "The schema (`model-*`)",
        "an annotation key (`metadata.annotations`, `mesh.apiserver.annotations`) that is not a Kubernetes qualified name: an optional DNS subdomain prefix of at most 253 characters and `/`, then at most 63 letters, digits, `-`, `_` or `.`; no newline or space",
    ),
    "model-cidr": (
        "The schema (`model-*`)",
        "not a CIDR, no prefix length, an IPv4-mapped IPv6 range, an IPv6 zone (`fe80::%eth0/64`), or all addresses",
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
    "model-entity": (
        "The schema (`model-*`)",
        "an entity Cilium does not have, with the closest one (`wrold` → `world`)",
    ),
    "model-enum": (
        "The schema (`model-*`)",
        "a value outside a fixed set, with the closest allowed value",
    ),
    "model-fqdn": (
        "The schema (`model-*`)",
        "a DNS name or pattern Cilium's `toFQDNs` refuses: a scheme, path, port or IP address (the hint gives the host or the CIDR), an empty label, `**` other than as the prefix `**.`, upper case",
    ),
    "model-http-rule": (
        "The schema (`model-*`)",
        "an `http` rule with neither `method` nor `path`",
    ),
    "model-ip": (
        "The schema (`model-*`)",
        "not an IP address, not written canonically, or with an IPv6 zone (`fe80::1%eth0`)",
    ),
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
        "a policy side naming more than one kind of peer (a service, workloads, `entities`, `cidrs`, `fqdns`), or `except` without `cidrs`",
    ),
    "model-port-spec": ("The schema (`model-*`)", "not `443/TCP`, `53/UDP` or `8000-8100/TCP`"),
    "model-routing-family": (
        "The schema (`model-*`)",
        "`ipv6NativeRoutingCIDR` that is not IPv6, or beside an IPv6 `nativeRoutingCIDR`",
    ),
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
    "policy-cidr-except-outside": (
        "Peers beyond the fleet and system namespaces",
        "an `except` range not inside any of the side's `cidrs` (or of another address family)",
    ),
    "policy-cidr-node-range": (
        "Peers beyond the fleet and system namespaces",
        "a CIDR overlapping a cluster's `nodeCIDRs`: node addresses carry the `host` and `remote-node` identities; use those entities",
    ),
    "policy-cidr-pod-range": (
        "Peers beyond the fleet and system namespaces",
        "a CIDR (less its `except`) overlapping a cluster's `podCIDRs`: those pods have identities, so a CIDR rule never matches them; name them as workloads, or list their ranges under `except`. The notes point at each range",
    ),
    "policy-cidr-service-range": (
        "Peers beyond the fleet and system namespaces",
        "a CIDR overlapping a cluster's `serviceCIDRs`: service addresses are translated to their backends before policy, so the rule never sees them; name the service",
    ),
    "policy-deny-dns": (
        "Peers beyond the fleet and system namespaces",
        "a deny whose destination could be kube-dns (no namespace or `kube-system`, no selector or one kube-dns matches, or the `cluster`/`all` entities) on port 53, from pods or nodes of its own cluster: they would lose DNS. A deny between disjoint clusters is fine (pods ask their own cluster's kube-dns)",
    ),
    "policy-deny-fqdns": (
        "Peers beyond the fleet and system namespaces",
        "`fqdns` in a deny rule: Cilium has no DNS-based deny",
    ),
    "policy-deny-http": (
        "Peers beyond the fleet and system namespaces",
        "`http` in a deny rule: Cilium has no L7 deny; allow the requests that may pass instead",
    ),
    "policy-deny-system-namespaces": (
        "Peers beyond the fleet and system namespaces",
        "a deny from `world`, `host`, `remote-node`, `cluster`, `all` or CIDRs into every namespace, `kube-system` or Cilium's namespace (a selector kube-dns or the clustermesh-apiserver could match, ports covering 53 or 2379): it can cut DNS and the mesh",
    ),
    "policy-deny-upstream-dns": (
        "Peers beyond the fleet and system namespaces",
        "a deny from pods of every namespace (CoreDNS among them) to `world`, `all` or CIDRs on port 53: CoreDNS could no longer forward lookups upstream",
    ),
    "policy-duplicate-name": ("The fleet as a whole", "two policies with one name"),
    "policy-fqdn-any": (
        "Peers beyond the fleet and system namespaces",
        "a pattern that matches every DNS name (`*`, `**.*`): any address a lookup returns may be reached; write `entities: [world]` if that is meant",
    ),
    "policy-fqdn-ip": (
        "Peers beyond the fleet and system namespaces",
        "an IPv4 address among `fqdns`: no DNS lookup answers for it, so it never matches; the hint writes the `/32` CIDR",
    ),
    "policy-fqdns-in-from": (
        "Peers beyond the fleet and system namespaces",
        "`fqdns` in `from`: a DNS name says where traffic goes; name sources outside the fleet with `cidrs` or `entities`",
    ),
    "policy-http-dns-port": (
        "Peers beyond the fleet and system namespaces",
        "`http` rules on port 53 of pods that may include kube-dns: Cilium keeps its DNS proxy rules there (from the defaults and every `fqdns` rule) and rejects a policy mixing HTTP and DNS rules on one peer and port",
    ),
    "policy-http-no-ports": (
        "Peers beyond the fleet and system namespaces",
        "`http` rules with no ports (none given, and not a service with ports): Cilium's proxy sees only the ports a rule names",
    ),
    "policy-http-protocol": (
        "Peers beyond the fleet and system namespaces",
        "`http` rules with a UDP, SCTP or `ANY` port (given, or a port of the service when none are given): L7 needs TCP",
    ),
    "policy-http-regex": (
        "Peers beyond the fleet and system namespaces",
        "an `http` method or path that RE2, the regular-expression syntax of Cilium's proxy, cannot compile (look-around, back-references, unbalanced brackets); the message gives RE2's reason",
    ),
    "policy-no-fleet-side": (
        "Peers beyond the fleet and system namespaces",
        "neither side names pods of the fleet (a service or workloads): `from: {entities: [world]}, to: {cidrs: [...]}`. fleetc enforces a rule at the fleet's pods",
    ),
    "policy-port-not-in-service": (
        "The fleet as a whole",
        "a port towards a `service:` that the Service does not expose. The rule still applies to that port on the service's pods; the hint spells out the workload set (namespace, selector, clusters), which says so without the Service",
    ),
    "policy-ports-no-target": (
        "The fleet as a whole",
        "`to.ports` with no peer at all to apply them to",
    ),
    "policy-selector-empty": ("The fleet as a whole", "a cluster selector that matches no cluster"),
    "policy-system-namespace": (
        "Peers beyond the fleet and system namespaces",
        "a policy side names a system namespace (`kube-system`, `flux-system`, Cilium's release namespace, the guard's, Flux's): `defaults` never reach it, only the rule applies there",
    ),
    "ref-service-not-in-cluster": (
        "The fleet as a whole",
        "an expectation names a service in a cluster it does not run in",
    ),
    "ref-unknown-cluster": (
        "The fleet as a whole",
        "a cluster name that does not exist (services, policies, expectations, waves)",
    ),
    "ref-unknown-service": (
        "The fleet as a whole",
        "a `namespace/name` that is not a declared service",
    ),
    "routing-native-cidr-missing": (
        "The fleet as a whole",
        "`routingMode: native` without `nativeRoutingCIDR` (or `ipv6NativeRoutingCIDR`)",
    ),
    "routing-native-cidr-uncovered": (
        "The fleet as a whole",
        "a pod range outside the routing CIDR of its family (`nativeRoutingCIDR`, `ipv6NativeRoutingCIDR`)",
    ),
    "routing-native-family-missing": (
        "The fleet as a whole",
        "`routingMode: native` and pod ranges of a family (IPv4 or IPv6) with no native routing CIDR for it (`nativeRoutingCIDR`, `ipv6NativeRoutingCIDR`): with masquerading on, Cilium's agent needs one per family",
    ),
    "routing-tunnel-protocol-ignored": (
        "The fleet as a whole",
        "`tunnelProtocol` set with native routing",
    ),
    "secret-in-fleet": (
        "Secrets, CEL, expectations and budgets",
        'a line holds what looks like a private key or token, in the text as written or once YAML escapes (`"\\x2d----BEGIN ..."`, `"\\u0041KIA..."`) and line continuations are decoded (then at the value\'s first line); the line is never printed, and every other finding that could quote it withholds its details: those on any line of a value holding one (a multi-line value included) and those whose text looks like key material (a guardrail\'s message), in every output format',
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
    "wave-cluster-missing": (
        "The fleet as a whole",
        "clusters no wave selects, named at `spec.rollout.waves`; end with a wave without `clusters` to take the rest",
    ),
    "wave-duplicate": (
        "The fleet as a whole",
        "two rollout waves with one name (`--wave NAME` must say which)",
    ),
    "wave-empty": (
        "The fleet as a whole",
        "a wave left with no cluster: its selector matches none, or earlier waves took them all (a cluster belongs to the first wave that selects it)",
    ),
    "wave-selector-missing": (
        "The fleet as a whole",
        'a wave without `clusters` that is not the last; only the last wave takes "every cluster left"',
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
