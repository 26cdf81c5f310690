"""The demo's embedded Celery broker: kombu's SQLAlchemy transport on a SQLite file.

Why not kombu's filesystem transport (the demo's earlier default): its publisher creates the
message file and then writes it, and its consumer moves and reads any file it lists without the
publisher's lock, so now and then the worker reads a half-written message and stops with
``Unrecoverable error: JSONDecodeError``. Here a message is one row written in one SQLite
transaction, and taken (selected and deleted) in one ``BEGIN IMMEDIATE`` transaction, so a
reader sees a whole message or none, and two readers never get the same one.

On top of kombu's transport this module:

* opens SQLite in WAL mode with a generous busy timeout, so that the web server, beat and the
  worker publishing at once wait for each other instead of failing with "database is locked";
* deletes a message when it is taken, instead of keeping it with ``visible = false`` for ever
  (the table stays as small as the backlog; a taken message that is not acknowledged is held by
  the worker and put back when it shuts down, as with any kombu virtual transport);
* polls every 0.1 s instead of every second, so that a task starts promptly.

A worker killed with SIGKILL loses the messages it had taken and not finished (this broker has
no visibility timeout); ``transfers_redrive`` re-drives every transfer left in an active state,
so nothing is stranded by it. Production uses Redis.
"""

from __future__ import annotations

from json import loads
from queue import Empty
from typing import Any

from kombu.transport import sqlalchemy as kombu_sqlalchemy
from kombu.utils.encoding import bytes_to_str
from sqlalchemy import create_engine, event, text

BUSY_TIMEOUT_SECONDS = 30.0
POLLING_INTERVAL_SECONDS = 0.1


def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_SECONDS * 1000)}")
    finally:
        cursor.close()


class Channel(kombu_sqlalchemy.Channel):
    def _engine_from_config(self) -> Any:
        url = self.connection.client.hostname
        if not url.startswith("sqlite:"):
            return super()._engine_from_config()
        engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_SECONDS})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine

    def _get(self, queue: str) -> Any:
        """Take the oldest message of ``queue``: select and delete it in one write transaction."""
        queue_row = self._get_or_create(queue)
        message_cls = self.message_cls
        if self.session.bind.name == "sqlite":
            self.session.execute(text("BEGIN IMMEDIATE TRANSACTION"))
        try:
            message = (self.session.query(message_cls).with_for_update()
                       .filter(message_cls.queue_id == queue_row.id)
                       .filter(message_cls.visible.is_(True))
                       .order_by(message_cls.sent_at, message_cls.id)
                       .limit(1).first())
            if message is None:
                raise Empty()
            payload = message.payload
            self.session.delete(message)
            return loads(bytes_to_str(payload))
        finally:
            self.session.commit()


class Transport(kombu_sqlalchemy.Transport):
    Channel = Channel
    polling_interval = POLLING_INTERVAL_SECONDS


def broker_url(path: str) -> str:
    """The broker URL of a SQLite file (use with ``CELERY_BROKER_TRANSPORT`` = this module's
    ``Transport``)."""
    return f"sqlite:///{path}"
