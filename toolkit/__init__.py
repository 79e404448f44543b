"""Research toolkit for distributed LLM inference (Preble, InferCept, DAS, Nitsum).

Nothing happens at import: every subpackage is imported explicitly by its users.
"""

__version__ = "0.1.0"
