from __future__ import annotations

import pickle

import pytest
from label_studio_sdk.label_interface import LabelInterface

from annotation.config import (
    DataKind,
    LabelSpec,
    build_label_config,
    counted_config,
    label_set_difference,
    parse_label_config,
    plan_label_config_update,
    with_labels,
)
from annotation.errors import LabelConfigError

TEXT = '<View><Text name="{obj}" value="${key}"/><Choices name="{ctl}" toName="{obj}">{choices}</Choices></View>'


def _xml(
    obj: str = "review",
    key: str = "body",
    ctl: str = "verdict",
    labels: tuple[str, ...] = ("a", "b"),
) -> str:
    choices = "".join(f'<Choice value="{label}"/>' for label in labels)
    return TEXT.format(obj=obj, key=key, ctl=ctl, choices=choices)


@pytest.mark.parametrize(
    ("kind", "tag", "key"),
    [
        (DataKind.TEXT, "Text", "text"),
        (DataKind.IMAGE, "Image", "image"),
        (DataKind.TABULAR, "Table", "row"),
    ],
)
def test_generated_config_parses_back_to_the_spec(kind: DataKind, tag: str, key: str) -> None:
    config = build_label_config(LabelSpec(kind=kind, labels=["cat", "dog & co", 'say "hi"']))
    assert config.labels == ("cat", "dog & co", 'say "hi"')
    assert (config.object_tag, config.data_key, config.kind) == (tag, key, kind)
    assert config.from_name == "label" and config.to_name == key
    LabelInterface(config.xml).validate()


def test_names_come_from_the_users_config_not_defaults() -> None:
    config = parse_label_config(_xml())
    assert (config.from_name, config.to_name, config.data_key) == ("verdict", "review", "body")


def test_the_captured_project_config_parses(load) -> None:
    config = parse_label_config(load("project_text.json")["label_config"])
    assert (config.from_name, config.to_name, config.labels) == (
        "sentiment",
        "text",
        ("pos", "neg", "neu"),
    )


@pytest.mark.parametrize(
    ("xml", "message"),
    [
        ("", "empty"),
        ("<View>", "does not parse"),
        ("not xml", "does not parse"),
        ('<View><Text name="t" value="$t"/></View>', "no Choices control"),
        (
            '<View><Choices name="c" toName="zz"><Choice value="a"/></Choices><Text name="t" value="$t"/></View>',
            "zz",
        ),
        (
            '<View><Choices name="c" toName="t"><Choice value="a"/></Choices><Text name="t" value="fixed"/></View>',
            "\\$variable",
        ),
        (
            _xml().replace(
                "</View>",
                '<Choices name="other" toName="review"><Choice value="x"/></Choices></View>',
            ),
            "several",
        ),
    ],
)
def test_a_bad_config_is_a_clear_error(xml: str, message: str) -> None:
    with pytest.raises(LabelConfigError, match=message):
        parse_label_config(xml)


def test_a_named_control_picks_one_of_several() -> None:
    xml = _xml().replace(
        "</View>", '<Choices name="other" toName="review"><Choice value="x"/></Choices></View>'
    )
    assert parse_label_config(xml, control_name="other").labels == ("x",)
    with pytest.raises(LabelConfigError, match="no Choices control named 'nope'"):
        parse_label_config(xml, control_name="nope")


@pytest.mark.parametrize(
    ("labels", "message"),
    [(["a", "a"], "duplicated"), (["a", " "], "empty"), ([], "at least 1")],
)
def test_a_bad_label_set_is_rejected(labels: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LabelSpec(kind=DataKind.TEXT, labels=labels)


def test_item_id_cannot_be_the_data_key() -> None:
    with pytest.raises(LabelConfigError, match="reserved"):
        build_label_config(LabelSpec(kind=DataKind.TEXT, labels=["a"], data_key="item_id"))


def test_with_labels_keeps_the_rest_of_a_user_config() -> None:
    xml = _xml().replace("<View>", '<View><Header value="Read carefully"/>')
    changed = with_labels(parse_label_config(xml), ["a", "b", "c"])
    assert changed.labels == ("a", "b", "c")
    assert "Read carefully" in changed.xml
    assert (changed.from_name, changed.to_name) == ("verdict", "review")


def _spec(*labels: str) -> LabelSpec:
    return LabelSpec(kind=DataKind.TEXT, labels=list(labels))


@pytest.mark.parametrize(
    ("current", "desired", "allow_removal", "needs_update", "added", "removed", "final"),
    [
        (("a", "b"), ("a", "b"), False, False, (), (), ("a", "b")),
        (("a", "b"), ("a", "b", "c"), False, True, ("c",), (), ("a", "b", "c")),
        (("a", "b"), ("a",), False, False, (), ("b",), ("a", "b")),
        (("a", "b"), ("a",), True, True, (), ("b",), ("a",)),
        (("a", "b"), ("a", "c"), False, True, ("c",), ("b",), ("a", "c", "b")),
    ],
)
def test_plan_label_config_update(
    current: tuple[str, ...],
    desired: tuple[str, ...],
    allow_removal: bool,
    needs_update: bool,
    added: tuple[str, ...],
    removed: tuple[str, ...],
    final: tuple[str, ...],
) -> None:
    plan = plan_label_config_update(
        build_label_config(_spec(*current)),
        build_label_config(_spec(*desired)),
        allow_removal=allow_removal,
    )
    assert (plan.needs_update, plan.added, plan.removed) == (needs_update, added, removed)
    assert plan.config.labels == final


def test_cosmetic_edits_made_in_the_ui_are_not_overwritten() -> None:
    current = parse_label_config(
        _xml().replace("<View>", '<View><Header value="edited in the UI"/>')
    )
    plan = plan_label_config_update(current, parse_label_config(_xml()))
    assert not plan.needs_update
    assert "edited in the UI" in plan.config.xml


def test_a_changed_data_key_is_refused() -> None:
    with pytest.raises(LabelConfigError, match="data_key changed from 'body' to 'text'"):
        plan_label_config_update(parse_label_config(_xml()), parse_label_config(_xml(key="text")))


def test_a_config_pickles_for_task_results_and_process_runners() -> None:
    config = build_label_config(LabelSpec(kind=DataKind.TEXT, labels=["a", "b"]))
    config.interface()
    back = pickle.loads(pickle.dumps(config))
    assert back == config
    assert back.interface().get_control(back.from_name).labels == ["a", "b"]


def test_the_specs_label_set_is_what_a_sync_counts() -> None:
    spec = build_label_config(LabelSpec(kind=DataKind.TEXT, labels=["pos", "neg", "neu"]))
    edited = with_labels(spec, ["pos", "neg", "angry"])  # neu removed, angry added in the UI
    difference = label_set_difference(edited, spec.labels)
    assert (difference.missing, difference.extra) == (("neu",), ("angry",))
    assert [line.split(":")[0] for line in difference.describe("p")] == [
        "project 'p' lacked the spec's labels ['neu']",
        "project 'p' has labels ['angry'] that the spec does not",
    ]
    counted = counted_config(edited, spec.labels)
    assert counted.labels == ("pos", "neg", "neu") and counted.from_name == edited.from_name
    assert counted_config(spec, spec.labels) is spec
