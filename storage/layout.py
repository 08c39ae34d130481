"""Every key of the DataStore, in one place: ask here where a thing is stored.

Pure string functions, no I/O. The keys are a public interface (data already stored
lives under them): change one only with a migration. ``tests/unit/storage`` pins them.

```
raw/<dataset>/<batch>.parquet                 a raw batch as collected
raw/<dataset>/files/<sha256><.ext>            a collected image file
clean|quarantine|duplicates/<dataset>/<batch>.parquet   the cleanse outputs of a batch
labels/<project>/<version>.parquet            a labels version
labels/<project>/latest.json                  the newest one (storage.pointers.LabelsPointer)
labels/<project>/disputed/<version>.parquet   rows of a labels version the champion disputes
models/<name>/<version>/model.skops|items.json|card.json|reference_profile.json
models/<name>/<version>/out_of_fold.parquet    its training run's out-of-fold probabilities
models/<name>/champion.json                   the serving version (learning.registry.ChampionPointer)
models/<name>/monitoring/live_accuracy.json   the live accuracy series
monitoring/drift/<dataset>/<batch>.json       the drift report of a cleansed batch
state/collect/<dataset>/manifest.json         what was collected
state/cleanse/<dataset>/manifest.json         which raw batches were cleansed
state/push/<project>.json                     the push ledger
state/sync/<project>.json                     the sync watermark and last labels.ready
state/train/<project>.json                    the labels the last training used (TrainedLabels)
state/review/<project>.json                   disputed items sent back for review
state/monitor/<model>.json                    champions a degraded event was sent for
```

Model names and version ids are checked (:func:`check_model_name`,
:func:`check_version_id`): a name that is not one folder never becomes a key.
"""

from __future__ import annotations

import re
from typing import Literal

CleanseOutput = Literal["clean", "quarantine", "duplicates"]

MODEL_FILE = "model.skops"
ITEMS_FILE = "items.json"
CARD_FILE = "card.json"
PROFILE_FILE = "reference_profile.json"
OUT_OF_FOLD_FILE = "out_of_fold.parquet"
CHAMPION_FILE = "champion.json"
_VERSION_RE = re.compile(r"\d{8}T\d{12}Z-[0-9a-f]{6}")  # used with fullmatch
_NAME_RE = re.compile(r"[a-z0-9][a-z0-9-]*")  # used with fullmatch


class RegistryError(ValueError):
    """The registry cannot do what was asked (names the model, version or file).

    Raised here for a model name or version id that cannot be a store folder;
    ``learning.registry`` derives its other errors from it.
    """


def check_model_name(name: str) -> str:
    """A model name is lower-case letters, digits and dashes (it is a store folder).

    Args:
        name: the model name (usually the data set name).

    Returns:
        The name.

    Raises:
        RegistryError: the name is not one.
    """
    if not _NAME_RE.fullmatch(name):
        raise RegistryError(f"invalid model name {name!r}: use lower-case letters, digits and '-'")
    return name


def check_version_id(version: str) -> str:
    """A version id looks like ``20240101T120000123456Z-ab12cd`` (never a path).

    Args:
        version: the id to check.

    Returns:
        The id.

    Raises:
        RegistryError: it is not a version id.
    """
    if not isinstance(version, str) or not _VERSION_RE.fullmatch(version):
        raise RegistryError(
            f"invalid model version {version!r}: expected an id like 20240101T120000123456Z-ab12cd"
        )
    return version


# raw/ and the cleanse outputs


def raw_prefix(dataset: str) -> str:
    """``raw/<dataset>/``: the raw batches (and, below ``files/``, the collected files)."""
    return f"raw/{dataset}/"


def raw_key(dataset: str, batch_id: str) -> str:
    """``raw/<dataset>/<batch_id>.parquet``: a raw batch."""
    return f"{raw_prefix(dataset)}{batch_id}.parquet"


def raw_batch_of_key(dataset: str, key: str) -> str | None:
    """The batch id a key is the raw batch of, or None (an image file, another data set).

    Args:
        dataset: data set name.
        key: a store key listed under :func:`raw_prefix`.

    Returns:
        The batch id of ``raw/<dataset>/<id>.parquet``, else None.
    """
    prefix = raw_prefix(dataset)
    rest = key[len(prefix) :]
    if not key.startswith(prefix) or "/" in rest or not rest.endswith(".parquet"):
        return None
    return rest.removesuffix(".parquet")


def raw_files_prefix(dataset: str) -> str:
    """``raw/<dataset>/files``: the folder of the collected image files (no trailing slash)."""
    return f"{raw_prefix(dataset)}files"


def raw_file_key(dataset: str, checksum: str, suffix: str) -> str:
    """``raw/<dataset>/files/<checksum><suffix>``: a collected file, named by its content."""
    return f"{raw_files_prefix(dataset)}/{checksum}{suffix}"


def cleanse_output_prefix(kind: CleanseOutput, dataset: str) -> str:
    """``<kind>/<dataset>/``: every batch of one cleanse output of the data set."""
    return f"{kind}/{dataset}/"


def cleanse_output_key(kind: CleanseOutput, dataset: str, batch_id: str) -> str:
    """``<kind>/<dataset>/<batch_id>.parquet``: a batch's clean, quarantined or duplicate rows."""
    return f"{cleanse_output_prefix(kind, dataset)}{batch_id}.parquet"


def clean_prefix(dataset: str) -> str:
    """``clean/<dataset>/``: the data set's clean batches."""
    return cleanse_output_prefix("clean", dataset)


# labels/


def labels_key(project: str, version: str) -> str:
    """``labels/<project>/<version>.parquet``: a labels version."""
    return f"labels/{project}/{version}.parquet"


def labels_prefix(project: str) -> str:
    """``labels/<project>/``: every labels version of a project (and its pointer)."""
    return f"labels/{project}/"


def version_of_labels_key(project: str, key: str) -> str | None:
    """The labels version a key names (``labels/<project>/<version>.parquet``), else None."""
    prefix = labels_prefix(project)
    name = key[len(prefix) :] if key.startswith(prefix) else ""
    if "/" in name or not name.endswith(".parquet"):
        return None
    return name.removesuffix(".parquet") or None


def latest_labels_key(project: str) -> str:
    """``labels/<project>/latest.json``: the newest labels version (a LabelsPointer)."""
    return f"labels/{project}/latest.json"


def disputed_labels_key(project: str, labels_version: str) -> str:
    """``labels/<project>/disputed/<labels_version>.parquet``: the rows the champion disputes."""
    return f"labels/{project}/disputed/{labels_version}.parquet"


# models/


def model_prefix(name: str) -> str:
    """``models/<name>/``: every version of a model, its champion pointer and monitoring."""
    return f"models/{check_model_name(name)}/"


def _version_file(name: str, version: str, file: str) -> str:
    return f"{model_prefix(name)}{check_version_id(version)}/{file}"


def model_key(name: str, version: str) -> str:
    """``models/<name>/<version>/model.skops``: a version's fitted pipeline."""
    return _version_file(name, version, MODEL_FILE)


def card_key(name: str, version: str) -> str:
    """``models/<name>/<version>/card.json``: a version's model card (written last)."""
    return _version_file(name, version, CARD_FILE)


def items_key(name: str, version: str) -> str:
    """``models/<name>/<version>/items.json``: the item ids a version was fitted on."""
    return _version_file(name, version, ITEMS_FILE)


def profile_key(name: str, version: str) -> str:
    """``models/<name>/<version>/reference_profile.json``: a version's drift reference."""
    return _version_file(name, version, PROFILE_FILE)


def out_of_fold_key(name: str, version: str) -> str:
    """``models/<name>/<version>/out_of_fold.parquet``: class probabilities of the items its
    training run evaluated, each from a fit that did not see it (index: item id)."""
    return _version_file(name, version, OUT_OF_FOLD_FILE)


def champion_key(name: str) -> str:
    """``models/<name>/champion.json``: which version serves."""
    return f"{model_prefix(name)}{CHAMPION_FILE}"


def version_of_card_key(name: str, key: str) -> str | None:
    """The version a store key is the card of, or None for any other key.

    Args:
        name: the model name.
        key: a key listed under :func:`model_prefix`.

    Returns:
        The version id, or None.
    """
    prefix = model_prefix(name)
    if not key.startswith(prefix) or not key.endswith(f"/{CARD_FILE}"):
        return None
    version = key[len(prefix) : -len(CARD_FILE) - 1]
    return version if _VERSION_RE.fullmatch(version) else None


def live_accuracy_key(name: str) -> str:
    """``models/<name>/monitoring/live_accuracy.json``: the model's live accuracy series."""
    return f"{model_prefix(name)}monitoring/live_accuracy.json"


# monitoring/


def drift_report_key(dataset: str, batch_id: str) -> str:
    """``monitoring/drift/<dataset>/<batch_id>.json``: the drift report of a cleansed batch."""
    return f"monitoring/drift/{dataset}/{batch_id}.json"


# state/


def collect_manifest_key(dataset: str) -> str:
    """``state/collect/<dataset>/manifest.json``: what the collect flow has fetched."""
    return f"state/collect/{dataset}/manifest.json"


def cleanse_manifest_key(dataset: str) -> str:
    """``state/cleanse/<dataset>/manifest.json``: the raw batches already cleansed."""
    return f"state/cleanse/{dataset}/manifest.json"


def push_ledger_key(project: str) -> str:
    """``state/push/<project>.json``: which item each Label Studio task was created for."""
    return f"state/push/{project}.json"


def sync_state_key(project: str) -> str:
    """``state/sync/<project>.json``: the sync watermark and the last labels.ready."""
    return f"state/sync/{project}.json"


def trained_labels_key(project: str) -> str:
    """``state/train/<project>.json``: the labels version the last training used."""
    return f"state/train/{project}.json"


def review_ledger_key(project: str) -> str:
    """``state/review/<project>.json``: disputed items sent back to Label Studio."""
    return f"state/review/{project}.json"


def degraded_log_key(model: str) -> str:
    """``state/monitor/<model>.json``: the champions a degraded event was sent for."""
    return f"state/monitor/{model}.json"
