from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from watchkeeper.core.errors import InvalidInputError, NotFoundError, StoreError
from watchkeeper.store.records import WatchlistStatus
from watchkeeper.store.sqlite import MIGRATIONS, SqliteStore


def _vec(seed: int, d: int = 8) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(d).astype(np.float32)
    return v / np.linalg.norm(v)


def test_round_trip_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "wk.db"
    with SqliteStore(path) as store:
        gallery = store.create_gallery("staff", "mock@1")
        with store.transaction() as conn:
            ident = store.insert_identity(conn, gallery.gallery_id, "Ada")
            tpl = store.insert_template(conn, ident.identity_id, "mock@1", _vec(1), "a.jpg")
    with SqliteStore(path) as store:
        assert store.get_gallery("staff").contract_id == "mock@1"
        again = store.find_identity(gallery.gallery_id, "Ada")
        assert again is not None and again.template_count == 1
        [stored] = store.templates(gallery_id=gallery.gallery_id)
        assert tpl is not None and stored.template_id == tpl.template_id
        np.testing.assert_array_equal(stored.embedding, _vec(1))
        assert store.schema_version() == len(MIGRATIONS)
        assert store.integrity_problems() == []


def test_same_vector_is_not_stored_twice(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "wk.db") as store:
        g = store.create_gallery("g", "c")
        with store.transaction() as conn:
            ident = store.insert_identity(conn, g.gallery_id, "Ada")
            first = store.insert_template(conn, ident.identity_id, "c", _vec(1), "a.jpg")
            second = store.insert_template(conn, ident.identity_id, "c", _vec(1) + 1e-7, "b.jpg")
        assert first is not None and second is None
        assert len(store.templates(identity_id=ident.identity_id)) == 1


def test_failed_transaction_rolls_back_everything(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "wk.db") as store:
        g = store.create_gallery("g", "c")
        with pytest.raises(RuntimeError), store.transaction() as conn:
            store.insert_identity(conn, g.gallery_id, "Ada")
            raise RuntimeError("crash between writes")
        assert store.find_identity(g.gallery_id, "Ada") is None


def test_deleting_an_identity_removes_its_templates(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "wk.db") as store:
        g = store.create_gallery("g", "c")
        with store.transaction() as conn:
            ident = store.insert_identity(conn, g.gallery_id, "Ada")
            store.insert_template(conn, ident.identity_id, "c", _vec(1), "a")
            store.insert_template(conn, ident.identity_id, "c", _vec(2), "b")
        with store.transaction() as conn:
            removed = store.delete_identity(conn, ident.identity_id)
        assert len(removed) == 2
        assert store.templates() == []
        with pytest.raises(NotFoundError), store.transaction() as conn:
            store.delete_identity(conn, ident.identity_id)


def test_duplicate_gallery_name_is_a_clear_error(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "wk.db") as store:
        store.create_gallery("g", "c")
        with pytest.raises(InvalidInputError, match="already exists"):
            store.create_gallery("g", "c")


def test_database_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "wk.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 5}")
    conn.close()
    with pytest.raises(StoreError, match="newer than this Watchkeeper"):
        SqliteStore(path).open()


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "wk.db"
    path.write_bytes(b"definitely not sqlite" * 100)
    with pytest.raises(StoreError, match="not a Watchkeeper database"):
        SqliteStore(path).open()


ENROL_FOREVER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    import numpy as np
    from tests.builders import make_staff

    staff = make_staff(Path(sys.argv[1]))
    rng = np.random.default_rng(0)
    for i in range(100000):
        image = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
        staff.engine.enrol(staff.operator, f"person {i % 50}", image, "staff", "consent", "HR")
        print(i, flush=True)
    """
)


def test_process_killed_during_enrolment_leaves_a_consistent_store(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[3]
    # This checkout's code, not whatever copy of watchkeeper the interpreter has installed.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root / "src"), str(root)])}
    proc = subprocess.Popen(
        [sys.executable, "-c", ENROL_FOREVER, str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    done = 0
    deadline = time.monotonic() + 120
    while done < 150 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        done = int(line.split()[0]) + 1
    proc.send_signal(signal.SIGKILL)  # no chance to clean up, as with a power cut
    proc.wait()
    # The child may have run ahead of our reading: every line it printed before it died is an
    # enrolment it committed, so count those too (the pipe still holds them).
    for line in proc.stdout.read().split():
        done = int(line) + 1
    proc.stdout.close()
    assert done >= 150, "the enrolling process did not get going"
    with SqliteStore(tmp_path / "watchkeeper.db") as store:
        assert store.integrity_problems() == []
        [gallery] = store.list_galleries()
        people = store.list_identities(gallery.gallery_id)
        templates = store.templates(gallery_id=gallery.gallery_id)
        # Every enrolment is one transaction: no person without a photo, none half written.
        assert all(p.template_count >= 1 for p in people)
        assert done <= len(templates) <= done + 1


def test_a_version_1_gallery_becomes_an_unbound_watchlist(tmp_path: Path) -> None:
    path = tmp_path / "wk.db"
    conn = sqlite3.connect(path)
    conn.isolation_level = None
    conn.execute("BEGIN")
    MIGRATIONS[0](conn)
    conn.execute("PRAGMA user_version = 1")
    conn.execute(
        "INSERT INTO galleries VALUES ('g1', 'old', 'mock@1', '2025-01-01T00:00:00+00:00')"
    )
    conn.execute("COMMIT")
    conn.close()
    with SqliteStore(path) as store:
        assert store.schema_version() == len(MIGRATIONS) >= 2
        old = store.get_gallery("old")
        assert old.status is WatchlistStatus.UNBOUND and old.purpose is None
        assert store.integrity_problems() == []


def test_identity_terms_and_face_crops_round_trip(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "wk.db") as store:
        g = store.create_gallery("g", "c")
        with store.transaction() as conn:
            ident = store.insert_identity(
                conn,
                g.gallery_id,
                "Ada",
                basis="consent",
                source="badge",
                enrolled_by="olga",
                metadata={"case_ref": "7"},
            )
            tpl = store.insert_template(conn, ident.identity_id, "c", _vec(1), "a.jpg", b"jpeg")
        again = store.get_identity(ident.identity_id)
        assert (again.basis, again.source, again.enrolled_by) == ("consent", "badge", "olga")
        assert dict(again.metadata) == {"case_ref": "7"}
        assert tpl is not None and store.template_crop(tpl.template_id) == b"jpeg"
        assert store.count_crops(ident.identity_id) == 1


def test_sealed_blobs_are_bound_to_their_row(tmp_path: Path) -> None:
    from watchkeeper.store.cipher import SiteCipher

    cipher = SiteCipher(bytes(range(32)))
    with SqliteStore(tmp_path / "wk.db", cipher=cipher) as store:
        g = store.create_gallery("g", "c")
        with store.transaction() as conn:
            ident = store.insert_identity(conn, g.gallery_id, "Ada")
            a = store.insert_template(conn, ident.identity_id, "c", _vec(1), "a")
            b = store.insert_template(conn, ident.identity_id, "c", _vec(2), "b")
        assert a is not None and b is not None
        # Swap the sealed vectors of two rows: each fails to open instead of standing in.
        conn = store.conn
        blob_a = conn.execute(
            "SELECT embedding FROM templates WHERE template_id = ?", (a.template_id,)
        ).fetchone()[0]
        conn.execute(
            "UPDATE templates SET embedding = ? WHERE template_id = ?", (blob_a, b.template_id)
        )
        with pytest.raises(StoreError, match="does not open"):
            store.templates()
