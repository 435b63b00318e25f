"""Dagster orchestration of the taps: partitioned, scheduled, retried ``meltano run`` per partition.

``orchestration.definitions`` holds the Dagster definitions (``dagster dev -m
orchestration.definitions``); ``orchestration.sources`` the partition layout per
vendor; ``orchestration.meltano`` the isolated ``meltano run`` of one partition;
``orchestration.pools`` applies the per-vendor concurrency limits to a Dagster instance.
"""
