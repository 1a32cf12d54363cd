"""Language-model backends behind one small interface: ``rules`` (offline) and ``anthropic``."""

from fundkit.llm.base import Backend, Enhancement, ExtractFailure, LLMCall, LLMError, get_backend

__all__ = ["Backend", "Enhancement", "ExtractFailure", "LLMCall", "LLMError", "get_backend"]
