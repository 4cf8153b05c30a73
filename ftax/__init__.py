"""ftax: measure the framework tax of model inference (Fernandez et al., EMNLP 2023)."""
from __future__ import annotations

__version__ = "0.1.0"
