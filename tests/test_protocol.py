"""Protocol v1 parser, schemas and inline tags: strict on shape, clamping on range, fuzzed."""

import json
import string

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from marionette.plugin.control.messages import MESSAGES, ProtocolError, SetExpression, SetPose, parse_message
from marionette.plugin.control.schema import (all_schemas, client_message_schema, counter_examples, message_schema,
                                              range_counter_examples)
from marionette.plugin.control.tags import split_tags


def test_every_example_parses_and_validates_against_its_schema():
    schemas = all_schemas()
    validator = jsonschema.Draft202012Validator(client_message_schema())
    for name, cls in MESSAGES.items():
        jsonschema.Draft202012Validator.check_schema(schemas[name])
        jsonschema.validate(cls.EXAMPLE, schemas[name])
        assert not list(validator.iter_errors(cls.EXAMPLE)), name
        assert parse_message(json.dumps(cls.EXAMPLE)).message.TYPE == name
    assert {"reply", "error", "event"} <= set(schemas)


@pytest.mark.parametrize("raw, code, field", [
    ("not json", "bad_json", None),
    ("[1, 2]", "bad_message", None),
    ('{"id": 1}', "missing_field", "type"),
    ('{"id": 1, "type": "dance"}', "unknown_type", "type"),
    ('{"id": 1, "type": "ping", "extra": 1}', "unknown_field", "extra"),
    ('{"id": 1, "type": "set_emotion"}', "missing_field", "label"),
    ('{"id": 1, "type": "set_emotion", "label": "bored"}', "bad_value", "label"),
    ('{"id": 1, "type": "set_emotion", "label": "happy", "intensity": "high"}', "bad_value", "intensity"),
    ('{"id": 1, "type": "set_emotion", "label": "happy", "intensity": true}', "bad_value", "intensity"),
    ('{"id": 1, "type": "set_expression", "values": {"jawopen": 1}}', "bad_value", "values.jawopen"),
    ('{"id": 1, "type": "set_expression", "values": {"yaw": 1}}', "bad_value", "values.yaw"),
    ('{"id": 1, "type": "set_expression", "values": {}}', "bad_value", "values"),
    ('{"id": 1, "type": "set_expression", "values": {"jawOpen": NaN}}', "bad_json", None),
    ('{"id": 1, "type": "set_pose"}', "missing_field", None),
    ('{"id": 1, "type": "speak", "text": "   "}', "bad_value", "text"),
    ('{"id": 1, "type": "subscribe", "events": ["everything"]}', "bad_value", "events"),
    ('{"id": 1, "type": "ping", "v": 2}', "unsupported_version", "v"),
    ('{"id": [1], "type": "ping"}', "bad_value", "id"),
    ('{"id": 1, "type": "push_audio", "sample_rate": 16000.5}', "bad_value", "sample_rate"),
    ('{"id": 1, "type": "speak", "text": "hi", "voice": "--output=/etc/x"}', "bad_value", "voice"),
    ('{"id": 1, "type": "speak", "text": "hi", "voice": "en us"}', "bad_value", "voice"),
])
def test_bad_messages_say_what_was_expected(raw, code, field):
    with pytest.raises(ProtocolError) as e:
        parse_message(raw)
    assert e.value.code == code and e.value.field == field
    err = e.value.to_json()
    assert err["type"] == "error" and err["message"]
    if '"id": 1' in raw and code not in ("bad_json",):
        assert err["id"] == 1  # the error names the message it answers
    if code == "bad_value" and field == "values.jawopen":
        assert "did you mean 'jawOpen'" in err["message"]


def test_out_of_range_numbers_are_clamped_and_reported():
    p = parse_message('{"id": "a", "type": "set_emotion", "label": "sad", "intensity": 3, "transition": -1}')
    assert p.message.intensity == 1.0 and p.message.transition == 0.0
    assert {(c.channel, c.requested, c.applied) for c in p.clamps} == {("intensity", 3.0, 1.0), ("transition", -1.0, 0.0)}
    p = parse_message('{"type": "set_pose", "yaw": 500}')
    assert isinstance(p.message, SetPose) and p.message.yaw == 90.0 and p.id is None


def test_defaults_fill_in():
    p = parse_message('{"type": "set_expression", "values": {"jawOpen": 0.5}}')
    assert p.message == SetExpression(values={"jawOpen": 0.5}, mode="set", transition=0.2, hold=None)


def test_inline_tags():
    segs, tail = split_tags("[happy] Hello! [nod] Nice to see you. [sad:0.4] Bad news [x] though. [shake]")
    assert [(s.text, s.emotion, s.intensity, s.gestures) for s in segs] == [
        ("Hello!", "happy", 1.0, []),
        ("Nice to see you.", "happy", 1.0, ["nod"]),
        ("Bad news [x] though.", "sad", 0.4, []),  # unknown tags stay as written
    ]
    assert tail.gestures == ["shake"] and tail.text == ""
    segs, tail = split_tags("no tags at all", "angry", 0.5)
    assert [(s.text, s.emotion, s.intensity) for s in segs] == [("no tags at all", "angry", 0.5)] and tail is None


# --- fuzzing -----------------------------------------------------------------------------------
json_leaf = (st.none() | st.booleans() | st.integers(-10**20, 10**20) | st.floats(allow_nan=False) | st.text(max_size=30)
             | st.sampled_from([10**400, -(10**400), 2**53, 1.0, 0, -0.0, 1e308]))
json_value = st.recursive(json_leaf, lambda kids: st.lists(kids, max_size=5) | st.dictionaries(st.text(max_size=12), kids, max_size=5),
                          max_leaves=25)
field_names = st.sampled_from(sorted({f for c in MESSAGES.values() for f in c.__dataclass_fields__} | {"id", "type", "v"}))
channel_names = st.sampled_from(["jawOpen", "yaw", "eyeBlinkLeft", "nope", "", "mouthSmileLeft", "scale"])


@st.composite
def mutated_messages(draw):
    """Valid examples with fields dropped, retyped, renamed or added: the near misses that matter."""
    msg = dict(draw(st.sampled_from([c.EXAMPLE for c in MESSAGES.values()])))
    for _ in range(draw(st.integers(0, 4))):
        op = draw(st.sampled_from(["drop", "retype", "add", "values", "type"]))
        keys = sorted(msg)
        if op == "drop" and keys:
            msg.pop(draw(st.sampled_from(keys)))
        elif op == "retype" and keys:
            msg[draw(st.sampled_from(keys))] = draw(json_value)
        elif op == "add":
            msg[draw(field_names | st.text(max_size=8))] = draw(json_value)
        elif op == "values":
            msg["values"] = draw(st.dictionaries(channel_names, json_leaf, max_size=4))
        else:
            msg["type"] = draw(st.sampled_from(sorted(MESSAGES)) | st.text(max_size=10))
    return json.dumps(msg)


def _check_one(raw):
    try:
        p = parse_message(raw)
    except ProtocolError as e:
        err = e.to_json()
        assert err["code"] and err["message"] and isinstance(err["message"], str)
        json.dumps(err)  # always serialisable
        return
    # what parses must be valid for its schema after clamping (the server acts on nothing else)
    assert p.message.TYPE in MESSAGES


@pytest.mark.slow
@settings(max_examples=6000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_messages())
def test_fuzz_mutated_messages(raw):
    _check_one(raw)


@pytest.mark.slow
@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_value.map(json.dumps))
def test_fuzz_arbitrary_json(raw):
    _check_one(raw)


@pytest.mark.slow
@settings(max_examples=1500, deadline=None)
@given(st.text(alphabet=string.printable + "{}[]\":,\\é\x00\ud7ff", max_size=200) | st.binary(max_size=200))
def test_fuzz_arbitrary_text_and_bytes(raw):
    _check_one(raw)


def test_deep_nesting_and_huge_numbers_are_errors_not_crashes():
    for raw in ("[" * 100000 + "]" * 100000, '{"type": "ping", "id": ' + "9" * 5000 + "}", '{"type":"ping","id":1e400}'):
        with pytest.raises(ProtocolError):
            parse_message(raw)


def test_protocol_doc_has_a_valid_example_for_every_message():
    """docs/protocol.md: every client example parses; every message type has its own section."""
    import re
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[1] / "docs" / "protocol.md").read_text()
    seen = set()
    for block in re.findall(r"```json\n(.*?)```", doc, re.S):
        obj = json.loads(block)
        if obj.get("type") in MESSAGES:
            parse_message(json.dumps(obj))  # raises if the doc drifted from the protocol
            seen.add(obj["type"])
        else:
            assert obj["type"] in ("reply", "error", "event")
    assert seen == set(MESSAGES)
    headings = set(re.findall(r"^### (\w+)", doc, re.M))
    assert set(MESSAGES) - {"unsubscribe"} <= headings


# --- the schema and the parser agree ---------------------------------------------------------------
VALIDATORS = {name: jsonschema.Draft202012Validator(message_schema(cls)) for name, cls in MESSAGES.items()}


def _verdicts(obj):
    """(schema accepts, parser accepts, parser's clamps or error code) for one decoded message."""
    mtype = obj.get("type") if isinstance(obj, dict) else None
    schema_ok = isinstance(mtype, str) and mtype in VALIDATORS and VALIDATORS[mtype].is_valid(obj)
    try:
        parsed = parse_message(json.dumps(obj))
    except ProtocolError as e:
        assert e.code != "internal", (obj, e)  # a refusal names what was wrong; never a crash
        return schema_ok, False, e.code
    return schema_ok, True, parsed.clamps


def test_schema_examples_and_counter_examples_agree_with_the_parser():
    counted = 0
    for name, cls in MESSAGES.items():
        assert _verdicts(cls.EXAMPLE) == (True, True, ())
        for why, msg in counter_examples(cls):
            schema_ok, parser_ok, code = _verdicts(msg)
            assert not schema_ok and not parser_ok, (name, why, schema_ok, code)
            counted += 1
        for field, msg in range_counter_examples(cls):
            schema_ok, parser_ok, clamps = _verdicts(msg)
            # the documented leniency: the schema refuses, the server clamps and says so
            assert not schema_ok and parser_ok and field in {c.channel for c in clamps}, (name, field)
            counted += 1
    assert counted > 300


def test_overflowing_numbers_and_boolean_version_are_refused():
    """The 401-digit integer closed the connection (OverflowError); "v": true was accepted."""
    huge = "9" * 401
    for raw, field in [
        ('{"id": 1, "type": "set_emotion", "label": "happy", "intensity": %s}' % huge, "intensity"),
        ('{"id": 1, "type": "set_expression", "values": {"jawOpen": -%s}}' % huge, "values.jawOpen"),
        ('{"id": 1, "type": "motion", "values": {"yaw": %s}}' % huge, "values.yaw"),
        ('{"id": 1, "type": "push_audio", "sample_rate": %s}' % huge, "sample_rate"),
        ('{"id": 1, "type": "look_at", "x": %s, "y": 0}' % ("9" * 5000), "x"),  # past Python's 4300-digit limit
        ('{"id": 1, "type": "ping", "v": true}', "v"),
    ]:
        with pytest.raises(ProtocolError) as e:
            parse_message(raw)
        assert e.value.code in ("bad_value", "unsupported_version") and e.value.field == field, raw[:60]
        assert e.value.to_json()["id"] == 1
        assert "digit integer" in str(e.value) or field == "v"
    assert parse_message('{"type": "ping", "v": 1.0}').message.TYPE == "ping"  # JSON's 1.0 is 1


@pytest.mark.slow
@settings(max_examples=4000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_messages())
def test_fuzz_schema_and_parser_agree(raw):
    """Whatever the schema accepts the parser takes as it is; whatever the parser refuses the
    schema refuses too (the parser is only more lenient on range, where it clamps)."""
    schema_ok, parser_ok, detail = _verdicts(json.loads(raw))
    if schema_ok:
        assert parser_ok and detail == (), (raw, detail)
    if not parser_ok:
        assert not schema_ok, (raw, detail)
