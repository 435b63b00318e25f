"""Apply the per-vendor concurrency pool limits to the Dagster instance (``DAGSTER_HOME``).

``python -m orchestration.pools`` sets pool ``vendor-<name>`` to ``Source.pool_limit``
for every source (Zoom 4 shards, Foundry 4 agents, Knovvu 1 day, Kore.ai 2 windows,
Salesloft 1). Dagster keeps pool limits in the instance, not in code, so this runs
once per instance (``scripts/dagster.sh`` runs it before ``dagster dev``); the same is
``dagster instance concurrency set vendor-zoom 4`` and so on. Pools not set here
fall back to ``concurrency.pools.default_limit`` in ``orchestration/dagster.yaml``.
"""

from __future__ import annotations

import dagster as dg

from orchestration.sources import Layout


def apply_pool_limits(instance: dg.DagsterInstance, layout: Layout | None = None) -> dict[str, int]:
    """Set every source's pool limit on ``instance``; returns ``pool -> limit``."""
    limits = {source.pool: source.pool_limit for source in (layout or Layout.from_env()).sources()}
    for pool, limit in limits.items():
        instance.event_log_storage.set_concurrency_slots(pool, limit)
    return limits


def main() -> None:
    """Apply the limits to the instance at ``DAGSTER_HOME`` and print them."""
    with dg.DagsterInstance.get() as instance:
        for pool, limit in apply_pool_limits(instance).items():
            print(f"{pool}: {limit}")  # noqa: T201


if __name__ == "__main__":
    main()
