"""Collab business: the transfer saga, source ranking and settlement; no I/O."""
