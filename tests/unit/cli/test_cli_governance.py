"""Accountability through the CLI: tokens, roles, four-eyes, review, audit, erase, report."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from tests.builders import pattern_image, save_png
from typer.testing import CliRunner

from watchkeeper.cli.main import app

runner = CliRunner()
BASE = ["--detector", "mock", "--embedder", "mock", "--threshold", "0.9"]


def wk(home: Path, token: str | None, *args: str) -> tuple[int, str, str]:
    auth = ["--token", token] if token else []
    result = runner.invoke(app, ["--home", str(home), *BASE, *auth, *args])
    return result.exit_code, result.stdout, result.stderr


def token_of(out: str) -> str:
    return str(json.loads(out)["token"])


@pytest.fixture
def site(tmp_path: Path) -> dict[str, str]:
    """A site with four-eyes on: admin, a second admin, operator, investigator, reviewer,
    auditor, and an approved watchlist 'staff' holding Ada."""
    home = tmp_path / "home"
    code, out, err = wk(home, None, "--json", "init", "--user", "root")
    assert code == 0, err
    tokens = {"admin": token_of(out), "home": str(home)}
    for name, role in [
        ("ade", "admin"),
        ("olga", "operator"),
        ("ines", "investigator"),
        ("rui", "reviewer"),
        ("aud", "auditor"),
    ]:
        code, out, err = wk(home, tokens["admin"], "--json", "user", "add", name, "--role", role)
        assert code == 0, err
        tokens[role if name != "ade" else "admin2"] = token_of(out)
    code, out, err = wk(
        home,
        tokens["operator"],
        "--json",
        "watchlist",
        "create",
        "staff",
        "--purpose",
        "Door access",
        "--legal-basis",
        "contract clause 7",
        "--days",
        "30",
    )
    assert code == 0, err
    request = json.loads(out)["approval_id"]
    code, out, err = wk(home, tokens["admin"], "approval", "approve", request, "--reason", "ok")
    assert code == 0, err
    ada = save_png(pattern_image(1), tmp_path / "ada.png")
    tokens["ada"] = str(ada)
    code, out, err = wk(
        home,
        tokens["operator"],
        "enrol",
        "Ada",
        str(ada),
        "--watchlist",
        "staff",
        "--basis",
        "contract",
        "--source",
        "badge photo",
    )
    assert code == 0, err
    return tokens


def home_of(site: dict[str, str]) -> Path:
    return Path(site["home"])


def test_no_token_and_a_bad_token_are_refused(site: dict[str, str]) -> None:
    home = home_of(site)
    code, _, err = wk(home, None, "identify", site["ada"], "-w", "staff", "-p", "door")
    assert code == 11 and "needs an API token" in err
    code, _, err = wk(home, "wk_forged", "identify", site["ada"], "-w", "staff", "-p", "door")
    assert code == 11 and "unknown, revoked or expired" in err
    assert len(err.strip().splitlines()) == 1


def test_roles_are_enforced_with_one_line_errors(site: dict[str, str]) -> None:
    home = home_of(site)
    code, _, err = wk(home, site["operator"], "identify", site["ada"], "-w", "staff", "-p", "x")
    assert code == 11 and "may not search.identify" in err
    code, _, err = wk(home, site["admin"], "audit", "log")
    assert code == 11 and "may not audit.read" in err
    code, out, _ = wk(
        home, site["auditor"], "--json", "audit", "log", "--action", "search.identify"
    )
    assert code == 0
    [entry] = json.loads(out)["entries"]
    assert (entry["actor"], entry["outcome"]) == ("olga", "refused")


def test_four_eyes_on_the_command_line(site: dict[str, str]) -> None:
    home = home_of(site)
    code, out, _ = wk(
        home, site["operator"], "watchlist", "extend", "staff", "--days", "60", "--reason", "more"
    )
    assert code == 0 and "waits for a second person's approval" in out
    code, out, _ = wk(home, site["admin"], "--json", "approval", "list")
    [request] = json.loads(out)
    assert request["kind"] == "watchlist.extend" and request["requester_name"] == "olga"
    code, _, _ = wk(home, site["operator"], "approval", "approve", request["request_id"])
    assert code == 11
    code, out, _ = wk(home, site["admin2"], "approval", "approve", request["request_id"])
    assert code == 0 and "Approved" in out
    code, out, _ = wk(home, site["operator"], "--json", "watchlist", "show", "staff")
    assert json.loads(out)["expires_at"].startswith("20")


def test_review_flow_with_side_by_side_faces(site: dict[str, str], tmp_path: Path) -> None:
    home = home_of(site)
    code, out, _ = wk(
        home, site["investigator"], "--json", "identify", site["ada"], "-w", "staff", "-p", "door"
    )
    cid = json.loads(out)["faces"][0]["review_candidate"]
    code, out, _ = wk(home, site["reviewer"], "review", "list")
    assert cid in out and "pending" in out
    picture = tmp_path / "pair.png"
    code, out, _ = wk(home, site["reviewer"], "review", "show", cid, "--out", str(picture))
    assert code == 0 and picture.read_bytes()[:4] == b"\x89PNG"
    code, out, _ = wk(home, site["reviewer"], "review", "reject", cid, "--note", "not her")
    assert code == 0 and "false match" in out
    code, out, _ = wk(home, site["reviewer"], "review", "stats")
    assert "1 rejected" in out and "100.0%" in out


def test_audit_verify_and_checkpoints(site: dict[str, str], tmp_path: Path) -> None:
    home = home_of(site)
    code, out, _ = wk(home, site["auditor"], "audit", "verify")
    assert code == 0 and "intact" in out
    key = tmp_path / "keys" / "audit.key"
    key.parent.mkdir()
    code, _, err = wk(home, site["auditor"], "audit", "keygen", str(key))
    assert code == 0, err
    checkpoint = tmp_path / "keys" / "checkpoint.json"
    code, _, err = wk(
        home,
        site["auditor"],
        "audit",
        "checkpoint",
        "export",
        "--key",
        str(key),
        "--out",
        str(checkpoint),
    )
    assert code == 0, err
    args = ("audit", "checkpoint", "verify", str(checkpoint), "--public-key", f"{key}.pub")
    code, out, _ = wk(home, site["auditor"], *args)
    assert code == 0 and "verified" in out
    conn = sqlite3.connect(home / "watchkeeper.db")
    conn.execute("DROP TRIGGER audit_log_no_update")
    conn.execute("UPDATE audit_log SET purpose = 'edited' WHERE seq = 5")
    conn.commit()
    conn.close()
    code, out, _ = wk(home, site["auditor"], "audit", "verify")
    assert code == 1 and "BROKEN at seq 5 (edited)" in out
    code, out, _ = wk(home, site["auditor"], *args)
    assert code == 1 and "mismatch" in out


def test_erase_writes_a_receipt_and_the_person_is_gone(
    site: dict[str, str], tmp_path: Path
) -> None:
    home = home_of(site)
    receipt = tmp_path / "receipt.json"
    code, out, err = wk(
        home,
        site["admin"],
        "erase",
        "Ada",
        "--reason",
        "subject request",
        "--receipt",
        str(receipt),
    )
    assert code == 0 and "Erased Ada" in out, err
    data = json.loads(receipt.read_text())
    assert data["templates"] == 1 and len(data["digest"]) == 64
    code, out, _ = wk(
        home, site["investigator"], "identify", site["ada"], "-w", "staff", "-p", "door"
    )
    assert "unknown" in out and "Ada" not in out


def test_report_text_json_and_chart(site: dict[str, str], tmp_path: Path) -> None:
    home = home_of(site)
    wk(home, site["investigator"], "identify", site["ada"], "-w", "staff", "-p", "door")
    code, out, _ = wk(home, site["admin"], "settings", "four-eyes", "off", "--reason", "holiday")
    assert code == 0
    chart = tmp_path / "report.png"
    args = ("report", "--from", "2000-01-01", "--to", "2100-01-01")
    code, out, err = wk(home, site["auditor"], *args, "--chart", str(chart))
    assert code == 0, err
    assert "Four-eyes approval is OFF" in out and "holiday" in out and "staff: 1 searches" in out
    assert chart.read_bytes()[:4] == b"\x89PNG"
    code, out, _ = wk(home, site["auditor"], "--json", *args)
    data = json.loads(out)
    assert data["totals"]["searches"] == 1 and data["four_eyes_now"] == "off"
    code, _, err = wk(home, site["auditor"], "report", "--from", "yesterday", "--to", "x")
    assert code == 2 and "date like" in err


def test_purge_and_hostile_input(site: dict[str, str]) -> None:
    home = home_of(site)
    code, out, _ = wk(home, site["admin"], "purge")
    assert code == 0 and "Purged:" in out
    code, _, err = wk(
        home,
        site["operator"],
        "watchlist",
        "create",
        "x'; DROP TABLE galleries;--",
        "--purpose",
        "p",
        "--legal-basis",
        "b",
        "--days",
        "3",
    )
    assert code == 2 and "invalid watchlist name" in err
    code, _, err = wk(
        home,
        site["operator"],
        "watchlist",
        "create",
        "ok",
        "--purpose",
        "sort by ethnicity",
        "--legal-basis",
        "b",
        "--days",
        "3",
    )
    assert code == 10 and "never infers" in err
    code, _, err = wk(home, site["admin"], "user", "add", "eve", "--role", "superuser")
    assert code == 2 and "unknown role" in err
    code, _, err = wk(
        home,
        site["operator"],
        "enrol",
        "Bob",
        site["ada"],
        "-w",
        "staff",
        "--basis",
        "consent",
        "--source",
        "x",
        "--meta",
        "nationality=somewhere",
    )
    assert code == 10
    code, out, _ = wk(home, site["operator"], "--json", "watchlist", "list")
    assert [w["watchlist"] for w in json.loads(out)] == ["staff"]


def test_home_use_gives_one_person_every_role(tmp_path: Path) -> None:
    home = tmp_path / "home"
    code, out, _ = wk(home, None, "--json", "init", "--home-use")
    token = token_of(out)
    assert json.loads(out)["roles"] == "admin,auditor,investigator,operator,reviewer"
    code, _, err = wk(home, None, "init")
    assert code == 11 and "already initialised" in err
    code, out, _ = wk(home, token, "--json", "audit", "log", "--action", "settings.change")
    [entry] = json.loads(out)["entries"]
    assert entry["details"]["to_value"] == "off" and "home use" in entry["purpose"]


def test_template_key_is_created_outside_the_data_directory(tmp_path: Path) -> None:
    home = tmp_path / "home"
    code, _, err = wk(home, None, "key", "new", str(home / "inside.key"))
    assert code == 2 and "outside the data directory" in err
    key = tmp_path / "site.key"
    code, _, _ = wk(home, None, "key", "new", str(key))
    assert code == 0 and key.stat().st_mode & 0o777 == 0o600
