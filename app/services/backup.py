"""`flask gallery backup DEST`: the database, then the files its rows point to, then a manifest.

The database comes first and the file list is read from the same snapshot, so every row in the
backup has its file in the backup, even while people upload: a file that lands after the
snapshot belongs to a row the backup does not have, and is not copied. Thumbnails are not copied
(they are re-made from the originals); candidates of generation sessions are, since their rows are
in the database and InvokeAI may no longer have them. manifest.json is written last: a DEST
without one is an unfinished backup.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from flask import current_app
from sqlalchemy import text

from ..errors import GalleryError
from ..extensions import db
from . import storage

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
SQLITE_FILE = "gallery.db"
POSTGRESQL_FILE = "gallery.sql"
# The files a backup needs: every photo's original, every candidate not kept (a kept one is a photo).
FILES_SQL = ("SELECT original_path, sha256 FROM photos UNION ALL "
             "SELECT file_path, sha256 FROM generation_images WHERE file_path IS NOT NULL AND decision <> 'kept'")


class BackupError(GalleryError):
    """The backup cannot be made, with the reason."""


@dataclass
class Backup:
    dest: Path
    database: str  # the file the database went to, under dest
    files: list[dict] = field(default_factory=list)  # the manifest's entries
    warnings: list[str] = field(default_factory=list)

    @property
    def size(self) -> int:
        return sum(entry["size"] for entry in self.files)


def backup(dest: Path, on_start: Callable[[int], None] = lambda total: None,
           on_file: Callable[[], None] = lambda: None) -> Backup:
    """Back the gallery up into `dest`, which must be empty or not exist; on_start(files) then
    on_file() per file drive a progress bar."""
    url = db.engine.url
    backend = url.get_backend_name()
    if backend == "postgresql" and shutil.which("pg_dump") is None:
        raise BackupError("pg_dump is not installed (or not on PATH): install PostgreSQL's client tools, the "
                          "server's major version or newer (Debian: apt-get install postgresql-client).")
    root = storage.photos_root(current_app.config["DATA_DIR"])
    make_empty_dest(dest, root)
    if backend == "sqlite":
        result, rows = Backup(dest, SQLITE_FILE), backup_sqlite(dest / SQLITE_FILE)
    else:
        result, rows = Backup(dest, POSTGRESQL_FILE), backup_postgresql(url, dest / POSTGRESQL_FILE)
    result.files.append(entry(dest, dest / result.database))
    rows = sorted(set(rows))
    on_start(len(rows))
    for relative, expected in rows:
        copy_original(root, dest, relative, expected, result)
        on_file()
    write_manifest(dest, backend, result)
    log.info("backed up the database and %d files to %s", len(result.files) - 1, dest)
    return result


def make_empty_dest(dest: Path, root: Path) -> None:
    if dest.resolve().is_relative_to(root.resolve()):
        raise BackupError(f"{dest} is inside the photos folder: choose a folder outside {root}.")
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise BackupError(f"{dest} is not an empty folder: a backup goes into a new or empty folder.")
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BackupError(f"Cannot make {dest}: {exc.strerror}.") from exc


def backup_sqlite(target: Path) -> list[tuple[str, str | None]]:
    """SQLite's online backup into one self-contained file; the files its rows name."""
    source = db.engine.raw_connection()
    try:
        with closing(sqlite3.connect(target)) as copy:
            source.driver_connection.backup(copy)
            copy.execute("PRAGMA journal_mode=DELETE")  # one file, no -wal beside it
            rows = copy.execute(FILES_SQL).fetchall()
    finally:
        source.close()
    return [tuple(row) for row in rows]


def backup_postgresql(url, target: Path) -> list[tuple[str, str | None]]:
    """pg_dump of the database, and the files its rows name read in the snapshot pg_dump used."""
    libpq_url = url.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    env = {**os.environ, **({"PGPASSWORD": url.password} if url.password else {})}
    with db.engine.connect() as connection:
        connection = connection.execution_options(isolation_level="REPEATABLE READ")
        with connection.begin():
            snapshot = connection.execute(text("SELECT pg_export_snapshot()")).scalar_one()
            command = ["pg_dump", "--no-owner", "--no-privileges", f"--snapshot={snapshot}",
                       f"--file={target}", f"--dbname={libpq_url}"]
            finished = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
            if finished.returncode != 0:
                raise BackupError(f"pg_dump failed: {finished.stderr.strip() or finished.returncode}")
            rows = connection.execute(text(FILES_SQL)).all()
    return [tuple(row) for row in rows]


def copy_original(root: Path, dest: Path, relative: str, expected: str | None, result: Backup) -> None:
    """Copy photos/<relative> to dest/photos/<relative> with its times, hashing it on the way."""
    try:
        source = storage.resolve(root, relative)
    except ValueError:
        result.warnings.append(f"photos/{relative}: the path leaves the photos folder; not copied")
        return
    target = dest / "photos" / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    try:
        with open(source, "rb") as src, open(target, "xb") as out:
            while chunk := src.read(storage.COPY_CHUNK):
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        shutil.copystat(source, target)
    except FileNotFoundError:
        target.unlink(missing_ok=True)
        result.warnings.append(f"photos/{relative}: missing, so not in the backup (flask gallery check says more)")
        return
    except OSError as exc:
        raise BackupError(f"Cannot copy photos/{relative} to {target}: {exc.strerror}.") from exc
    if expected and digest.hexdigest() != expected:
        result.warnings.append(f"photos/{relative}: copied, but its SHA-256 differs from its row's")
    result.files.append({"path": f"photos/{relative}", "size": target.stat().st_size, "sha256": digest.hexdigest()})


def entry(dest: Path, path: Path) -> dict:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(storage.COPY_CHUNK):
            digest.update(chunk)
    return {"path": path.relative_to(dest).as_posix(), "size": path.stat().st_size, "sha256": digest.hexdigest()}


def write_manifest(dest: Path, backend: str, result: Backup) -> None:
    manifest = {"created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "database": backend,
                "database_file": result.database, "files": result.files}
    temp = dest / f".{MANIFEST}.part"
    temp.write_text(json.dumps(manifest, indent=1) + "\n")
    os.replace(temp, dest / MANIFEST)
