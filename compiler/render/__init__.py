"""Stage 5, render: the resolved fleet -> the files of the output tree, as data.

Each output kind is one module exporting one function ``ResolvedFleet -> list[File]``, run in
the order of `RENDERERS`; the Flux wiring runs last, over everything they produced, because
it lists every file of a cluster. Files are returned sorted by path; bytes are made later by
`compiler.emit`.

Conventions every renderer follows (docs/helmrelease.md explains them to users):

- one Kubernetes object per file (a dict), under ``clusters/<cluster>/<component>/`` at the
  path `compiler.render.output.object_path` gives it; it is listed in the cluster's
  ``kustomization.yaml`` automatically;
- text (a ``str`` content, e.g. map seeds) is data, not an object: the files of one directory
  become one ``configMapGenerator`` entry (see `compiler.render.flux`);
- a directory holding a ``kustomization.yaml`` the renderer wrote (a kustomize Component, for
  example) is a root of its own and is not listed in the cluster's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from itertools import pairwise

from compiler.render import clustermesh, flux, policies, services
from compiler.render.output import File
from compiler.resolve.model import ResolvedFleet

__all__ = ["RENDERERS", "File", "render"]

Renderer = Callable[[ResolvedFleet], Iterable[File]]


def _guard(resolved: ResolvedFleet) -> list[File]:
    # compiler.guard.render imports compiler.render.output, so import it when first used
    from compiler.guard.render import render as render_guard

    return list(render_guard(resolved))


RENDERERS: tuple[Renderer, ...] = (
    clustermesh.render,
    services.render,
    policies.render_policies,
    _guard,
    # Add a renderer here: one line, `module.function`, in the order files should be built.
)


def render(resolved: ResolvedFleet) -> tuple[File, ...]:
    """Every file of the output tree for `resolved`, sorted by path."""
    files = [file for renderer in RENDERERS for file in renderer(resolved)]
    files.extend(flux.render(resolved, files))
    files.sort(key=lambda f: f.path)
    for before, after in pairwise(files):
        if before.path == after.path:
            raise ValueError(f"two rendered files share the path {after.path!r}")
    return tuple(files)
