"""Sources of funding opportunities: their configuration and the offline sample."""

from fundkit.sources.config import Detail, Pagination, Source, get_source, load_sources

__all__ = ["Detail", "Pagination", "Source", "get_source", "load_sources"]
