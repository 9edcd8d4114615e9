"""Test support: real PostgreSQL and NATS found, started or borrowed for a test run."""
