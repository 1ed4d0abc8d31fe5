"""Delivery of the fleet guard through Flux: the seed ConfigMaps and the loader DaemonSet.

Plain data, no YAML: the render stage dumps these with the canonical writer. A node's seed is
two files in two ConfigMaps made by the cluster's kustomization (`configMapGenerator`): the
fleet-wide entries (`FLEET_CONFIGMAP`, byte-identical in every cluster of the fleet, so one
shared base can hold it) and the cluster's own policy entries (`SEEDS_CONFIGMAP`). Their names
carry a hash of the content; kustomize rewrites the DaemonSet's references to both (also when
a generator sits in another base the cluster's kustomization includes), so a change to either
rolls the DaemonSet and each new loader pod applies the new seeds (`LOADER_SCRIPT`).
bpf/README.md explains where the program attaches next to Cilium and why.
"""

from __future__ import annotations

from typing import Any, Protocol

NAME = "fleet-guard"
# Paths under clusters/<name>/. The render stage's Flux wiring turns the text files of a
# directory into the ConfigMap fleetc-<directory with '-'>: guard/fleet/ -> fleetc-guard-fleet,
# guard/seeds/ -> fleetc-guard-seeds. The JSON twins are not applied, so they stay out (size).
FLEET_BATCH = "fleet.batch"
FLEET_JSON = "fleet.json"
FLEET_BATCH_PATH = f"guard/fleet/{FLEET_BATCH}"
FLEET_JSON_PATH = f"guard/fleet/{FLEET_JSON}"
FLEET_CONFIGMAP = "fleetc-guard-fleet"
SEED_BATCH = "guard.batch"
SEED_BATCH_PATH = f"guard/seeds/{SEED_BATCH}"
SEED_JSON_PATH = "guard/guard.json"
SEEDS_CONFIGMAP = "fleetc-guard-seeds"
PIN_DIR = "/sys/fs/bpf/fleet-guard"
OBJECT = "/opt/fleet-guard/guard.o"
SEED_MOUNT = "/etc/fleet-guard"

# First start on a node: load the program and pin its maps. Every start: reconcile the maps
# with the seed in place, the union of $FLEET_BATCH and $SEED_BATCH (delete entries neither
# file has, so an entry moving from one file to the other is kept; then update every entry,
# fleet-wide first; each change is atomic, and nothing is ever unloaded, so the guard never
# fails open), then attach on each device, both directions, ahead of Cilium (bpf/README.md):
# with tcx, at the head of the chain through a bpf_link pinned under $PIN_DIR/links
# (guard-attach keeps a live one, so a rerun changes nothing); without tcx (GUARD_HOOK=auto
# probes each device), a legacy tc filter at preference 1, added only when absent. Whatever
# the other hook or a device no longer listed still holds of ours is detached.
# GUARD_ENABLED=false detaches everything and unpins program and maps. Needs bpftool,
# guard-attach, tc, ip, jq, awk, sed, sort, comm.
LOADER_SCRIPT = """\
set -eu
mountpoint -q "$BPFFS" || mount -t bpf bpf "$BPFFS"
links="$PIN_DIR/links"
devices="$GUARD_DEVICES"
[ "$devices" = auto ] && devices=$(ip -o route show default | awk '{print $5}' | sort -u)
devices="$devices $GUARD_EXTRA_DEVICES"
prog=
[ -e "$PIN_DIR/prog" ] && prog=$(bpftool -j prog show pinned "$PIN_DIR/prog" | jq -r .id)
drop_filter() { # $1 device, $2 direction: our legacy tc filter, if there
  [ -n "$prog" ] || return 0
  tc filter show dev "$1" "$2" pref 1 2>/dev/null | grep -q " id $prog " || return 0
  tc filter del dev "$1" "$2" pref 1 handle 1 bpf && echo "removed tc filter $1 $2"
}
if [ "${GUARD_ENABLED:-true}" = false ]; then
  for pin in "$links"/*; do [ ! -e "$pin" ] || guard-attach detach "$pin"; done
  for dev in $(ls /sys/class/net); do drop_filter "$dev" ingress; drop_filter "$dev" egress; done
  rm -rf "$PIN_DIR"
  echo "fleet guard detached and unpinned"
  [ "${GUARD_ONESHOT:-}" = 1 ] || exec sleep infinity
  exit 0
fi
fleet="$SEED_DIR/$FLEET_BATCH" seed="$SEED_DIR/$SEED_BATCH"
if [ -z "$prog" ]; then
  mkdir -p "$PIN_DIR"
  bpftool prog load "$OBJECT" "$PIN_DIR/prog" type classifier pinmaps "$PIN_DIR"
  prog=$(bpftool -j prog show pinned "$PIN_DIR/prog" | jq -r .id)
fi
work=$(mktemp -d)
: > "$work/stale"
for map in guard_cidrs guard_pairs guard_policy; do
  bpftool -j map dump pinned "$PIN_DIR/$map" \\
    | jq -r '.[] | .key | map(ltrimstr("0x")) | join(" ")' | sort > "$work/have"
  sed -n "s#^map update pinned $PIN_DIR/$map key hex \\(.*\\) value hex .*#\\1#p" \\
    "$fleet" "$seed" | sort > "$work/want"
  comm -23 "$work/have" "$work/want" | sed "s#^#map delete pinned $PIN_DIR/$map key hex #" \\
    >> "$work/stale"
done
[ ! -s "$work/stale" ] || bpftool batch file "$work/stale"
rm -r "$work"
bpftool batch file "$fleet"
bpftool batch file "$seed"
mkdir -p "$links"
attached= pinned=
for dev in $devices; do
  [ -e "/sys/class/net/$dev" ] || continue
  hook="${GUARD_HOOK:-auto}"
  if [ "$hook" = auto ]; then
    found=0
    guard-attach probe "$dev" || found=$?
    case $found in 0) hook=tcx ;; 3) hook=tc ;; *) exit 1 ;; esac
  fi
  for dir in ingress egress; do
    case $hook in
    tcx)
      guard-attach attach "$PIN_DIR/prog" "$dev" "$dir" "$links/$dev-$dir"
      pinned="$pinned $dev-$dir"
      drop_filter "$dev" "$dir" ;;
    tc)
      tc qdisc add dev "$dev" clsact 2>/dev/null || true
      tc filter show dev "$dev" "$dir" pref 1 | grep -q " id $prog " \\
        || tc filter replace dev "$dev" "$dir" pref 1 handle 1 bpf da pinned "$PIN_DIR/prog" ;;
    *) echo "GUARD_HOOK must be auto, tcx or tc, not $hook" >&2; exit 1 ;;
    esac
  done
  attached="$attached $dev($hook)"
done
for pin in "$links"/*; do # links of another hook, or of a device no longer listed
  case " $pinned " in *" ${pin##*/} "*) continue ;; esac
  [ ! -e "$pin" ] || guard-attach detach "$pin"
done
echo "fleet guard seeded ($(cat "$fleet" "$seed" | grep -c '^map update') entries) on:$attached"
[ "${GUARD_ONESHOT:-}" = 1 ] || exec sleep infinity
"""


def guard_devices(routing_mode: str, tunnel_protocol: str, encryption: str) -> tuple[str, str]:
    """(devices, extra devices) where cross-node pod traffic shows its pod addresses.

    Tunnel mode: the overlay device, where packets are decapsulated (ingress) and before they
    are encapsulated (egress). Native routing: the devices holding the default route
    ("auto", resolved on the node), plus WireGuard's device, where traffic is in clear.
    """
    if routing_mode == "tunnel":
        return f"cilium_{tunnel_protocol}", ""
    extra = "cilium_wg0" if encryption == "wireguard" else ""
    return "auto", extra


class GuardSpec(Protocol):
    """`spec.guard` as the model (`compiler.model.fleet.Guard`) or resolve stage has it."""

    @property
    def enabled(self) -> bool: ...

    @property
    def mode(self) -> str: ...

    @property
    def image(self) -> str: ...

    @property
    def namespace(self) -> str: ...


def seed_configmap_generators(guard: GuardSpec) -> list[dict[str, Any]]:
    """The `configMapGenerator` entries of a cluster's kustomization.yaml for the seeds, as
    the render stage's Flux wiring derives them from the seed directories.

    Only the batch files go in: they are what the loader applies, and a ConfigMap holds at
    most 1 MiB (each file is judged on its own: `budget-object-size`); the fleet-wide batch of
    511 clusters with three ranges each is about 0.44 MB, its JSON twin (for people and
    tools, kept beside it in git, as the cluster's is) another 0.56 MB.
    """
    return [
        {"name": FLEET_CONFIGMAP, "namespace": guard.namespace, "files": [FLEET_BATCH_PATH]},
        {"name": SEEDS_CONFIGMAP, "namespace": guard.namespace, "files": [SEED_BATCH_PATH]},
    ]


def loader_daemonset(
    guard: GuardSpec, devices: tuple[str, str], fleet_name: str
) -> dict[str, Any] | None:
    """The loader DaemonSet, or None when the guard is disabled (nothing is rendered).

    `devices` comes from `guard_devices`. The mode is in the seeds (guard_config), so
    switching audit/enforce is a seed change.
    """
    if not guard.enabled:
        return None
    devices_, extra = devices
    labels = {"app.kubernetes.io/name": NAME, "app.kubernetes.io/part-of": fleet_name}
    env = {
        "BPFFS": "/sys/fs/bpf",
        "PIN_DIR": PIN_DIR,
        "OBJECT": OBJECT,
        "SEED_DIR": SEED_MOUNT,
        "FLEET_BATCH": FLEET_BATCH,
        "SEED_BATCH": SEED_BATCH,
        "GUARD_DEVICES": devices_,
        "GUARD_EXTRA_DEVICES": extra,
        "GUARD_MODE": guard.mode,
        "GUARD_HOOK": "auto",
    }
    if guard.mode == "off":  # detach from every node and idle (bpf/README.md, switching off)
        env["GUARD_ENABLED"] = "false"
    container = {
        "name": "loader",
        "image": guard.image,
        "command": ["/bin/sh", "-c", LOADER_SCRIPT],
        "env": [{"name": key, "value": value} for key, value in env.items()],
        "securityContext": {"privileged": True},
        "resources": {"requests": {"cpu": "5m", "memory": "16Mi"}},
        "volumeMounts": [
            {"name": "bpffs", "mountPath": "/sys/fs/bpf", "mountPropagation": "Bidirectional"},
            {"name": "seeds", "mountPath": SEED_MOUNT, "readOnly": True},
        ],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": NAME, "namespace": guard.namespace, "labels": labels},
        "spec": {
            "selector": {"matchLabels": {"app.kubernetes.io/name": NAME}},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "hostNetwork": True,
                    "priorityClassName": "system-node-critical",
                    "tolerations": [{"operator": "Exists"}],
                    "containers": [container],
                    "volumes": [
                        {
                            "name": "bpffs",
                            "hostPath": {"path": "/sys/fs/bpf", "type": "DirectoryOrCreate"},
                        },
                        {
                            # both ConfigMaps in one directory: fleet.batch and guard.batch
                            "name": "seeds",
                            "projected": {
                                "sources": [
                                    {"configMap": {"name": FLEET_CONFIGMAP}},
                                    {"configMap": {"name": SEEDS_CONFIGMAP}},
                                ]
                            },
                        },
                    ],
                },
            },
        },
    }
