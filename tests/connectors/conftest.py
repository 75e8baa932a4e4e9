import pytest

from tests.connectors.kafka_broker import Broker


@pytest.fixture(scope="session")
def kafka():
    broker = Broker()
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def own_kafka():
    """A broker of the test's own (to stop and restart)."""
    broker = Broker()
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def pg():
    """The machine's PostgreSQL: settings, a SQL helper and uniquely named tables that are
    dropped afterwards."""
    from tests.connectors.postgres_db import Database, ensure_logical_replication

    ensure_logical_replication()
    database = Database()
    yield database
    database.cleanup()
