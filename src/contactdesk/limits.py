"""The bounds every request is held to, for code that has no request at hand (services).

create_app() installs the bounds of its Settings once; a process serves one app, so one set
of bounds per process. Code reads them with limits() at the moment it checks, never at import.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from contactdesk.config import Settings


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int = 1024 * 1024
    body_timeout_seconds: float = 10.0
    max_url_bytes: int = 8192
    max_header_bytes: int = 16384
    max_json_depth: int = 32
    max_labels: int = 100
    max_bulk_label_operations: int = 10_000
    max_q_chars: int = 200
    max_label_filter_names: int = 100
    max_filter_conditions: int = 50
    max_filter_values: int = 100
    max_custom_attribute_definitions: int = 200
    max_attributes_bytes: int = 16 * 1024
    pattern_max_mem_bytes: int = 1024 * 1024
    count_cache_max_bytes: int = 8 * 1024 * 1024
    max_webhooks: int = 50
    webhooks_allow_private: bool = False
    import_max_mb: int = 200
    import_upload_idle_seconds: float = 30.0
    max_active_imports: int = 3

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(**{field.name: getattr(settings, field.name) for field in fields(cls)})


_current = Limits()


def limits() -> Limits:
    return _current


def install(bounds: Limits) -> None:
    global _current
    _current = bounds
