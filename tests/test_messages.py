"""Tests of shared/messages.py: encoding, decoding with validation, and deterministic chunk ids."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from conftest import manifest_of

from hzz.shared.errors import DecodeError
from hzz.shared.messages import ChunkResult, ChunkTask, Message, RunManifest, chunk_id_for, decode_message

LOCATION = "https://example.org/4lep/MC/mc_363490.llll.4lep.root"


def a_task(**changes: Any) -> ChunkTask:
    fields: dict[str, Any] = {
        "run_id": "run-1",
        "sample": "llll",
        "location": LOCATION,
        "entry_start": 100_000,
        "entry_stop": 200_000,
        "lumi": 10.0,
    }
    return ChunkTask(**{**fields, **changes})


def a_manifest() -> RunManifest:
    # data_A in one chunk; llll could not be counted, so it is one whole-file chunk
    return manifest_of(
        "run-1",
        [("data_A", "Data/data_A.4lep.root", 39, 100), ("llll", "MC/mc_363490.llll.4lep.root", None, 100)],
        settings={"lumi": 10.0, "samples": ["data_A"]},
        created=1.5,
    )


def a_result(**changes: Any) -> ChunkResult:
    fields: dict[str, Any] = {
        "run_id": "run-1",
        "chunk_id": "llll/mc_363490.llll.4lep.root:0-100000",
        "sample": "llll",
        "events_read": 100_000,
        "events_selected": 94_321,
        "sumw_total": 45.125,
        "sumw": [0.1 * i for i in range(34)],
        "sumw2": [0.01 * i for i in range(34)],
        "binning": [34, 80.0, 250.0],
        "attempt": 1,
        "worker": "host:123",
        "seconds": 2.5,
    }
    return ChunkResult(**{**fields, **changes})


def body_with(message: Message, **changes: Any) -> bytes:
    """The message's JSON with some fields changed (a key set to ... is removed)."""
    payload = json.loads(message.encode())
    for key, value in changes.items():
        if value is ...:
            del payload[key]
        else:
            payload[key] = value
    return json.dumps(payload).encode()


# --- round trips --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "message",
    [
        a_task(),
        a_task(entry_start=0, entry_stop=None, fraction=0.25, attempt=2),
        a_manifest(),
        a_result(),
        a_result(error="cannot open x.root: FileNotFoundError", sumw=[], sumw2=[], binning=[]),
    ],
    ids=["task", "whole-file task", "manifest", "result", "failed result"],
)
def test_every_kind_of_message_survives_encoding_and_decoding(message: Message) -> None:
    # Given a message
    # When it is encoded and decoded, by its own class and by kind
    body = message.encode()
    by_class = type(message).decode(body)
    by_kind = decode_message(body)

    # Then both give back an equal message of the same class
    assert by_class == message
    assert by_kind == message
    assert type(by_kind) is type(message)


def test_an_encoded_message_is_utf8_json_tagged_with_its_kind() -> None:
    # Given one message of each kind
    # When they are encoded
    bodies = [json.loads(m.encode().decode("utf-8")) for m in (a_task(), a_manifest(), a_result())]

    # Then each is a JSON object whose "kind" says what it is
    assert [b["kind"] for b in bodies] == ["task", "manifest", "result"]
    assert bodies[0]["chunk_id"] == a_task().chunk_id


def test_floats_round_trip_exactly() -> None:
    # Given a result holding floats that have no short decimal form
    values = [1 / 3, 0.1 + 0.2, 1e-300, 123456789.123456789]
    result = a_result(sumw=values + [0.0] * 30, sumw_total=2 / 3, sumw2_total=1 / 7)

    # When it is encoded and decoded
    again = ChunkResult.decode(result.encode())

    # Then every float is bit-for-bit the same
    assert again.sumw[:4] == values
    assert again.sumw_total == 2 / 3
    assert again.sumw2_total == 1 / 7


def test_a_result_without_its_total_sum_of_squared_weights_decodes_as_unknown() -> None:
    # Given a result of an older worker, without "sumw2_total"
    body = json.loads(a_result().encode())
    del body["sumw2_total"]

    # When it is decoded, then the total is unknown (None), and a string there is refused
    assert ChunkResult.decode(json.dumps(body).encode()).sumw2_total is None
    with pytest.raises(DecodeError, match="sumw2_total"):
        ChunkResult.decode(json.dumps({**body, "sumw2_total": "1.0"}).encode())


def test_a_result_with_an_error_is_failed_and_one_without_is_not() -> None:
    # Given a successful and a failed result
    ok, bad = a_result(), a_result(error="boom")

    # Then only the one with an error counts as failed, also after a round trip
    assert not ok.failed
    assert bad.failed
    assert ChunkResult.decode(bad.encode()).failed


def test_the_manifest_lists_its_chunk_ids_in_order() -> None:
    # Given a manifest of two chunks
    manifest = a_manifest()

    # Then its chunk ids are those of its chunks, in order
    assert manifest.chunk_ids == ["data_A/data_A.4lep.root:0-39", "llll/mc_363490.llll.4lep.root:0-end"]


def test_messages_are_frozen() -> None:
    # Given a task
    task = a_task()

    # When a field is assigned, then it is refused
    with pytest.raises(dataclasses.FrozenInstanceError):
        task.attempt = 3  # type: ignore[misc]


# --- chunk ids ----------------------------------------------------------------------------------


def test_a_chunk_id_names_the_sample_the_file_and_the_range() -> None:
    # Given / When the ids of a range and of a whole file
    ranged = chunk_id_for("llll", LOCATION, 100_000, 200_000)
    whole = chunk_id_for("data_A", "/data/Data/data_A.4lep.root", 0, None)

    # Then they are <sample>/<file name>:<start>-<stop or end>
    assert ranged == "llll/mc_363490.llll.4lep.root:100000-200000"
    assert whole == "data_A/data_A.4lep.root:0-end"


def test_a_task_gets_the_id_of_what_it_covers() -> None:
    # Given two tasks built separately for the same chunk, and one for the next chunk
    first, again = a_task(), a_task()
    other = a_task(entry_start=200_000, entry_stop=300_000)

    # Then equal chunks have equal ids, different ranges different ids
    assert first.chunk_id == again.chunk_id == chunk_id_for("llll", LOCATION, 100_000, 200_000)
    assert other.chunk_id != first.chunk_id


def test_the_chunk_id_does_not_depend_on_the_run_the_lumi_or_the_attempt() -> None:
    # Given the same chunk in two runs, with another luminosity and a retry count
    first = a_task()
    retried = a_task(run_id="run-2", lumi=36.6, attempt=3)

    # Then the chunk id is the same
    assert retried.chunk_id == first.chunk_id


def test_a_redelivered_task_keeps_its_chunk_id() -> None:
    # Given a task as republished for a retry
    task = a_task()
    retry = dataclasses.replace(task, attempt=task.attempt + 1)

    # When it is decoded on the other side
    again = ChunkTask.decode(retry.encode())

    # Then it is still the same chunk, one attempt further
    assert again.chunk_id == task.chunk_id
    assert again.attempt == 1


def test_the_task_describes_itself_by_chunk_range_and_file() -> None:
    # Given a whole-file task
    task = a_task(entry_start=0, entry_stop=None)

    # Then its description names the chunk, the range and the file
    text = task.describe()
    assert task.chunk_id in text
    assert "0–end" in text
    assert LOCATION in text


# --- refusals -----------------------------------------------------------------------------------


@pytest.mark.parametrize("body", [b"", b"not json", b"{'kind': 'task'}", b"\xff\xfe\x00", b'{"kind": "task",'])
def test_a_body_that_is_not_json_is_refused(body: bytes) -> None:
    # Given a body that is not JSON (or not UTF-8)
    # When it is decoded, then DecodeError says so
    with pytest.raises(DecodeError, match="not JSON"):
        decode_message(body)


@pytest.mark.parametrize("body", [b"[]", b'["task"]', b'"task"', b"42", b"null", b"true"])
def test_json_that_is_not_an_object_is_refused(body: bytes) -> None:
    # Given JSON that is not an object
    # When it is decoded, then DecodeError says so
    with pytest.raises(DecodeError, match="not an object"):
        decode_message(body)


@pytest.mark.parametrize("kind", ["tsak", "", "TASK", 3, None, ["task"]])
def test_an_unknown_kind_is_refused(kind: object) -> None:
    # Given a task whose kind is not one of ours
    body = body_with(a_task(), kind=kind)

    # When it is decoded, then DecodeError names the known kinds
    with pytest.raises(DecodeError, match="unknown kind") as caught:
        decode_message(body)
    assert "'task'" in str(caught.value)


def test_a_body_without_a_kind_is_refused() -> None:
    # Given a task without its kind
    body = body_with(a_task(), kind=...)

    # Then it is refused
    with pytest.raises(DecodeError, match="unknown kind None"):
        decode_message(body)


@pytest.mark.parametrize(
    ("message", "missing"),
    [
        (a_task(), "run_id"),
        (a_task(), "location"),
        (a_task(), "entry_start"),
        (a_task(), "entry_stop"),
        (a_task(), "lumi"),
        (a_manifest(), "files"),
        (a_manifest(), "profile"),
        (a_manifest(), "created"),
        (a_result(), "chunk_id"),
        (a_result(), "sample"),
    ],
)
def test_a_missing_required_field_is_refused_by_name(message: Message, missing: str) -> None:
    # Given a message lacking a required field
    body = body_with(message, **{missing: ...})

    # When it is decoded, then DecodeError names the field
    with pytest.raises(DecodeError, match=f"lacks the field '{missing}'"):
        decode_message(body)


def test_missing_optional_fields_take_their_defaults() -> None:
    # Given a result carrying only its required fields
    body = json.dumps({"kind": "result", "run_id": "r", "chunk_id": "c", "sample": "llll"}).encode()

    # When it is decoded
    result = ChunkResult.decode(body)

    # Then the others have their defaults
    assert result.events_read == 0
    assert result.sumw == []
    assert result.error is None
    assert not result.failed


@pytest.mark.parametrize(
    ("message", "field", "value"),
    [
        (a_task(), "entry_start", "0"),
        (a_task(), "entry_start", True),
        (a_task(), "entry_start", 1.0),
        (a_task(), "entry_start", None),
        (a_task(), "entry_stop", "200000"),
        (a_task(), "entry_stop", False),
        (a_task(), "entry_stop", 2.5),
        (a_task(), "lumi", "10"),
        (a_task(), "lumi", True),
        (a_task(), "run_id", 7),
        (a_task(), "location", None),
        (a_task(), "attempt", "1"),
        (a_task(), "fraction", [1.0]),
        (a_manifest(), "files", {"a": 1}),
        (a_manifest(), "files", ["file"]),
        (a_manifest(), "files", [{"sample": "llll", "location": "x.root", "entries": -1, "chunk_size": 10}]),
        (a_manifest(), "files", [{"sample": "llll", "location": "x.root", "entries": 10, "chunk_size": 0}]),
        (a_manifest(), "files", [{"sample": "llll", "location": 7, "entries": 10, "chunk_size": 10}]),
        (a_manifest(), "profile", 2020),
        (a_manifest(), "settings", []),
        (a_manifest(), "created", "now"),
        (a_result(), "events_read", True),
        (a_result(), "events_selected", 3.0),
        (a_result(), "sumw", [1.0, "2"]),
        (a_result(), "sumw", [True]),
        (a_result(), "sumw2", 3.0),
        (a_result(), "error", 404),
        (a_result(), "sample", ["llll"]),
    ],
)
def test_a_field_of_the_wrong_type_is_refused_by_name(message: Message, field: str, value: object) -> None:
    # Given a message with one field of the wrong type
    body = body_with(message, **{field: value})

    # When it is decoded, then DecodeError names the field
    with pytest.raises(DecodeError, match=f"field '{field}'"):
        decode_message(body)


def test_an_integer_is_accepted_where_a_float_is_expected() -> None:
    # Given a task whose luminosity is written as 10 (JSON has one number type)
    body = body_with(a_task(), lumi=10)

    # When it is decoded
    task = ChunkTask.decode(body)

    # Then it is accepted, with the same value
    assert task.lumi == 10.0


def test_a_result_decoded_as_a_task_is_refused() -> None:
    # Given a valid result
    body = a_result().encode()

    # When it is decoded as a task, then DecodeError names both kinds
    with pytest.raises(DecodeError, match="expected a 'task' message, got 'result'"):
        ChunkTask.decode(body)


@pytest.mark.parametrize(("cls", "message"), [(RunManifest, a_task()), (ChunkResult, a_manifest())])
def test_any_other_kind_is_refused_by_a_class_decoder(cls: type[Message], message: Message) -> None:
    # Given a message of one kind
    # When another class decodes it, then it is refused
    with pytest.raises(DecodeError, match="expected a"):
        cls.decode(message.encode())


def test_decode_errors_chain_the_original_error_and_are_value_errors() -> None:
    # Given a body that is not JSON
    # When it is decoded
    with pytest.raises(DecodeError) as caught:
        decode_message(b"{oops")

    # Then the JSON error is kept as the cause, and DecodeError is a ValueError
    assert isinstance(caught.value.__cause__, json.JSONDecodeError)
    assert isinstance(caught.value, ValueError)
