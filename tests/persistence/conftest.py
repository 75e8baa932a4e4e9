"""The real Kafka broker and PostgreSQL fixtures of the connector tests."""

from tests.connectors.conftest import kafka, pg

__all__ = ["kafka", "pg"]
