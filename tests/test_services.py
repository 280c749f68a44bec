"""The MariaDB and Redis fixtures start real, usable servers."""

from __future__ import annotations

import redis
import sqlalchemy as sa

from services import mariadb_url, redis_url  # noqa: F401,F811 - pytest fixtures


def test_mariadb_roundtrips_utf8mb4(mariadb_url):
    engine = sa.create_engine(mariadb_url)
    try:
        with engine.begin() as conn:
            assert "MariaDB" in conn.execute(sa.text("SELECT VERSION()")).scalar_one()
            conn.execute(
                sa.text(
                    "CREATE TABLE names (id INT PRIMARY KEY AUTO_INCREMENT, name VARCHAR(64)) CHARACTER SET utf8mb4"
                )
            )
            conn.execute(sa.text("INSERT INTO names (name) VALUES (:n)"), {"n": "Zoë 肺"})
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT name FROM names")).scalar_one() == "Zoë 肺"
            conn.execute(sa.text("DROP TABLE names"))
    finally:
        engine.dispose()


def test_redis_ping_set_get(redis_url):
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        assert client.ping()
        client.set("lungseg:test", "Zoë 肺")
        assert client.get("lungseg:test") == "Zoë 肺"
    finally:
        client.close()
