"""fleetc: compile one fleet.yaml into per-cluster Cilium Cluster Mesh, policy and Flux output."""

__version__ = "0.1.0"
