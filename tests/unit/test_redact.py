"""Secrets are blanked in every log line and message: the environment's credentials
wherever they appear, and anything shaped like a token."""

from __future__ import annotations

import logging

from mqlsync.connector.redact import MASK, RedactingFilter, redact

ENV = {"HUBSPOT_ACCESS_TOKEN": "tok-abcdef-123456", "SALESFORCE_PASSWORD": "hunter2hunter2",
       "SALESFORCE_SECURITY_TOKEN": "x"}  # too short to blank without blanking words


def test_the_environments_secrets_and_token_shapes_are_blanked():
    session = "00D5g000004XyZa" + "!" + "AQ8AQJ9_not_a_real_session_id_abcdef"
    hubspot = "-".join(["pat", "na1", "1" * 8, "2222", "3333", "4444", "5" * 12])
    text = (f"GET /x Authorization: Bearer tok-abcdef-123456 sid={session} token {hubspot} "
            "<n1:password>hunter2hunter2XYZ</n1:password> <sessionId>abc</sessionId> x marks")
    clean = redact(text, ["tok-abcdef-123456", "hunter2hunter2"])
    for secret in ("tok-abcdef-123456", session, hubspot, "hunter2hunter2", "XYZ", "<sessionId>abc"):
        assert secret not in clean
    assert clean.count(MASK) >= 5 and clean.endswith("x marks")


def test_the_log_filter_blanks_messages_arguments_and_tracebacks():
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(self.format(record))

    logger = logging.getLogger("mqlsync.test.redact")
    handler = Keep()
    handler.addFilter(RedactingFilter(ENV))
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("calling with %s", "Bearer tok-abcdef-123456")
        try:
            raise RuntimeError("login failed for password hunter2hunter2")
        except RuntimeError:
            logger.error("failed", exc_info=True)
    finally:
        logger.removeHandler(handler)
    text = "\n".join(records)
    assert "tok-abcdef-123456" not in text and "hunter2hunter2" not in text
    assert "RuntimeError: login failed for password [redacted]" in text


def test_a_secret_may_live_in_a_file_and_is_blanked_too(tmp_path):
    import pytest

    from mqlsync.connector.errors import CredentialsError
    from mqlsync.connector.redact import read_secret, secrets_from

    path = tmp_path / "hubspot-token"
    path.write_text("pat-from-a-mounted-file-123\n", encoding="utf-8")
    env = {"HUBSPOT_ACCESS_TOKEN_FILE": str(path)}
    assert read_secret(env, "HUBSPOT_ACCESS_TOKEN") == "pat-from-a-mounted-file-123"
    assert read_secret({"HUBSPOT_ACCESS_TOKEN": "direct-wins", **env}, "HUBSPOT_ACCESS_TOKEN") == "direct-wins"
    assert "pat-from-a-mounted-file-123" in secrets_from(env)
    with pytest.raises(CredentialsError) as caught:
        read_secret({"SALESFORCE_PASSWORD_FILE": str(tmp_path / "missing")}, "SALESFORCE_PASSWORD")
    assert "SALESFORCE_PASSWORD_FILE names" in str(caught.value)
