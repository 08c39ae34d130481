"""Label configs: generate them from a data set spec, parse them, diff their label sets.

Everything downstream (task payloads, predictions, label resolution) takes a
:class:`ClassificationConfig`, so ``from_name``/``to_name`` and the data key are read
from the config and never hard-coded.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from enum import StrEnum
from functools import lru_cache

from label_studio_sdk.label_interface import LabelInterface
from label_studio_sdk.label_interface.control_tags import ChoicesTag
from label_studio_sdk.label_interface.interface import (
    LabelStudioValidationErrorSentryIgnored,
    LabelStudioXMLSyntaxErrorSentryIgnored,
)
from lxml import etree
from pydantic import BaseModel, ConfigDict, Field, field_validator

from annotation.errors import LabelConfigError
from annotation.models import ITEM_ID_KEY

# What LabelInterface raises on a bad config: its own two classes (re-exported by
# the public interface module), lxml's, and plain lookups on missing attributes.
_SDK_ERRORS = (
    LabelStudioValidationErrorSentryIgnored,
    LabelStudioXMLSyntaxErrorSentryIgnored,
    etree.Error,
    KeyError,
    ValueError,
    TypeError,
)


class DataKind(StrEnum):
    """What a data set's items are, which decides the object tag in the config."""

    TEXT = "text"
    IMAGE = "image"
    TABULAR = "tabular"


_OBJECT_TAG = {DataKind.TEXT: "Text", DataKind.IMAGE: "Image", DataKind.TABULAR: "Table"}
_KIND_OF_TAG = {tag.lower(): kind for kind, tag in _OBJECT_TAG.items()}
_DEFAULT_DATA_KEY = {DataKind.TEXT: "text", DataKind.IMAGE: "image", DataKind.TABULAR: "row"}


class LabelSpec(BaseModel):
    """The part of a data set spec that decides its Label Studio config.

    Attributes:
        kind: text, image or tabular classification.
        labels: the label set, in display order.
        data_key: the task data key holding the item's value (default by kind:
            ``text``, ``image`` or ``row``).
        control_name: the ``name`` of the Choices control (the results' ``from_name``).
        object_name: the ``name`` of the object tag it labels (the results' ``to_name``;
            default: the data key).
        header: an optional instruction shown above the choices.
    """

    model_config = ConfigDict(frozen=True)

    kind: DataKind
    labels: list[str] = Field(min_length=1)
    data_key: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    control_name: str = Field(default="label", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    object_name: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    header: str | None = None

    @field_validator("labels")
    @classmethod
    def _labels_unique_and_named(cls, labels: list[str]) -> list[str]:
        stripped = [label.strip() for label in labels]
        if any(not label for label in stripped):
            raise ValueError("labels: a label is empty")
        duplicates = sorted({label for label in stripped if stripped.count(label) > 1})
        if duplicates:
            raise ValueError(f"labels: duplicated {duplicates}")
        return stripped

    @property
    def resolved_data_key(self) -> str:
        """The data key, defaulted by kind."""
        return self.data_key or _DEFAULT_DATA_KEY[self.kind]


class ClassificationConfig(BaseModel):
    """A parsed, validated single-control classification config.

    Attributes:
        xml: the config as sent to Label Studio.
        from_name: the Choices control's name.
        to_name: the object tag it labels.
        object_tag: ``Text``, ``Image``, ``Table`` or another object tag.
        data_key: the task data key the object reads (``$text`` -> ``text``).
        labels: the choices, in config order.
        multiple: whether the control allows several choices.
    """

    model_config = ConfigDict(frozen=True)

    xml: str
    from_name: str
    to_name: str
    object_tag: str
    data_key: str
    labels: tuple[str, ...]
    multiple: bool = False

    @property
    def kind(self) -> DataKind | None:
        """The data kind of the object tag, or None for other tags."""
        return _KIND_OF_TAG.get(self.object_tag.lower())

    def interface(self) -> LabelInterface:
        """The SDK's ``LabelInterface`` for this config (cached per XML; read it, never change it)."""
        return _cached_interface(self.xml)


@lru_cache(maxsize=64)
def _cached_interface(xml: str) -> LabelInterface:
    """One parsed ``LabelInterface`` per config text (kept out of the model so it pickles)."""
    return LabelInterface(xml)


def _interface_or_error(xml: str) -> LabelInterface:
    if not isinstance(xml, str) or not xml.strip():
        raise LabelConfigError("label config is empty")
    try:
        interface = LabelInterface(xml)
        interface.validate()
    except _SDK_ERRORS as exc:
        raise LabelConfigError(f"label config does not parse: {exc}") from exc
    return interface


def parse_label_config(xml: str, control_name: str | None = None) -> ClassificationConfig:
    """Parse and validate a classification label config with ``LabelInterface``.

    Args:
        xml: the label config XML (generated or the user's own).
        control_name: which Choices control to use when the config has several.

    Returns:
        The config with its from_name, to_name, data key and labels.

    Raises:
        LabelConfigError: the XML does not parse or validate, has no Choices control,
            has several and none was named, or the control's object reads no variable.
    """
    interface = _interface_or_error(xml)
    choices = [control for control in interface.controls if isinstance(control, ChoicesTag)]
    if control_name is not None:
        choices = [control for control in choices if control.name == control_name]
        if not choices:
            raise LabelConfigError(f"label config has no Choices control named '{control_name}'")
    if not choices:
        raise LabelConfigError(
            "label config has no Choices control: labelloop needs a classification config"
        )
    if len(choices) > 1:
        names = sorted(str(control.name) for control in choices)
        raise LabelConfigError(
            f"label config has several Choices controls {names}: name one with control_name"
        )
    control = choices[0]
    from_name = str(control.name)  # the SDK types tag fields as optional; parsed tags have them
    targets = list(control.to_name or [])
    if len(targets) != 1:
        raise LabelConfigError(
            f"Choices '{from_name}' labels {targets}: expected exactly one object"
        )
    to_name = str(targets[0])
    target = interface.get_object(to_name)
    if not target.value_is_variable:
        raise LabelConfigError(
            f"object '{to_name}' has value '{target.value}': expected a $variable"
        )
    labels = tuple(str(label) for label in control.labels or [])
    if not labels:
        raise LabelConfigError(f"Choices '{from_name}' has no Choice values")
    return ClassificationConfig(
        xml=xml,
        from_name=from_name,
        to_name=to_name,
        object_tag=str(target.tag),
        data_key=str(target.value_name),
        labels=labels,
        multiple=bool(control.is_multiple_choice),
    )


def build_label_config(spec: LabelSpec) -> ClassificationConfig:
    """Generate a classification config from a data set spec and validate it.

    Args:
        spec: kind and label set.

    Returns:
        The parsed config (its ``xml`` is what to send to Label Studio).

    Raises:
        LabelConfigError: ``data_key`` or ``control_name`` clashes with ``item_id`` or each other.
    """
    data_key = spec.resolved_data_key
    if data_key == ITEM_ID_KEY:
        raise LabelConfigError(f"data_key '{data_key}' is reserved for the item id")
    object_name = spec.object_name or (
        data_key if data_key != spec.control_name else f"{data_key}_object"
    )
    view = ET.Element("View")
    if spec.header:
        ET.SubElement(view, "Header", {"value": spec.header})
    ET.SubElement(view, _OBJECT_TAG[spec.kind], {"name": object_name, "value": f"${data_key}"})
    choices = ET.SubElement(
        view,
        "Choices",
        {
            "name": spec.control_name,
            "toName": object_name,
            "choice": "single-radio",
            "showInline": "true",
        },
    )
    for label in spec.labels:
        ET.SubElement(choices, "Choice", {"value": label})
    ET.indent(view)
    return parse_label_config(ET.tostring(view, encoding="unicode"), control_name=spec.control_name)


def with_labels(
    config: ClassificationConfig, labels: list[str] | tuple[str, ...]
) -> ClassificationConfig:
    """Rewrite the config's Choices to exactly ``labels``, keeping everything else.

    Works for generated and user configs alike.

    Args:
        config: the config to change.
        labels: the new label set, in order.

    Returns:
        The re-parsed config.

    Raises:
        LabelConfigError: the labels are empty or the result does not validate.
    """
    if not labels:
        raise LabelConfigError("a label config needs at least one label")
    root = ET.fromstring(config.xml)
    control = next(
        (el for el in root.iter("Choices") if el.get("name") == config.from_name),
        None,
    )
    if control is None:
        raise LabelConfigError(f"Choices '{config.from_name}' not found in the config")
    for child in [child for child in control if child.tag == "Choice"]:
        control.remove(child)
    for label in labels:
        ET.SubElement(control, "Choice", {"value": label})
    ET.indent(root)
    return parse_label_config(ET.tostring(root, encoding="unicode"), control_name=config.from_name)


class LabelSetDifference(BaseModel):
    """How a project's label set differs from its data set's spec (the spec's set wins).

    Attributes:
        missing: labels of the spec the project lacks (removed in Label Studio, or new
            in the spec): a push puts them back.
        extra: labels of the project the spec lacks (added in Label Studio, or dropped
            from the spec): kept in the project, never counted as labels.
    """

    model_config = ConfigDict(frozen=True)

    missing: tuple[str, ...]
    extra: tuple[str, ...]

    @property
    def differs(self) -> bool:
        """Whether the two label sets differ."""
        return bool(self.missing or self.extra)

    def describe(self, project: str) -> list[str]:
        """One sentence per difference, for a log line or an artifact."""
        lines = []
        if self.missing:
            lines.append(
                f"project {project!r} lacked the spec's labels {list(self.missing)}: the push "
                "puts them back (the data set's spec owns the label set)"
            )
        if self.extra:
            lines.append(
                f"project {project!r} has labels {list(self.extra)} that the spec does not: "
                "kept in Label Studio, but an annotation choosing one is an unknown_label skip, "
                "never a label"
            )
        return lines


def label_set_difference(
    project: ClassificationConfig, spec_labels: Sequence[str]
) -> LabelSetDifference:
    """Compare a project's labels with the spec's.

    Args:
        project: the project's config as Label Studio holds it.
        spec_labels: the data set spec's labels.

    Returns:
        What is missing from and extra in the project.
    """
    return LabelSetDifference(
        missing=tuple(label for label in spec_labels if label not in project.labels),
        extra=tuple(label for label in project.labels if label not in spec_labels),
    )


def counted_config(
    project: ClassificationConfig, spec_labels: Sequence[str]
) -> ClassificationConfig:
    """The config a sync resolves annotations with: the project's, with the spec's labels.

    Args:
        project: the project's config.
        spec_labels: the data set spec's labels.

    Returns:
        ``project`` itself when the label sets agree, else the project's config with
        exactly the spec's labels (a choice outside them is an unknown label).
    """
    if not label_set_difference(project, spec_labels).differs:
        return project
    return with_labels(project, list(spec_labels))


class LabelConfigUpdate(BaseModel):
    """What to do with a project's config given the desired one.

    Attributes:
        needs_update: whether the project's config must be replaced.
        added: labels in the desired config and not in the project.
        removed: labels in the project and not in the desired config.
        retained: removed labels kept in the config because removal is not allowed.
        config: the config to send when ``needs_update`` (else the current one).
    """

    model_config = ConfigDict(frozen=True)

    needs_update: bool
    added: tuple[str, ...]
    removed: tuple[str, ...]
    retained: tuple[str, ...]
    config: ClassificationConfig


def plan_label_config_update(
    current: ClassificationConfig,
    desired: ClassificationConfig,
    *,
    allow_removal: bool = False,
) -> LabelConfigUpdate:
    """Decide whether a project's config must change to match the spec.

    A label added to the spec updates the project. A label removed from the spec is
    kept (``retained``) unless ``allow_removal``: Label Studio 1.23 accepts a config
    that drops a label annotations still use, and those annotations would then turn
    into unknown-label skips. Cosmetic differences alone (layout, styling edited in
    the UI) never update.

    Args:
        current: the project's config as Label Studio holds it.
        desired: the config generated from the spec (or the user's XML).
        allow_removal: drop labels that the spec no longer has.

    Returns:
        The decision and the config to send.

    Raises:
        LabelConfigError: the two configs label different objects or data keys.
    """
    for field in ("to_name", "data_key", "from_name"):
        if getattr(current, field) != getattr(desired, field):
            raise LabelConfigError(
                f"label config {field} changed from '{getattr(current, field)}' to '{getattr(desired, field)}':"
                " existing tasks and annotations would no longer match; use a new project"
            )
    added = tuple(label for label in desired.labels if label not in current.labels)
    removed = tuple(label for label in current.labels if label not in desired.labels)
    retained = () if allow_removal else removed
    if not added and (not removed or not allow_removal):
        return LabelConfigUpdate(
            needs_update=False, added=(), removed=removed, retained=retained, config=current
        )
    labels = list(desired.labels) + list(retained)
    return LabelConfigUpdate(
        needs_update=True,
        added=added,
        removed=removed,
        retained=retained,
        config=with_labels(desired, labels),
    )


def adoption_problems(spec: LabelSpec, config: ClassificationConfig) -> list[str]:
    """Why an existing project's config cannot serve a data set's label spec, one sentence
    per difference (empty: it can be adopted as it is).

    The project's control and data key are read from its config, never assumed: a spec
    that names others is told which to write.
    """
    problems = []
    if config.kind != spec.kind:
        problems.append(
            f"the project labels a {config.object_tag} object, the spec a {spec.kind.value} "
            "item (labels.kind)"
        )
    if config.from_name != spec.control_name:
        problems.append(
            f"the project's Choices control is {config.from_name!r}, the spec's "
            f"labels.control_name {spec.control_name!r}: set labels.control_name: {config.from_name}"
        )
    expected_object = build_label_config(spec).to_name
    if config.to_name != expected_object:
        problems.append(
            f"the project's Choices label the object {config.to_name!r}, the spec's "
            f"{expected_object!r}: set labels.object_name: {config.to_name}"
        )
    if config.data_key != spec.resolved_data_key:
        problems.append(
            f"the project reads task data ${config.data_key}, the spec "
            f"${spec.resolved_data_key}: set labels.data_key: {config.data_key}"
        )
    project_labels, spec_labels = set(config.labels), set(spec.labels)
    if project_labels != spec_labels:
        problems.append(
            f"the project's labels {sorted(project_labels)} are not the spec's "
            f"{sorted(spec_labels)} (only in the project: {sorted(project_labels - spec_labels)}; "
            f"only in the spec: {sorted(spec_labels - project_labels)})"
        )
    return problems
