"""Policies as config nodes: a `_target_` (the class) and its settings.

A router, a local scheduler or a pause policy is configured once, as a Hydra node, and every
backend builds the same object from it: in process from the node itself, across a process
boundary from the node sent as JSON (`policy_spec`) and built there (`build_policy`). The
config is the only registry; there are no tables of names.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from omegaconf import DictConfig, OmegaConf


def policy_spec(node: DictConfig | Mapping[str, Any]) -> dict[str, Any]:
    """A plain dict of a policy's config node, resolved (interpolations filled in)."""
    if isinstance(node, DictConfig):
        node = OmegaConf.to_container(node, resolve=True)  # type: ignore[assignment]
    spec = dict(node)
    if "_target_" not in spec:
        raise ValueError(f"a policy config needs `_target_` (the class to build), got {spec}")
    return spec


def build_policy(spec: DictConfig | Mapping[str, Any], **kwargs: Any) -> Any:
    """The object a policy node describes, built with `kwargs` beside its settings. A node
    marked `_partial_` (the simulator builds one per engine) is built here all the same."""
    from hydra.utils import instantiate

    spec = {k: v for k, v in policy_spec(spec).items() if k != "_partial_"}
    return instantiate(spec, **kwargs)


P = TypeVar("P")


def resolve_policy(spec: Any, kind: type[P], option: str,
                   default: Callable[[], P] | None = None, **kwargs: Any) -> P:
    """The `kind` object `spec` is, or builds from its config node (with `kwargs`), or, for
    None, `default()`; a ValueError naming `option` for anything else or another class."""
    if isinstance(spec, kind):
        return spec
    if spec is None and default is not None:
        return default()
    if not isinstance(spec, Mapping):
        accepted = " or None" if default is not None else ""
        raise ValueError(f"{option}: expected a {kind.__name__} or its config (a mapping with "
                         f"_target_){accepted}, got {spec!r}")
    policy = build_policy(spec, **kwargs)
    if not isinstance(policy, kind):
        raise ValueError(f"{option}: {spec['_target_']} is not a {kind.__name__}")
    return policy


def load_spec(source: str) -> dict[str, Any]:
    """A policy node from a JSON object or a `.json`/`.yaml` file (errors name the source)."""
    text = source.strip()
    if text.startswith("{"):
        try:
            return policy_spec(json.loads(text))
        except json.JSONDecodeError as exc:
            raise ValueError(f"policy config {source!r}: not valid JSON ({exc})") from exc
    path = Path(source)
    if not path.is_file():
        raise ValueError(f"policy config {source!r}: neither a JSON object nor a file")
    return policy_spec(OmegaConf.load(path))  # type: ignore[arg-type]
