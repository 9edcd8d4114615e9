"""Workforce's read model: the tables projected inline from technician events (tables.py)
and the lookups that read them (lookups.py)."""

from services.workforce.read_model.tables import MIGRATIONS, SupportView, TechnicianView, project

__all__ = ["MIGRATIONS", "SupportView", "TechnicianView", "project"]
