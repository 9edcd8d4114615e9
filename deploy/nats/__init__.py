"""NATS accounts and permissions for the services and partners (see access.py, __main__)."""
