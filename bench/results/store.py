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
import re
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy import event

from bench.errors import BenchError, one_line
from bench.measure.measurement import CELL_FIELDS, Cell, Measurement
from bench.measure.stats import STAT_FIELDS
from bench.paths import results_dir

SCHEMA_VERSION = 7
# version -> statements that bring a store of the previous version to it ("CREATE TABLE name": the
# table as declared below)
MIGRATIONS = {
    2: ["ALTER TABLE measurements ADD COLUMN source JSON"],  # how a measurement was obtained
    3: [  # a run's recorded settings (what --resume measures with) and its lease (who measures it now)
        "ALTER TABLE runs ADD COLUMN settings JSON",
        "ALTER TABLE runs ADD COLUMN lease_holder VARCHAR(200)",
        "ALTER TABLE runs ADD COLUMN lease_heartbeat FLOAT",
    ],
    4: [  # measured top-1 of exported artifacts (bench accuracy); precision names as long as int8-static
        "CREATE TABLE accuracy",
        "ALTER TABLE measurements ALTER COLUMN precision TYPE VARCHAR(20)",  # PostgreSQL; SQLite has no lengths
    ],
    5: ["ALTER TABLE measurements ADD COLUMN p95_ms FLOAT"],  # the tail both native tools print (#15)
    6: [  # where the graph ran (#19): every cell measured before ran on the CPU; delegation coverage
        "ALTER TABLE measurements ADD COLUMN accelerator VARCHAR(80) NOT NULL DEFAULT 'cpu'",
        "ALTER TABLE measurements ADD COLUMN coverage FLOAT",
        "ALTER TABLE measurements ADD COLUMN contention JSON",  # what else used the measured CPUs (#20)
    ],
    7: [  # latency prediction (#22): kernel-sweep measurements and predicted latencies beside measured ones
        "ALTER TABLE measurements ADD COLUMN kind VARCHAR(16) NOT NULL DEFAULT 'measured'",
    ],
}
# What a measurement row is: a model measured on a device (everything before #22), one kernel of a
# predictor's sweep (``bench predictor train``), or a latency predicted without the device
# (``bench predict``). Readers of measured results see only ``measured`` rows.
KINDS = ("measured", "kernel", "predicted")

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
    sa.Column("settings", sa.JSON),  # protocol, runtime options and plan options of `bench run`, for --resume
    sa.Column("lease_holder", sa.String(200)),  # "host:pid" of the process measuring the run now, or NULL
    sa.Column("lease_heartbeat", sa.Float),  # when the holder last said it is alive, seconds since the epoch
)

measurements = sa.Table(
    "measurements",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.run_id"), nullable=False, index=True),
    sa.Column("model", sa.String(200), nullable=False),
    sa.Column("format", sa.String(20), nullable=False),
    sa.Column("precision", sa.String(20), nullable=False),
    sa.Column("runtime", sa.String(40), nullable=False),
    sa.Column("accelerator", sa.String(80), nullable=False, default="cpu", server_default="cpu"),
    sa.Column("device", sa.String(200), nullable=False),
    sa.Column("threads", sa.Integer, nullable=False),
    sa.Column("repeat", sa.Integer, nullable=False, default=0),
    sa.Column("kind", sa.String(16), nullable=False, default="measured", server_default="measured"),  # KINDS
    sa.Column("settings", sa.JSON, nullable=False),
    sa.Column("status", sa.String(10), nullable=False),  # ok | failed
    sa.Column("error", sa.Text),
    sa.Column("n_samples", sa.Integer),
    *(sa.Column(name, sa.Float) for name in STAT_FIELDS[1:]),
    sa.Column("init_ms", sa.Float),
    sa.Column("first_ms", sa.Float),
    sa.Column("peak_memory_mb", sa.Float),
    sa.Column("coverage", sa.Float),  # share of nodes the accelerator ran; NULL on the CPU or unknown
    sa.Column("macs", sa.BigInteger),
    sa.Column("gflops_per_s", sa.Float),
    sa.Column("energy_mj_per_inference", sa.Float),
    sa.Column("energy_note", sa.Text),
    sa.Column("energy", sa.JSON),
    sa.Column("thermal", sa.JSON),
    sa.Column("contention", sa.JSON),  # others' and steal shares of the measured CPUs, contended or not
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

accuracy = sa.Table(
    "accuracy",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("model", sa.String(400), nullable=False),  # canonical model reference
    sa.Column("format", sa.String(20), nullable=False),
    sa.Column("precision", sa.String(20), nullable=False),
    sa.Column("artifact_sha256", sa.String(64), index=True),  # the exact file scored; NULL: PyTorch itself
    sa.Column("dataset_fingerprint", sa.String(64), nullable=False),
    sa.Column("dataset", sa.JSON, nullable=False),  # fingerprint, n_images, n_classes, layout, root
    sa.Column("status", sa.String(20), nullable=False),  # ok | accuracy collapse | failed
    sa.Column("error", sa.Text),
    sa.Column("n_images", sa.Integer),
    sa.Column("n_classes", sa.Integer),
    sa.Column("top1", sa.Float),  # fractions in [0, 1]
    sa.Column("top5", sa.Float),
    sa.Column("top1_ci_low", sa.Float),  # 95% Wilson interval of top1
    sa.Column("top1_ci_high", sa.Float),
    sa.Column("agreement", sa.Float),  # share of images with the fp32 PyTorch model's top-1
    sa.Column("mean_kl", sa.Float),  # KL(softmax(PyTorch) || softmax(artifact)), nats
    sa.Column("reference_top1", sa.Float),
    sa.Column("drop_points", sa.Float),
    sa.Column("collapsed", sa.Boolean, nullable=False, default=False),
    sa.Column("skipped", sa.Integer),  # images that could not be decoded
    sa.Column("settings", sa.JSON, nullable=False),  # preprocessing, batch, limit, calibration, max_drop
    sa.Column("created_at", sa.String(40), nullable=False),
)

schema_info = sa.Table(
    "schema_info",
    metadata,
    sa.Column("key", sa.String(40), primary_key=True),
    sa.Column("value", sa.String(200), nullable=False),
)


class NoStoreError(BenchError):
    """A reading command found no store where it was pointed (none is created for it)."""


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
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise BenchError(f"cannot read {path}: {exc}") from None
    if value is not None and not isinstance(value, str):
        raise BenchError(f"{path}: 'store' must be a path or a SQLAlchemy URL string")
    return value


def store_url(store: str | None = None, create: bool = True) -> str:
    """``--store``, else ``$BENCH_STORE``, else the config file's ``store``, else ``results/bench.sqlite``;
    a path becomes a SQLite URL, e.g. ``postgresql://user@host/db`` is used as it is.

    ``create`` False (reading commands): the file must exist, and no folder is made for it.
    Raises BenchError for a folder, a missing file when reading, or a folder that cannot be made."""
    value = store or os.environ.get("BENCH_STORE") or configured_store() or str(results_dir() / "bench.sqlite")
    if "://" in value:
        return value
    path = Path(value).expanduser()
    if path.is_dir():
        raise BenchError(f"--store {value} is a directory; give a file path or a SQLAlchemy URL")
    if not create:
        if not path.is_file():
            raise NoStoreError(f"no store at {value} (`bench run` or `bench ingest` makes one; or pass --store)")
        return f"sqlite:///{path.resolve()}"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BenchError(f"cannot make the folder of --store {value}: {exc.strerror or exc}") from None
    return f"sqlite:///{path.resolve()}"


_URL_PASSWORD = re.compile(r"(://[^/\s:@]*:)[^/\s]*@")  # user:password@ (a password may hold an @)
_QUERY_PASSWORD = re.compile(r"([?&]password=)[^&\s]*", re.IGNORECASE)


def hide_secrets(text: str) -> str:
    """``text`` (a store URL, a command line) with every URL password replaced by ``***``: in the
    user part (``postgresql://u:***@host/db``) and as a ``password=`` query parameter."""
    return _QUERY_PASSWORD.sub(r"\1***", _URL_PASSWORD.sub(r"\1***@", text))


def shown_url(url: str) -> str:
    """``url`` as messages show it (:func:`hide_secrets`)."""
    return hide_secrets(url)


def _read_only_url(url: str) -> str:
    """A SQLite URL opened read-only and immutable when this process may not write the file or its folder
    (a WAL store then cannot make its ``-shm`` file; immutable skips it), else ``url`` itself."""
    if not url.startswith("sqlite:///"):
        return url
    path = Path(url.removeprefix("sqlite:///"))
    if os.access(path, os.W_OK) and os.access(path.parent, os.W_OK):
        return url
    return f"sqlite:///file:{quote(str(path))}?mode=ro&immutable=1&uri=true"


def run_command(settings: dict | str | None) -> str:
    """Which command made a run, from its recorded settings: ``ab`` (``bench ab``), ``predictor``
    (``bench predictor train`` / ``bench predict``) or ``run`` (``bench run``, ``bench ingest``)."""
    if isinstance(settings, str):
        settings = json.loads(settings)
    if not isinstance(settings, dict):
        return "run"
    if "ab" in settings:
        return "ab"
    return "predictor" if {"predictor", "predict"} & set(settings) else "run"


class Store:
    """The result store at a path or SQLAlchemy URL (see :func:`store_url`).

    ``create`` True (commands that write results): a missing store is made. False (commands that
    only read): a missing or empty store is BenchError "no store at ...", nothing is created, and a
    store this process may not write is opened read-only. Either way, a database that holds tables
    of another program, or a bench store of a newer schema, is BenchError before anything is written.
    """

    def __init__(self, store: str | None = None, create: bool = True):
        self.url = store_url(store, create)
        self.shown = shown_url(self.url)  # the URL in messages: never its password
        self.create = create
        self.version = SCHEMA_VERSION  # lower only for a read-only older store, read as it is
        engine_url = self.url if create else _read_only_url(self.url)
        try:
            self.engine = sa.create_engine(engine_url, **_pooling(engine_url))
        except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ValueError) as exc:
            raise BenchError(f"bad store URL '{self.shown}': {exc}") from None
        except ImportError as exc:  # the database's driver is not installed
            from bench.errors import MissingBackendError

            if self.url.startswith("postgresql"):
                raise MissingBackendError("a PostgreSQL store", "postgres", "psycopg") from None
            raise BenchError(f"store URL '{self.shown}' needs a driver that is not installed: {exc}") from None
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._prepare_schema()

    def _schema_version(self, conn) -> int | None:
        """The schema version of the database behind ``conn``: None when it holds no bench store yet
        (no tables, or ours half made by a process creating it right now).

        Raises BenchError, before anything is written, for a store of a newer bench (its version is
        read first: its new tables are not another program's), a database with tables that are not
        ours or ours with columns we do not know (another program's), or a version that is not a
        positive number.
        """
        inspector = sa.inspect(conn)
        tables = set(inspector.get_table_names())
        version = None
        if "schema_info" in tables and not {c["name"] for c in inspector.get_columns("schema_info")} - {"key", "value"}:
            row = conn.execute(sa.select(schema_info.c.value).where(schema_info.c.key == "schema_version")).first()
            if row is not None:
                try:
                    version = int(row.value)
                except ValueError:
                    raise BenchError(
                        f"store {self.shown} records schema version {row.value[:40]!r}, not a number: a damaged store"
                    ) from None
                if version < 1:
                    raise BenchError(f"store {self.shown} records schema version {version}: a damaged store")
                if version > SCHEMA_VERSION:  # its newer tables are not "other tables": say what it is
                    raise BenchError(
                        f"store {self.shown} has schema {version}, newer than this bench ({SCHEMA_VERSION}); "
                        "upgrade bench"
                    )
        if version is not None:  # ours: every table (and, at this version, every column) must be there
            # Tables are made before the version row is written, so list them again now that the row is
            # read: a process creating the store may have finished between the first listing and the row.
            inspector = sa.inspect(conn)
            tables = set(inspector.get_table_names())
            missing = sorted({"runs", "measurements", "samples"} - tables)
            if version == SCHEMA_VERSION:
                missing = sorted(set(metadata.tables) - tables) + [
                    f"{name}.{column}"
                    for name in sorted(set(metadata.tables) & tables)
                    for column in sorted(
                        set(metadata.tables[name].c.keys()) - {c["name"] for c in inspector.get_columns(name)}
                    )
                ]
            if missing:
                raise BenchError(
                    f"store {self.shown} is damaged: schema {version} without {one_line(', '.join(missing), 120)}; "
                    "restore it from a copy or choose another --store"
                )
        foreign = sorted(tables - set(metadata.tables))
        for name in sorted(tables & set(metadata.tables)):
            unknown = {c["name"] for c in inspector.get_columns(name)} - set(metadata.tables[name].c.keys())
            if unknown:
                foreign.append(f"{name} (columns {', '.join(sorted(unknown))})")
        if foreign:
            raise BenchError(
                f"{self.shown} is not a bench store: it holds other tables ({one_line(', '.join(foreign), 200)}); "
                "bench writes only to its own stores, choose another --store"
            )
        return version

    def _prepare_schema(self) -> None:
        """Check what the database holds, then create the tables and record the schema version (only
        with ``create``) or upgrade an older store; safe when several processes start at once.

        Two processes opening a new SQLite file can both decide a table is missing; the loser
        sees "already exists" (or a duplicate schema row) and simply tries again.
        """
        for attempt in range(20):
            try:
                with self.engine.connect() as conn:
                    version = self._schema_version(conn)
                if version is None and not self.create:
                    raise NoStoreError(f"no store at {self.shown}: the database holds no bench results")
                if self.create:
                    if self.engine.dialect.name == "sqlite":  # persistent in the file: readers never block writers
                        with self.engine.connect() as conn:
                            conn.exec_driver_sql("PRAGMA journal_mode=WAL")
                    metadata.create_all(self.engine)
                if version == SCHEMA_VERSION:
                    return
                try:
                    with self.engine.begin() as conn:
                        if version is None:
                            conn.execute(schema_info.insert().values(key="schema_version", value=str(SCHEMA_VERSION)))
                        else:
                            self._migrate(conn, version)
                except sa.exc.OperationalError as exc:
                    if self.create or "readonly" not in str(exc).lower():
                        raise
                    self.version = version  # a read-only older store: read as it is (no accuracy table before 4, ...)
                return
            except (sa.exc.OperationalError, sa.exc.IntegrityError, sa.exc.ProgrammingError) as exc:
                racing = isinstance(exc, sa.exc.IntegrityError) or any(
                    word in str(exc).lower() for word in ("already exists", "locked", "duplicate")
                )
                if racing and attempt < 19:
                    time.sleep(0.05 * (attempt + 1))
                    continue
                raise BenchError(f"cannot open store {self.shown}: {str(exc.orig).splitlines()[0]}") from None
            except sa.exc.DBAPIError as exc:  # unreachable server, not a database file, ...
                raise BenchError(f"cannot open store {self.shown}: {str(exc.orig).splitlines()[0]}") from None

    @staticmethod
    def _migrate(conn, version: int) -> None:
        """Upgrade an older store in place, one version at a time, in the caller's transaction."""
        inspector = sa.inspect(conn)
        for target in range(version + 1, SCHEMA_VERSION + 1):
            for statement in MIGRATIONS[target]:
                words = statement.split()
                if words[:2] == ["CREATE", "TABLE"]:
                    metadata.tables[words[2]].create(conn, checkfirst=True)
                    continue
                if words[3:5] == ["ALTER", "COLUMN"] and conn.dialect.name == "sqlite":
                    continue  # SQLite keeps any length in a VARCHAR column
                if words[:2] == ["ALTER", "TABLE"] and words[3:5] == ["ADD", "COLUMN"]:
                    columns = {c["name"] for c in inspector.get_columns(words[2])}
                    if words[5] in columns:  # a racing process may have added it already
                        continue
                conn.execute(sa.text(statement))
        conn.execute(
            schema_info.update().where(schema_info.c.key == "schema_version").values(value=str(SCHEMA_VERSION))
        )

    # --- runs ---------------------------------------------------------------------------------

    def start_run(
        self,
        device: str,
        environment: dict,
        plan: list[dict],
        argv: str = "",
        settings: dict | None = None,
        holder: str | None = None,
    ) -> str:
        """Record a new run (status ``running``) and return its id.

        ``settings``: what ``bench run --resume`` measures the rest with (protocol, runtime options,
        plan options); ``holder``: the process that measures it, which holds its lease from the start
        (see :mod:`bench.results.lease`), so that no resume can take it over while it runs.
        """
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
                    argv=hide_secrets(argv),  # a --store URL's password is not kept with the run
                    settings=settings,
                    lease_holder=holder,
                    lease_heartbeat=time.time() if holder else None,
                )
            )
        return run_id

    def lease_of(self, run_id: str) -> dict | None:
        """``{"status", "lease_holder", "lease_heartbeat"}`` of a run, or None when there is no such run."""
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(runs.c.status, runs.c.lease_holder, runs.c.lease_heartbeat).where(runs.c.run_id == run_id)
            ).first()
        return dict(row._mapping) if row else None

    def swap_lease(self, run_id: str, expected: dict, holder: str) -> bool:
        """Give the lease of an unfinished run to ``holder`` (heartbeat: now) if it is still as
        ``expected`` (a :meth:`lease_of` answer): a compare-and-swap, so of two processes claiming at
        once exactly one wins. Returns whether this call won."""

        def same(column, value):
            return column.is_(None) if value is None else column == value

        query = (
            runs.update()
            .where(
                runs.c.run_id == run_id,
                runs.c.status != "finished",
                same(runs.c.lease_holder, expected["lease_holder"]),
                same(runs.c.lease_heartbeat, expected["lease_heartbeat"]),
            )
            .values(lease_holder=holder, lease_heartbeat=time.time())
        )
        with self.engine.begin() as conn:
            return conn.execute(query).rowcount == 1

    def renew_lease(self, run_id: str, holder: str) -> bool:
        """Refresh ``holder``'s heartbeat on a run; False when the lease is no longer its own."""
        return self._update_own_lease(run_id, holder, lease_heartbeat=time.time())

    def release_lease(self, run_id: str, holder: str) -> None:
        """Drop ``holder``'s lease on a run (nothing happens when someone else holds it)."""
        self._update_own_lease(run_id, holder, lease_holder=None, lease_heartbeat=None)

    def _update_own_lease(self, run_id: str, holder: str, **values) -> bool:
        """Set ``values`` on the run when ``holder`` holds its lease; True when it did."""
        query = runs.update().where(runs.c.run_id == run_id, runs.c.lease_holder == holder).values(**values)
        with self.engine.begin() as conn:
            return conn.execute(query).rowcount == 1

    def finish_run(self, run_id: str, status: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(runs.update().where(runs.c.run_id == run_id).values(status=status, finished_at=now_iso()))

    def resumable_run(self, device: str, command: str = "run") -> dict | None:
        """The latest run on ``device`` that did not finish and that ``command`` made (``run``: ``bench
        run``; ``ab``: ``bench ab``; ``predictor``: a training or prediction), with its plan and
        settings; None when there is none. ``bench run --resume`` never picks up an A/B run."""
        query = (
            sa.select(runs)
            .where(runs.c.device == device, runs.c.status != "finished")
            .order_by(runs.c.created_at.desc(), runs.c.run_id.desc())
        )
        with self.engine.connect() as conn:
            for row in conn.execute(query).mappings():
                if run_command(row["settings"]) == command:
                    return dict(row)
        return None

    def done_cells(self, run_id: str) -> set[Cell]:
        """Cells of a run already measured successfully (each with its device)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(*(measurements.c[k] for k in CELL_FIELDS)).where(
                    measurements.c.run_id == run_id, measurements.c.status == "ok"
                )
            ).mappings()
            return {Cell.from_row(row) for row in rows}

    def ingested_as(self, content_sha256: str, file_sha256: str | None = None) -> list[str]:
        """The run ids whose measurements were ingested from a log with this content, oldest first;
        empty when none was. ``content_sha256``: ``source.content_sha256``, the digest of the log's
        text as :func:`bench.results.ingest.content_digest` normalises it (its encoding, line ends
        and trailing blanks do not count; the run picked from a file of several does); rows stored
        before that digest existed are matched on ``file_sha256`` (the file's bytes), when given.
        Both are 64-digit hex digests; ValueError otherwise."""
        wanted = [content_sha256, *([file_sha256] if file_sha256 else [])]
        for digest in wanted:
            if not re.fullmatch(r"[0-9a-f]{64}", digest):
                raise ValueError(f"not a sha256 hex digest: {digest[:70]!r}")
        query = (
            sa.select(measurements.c.run_id, measurements.c.source)
            .where(sa.or_(*(sa.cast(measurements.c.source, sa.Text).contains(d) for d in wanted)))
            .order_by(measurements.c.id)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        found = []
        for run_id, source in rows:
            source = json.loads(source) if isinstance(source, str) else source
            if not isinstance(source, dict) or run_id in found:
                continue
            same = (
                source.get("content_sha256") == content_sha256
                if "content_sha256" in source
                else file_sha256 is not None and source.get("file_sha256") == file_sha256
            )
            if same:
                found.append(run_id)
        return found

    def list_runs(self) -> list[dict]:
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(sa.select(runs).order_by(runs.c.created_at)).mappings()]

    # --- measurements -------------------------------------------------------------------------

    def stored(self, measurement: Measurement) -> Measurement:
        """``measurement`` added (:meth:`add_measurement`) and returned as stored: with its ``id``
        and ``created_at`` (what ``--json`` prints is then the row the store holds)."""
        if measurement.created_at is None:
            measurement = replace(measurement, created_at=now_iso())
        return replace(measurement, id=self.add_measurement(measurement))

    def add_measurement(self, measurement: Measurement | dict, samples_ms: list[float] | None = None) -> int:
        """Store one measurement and its raw samples in one transaction (retried while the file is
        locked); returns its id.

        ``measurement``: a :class:`Measurement` (its own samples are stored), or a row dict keyed by
        the store's column names with ``samples_ms`` given separately. Raises ValueError naming any
        key that is not a column, instead of dropping it.
        """
        if isinstance(measurement, Measurement):
            row, samples_ms = measurement.to_row(), measurement.samples_ms
        else:
            row = measurement
            unknown = sorted(set(row) - set(measurements.c.keys()))
            if unknown:
                raise ValueError(
                    f"unknown measurement field(s): {', '.join(unknown)}; the store's columns are "
                    f"{', '.join(measurements.c.keys())} (samples go in the samples_ms argument)"
                )
        values = {k: v for k, v in row.items() if not (k in ("id", "created_at") and v is None)}
        values.setdefault("created_at", now_iso())
        samples_ms = list(samples_ms) if samples_ms else None
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

    def measurement_rows(self, run_id: str | None = None, kind: str = "measured") -> list[dict]:
        """Every measurement row of ``run_id`` (or of every run) of ``kind`` (:data:`KINDS`), oldest
        first, with its ``samples_ms`` (a list, or None). A read-only store of an older schema is read
        as it is: a column it lacks (``p95_ms`` before schema 5) is None in every row, ``accelerator``
        (schema 6) is ``cpu`` and ``kind`` (schema 7) ``measured``."""
        columns = list(measurements.c)
        if self.version < SCHEMA_VERSION:
            with self.engine.connect() as conn:
                present = {c["name"] for c in sa.inspect(conn).get_columns("measurements")}
            columns = [c for c in columns if c.name in present]
        query = (
            sa.select(*columns, samples.c.samples_ms)
            .select_from(measurements.outerjoin(samples, samples.c.measurement_id == measurements.c.id))
            .order_by(measurements.c.id)
        )
        if run_id is not None:
            query = query.where(measurements.c.run_id == run_id)
        if measurements.c.kind in columns:
            query = query.where(measurements.c.kind == kind)
        elif kind != "measured":  # an older read-only store holds measured rows only
            return []
        with self.engine.connect() as conn:
            rows = [dict(r) for r in conn.execute(query).mappings()]
        for row in rows:
            for column in measurements.c.keys() - row.keys():
                row[column] = None
            row["accelerator"] = row["accelerator"] or "cpu"  # a store from before accelerators ran on the CPU
            row["kind"] = row["kind"] or "measured"
            if isinstance(row.get("samples_ms"), str):
                row["samples_ms"] = json.loads(row["samples_ms"])
        return rows

    # --- accuracy -----------------------------------------------------------------------------

    def add_accuracy(self, row: dict) -> int:
        """Store one ``bench accuracy`` row (:meth:`bench.accuracy.evaluate.AccuracyRow.to_dict`);
        returns its id. Keys that are not columns are left out (the derived points, notes)."""
        values = {k: v for k, v in row.items() if k in accuracy.c and k != "id"}
        values["dataset_fingerprint"] = row["dataset"]["fingerprint"]
        values.setdefault("created_at", now_iso())
        with self.engine.begin() as conn:
            return conn.execute(accuracy.insert().values(**values)).inserted_primary_key[0]

    def accuracy_rows(self) -> list[dict]:
        """Every stored accuracy row, oldest first (none in a read-only store older than schema 4)."""
        if self.version < 4:
            return []
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(sa.select(accuracy).order_by(accuracy.c.id)).mappings()]


def _pooling(url: str) -> dict:
    """Engine options for the store at ``url``: a SQLite file is opened per use and closed after it
    (no pool), so nothing holds it between uses: a program that runs several commands in one process
    leaves each store as a finished ``bench`` process does, its write-ahead log folded into the file,
    and a store another process rewrites is never read through a connection opened before. Opening
    a SQLite file and setting its pragmas costs about 0.5 ms here. Other databases keep SQLAlchemy's
    pool; an in-memory SQLite database keeps its one connection (it exists only while that is open)."""
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        return {"poolclass": sa.pool.NullPool}
    return {}


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    """Per connection: wait for writers, and sync less often (safe with WAL). Nothing that changes the
    file: WAL mode is set once the file is known to be a bench store (``Store._prepare_schema``)."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
