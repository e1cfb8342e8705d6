"""Reading canonical JSON lines: a bad line is reported with its number and reason,
and never stops the rest."""

import pytest

from mqlsync.connector.adapters.jsonl import dump_line, read_jsonl
from mqlsync.connector.errors import InputError
from mqlsync.connector.model import Activity, Contact


def read(tmp_path, raw: bytes, model=Contact):
    path = tmp_path / "in.jsonl"
    path.write_bytes(raw)
    rejected = []
    return list(read_jsonl(path, model, rejected)), rejected


def test_every_bad_line_is_reported_and_the_rest_is_read(tmp_path):
    raw = "\n".join([
        '{"id": "c1", "first_name": "Zoë"}',
        'not json',
        '["a list"]',
        '{"id": "c2", "company_size": "many"}',
        '',
        '{"id": "c3", "sales_status": "rejected"}',
        '{"id": "c4", "title": "مدیر بازاریابی"}',
    ]).encode() + b"\n" + b'{"id": "c5", "first_name": "\xff"}\n' + b'{"id": "c6"}\n'
    records, rejected = read(tmp_path, raw)
    assert [r.id for r in records] == ["c1", "c4", "c6"]
    assert [(r.line, r.reason) for r in rejected] == [
        (2, "not valid JSON: Expecting value at column 1"),
        (3, "expected a JSON object"),
        (4, "company_size: Input should be a valid integer, unable to parse string as an integer (got 'many')"),
        (6, "record: sales_status needs sales_status_at (when sales gave the verdict)"),
        (8, "not UTF-8 (byte 29)"),
    ]
    assert rejected[2].record_id == "c2"
    assert str(rejected[2]).startswith(f"{tmp_path}/in.jsonl:4 (c2): company_size")


def test_unknown_fields_are_rejected_not_silently_dropped(tmp_path):
    records, rejected = read(tmp_path, b'{"id": "c1", "titel": "CEO"}\n')
    assert records == []
    assert "titel: Extra inputs are not permitted" in rejected[0].reason


def test_an_activity_needs_a_time(tmp_path):
    _, rejected = read(tmp_path, b'{"id": "a1", "contact_id": "c1", "type": "page_view"}\n', Activity)
    assert rejected[0].reason == "at: Field required"


def test_a_missing_file_is_one_clear_error(tmp_path):
    with pytest.raises(InputError, match="nowhere.jsonl: cannot open"):
        list(read_jsonl(tmp_path / "nowhere.jsonl", Contact, []))


def test_records_survive_a_round_trip(tmp_path):
    contact = Contact(id="c1", first_name="Ágnes", title="Marketingvezető", company_size=120,
                      attributes={"tier": "gold"}, sql_criteria={"budget": True})
    records, rejected = read(tmp_path, dump_line(contact).encode())
    assert records == [contact] and rejected == []
