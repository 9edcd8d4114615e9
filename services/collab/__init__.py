"""The collab service: collaboration between stores as crash-safe sagas."""
