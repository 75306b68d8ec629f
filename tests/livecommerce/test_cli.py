"""The `livecommerce` command: migrate, users create, demo load, and `serve --demo` as a real process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.pool import NullPool
from typer.testing import CliRunner

from livecommerce.accounts.models import User, UserCounty
from livecommerce.accounts.security import verify_password
from livecommerce.kit.db import sync_url
from livecommerce.main import cli
from livecommerce.main.demo import DEMO_PASSWORD
from livecommerce.main.migrate import pending_revisions
from livecommerce.main.registry import load_models
from tests.databases import BACKEND, scratch_database

runner = CliRunner()


@pytest.fixture
def scratch_url(tmp_path: Path) -> Iterator[str]:
    """An empty database of the backend under test, dropped afterwards."""
    with scratch_database(tmp_path, "cli", migrate=False) as url:
        yield url


def invoke(url: str, *args: str, **env: str) -> tuple[int, str]:
    """Run the CLI in-process against `url`; its exit code and everything it printed."""
    result = runner.invoke(cli.app, list(args), env={"LIVECOMMERCE_DATABASE_URL": url, "LIVECOMMERCE_ADMIN_PASSWORD": "", **env})
    return result.exit_code, result.output


def row_counts(url: str) -> dict[str, int]:
    """Rows per table of the schema."""
    engine = create_engine(sync_url(url), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return {t.name: conn.execute(select(func.count()).select_from(t)).scalar_one() for t in load_models().sorted_tables}
    finally:
        engine.dispose()


def fetch_user(url: str, username: str) -> tuple[User, list[int]] | None:
    engine = create_engine(sync_url(url), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            row = conn.execute(select(User.__table__).where(User.__table__.c.username == username)).first()
            if row is None:
                return None
            counties = conn.execute(select(UserCounty.__table__.c.county_id).where(UserCounty.__table__.c.user_id == row.id)).scalars()
            return User(**row._mapping), sorted(counties)
    finally:
        engine.dispose()


class TestMigrate:
    def test_brings_an_empty_database_up_to_date(self, scratch_url: str) -> None:
        code, output = invoke(scratch_url, "migrate")
        assert code == 0, output
        assert "up to date" in output
        assert pending_revisions(scratch_url) == set()

    def test_running_it_again_changes_nothing(self, scratch_url: str) -> None:
        assert invoke(scratch_url, "migrate")[0] == 0
        code, output = invoke(scratch_url, "migrate")
        assert code == 0, output
        assert pending_revisions(scratch_url) == set()


class TestUsersCreate:
    def test_creates_an_organizer_with_the_password_from_the_environment(self, scratch_url: str) -> None:
        assert invoke(scratch_url, "migrate")[0] == 0
        assert invoke(scratch_url, "demo", "load")[0] == 0
        engine = create_engine(sync_url(scratch_url), poolclass=NullPool)
        with engine.connect() as conn:
            county_id = conn.execute(text("SELECT id FROM counties WHERE code = '441821'")).scalar_one()
        engine.dispose()
        code, output = invoke(
            scratch_url,
            "users",
            "create",
            "fogang_office",
            "--role",
            "organizer",
            "--display-name",
            "佛冈县商务局",
            "--county-id",
            str(county_id),
            LIVECOMMERCE_NEW_USER_PASSWORD="from-the-environment",
        )
        assert code == 0, output
        assert "Created organizer 'fogang_office'" in output
        found = fetch_user(scratch_url, "fogang_office")
        assert found is not None
        user, counties = found
        assert (user.role, user.display_name, counties) == ("organizer", "佛冈县商务局", [county_id])
        assert verify_password(user.password_hash, "from-the-environment")
        assert "from-the-environment" not in output

    def test_a_taken_username_fails_with_a_message(self, scratch_url: str) -> None:
        assert invoke(scratch_url, "migrate")[0] == 0
        env = {"LIVECOMMERCE_NEW_USER_PASSWORD": "long enough"}
        assert invoke(scratch_url, "users", "create", "lihua", **env)[0] == 0
        code, output = invoke(scratch_url, "users", "create", "lihua", "--role", "admin", **env)
        assert code == 1
        assert "taken" in output
        found = fetch_user(scratch_url, "lihua")
        assert found is not None and found[0].role == "viewer"

    def test_a_short_password_or_unknown_county_fails_without_creating_anyone(self, scratch_url: str) -> None:
        assert invoke(scratch_url, "migrate")[0] == 0
        code, output = invoke(scratch_url, "users", "create", "shorty", LIVECOMMERCE_NEW_USER_PASSWORD="short")
        assert code == 1
        assert "password" in output
        code, output = invoke(scratch_url, "users", "create", "lost", "--county-id", "4242", LIVECOMMERCE_NEW_USER_PASSWORD="long enough")
        assert code == 1
        assert "Unknown county" in output
        assert fetch_user(scratch_url, "shorty") is None and fetch_user(scratch_url, "lost") is None

    def test_on_an_unmigrated_database(self, scratch_url: str) -> None:
        code, output = invoke(scratch_url, "users", "create", "early", LIVECOMMERCE_NEW_USER_PASSWORD="long enough")
        if BACKEND == "sqlite":
            # The embedded mode brings its own file up to date.
            assert code == 0, output
            assert fetch_user(scratch_url, "early") is not None
        else:
            assert code == 1
            assert "livecommerce migrate" in output
            assert pending_revisions(scratch_url)


class TestDemoLoad:
    def test_loads_the_demo_and_prints_the_sign_ins(self, scratch_url: str) -> None:
        code, output = invoke(scratch_url, "demo", "load")
        assert code == 0, output
        assert DEMO_PASSWORD in output
        for username in ("admin", "organizer_fogang", "organizer_north", "cadre_huang", "viewer_li"):
            assert username in output
        counts = row_counts(scratch_url)
        assert counts["counties"] == 3
        assert counts["products"] >= 9
        assert counts["streams"] >= 5

    def test_a_second_run_changes_nothing_and_prints_the_same_sign_ins(self, scratch_url: str) -> None:
        first_code, first_output = invoke(scratch_url, "demo", "load")
        before = row_counts(scratch_url)
        second_code, second_output = invoke(scratch_url, "demo", "load")
        assert (first_code, second_code) == (0, 0), second_output
        assert row_counts(scratch_url) == before
        assert second_output == first_output


class TestPlan:
    def test_plans_and_books_a_campaigns_open_slot(self, scratch_url: str) -> None:
        from datetime import UTC, datetime, timedelta

        from schedulers.models import Campaign, Slot, Studio

        assert invoke(scratch_url, "demo", "load")[0] == 0
        engine = create_engine(sync_url(scratch_url), poolclass=NullPool)
        start = (datetime.now(UTC) + timedelta(days=40)).replace(minute=0, second=0, microsecond=0)
        try:
            with engine.begin() as conn:
                campaign = conn.execute(
                    Campaign.__table__.insert().values(name="CLI drive", description="", starts_at=start, ends_at=start + timedelta(days=1))
                ).inserted_primary_key[0]
                studio = conn.execute(select(Studio.__table__.c.id).limit(1)).scalar_one()
                conn.execute(
                    Slot.__table__.insert().values(
                        studio_id=studio, campaign_id=campaign, starts_at=start, ends_at=start + timedelta(hours=1), created_at=start
                    )
                )
        finally:
            engine.dispose()
        before = row_counts(scratch_url)["bookings"]
        code, output = invoke(scratch_url, "plan", str(campaign), "--time-limit", "5", "--apply")
        assert code == 0, output
        assert "applied" in output
        assert row_counts(scratch_url)["bookings"] == before + 1

    def test_an_unknown_campaign_fails_with_a_message(self, scratch_url: str) -> None:
        assert invoke(scratch_url, "migrate")[0] == 0
        code, output = invoke(scratch_url, "plan", "424242")
        assert code == 1
        assert "424242" in output


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.e2e
@pytest.mark.slow
class TestServeDemo:
    def test_serves_the_demo_on_a_fresh_machine_and_stops_on_sigterm(self, tmp_path: Path) -> None:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("LIVECOMMERCE_")}
        env["LIVECOMMERCE_LOG_LEVEL"] = "INFO"
        command = [str(Path(sys.executable).parent / "livecommerce"), "serve", "--demo", "--port", str(port)]
        # A fresh folder with no database: the default SQLite file is created there, as `make demo` does.
        proc = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while True:
                assert proc.poll() is None, proc.communicate()[1]
                try:
                    if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "the server did not come up in 120 s"
                time.sleep(0.3)

            docs = httpx.get(f"{base}/docs", timeout=10)
            assert docs.status_code == 200 and "swagger" in docs.text.lower()
            paths = httpx.get(f"{base}/openapi.json", timeout=10).json()["paths"]
            assert {"/api/auth/token", "/api/counties", "/api/households", "/api/products", "/api/products/{product_id}"} <= paths.keys()

            r = httpx.post(f"{base}/api/auth/token", data={"username": "organizer_fogang", "password": DEMO_PASSWORD}, timeout=10)
            assert r.status_code == 200, r.text
            headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
            households = httpx.get(f"{base}/api/households", headers=headers, timeout=10).json()["items"]
            fogang = [h for h in households if h["registration_no"].startswith("441821")]
            assert fogang and not any(h["masked"] for h in fogang)
            assert (tmp_path / "livecommerce.db").exists()
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                _, stderr = proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                _, stderr = proc.communicate()
        # uvicorn shuts down gracefully, then re-raises the signal so the exit status tells why it stopped.
        assert proc.returncode in (0, -signal.SIGTERM), stderr
        assert "Application shutdown complete" in stderr
        assert f"http://127.0.0.1:{port}/" in stderr
        assert "Demo sign-ins" in stderr and DEMO_PASSWORD in stderr


@pytest.mark.e2e
class TestServePortTaken:
    def test_a_taken_port_is_one_clear_line_and_a_non_zero_exit(self, tmp_path: Path) -> None:
        with socket.socket() as holder:
            holder.bind(("127.0.0.1", 0))
            holder.listen()
            port = holder.getsockname()[1]
            env = {k: v for k, v in os.environ.items() if not k.startswith("LIVECOMMERCE_")}
            command = [str(Path(sys.executable).parent / "livecommerce"), "serve", "--demo", "--port", str(port)]
            done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
        output = done.stdout + done.stderr
        assert done.returncode == 1
        assert f"127.0.0.1:{port}" in output and "already in use" in output
        assert "serving at" not in output
        assert len(output.strip().splitlines()) == 1
        assert not (tmp_path / "livecommerce.db").exists()  # refused before loading the demo

    def test_make_demo_passes_its_port(self) -> None:
        dry = subprocess.run(
            ["make", "-n", "demo", "PORT=8765", "-o", "install"], capture_output=True, text=True, cwd=Path(__file__).parents[2]
        )
        assert "--port 8765" in dry.stdout, dry.stdout + dry.stderr
