"""Configuration: the scoring model and the per-CRM mapping files, as pydantic models
loaded from YAML with errors that name the file, the line and the field."""

from mqlsync.connector.config.load import (
                   LoadedMapping,
                   LoadedModel,
                   default_model_path,
                   load_mapping,
                   load_model,
                   model_from_text,
                   model_version,
                   validate_file,
)
from mqlsync.connector.config.mapping import Mapping
from mqlsync.connector.config.scoring import ScoringModel

__all__ = [
    "LoadedMapping", "LoadedModel", "Mapping", "ScoringModel", "default_model_path",
    "load_mapping", "load_model", "model_from_text", "model_version", "validate_file",
]
