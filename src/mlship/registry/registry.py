"""The model registry: register, resolve, alias, archive, load, and the ledger of every change."""

from __future__ import annotations

import difflib
import logging
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from mlship.config import StoreSettings, actor_from_env
from mlship.errors import Conflict, ModelNotFound, VersionNotFound
from mlship.registry.artifacts import ArtifactStore
from mlship.registry.loader import ModelLoader
from mlship.registry.model_version import CheckRun, Event, ModelSummary, ModelVersion
from mlship.registry.reference import ModelRef, validate_alias, validate_model_name
from mlship.registry.rows import to_check_run, to_event, to_version
from mlship.store import Store, as_utc, open_store, utcnow
from mlship.store.schema import aliases, check_runs, events, model_versions, models

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy.engine import Connection

    from mlship.registry.formats import FormatRegistry
    from mlship.registry.loaded_model import LoadedModel

log = logging.getLogger(__name__)


class Registry:
    """Models, versions, aliases and the ledger, on one store and one artifact store.

    >>> reg = Registry.open(StoreSettings.from_env({"MLSHIP_HOME": tempfile.mkdtemp()}))
    >>> reg.list_models()
    []
    """

    def __init__(
        self,
        store: Store,
        artifacts: ArtifactStore,
        *,
        formats: FormatRegistry | None = None,
        cache_dir: Path | None = None,
        actor: str = "unknown",
    ) -> None:
        self._store = store
        self._artifacts = artifacts
        self._formats = formats
        self._cache_dir = cache_dir
        self._actor = actor
        self._loader = ModelLoader(artifacts, lambda: self.formats, cache_dir)

    @classmethod
    def open(cls, settings: StoreSettings, *, environ: Mapping[str, str] | None = None) -> Registry:
        """Open (and migrate) the store and artifact store that ``settings`` name."""
        store = open_store(settings.db_url)
        artifacts = ArtifactStore(settings.artifacts, s3_endpoint_url=settings.s3_endpoint_url)
        return cls(
            store, artifacts, cache_dir=settings.home / "cache", actor=actor_from_env(environ)
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Registry:
        """A registry configured by ``MLSHIP_*`` environment variables."""
        return cls.open(StoreSettings.from_env(environ), environ=environ)

    @property
    def store(self) -> Store:
        return self._store

    @property
    def actor(self) -> str:
        """Who acts, as written in the ledger."""
        return self._actor

    @property
    def artifacts(self) -> ArtifactStore:
        return self._artifacts

    @property
    def formats(self) -> FormatRegistry:
        if self._formats is None:
            from mlship.registry.formats import default_formats

            self._formats = default_formats()
        return self._formats

    def close(self) -> None:
        self._store.close()

    # ----------------------------------------------------------------------------- registration

    def register(
        self,
        model_or_path: Any,
        name: str,
        *,
        train_data: pd.DataFrame | str | Path | None = None,
        label: str | None = None,
        metrics: Mapping[str, float] | None = None,
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, str] | None = None,
        description: str | None = None,
        format: str | None = None,
        trusted: bool = False,
        parent: int | None = None,
        reason: str | None = None,
        provenance_tags: Mapping[str, str] | None = None,
    ) -> ModelVersion:
        """Register a new version of ``name`` and return it.

        ``model_or_path`` is a fitted model object or the path of a saved model (``.skops``,
        ``.joblib``/``.pkl`` with ``trusted=True``, ``.onnx``, an MLflow model folder). With
        ``train_data`` the signature's dtypes, the data profile and its fingerprint are recorded.
        ``tags`` may not start with ``mlship.``: that prefix is for ``provenance_tags``, the tags
        mlship writes itself (``mlship run``'s recipe), set once at registration, never changed.
        The ``registered`` event records what loading the artifact trusts (pickle, skops types).
        """
        from mlship.registry import registration

        validate_model_name(name)
        prepared = registration.prepare_version(
            model_or_path,
            formats=self.formats,
            train_data=train_data,
            label=label,
            metrics=metrics,
            params=params,
            tags=tags,
            format=format,
            trusted=trusted,
            artifacts=self._artifacts,
            provenance_tags=provenance_tags,
        )
        with self._store.write() as conn:
            model_id = self._ensure_model(conn, name)
            version = conn.execute(
                sa.update(models)
                .where(models.c.id == model_id)
                .values(last_version=models.c.last_version + 1)
                .returning(models.c.last_version)
            ).scalar_one()
            if parent is None:
                parent = self._latest_version(conn, model_id, below=version)
            now = utcnow()
            conn.execute(
                sa.insert(model_versions).values(
                    model_id=model_id,
                    version=version,
                    created_at=now,
                    status="active",
                    description=description,
                    parent_version=parent,
                    **prepared.columns,
                )
            )
            self._record(
                conn,
                name,
                version,
                "registered",
                reason,
                {
                    "format": prepared.columns["format"],
                    "sha256": prepared.columns["artifact_sha256"],
                    # Whoever can write the database can mark an artifact trusted: the ledger
                    # keeps what it was at registration.
                    **registration.artifact_trust(prepared.columns["load_spec"]),
                },
            )
        log.info("Registered %s@%d", name, version)
        return self.get(f"{name}@{version}")

    def _ensure_model(self, conn: Connection, name: str) -> int:
        insert: Any
        if self._store.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        conn.execute(
            insert(models)
            .values(name=name, created_at=utcnow(), last_version=0)
            .on_conflict_do_nothing(index_elements=["name"])
        )
        return int(conn.execute(sa.select(models.c.id).where(models.c.name == name)).scalar_one())

    @staticmethod
    def _latest_version(conn: Connection, model_id: int, *, below: int) -> int | None:
        return conn.execute(
            sa.select(sa.func.max(model_versions.c.version)).where(
                model_versions.c.model_id == model_id,
                model_versions.c.version < below,
                model_versions.c.status == "active",
            )
        ).scalar()

    def _record(
        self,
        conn: Connection,
        model: str,
        version: int | None,
        kind: str,
        reason: str | None,
        details: dict[str, Any],
    ) -> None:
        conn.execute(
            sa.insert(events).values(
                at=utcnow(),
                model=model,
                version=version,
                kind=kind,
                actor=self._actor,
                reason=reason,
                details=details,
            )
        )

    # ----------------------------------------------------------------------------- reading

    def resolve(self, ref: str | ModelRef) -> tuple[str, int]:
        """``(name, version)`` for ``fraud``, ``fraud@4``, ``fraud@latest`` or ``fraud@prod``."""
        parsed = ModelRef.parse(ref) if isinstance(ref, str) else ref
        with self._store.read() as conn:
            return parsed.name, self._resolve(conn, parsed)

    def _resolve(self, conn: Connection, ref: ModelRef) -> int:
        if ref.alias is not None:
            # The hot path (serving, load by alias): one query when the alias exists.
            found = conn.execute(
                sa.select(aliases.c.version)
                .join(models, models.c.id == aliases.c.model_id)
                .where(models.c.name == ref.name, aliases.c.alias == ref.alias)
            ).scalar()
            if found is not None:
                return int(found)
        model_id = self._model_id(conn, ref.name)
        if ref.alias is not None:
            version = conn.execute(
                sa.select(aliases.c.version).where(
                    aliases.c.model_id == model_id, aliases.c.alias == ref.alias
                )
            ).scalar()
            if version is None:
                known = (
                    conn.execute(sa.select(aliases.c.alias).where(aliases.c.model_id == model_id))
                    .scalars()
                    .all()
                )
                raise VersionNotFound(
                    f"Model {ref.name!r} has no alias {ref.alias!r}."
                    + _suggest(ref.alias, list(known), "aliases")
                    + f" Set one with: mlship models alias {ref.name}@VERSION {ref.alias}"
                )
            return int(version)
        if ref.version is not None:
            exists = conn.execute(
                sa.select(model_versions.c.version).where(
                    model_versions.c.model_id == model_id, model_versions.c.version == ref.version
                )
            ).scalar()
            if exists is None:
                latest = self._latest_version(conn, model_id, below=2**31 - 1)
                raise VersionNotFound(
                    f"Model {ref.name!r} has no version {ref.version}"
                    + (f"; its latest version is {latest}." if latest else ".")
                )
            return ref.version
        latest = self._latest_version(conn, model_id, below=2**31 - 1)
        if latest is None:
            raise VersionNotFound(f"Model {ref.name!r} has no active versions.")
        return int(latest)

    def _model_id(self, conn: Connection, name: str) -> int:
        model_id = conn.execute(sa.select(models.c.id).where(models.c.name == name)).scalar()
        if model_id is None:
            names = conn.execute(sa.select(models.c.name)).scalars().all()
            raise ModelNotFound(
                f"No model named {name!r}."
                + _suggest(name, list(names), "models")
                + " List models with: mlship models list"
            )
        return int(model_id)

    def get(self, ref: str | ModelRef) -> ModelVersion:
        """The version that ``ref`` names, with its aliases."""
        parsed = ModelRef.parse(ref) if isinstance(ref, str) else ref
        with self._store.read() as conn:
            version = self._resolve(conn, parsed)
            return self._versions(conn, parsed.name, version=version)[0]

    def list_versions(self, name: str, *, include_archived: bool = True) -> list[ModelVersion]:
        """Every version of ``name``, newest first."""
        with self._store.read() as conn:
            self._model_id(conn, name)
            found = self._versions(conn, name)
        return [v for v in found if include_archived or v.status == "active"]

    def _versions(
        self, conn: Connection, name: str, *, version: int | None = None
    ) -> list[ModelVersion]:
        query = (
            sa.select(model_versions, models.c.name)
            .join(models, models.c.id == model_versions.c.model_id)
            .where(models.c.name == name)
            .order_by(model_versions.c.version.desc())
        )
        alias_query = (
            sa.select(aliases.c.alias, aliases.c.version)
            .join(models, models.c.id == aliases.c.model_id)
            .where(models.c.name == name)
            .order_by(aliases.c.alias)
        )
        if version is not None:
            query = query.where(model_versions.c.version == version)
            alias_query = alias_query.where(aliases.c.version == version)
        by_version: dict[int, list[str]] = {}
        for alias, v in conn.execute(alias_query):
            by_version.setdefault(v, []).append(alias)
        gate_query = (
            sa.select(check_runs.c.version, check_runs.c.passed)
            .join(models, models.c.id == check_runs.c.model_id)
            .where(models.c.name == name, check_runs.c.kind == "gate")
            .order_by(check_runs.c.id)
        )
        if version is not None:
            gate_query = gate_query.where(check_runs.c.version == version)
        blessed = {int(v): bool(p) for v, p in conn.execute(gate_query)}  # the last run wins
        return [
            to_version(
                row._mapping, tuple(by_version.get(row.version, ())), blessed.get(row.version)
            )
            for row in conn.execute(query)
        ]

    def list_models(self) -> list[ModelSummary]:
        """One summary per model, by name."""
        with self._store.read() as conn:
            counts = conn.execute(
                sa.select(
                    models.c.name,
                    models.c.last_version,
                    sa.func.count(model_versions.c.id),
                    sa.func.max(model_versions.c.created_at),
                )
                .join(model_versions, model_versions.c.model_id == models.c.id)
                .group_by(models.c.id, models.c.name, models.c.last_version)
                .order_by(models.c.name)
            ).all()
            alias_rows = conn.execute(
                sa.select(models.c.name, aliases.c.alias, aliases.c.version).join(
                    models, models.c.id == aliases.c.model_id
                )
            ).all()
        by_model: dict[str, dict[str, int]] = {}
        for name, alias, version in alias_rows:
            by_model.setdefault(name, {})[alias] = version
        return [
            ModelSummary(
                name=name,
                latest_version=last,
                versions=count,
                aliases=dict(sorted(by_model.get(name, {}).items())),
                updated_at=as_utc(updated),
            )
            for name, last, count, updated in counts
        ]

    # ----------------------------------------------------------------------------- changes

    def set_alias(
        self, ref: str | ModelRef, alias: str, *, reason: str | None = None
    ) -> ModelVersion:
        """Point ``alias`` at the version ``ref`` names (moving it if it pointed elsewhere)."""
        validate_alias(alias)
        parsed = ModelRef.parse(ref) if isinstance(ref, str) else ref
        with self._store.write() as conn:
            version = self._resolve(conn, parsed)
            model_id = self._model_id(conn, parsed.name)
            status = conn.execute(
                sa.select(model_versions.c.status).where(
                    model_versions.c.model_id == model_id, model_versions.c.version == version
                )
            ).scalar_one()
            if status != "active":
                raise Conflict(
                    f"{parsed.name}@{version} is archived; an alias cannot point at it. "
                    "Choose an active version."
                )
            previous = conn.execute(
                sa.select(aliases.c.version).where(
                    aliases.c.model_id == model_id, aliases.c.alias == alias
                )
            ).scalar()
            if previous == version:
                return self._versions(conn, parsed.name, version=version)[0]
            if previous is None:
                conn.execute(
                    sa.insert(aliases).values(
                        model_id=model_id, alias=alias, version=version, updated_at=utcnow()
                    )
                )
            else:
                conn.execute(
                    sa.update(aliases)
                    .where(aliases.c.model_id == model_id, aliases.c.alias == alias)
                    .values(version=version, updated_at=utcnow())
                )
            self._record(
                conn,
                parsed.name,
                version,
                "alias_set",
                reason,
                {"alias": alias, "previous_version": previous},
            )
            return self._versions(conn, parsed.name, version=version)[0]

    def delete_alias(self, name: str, alias: str, *, reason: str | None = None) -> int:
        """Remove ``alias`` from model ``name``; returns the version it pointed at."""
        with self._store.write() as conn:
            model_id = self._model_id(conn, name)
            version = self._resolve(conn, ModelRef(name=name, alias=alias))
            conn.execute(
                sa.delete(aliases).where(aliases.c.model_id == model_id, aliases.c.alias == alias)
            )
            self._record(conn, name, version, "alias_deleted", reason, {"alias": alias})
            return version

    def archive(self, ref: str | ModelRef, *, reason: str | None = None) -> ModelVersion:
        """Archive a version: it stays in the history and keeps its number, but is no longer
        ``latest``. Refused while an alias points at it."""
        parsed = ModelRef.parse(ref) if isinstance(ref, str) else ref
        with self._store.write() as conn:
            version = self._resolve(conn, parsed)
            model_id = self._model_id(conn, parsed.name)
            held = (
                conn.execute(
                    sa.select(aliases.c.alias).where(
                        aliases.c.model_id == model_id, aliases.c.version == version
                    )
                )
                .scalars()
                .all()
            )
            if held:
                raise Conflict(
                    f"{parsed.name}@{version} carries the alias(es) {', '.join(held)}; move or "
                    "delete them first (mlship models alias NAME@VERSION ALIAS [--delete])."
                )
            conn.execute(
                sa.update(model_versions)
                .where(model_versions.c.model_id == model_id, model_versions.c.version == version)
                .values(status="archived")
            )
            self._record(conn, parsed.name, version, "archived", reason, {})
            return self._versions(conn, parsed.name, version=version)[0]

    def update(
        self,
        ref: str | ModelRef,
        *,
        tags: Mapping[str, str | None] | None = None,
        description: str | None = None,
        reason: str | None = None,
    ) -> ModelVersion:
        """Change tags (a None value deletes the tag) or the description of a version.

        Tags starting with ``mlship.`` (mlship's own provenance) cannot be set or deleted.
        """
        from mlship.registry.registration import change_tags

        parsed = ModelRef.parse(ref) if isinstance(ref, str) else ref
        with self._store.write() as conn:
            version = self._resolve(conn, parsed)
            current = self._versions(conn, parsed.name, version=version)[0]
            values: dict[str, Any] = {}
            if tags:
                values["tags"] = change_tags(current.tags, tags)
            if description is not None:
                values["description"] = description
            if not values:
                return current
            model_id = self._model_id(conn, parsed.name)
            conn.execute(
                sa.update(model_versions)
                .where(model_versions.c.model_id == model_id, model_versions.c.version == version)
                .values(**values)
            )
            self._record(conn, parsed.name, version, "updated", reason, {"changed": sorted(values)})
            return self._versions(conn, parsed.name, version=version)[0]

    # ----------------------------------------------------------------------------- check runs

    def record_check_run(
        self,
        ref: str | ModelRef,
        *,
        kind: str,
        passed: bool,
        report: dict[str, Any],
        baseline: str | None = None,
        data_fingerprint: str | None = None,
        reason: str | None = None,
    ) -> CheckRun:
        """Store a check or gate run on a version; a gate run decides whether it is blessed."""
        parsed = ModelRef.parse(ref) if isinstance(ref, str) else ref
        with self._store.write() as conn:
            version = self._resolve(conn, parsed)
            model_id = self._model_id(conn, parsed.name)
            run_id = conn.execute(
                sa.insert(check_runs)
                .values(
                    model_id=model_id,
                    version=version,
                    kind=kind,
                    passed=passed,
                    baseline=baseline,
                    data_fingerprint=data_fingerprint,
                    created_at=utcnow(),
                    report=report,
                )
                .returning(check_runs.c.id)
            ).scalar_one()
            self._record(
                conn,
                parsed.name,
                version,
                f"{kind}_{'passed' if passed else 'failed'}",
                reason,
                {"run_id": run_id, "baseline": baseline},
            )
            row = conn.execute(sa.select(check_runs).where(check_runs.c.id == run_id)).one()
            return to_check_run(row._mapping, parsed.name)

    def check_runs(self, ref: str | ModelRef, *, kind: str | None = None) -> list[CheckRun]:
        """The check/gate runs of a version, newest first."""
        parsed = ModelRef.parse(ref) if isinstance(ref, str) else ref
        with self._store.read() as conn:
            version = self._resolve(conn, parsed)
            model_id = self._model_id(conn, parsed.name)
            query = (
                sa.select(check_runs)
                .where(check_runs.c.model_id == model_id, check_runs.c.version == version)
                .order_by(check_runs.c.id.desc())
            )
            if kind is not None:
                query = query.where(check_runs.c.kind == kind)
            return [to_check_run(r._mapping, parsed.name) for r in conn.execute(query)]

    def record_event(
        self,
        name: str,
        kind: str,
        *,
        version: int | None = None,
        reason: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        """Append an event to the ledger of model ``name`` (used by other subsystems)."""
        with self._store.write() as conn:
            self._model_id(conn, name)
            self._record(conn, name, version, kind, reason, details or {})

    # ----------------------------------------------------------------------------- ledger

    def history(self, name: str) -> list[Event]:
        """Every event of model ``name``, oldest first."""
        with self._store.read() as conn:
            self._model_id(conn, name)
            rows = conn.execute(
                sa.select(events).where(events.c.model == name).order_by(events.c.id)
            ).all()
        return [to_event(r._mapping) for r in rows]

    def alias_at(self, name: str, alias: str, when: datetime) -> int | None:
        """The version ``alias`` pointed at, at time ``when`` (None: it pointed nowhere)."""
        when = as_utc(when)
        last: int | None = None
        for event in self.history(name):
            if event.at > when:
                break
            if event.details.get("alias") != alias:
                continue
            if event.kind == "alias_set":
                last = event.version
            elif event.kind == "alias_deleted":
                last = None
        return last

    # ----------------------------------------------------------------------------- loading

    def evict(self, name: str, version: int) -> None:
        """Drop ``name@version`` from this registry's cache of loaded models."""
        self._loader.evict(name, version)

    def load(self, ref: str | ModelRef) -> LoadedModel:
        """Load the version ``ref`` names; its artifact's SHA-256 is verified before loading.

        Loaded models are cached per registry by artifact hash: a second load costs one lookup.
        """
        parsed = ModelRef.parse(ref) if isinstance(ref, str) else ref
        name, version = self.resolve(parsed)
        cached = self._loader.cached(name, version)
        if cached is not None:
            return cached
        return self._loader.load(self.get(ModelRef(name=name, version=version)))


def _suggest(name: str, candidates: list[str], what: str) -> str:
    close = difflib.get_close_matches(name, candidates, n=3, cutoff=0.5)
    if close:
        return f" Did you mean: {', '.join(close)}?"
    if candidates:
        shown = sorted(candidates)[:10]
        return f" Known {what}: {', '.join(shown)}{' ...' if len(candidates) > 10 else ''}."
    return ""
