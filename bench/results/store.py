"""The result store: runs, measurements and raw samples, through SQLAlchemy Core.

SQLite (WAL, busy timeout) by default at ``results/bench.sqlite``; any SQLAlchemy URL (e.g.
``postgresql://...``) points it elsewhere. ``--store PATH|URL`` on every command that reads or
writes results, or the ``BENCH_STORE`` environment variable, chooses it. Each measurement is
committed in its own transaction together with its samples, so an interrupted suite keeps every
measurement that finished, and two processes writing to one store lose nothing.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event

from bench.errors import BenchError
from bench.paths import results_dir

SCHEMA_VERSION = 2
# version -> statements that bring a store of the previous version to it
MIGRATIONS = {
    2: ["ALTER TABLE measurements ADD COLUMN source JSON"],  # how a measurement was obtained
}

metadata = sa.MetaData()

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("run_id", sa.String(32), primary_key=True),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("finished_at", sa.String(40)),
    sa.Column("status", sa.String(16), nullable=False),  # running | finished | interrupted | device-lost
    sa.Column("device", sa.String(200), nullable=False),
    sa.Column("git_commit", sa.String(64)),
    sa.Column("environment", sa.JSON, nullable=False),
    sa.Column("plan", sa.JSON, nullable=False),
    sa.Column("argv", sa.Text),
)

MEASUREMENT_STATS = (
    "n_samples",
    "median_ms",
    "mean_ms",
    "p90_ms",
    "p99_ms",
    "std_ms",
    "cv",
    "min_ms",
    "max_ms",
    "median_ci_low_ms",
    "median_ci_high_ms",
)

measurements = sa.Table(
    "measurements",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.run_id"), nullable=False, index=True),
    sa.Column("model", sa.String(200), nullable=False),
    sa.Column("format", sa.String(20), nullable=False),
    sa.Column("precision", sa.String(10), nullable=False),
    sa.Column("runtime", sa.String(40), nullable=False),
    sa.Column("device", sa.String(200), nullable=False),
    sa.Column("threads", sa.Integer, nullable=False),
    sa.Column("repeat", sa.Integer, nullable=False, default=0),
    sa.Column("settings", sa.JSON, nullable=False),
    sa.Column("status", sa.String(10), nullable=False),  # ok | failed
    sa.Column("error", sa.Text),
    sa.Column("n_samples", sa.Integer),
    *(sa.Column(name, sa.Float) for name in MEASUREMENT_STATS[1:]),
    sa.Column("init_ms", sa.Float),
    sa.Column("first_ms", sa.Float),
    sa.Column("peak_memory_mb", sa.Float),
    sa.Column("macs", sa.BigInteger),
    sa.Column("gflops_per_s", sa.Float),
    sa.Column("energy_mj_per_inference", sa.Float),
    sa.Column("energy_note", sa.Text),
    sa.Column("energy", sa.JSON),
    sa.Column("thermal", sa.JSON),
    sa.Column("runtime_versions", sa.JSON),
    sa.Column("artifact_sha256", sa.String(64)),
    sa.Column("source", sa.JSON),  # agent | native tool | ingested file, and what it did (not) report
    sa.Column("started_at", sa.Float),  # wall clock, seconds since the epoch
    sa.Column("ended_at", sa.Float),
    sa.Column("created_at", sa.String(40), nullable=False),
)

samples = sa.Table(
    "samples",
    metadata,
    sa.Column("measurement_id", sa.Integer, sa.ForeignKey("measurements.id"), primary_key=True),
    sa.Column("samples_ms", sa.JSON, nullable=False),  # every per-inference latency, in order
)

schema_info = sa.Table(
    "schema_info",
    metadata,
    sa.Column("key", sa.String(40), primary_key=True),
    sa.Column("value", sa.String(200), nullable=False),
)

CELL_KEY = ("model", "format", "precision", "runtime", "device", "threads", "repeat")


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def configured_store() -> str | None:
    """``store = "..."`` from the config file (``$BENCH_CONFIG``, default ``~/.config/bench/config.toml``)."""
    import tomllib

    path = Path(os.environ.get("BENCH_CONFIG", "~/.config/bench/config.toml")).expanduser()
    if not path.is_file():
        return None
    try:
        value = tomllib.loads(path.read_text()).get("store")
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise BenchError(f"cannot read {path}: {exc}") from None
    if value is not None and not isinstance(value, str):
        raise BenchError(f"{path}: 'store' must be a path or a SQLAlchemy URL string")
    return value


def store_url(store: str | None = None) -> str:
    """``--store``, else ``$BENCH_STORE``, else the config file's ``store``, else ``results/bench.sqlite``;
    a path becomes a SQLite URL, e.g. ``postgresql://user@host/db`` is used as it is."""
    value = store or os.environ.get("BENCH_STORE") or configured_store() or str(results_dir() / "bench.sqlite")
    if "://" in value:
        return value
    path = Path(value).expanduser()
    if path.is_dir():
        raise BenchError(f"--store {value} is a directory; give a file path or a SQLAlchemy URL")
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path.resolve()}"


class Store:
    def __init__(self, store: str | None = None):
        self.url = store_url(store)
        try:
            self.engine = sa.create_engine(self.url)
        except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ValueError) as exc:
            raise BenchError(f"bad store URL '{self.url}': {exc}") from None
        except ImportError as exc:  # the database's driver is not installed
            from bench.errors import MissingBackendError

            if self.url.startswith("postgresql"):
                raise MissingBackendError("a PostgreSQL store", "postgres", "psycopg") from None
            raise BenchError(f"store URL '{self.url}' needs a driver that is not installed: {exc}") from None
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._prepare_schema()

    def _prepare_schema(self) -> None:
        """Create the tables and record the schema version; safe when several processes start at once.

        Two processes opening a new SQLite file can both decide a table is missing; the loser
        sees "already exists" (or a duplicate schema row) and simply tries again.
        """
        for attempt in range(20):
            try:
                metadata.create_all(self.engine)
                with self.engine.begin() as conn:
                    row = conn.execute(
                        sa.select(schema_info.c.value).where(schema_info.c.key == "schema_version")
                    ).first()
                    if row is None:
                        conn.execute(schema_info.insert().values(key="schema_version", value=str(SCHEMA_VERSION)))
                    elif int(row.value) > SCHEMA_VERSION:
                        raise BenchError(
                            f"store {self.url} has schema {row.value}, newer than this bench "
                            f"({SCHEMA_VERSION}); upgrade bench"
                        )
                    elif int(row.value) < SCHEMA_VERSION:
                        self._migrate(conn, int(row.value))
                return
            except (sa.exc.OperationalError, sa.exc.IntegrityError, sa.exc.ProgrammingError) as exc:
                racing = isinstance(exc, sa.exc.IntegrityError) or any(
                    word in str(exc).lower() for word in ("already exists", "locked", "duplicate")
                )
                if racing and attempt < 19:
                    time.sleep(0.05 * (attempt + 1))
                    continue
                raise BenchError(f"cannot open store {self.url}: {str(exc.orig).splitlines()[0]}") from None
            except sa.exc.DBAPIError as exc:  # unreachable server, not a database file, ...
                raise BenchError(f"cannot open store {self.url}: {str(exc.orig).splitlines()[0]}") from None

    @staticmethod
    def _migrate(conn, version: int) -> None:
        """Upgrade an older store in place, one version at a time, in the caller's transaction."""
        columns = {c["name"] for c in sa.inspect(conn).get_columns("measurements")}
        for target in range(version + 1, SCHEMA_VERSION + 1):
            for statement in MIGRATIONS[target]:
                added = statement.split("ADD COLUMN ", 1)[-1].split()[0] if "ADD COLUMN" in statement else None
                if added is None or added not in columns:  # a racing process may have added it already
                    conn.execute(sa.text(statement))
        conn.execute(
            schema_info.update().where(schema_info.c.key == "schema_version").values(value=str(SCHEMA_VERSION))
        )

    # --- runs ---------------------------------------------------------------------------------

    def start_run(self, device: str, environment: dict, plan: list[dict], argv: str = "") -> str:
        run_id = uuid.uuid4().hex[:12]
        with self.engine.begin() as conn:
            conn.execute(
                runs.insert().values(
                    run_id=run_id,
                    created_at=now_iso(),
                    status="running",
                    device=device,
                    git_commit=environment.get("git_commit"),
                    environment=environment,
                    plan=plan,
                    argv=argv,
                )
            )
        return run_id

    def finish_run(self, run_id: str, status: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(runs.update().where(runs.c.run_id == run_id).values(status=status, finished_at=now_iso()))

    def resumable_run(self, device: str) -> dict | None:
        """The latest run on ``device`` that did not finish, with its plan."""
        with self.engine.connect() as conn:
            row = (
                conn.execute(
                    sa.select(runs)
                    .where(runs.c.device == device, runs.c.status != "finished")
                    .order_by(runs.c.created_at.desc(), runs.c.run_id.desc())
                    .limit(1)
                )
                .mappings()
                .first()
            )
        return dict(row) if row else None

    def done_cells(self, run_id: str) -> set[tuple]:
        """Cells of a run already measured successfully."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(*(measurements.c[k] for k in CELL_KEY)).where(
                    measurements.c.run_id == run_id, measurements.c.status == "ok"
                )
            )
            return {tuple(row) for row in rows}

    def list_runs(self) -> list[dict]:
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(sa.select(runs).order_by(runs.c.created_at)).mappings()]

    # --- measurements -------------------------------------------------------------------------

    def add_measurement(self, row: dict, samples_ms: list[float] | None) -> int:
        """One measurement and its raw samples, in one transaction (retried while the file is locked)."""
        values = {k: v for k, v in row.items() if k in measurements.c}
        values.setdefault("created_at", now_iso())
        for attempt in range(20):
            try:
                with self.engine.begin() as conn:
                    measurement_id = conn.execute(measurements.insert().values(**values)).inserted_primary_key[0]
                    if samples_ms:
                        conn.execute(samples.insert().values(measurement_id=measurement_id, samples_ms=samples_ms))
                return measurement_id
            except sa.exc.OperationalError as exc:
                if "locked" not in str(exc).lower() or attempt == 19:
                    raise
                time.sleep(0.1 * (attempt + 1))
        raise AssertionError("unreachable")

    def measurement_rows(self, run_id: str | None = None) -> list[dict]:
        query = (
            sa.select(measurements, samples.c.samples_ms)
            .select_from(measurements.outerjoin(samples, samples.c.measurement_id == measurements.c.id))
            .order_by(measurements.c.id)
        )
        if run_id is not None:
            query = query.where(measurements.c.run_id == run_id)
        with self.engine.connect() as conn:
            rows = [dict(r) for r in conn.execute(query).mappings()]
        for row in rows:
            if isinstance(row.get("samples_ms"), str):
                row["samples_ms"] = json.loads(row["samples_ms"])
        return rows


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
