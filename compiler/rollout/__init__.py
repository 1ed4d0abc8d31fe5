"""Staged rollout: a fleet's change reaches its clusters wave by wave (``spec.rollout.waves``).

Which clusters a wave holds is `compiler.validate.waves` (it is checked there). This package
holds what builds on it:

- `revisions`: the revision a cluster is at (the fleet's meaning digest, and the git commit
  when known), recorded per cluster in the output manifest;
- `tree`: the output of a wave render, where the clusters of the waves up to NAME get the new
  fleet's files and every other cluster keeps DIR's bytes;
- `status`: ``fleetc rollout status``, which cluster is at which revision, what is pending;
- `flows`: the connectivity of the mixed fleet wave by wave, for ``fleetc diff``.
"""
