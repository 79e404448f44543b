"""Speculative decoding: drafters (prompt lookup, SuffixDecoding, DAS, static), the
lossless acceptance rules, and the length-aware speculation budget. Drafters and budgets
are policies: the same objects run on the simulator and the engine."""
