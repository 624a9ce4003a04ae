"""Typed settings: the configuration parsed once (``lake.config.load_config`` builds them).

Each section is a frozen dataclass with typed attributes (``settings.ingest.chunk_alerts``
is an int with its default applied) that is also a read-only mapping of the section as the
configuration files wrote it, so the mapping access used across the code keeps working:
``config["lake"]["root"]``, ``config.get("engine", {}).get("mode")``. Sections no
dataclass describes (and keys a section does not type) stay reachable as mappings.

Settings are picklable (they go to worker processes and Spark executors); the storage
object cached on them (``lake.storage.of``) is not pickled, so a new process builds its own
clients.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar


@dataclasses.dataclass(frozen=True)
class Section(Mapping):
    """A configuration section: typed attributes, plus mapping access to the raw values."""

    raw: Mapping = dataclasses.field(default_factory=dict, repr=False, compare=False)

    def __getitem__(self, key: str) -> Any:
        return self.raw[key]

    def __iter__(self):
        return iter(self.raw)

    def __len__(self) -> int:
        return len(self.raw)

    __eq__ = Mapping.__eq__
    __hash__ = None  # a mapping (compares by content)

    @classmethod
    def parse(cls, raw: Mapping | None):
        raw = dict(raw or {})
        values = {}
        for f in dataclasses.fields(cls):
            if f.name == "raw":
                continue
            default = (f.default if f.default is not dataclasses.MISSING
                       else f.default_factory())  # type: ignore[misc]
            values[f.name] = (_coerce(f.type, raw[f.name], default) if f.name in raw
                              else default)
        return cls(raw=raw, **values)


def _coerce(kind: str, value, default):
    """A raw value as its annotated type, read as the code always read these keys:
    ``int(value or default)``, ``float(value)`` unless null, ``bool(value)``, and a null
    string means the default."""
    if kind == "bool":
        return bool(value)
    if kind == "int":
        return int(value or default)
    if kind == "float":
        return default if value is None else float(value)
    return default if value is None else value


@dataclasses.dataclass(frozen=True)
class LakeSettings(Section):
    root: str = "var/lake"


@dataclasses.dataclass(frozen=True)
class EngineSettings(Section):
    mode: str = "auto"
    remote: str | None = None
    memory_limit: Any = 0
    spill_dir: str | None = None
    session_timeout: int = 86400
    spark_conf: Mapping = dataclasses.field(default_factory=dict)
    # Where per-item Python work runs (lake.engine.batches): auto = a process pool beside
    # the embedded engine, the engine's executors on any other; "pool" or "executors" pins it.
    python_work: str = "auto"


@dataclasses.dataclass(frozen=True)
class IngestSettings(Section):
    workers: int = 0
    chunk_alerts: int = 1000
    keep_raw_avro: bool = True


@dataclasses.dataclass(frozen=True)
class ObjectStoreSettings(Section):
    endpoint: str | None = None
    region: str = "us-east-1"
    # Where S3 credentials come from: "environment" (AWS_ACCESS_KEY_ID, ... only; without
    # them requests go unsigned) or "profile" (the AWS SDK's chain: ~/.aws files, the
    # named ``profile``, instance roles).
    credentials: str = "environment"
    profile: str | None = None

    CREDENTIAL_SOURCES: ClassVar[tuple[str, ...]] = ("environment", "profile")

    def __post_init__(self):
        if self.credentials not in self.CREDENTIAL_SOURCES:
            raise ValueError(f"object_store.credentials must be one of "
                             f"{', '.join(self.CREDENTIAL_SOURCES)}, got {self.credentials!r}")


@dataclasses.dataclass(frozen=True)
class PublishSettings(Section):
    root: str | None = None
    rows_per_file: int = 1_000_000


@dataclasses.dataclass(frozen=True)
class QualitySettings(Section):
    night_margin_days: float = 0.25


@dataclasses.dataclass(frozen=True)
class ModelsSettings(Section):
    lc_dir: str = "var/models/lc_classifier"
    stamp_dir: str = "var/models/stamp_classifier"


@dataclasses.dataclass(frozen=True)
class Settings(Mapping):
    """The whole configuration: one typed section per known key, mapping access to all."""

    SECTIONS: ClassVar[dict[str, type[Section]]] = {
        "lake": LakeSettings, "engine": EngineSettings, "ingest": IngestSettings,
        "object_store": ObjectStoreSettings, "publish": PublishSettings,
        "quality": QualitySettings, "models": ModelsSettings,
    }

    lake: LakeSettings
    engine: EngineSettings
    ingest: IngestSettings
    object_store: ObjectStoreSettings
    publish: PublishSettings
    quality: QualitySettings
    models: ModelsSettings
    env: str = "default"
    raw: Mapping = dataclasses.field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def parse(cls, raw: Mapping) -> "Settings":
        raw = dict(raw)
        sections = {name: kind.parse(raw.get(name)) for name, kind in cls.SECTIONS.items()}
        # Known sections present in the configuration read back as their typed view.
        view = {name: sections[name] if name in sections else value
                for name, value in raw.items()}
        return cls(env=str(raw.get("env") or "default"), raw=view, **sections)

    def __getitem__(self, key: str) -> Any:
        return self.raw[key]

    def __iter__(self):
        return iter(self.raw)

    def __len__(self) -> int:
        return len(self.raw)

    def get(self, key, default=None):
        return self.raw.get(key, default)

    __eq__ = Mapping.__eq__
    __hash__ = None

    def to_dict(self) -> dict:
        """A plain nested dict (for printing, or code that wants to change a copy)."""
        return {name: dict(value) if isinstance(value, Section) else value
                for name, value in self.raw.items()}

    def __getstate__(self):
        # the cached storage object (clients, filesystems) stays in the process that built it
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_cache")}

    def __setstate__(self, state):
        self.__dict__.update(state)

    def cached(self, name: str, build):
        """A per-settings-object cache (the storage object): built on first use, kept for
        the life of this object in this process, never pickled."""
        key = f"_cache_{name}"
        value = self.__dict__.get(key)
        if value is None:
            value = build()
            object.__setattr__(self, key, value)
        return value


def of(config: Mapping) -> Settings:
    """Typed settings of a configuration: the object itself when it already is one."""
    return config if isinstance(config, Settings) else Settings.parse(config)
