"""Malformed and hostile scoring model and mapping files, generated: each is either
accepted or refused with ConfigError naming the file; never a traceback."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mqlsync.connector.config import validate_file
from mqlsync.connector.errors import ConfigError
from tests.conftest import ROOT

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FILES = {name: (ROOT / "mappings" / name).read_text(encoding="utf-8")
         for name in ("scoring.yaml", "hubspot.yaml", "salesforce.yaml")}
#: what a hand edit or a hostile file puts in a line
JUNK = st.one_of(
    st.sampled_from(["", "  ", "\t", ":", "- ", "{", "}", "[", "]", "&a", "*a", "!!python/object:os.system",
                     "? x", "'", '"', "|", ">", "%YAML 1.1", "---", "...", "~", "null", "yes", "no", "1e400",
                     "-0", "0x1F", ".inf", "2026-13-45", "@list", "\x00", "\ufeff", "é" * 3, "a: b: c",
                     "<<: *a", "x" * 5000]),
    st.text(max_size=40),
)


def validate(name: str, text: str | bytes, refused: bool = False) -> None:
    """Accepted, or refused with a ConfigError naming the file; with `refused`, refused."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for other in FILES:  # a mapping names its model; keep the sound one beside it
            if other != name:
                shutil.copy(ROOT / "mappings" / other, folder / other)
        path = folder / name
        path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
        try:
            validate_file(path)
            assert not refused, "this text is no scoring model or mapping, yet it was accepted"
        except ConfigError as exc:
            assert exc.issues, "a ConfigError names at least one problem"
            for issue in exc.issues:
                assert issue.file and name in str(issue.file), issue


@SETTINGS
@given(name=st.sampled_from(sorted(FILES)), data=st.data())
def test_a_line_mangled_anywhere_is_accepted_or_refused_with_a_config_error(name, data):
    lines = FILES[name].splitlines()
    at = data.draw(st.integers(0, len(lines) - 1))
    how = data.draw(st.sampled_from(["replace", "insert", "delete", "indent", "value", "truncate"]))
    junk = data.draw(JUNK)
    if how == "replace":
        lines[at] = junk
    elif how == "insert":
        lines.insert(at, junk)
    elif how == "delete":
        del lines[at]
    elif how == "indent":
        lines[at] = " " * data.draw(st.integers(0, 7)) + lines[at].lstrip()
    elif how == "value" and ":" in lines[at]:
        lines[at] = lines[at].split(":", 1)[0] + ": " + junk
    elif how == "truncate":
        lines = lines[:at]
    validate(name, "\n".join(lines) + "\n")


@SETTINGS
@given(name=st.sampled_from(sorted(FILES)), text=st.text(max_size=300))
def test_arbitrary_text_is_refused_with_a_config_error(name, text):
    validate(name, text, refused=True)


@SETTINGS
@given(name=st.sampled_from(sorted(FILES)), cut=st.integers(1, 400), noise=st.binary(min_size=1, max_size=20))
def test_bytes_that_are_not_utf8_are_refused_with_a_config_error(name, cut, noise):
    raw = FILES[name].encode("utf-8")
    validate(name, raw[:cut] + b"\xff" + noise + raw[cut:], refused=True)  # 0xff is never UTF-8
