"""The inventory domain: the catalogue and each store's stock position, pure rules."""
