"""Production defaults that do not leave speed on the table (docs/deploy.md)."""

import json
import os
import subprocess
import sys

import pytest

SHOW = (
    "import json; from storefront import settings as s; d = s.DATABASES['default']; "
    "print(json.dumps({k: d.get(k) for k in ('CONN_MAX_AGE', 'CONN_HEALTH_CHECKS', "
    "'DISABLE_SERVER_SIDE_CURSORS')} | {'prepare': d.get('OPTIONS', {}).get('prepare_threshold', 'default'), "
    "'server_binding': d.get('OPTIONS', {}).get('server_side_binding', False)}))"
)


def database_settings(**env) -> dict:
    environ = {k: v for k, v in os.environ.items() if k not in ("CONN_MAX_AGE", "PGBOUNCER")}
    environ |= {"DEBUG": "true", **env}
    out = subprocess.run(
        [sys.executable, "-c", SHOW], env=environ, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


PG = "postgres://user@db.example:5432/store"


def test_postgresql_keeps_its_connections_and_checks_them_before_reuse():
    assert database_settings(DATABASE_URL=PG) == {
        "CONN_MAX_AGE": 60,
        "CONN_HEALTH_CHECKS": True,
        "DISABLE_SERVER_SIDE_CURSORS": None,
        "prepare": 5,  # a statement run 5 times on a connection is planned once
        "server_binding": True,  # which needs the parameters bound on the server
    }


@pytest.mark.parametrize("value", ["0", "300"])
def test_conn_max_age_is_the_operators_choice(value):
    assert database_settings(DATABASE_URL=PG, CONN_MAX_AGE=value)["CONN_MAX_AGE"] == int(value)


def test_behind_pgbouncer_no_server_side_cursors_or_prepared_statements():
    found = database_settings(DATABASE_URL=PG, PGBOUNCER="true")
    assert found["DISABLE_SERVER_SIDE_CURSORS"] is True and found["prepare"] is None
    assert found["server_binding"] is True  # unnamed statements pass through the pooler


def test_the_embedded_sqlite_default_opens_a_connection_per_request():
    found = database_settings(DATABASE_URL="sqlite:////tmp/x.sqlite3")
    assert found["CONN_MAX_AGE"] == 0 and found["server_binding"] is False
