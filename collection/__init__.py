"""Collection logic without Prefect: typed sources, listing and fetching, the manifest
that makes collection incremental, and raw batches with provenance columns."""

from collection.manifest import Manifest, ManifestEntry, plan_collection
from collection.sources import HttpSource, LocalSource, S3Source, Source, SourceObject

__all__ = [
    "HttpSource",
    "LocalSource",
    "Manifest",
    "ManifestEntry",
    "S3Source",
    "Source",
    "SourceObject",
    "plan_collection",
]
