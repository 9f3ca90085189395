"""The city registry: schema, loading, validation, and the city model every part reads."""

from .diagnostics import Diagnostic, RegistryError, Severity
from .model import DEFAULT_CITY, CityModel, load_city

__all__ = ["DEFAULT_CITY", "CityModel", "Diagnostic", "RegistryError", "Severity", "load_city"]
